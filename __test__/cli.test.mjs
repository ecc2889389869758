// The partner-sync executable, run as a child process against mock partners on loopback.

import { spawn, spawnSync } from 'node:child_process'
import { createHash, createHmac } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'

const require = createRequire(import.meta.url)
const { startMockPartner } = require('../lib/mock-partner.js')
const { createPartnerSync } = require('../lib/index.js')
const { SCHEMA } = require('../lib/settings.js')

const CLI = fileURLToPath(new URL('../bin/partner-sync.js', import.meta.url))
const SECRET = 'cli-test-secret-7f3a9c21'
const WRONG_SECRET = 'cli-wrong-secret-0b8e44d1'
const BOOKING = 'b24a8a76-edb7-4b0c-950b-3144cc4d7ec6'

// The library's variables are cleared so the developer's shell cannot change what a test sees.
const LIBRARY_ENV = SCHEMA.map((setting) => setting.env)
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !LIBRARY_ENV.includes(name)))
const FAST = { PARTNER_SYNC_BACKOFF_BASE_MS: '20', PARTNER_SYNC_BACKOFF_MAX_MS: '100' }

function spawnCli(args, env) {
  return spawn(process.execPath, [CLI, ...args], { env: { ...cleanEnv, PWA_WEBHOOK_SECRET: SECRET, ...FAST, ...env } })
}

/** Runs the CLI to the end: { code, stdout, stderr, json() }. `env` values of undefined unset a variable. */
function run(args, { env = {}, input } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, env)
    const out = []
    const err = []
    child.stdout.on('data', (chunk) => out.push(chunk))
    child.stderr.on('data', (chunk) => err.push(chunk))
    child.on('error', reject)
    child.on('close', (code) => {
      const stdout = Buffer.concat(out).toString()
      const stderr = Buffer.concat(err).toString()
      resolve({ code, stdout, stderr, json: () => JSON.parse(stdout) })
    })
    child.stdin.end(input)
  })
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'partner-sync-cli-test-'))
const tmpFile = (name, content) => {
  const file = path.join(tmp, name)
  fs.writeFileSync(file, content)
  return file
}
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

const GUIDE_PAYLOAD =
  '{"event":"booking.paid","booking_id":"test-id","status":"LUNAS","paid_amount":50000,"timestamp":"2026-02-04T23:00:00Z"}'
const hmac = (bytes, secret = SECRET) => createHmac('sha256', secret).update(bytes).digest('hex')

let partner
const partners = []
async function extraPartner(options) {
  const started = await startMockPartner({ secret: SECRET, log: false, ...options })
  partners.push(started)
  return started
}
beforeAll(async () => {
  partner = await startMockPartner({ secret: SECRET, log: false, knownBookings: [BOOKING, 'test-id'] })
})
afterEach(() => partner.reset())
afterAll(async () => {
  await Promise.all([partner, ...partners].map((p) => p.close()))
})

// A URL on which nothing listens: a free port, released.
async function deadUrl() {
  const gone = await startMockPartner({ secret: SECRET, log: false })
  await gone.close()
  return gone.url
}

// A SQLite outbox of `count` pending entries, kept while the partner was down on `port`.
async function pendingOutbox(file, bookingPrefix, count) {
  const outbox = `sqlite:${path.join(tmp, file)}`
  const down = await deadUrl()
  const client = createPartnerSync({
    url: down,
    secret: SECRET,
    maxAttempts: 1,
    outbox,
    outboxSchedule: '1ms',
    logger: false,
  })
  for (let i = 0; i < count; i++)
    await client.sync({ event: 'booking.paid', booking_id: `${bookingPrefix}-${i}`, status: 'LUNAS', paid_amount: 1 })
  return { outbox, port: Number(new URL(down).port) }
}

function expectNoSecretIn(result) {
  for (const secret of [SECRET, WRONG_SECRET]) {
    expect(result.stdout).not.toContain(secret)
    expect(result.stderr).not.toContain(secret)
  }
}

describe('usage', () => {
  const commands = [
    'mock',
    'send',
    'sign',
    'verify',
    'health',
    'outbox',
    'outbox list',
    'outbox show',
    'outbox retry',
    'outbox redrive',
    'outbox purge',
    'outbox ui',
    'demo',
  ]
  it.each(commands)('--help on %s', async (command) => {
    const result = await run([...command.split(' '), '--help'])
    expect(result.code).toBe(0)
    expect(result.stdout).toContain(`Usage: partner-sync ${command}`)
  })

  it('the top-level help lists exit codes and the environment', async () => {
    const result = await run(['--help'])
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/Exit codes: 0 ok, 1 .*, 2 usage/)
    expect(result.stdout).toContain('PARTNER_SYNC_OUTBOX')
  })

  it.each([
    [['frobnicate'], /unknown command/],
    [['send', '--bogus'], /unknown option/],
    [['send', '--booking-id', 'x', '--paid-amount', 'lots'], /expected a number/],
    [['send', '--max-attempts', '0', '--booking-id', 'x', '--paid-amount', '1'], /whole number from 1/],
    [
      ['send', '--max-attempts', '101', '--booking-id', 'x', '--paid-amount', '1'],
      /maxAttempts = "101" is not a whole number from 1 to 100/,
    ],
    // The CLI refuses exactly what the library would fall back from (it used to pass and be capped).
    [
      ['send', '--deadline-ms', '100000000', '--booking-id', 'x', '--paid-amount', '1'],
      /deadlineMs = "100000000" is not a whole number from 1 to 86400000/,
    ],
    [['outbox', 'redrive', '--outbox-schedule', '1m,soon'], /"soon" is not a duration/],
    [['outbox', 'list', '--outbox-table-prefix', 'Bad-Prefix'], /must be lowercase letters/],
    [
      ['send', '--event', 'booking.cancelled', '--booking-id', 'x', '--paid-amount', '1'],
      /Allowed choices are booking.paid, booking.updated/,
    ],
    [['send', '--file', 'a.json', '--booking-id', 'x'], /cannot be used with option '--booking-id/],
    [['send', '--booking-id', 'x'], /needs --booking-id and --paid-amount/],
    [['verify', '--file', 'a.json'], /required option '--signature/],
    [['mock', '--fail', '503,abc'], /HTTP statuses from 200 to 599/],
    [['mock', '--known-bookings', 'ids.txt', '--accept-any'], /cannot be used with/],
    [[], /Usage: partner-sync/],
  ])('%j is a usage error: exit 2', async (args, message) => {
    const result = await run(args)
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(message)
    expect(partner.requests).toHaveLength(0)
  })
})

describe('send', () => {
  it('delivers from flags and shows each attempt', async () => {
    const result = await run([
      'send',
      '--url',
      partner.url,
      '--booking-id',
      BOOKING,
      '--paid-amount',
      '32000',
      '--payment-method',
      'QRIS',
      '--invoice-id',
      'INV-123456',
    ])
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/attempt\s+result\s+took\s+then waited/)
    expect(result.stdout).toMatch(/^1\s+HTTP 200\s+\d+ ms/m)
    expect(result.stdout).toContain('Delivered (1 attempt')
    const [request] = partner.requests
    expect(request.verified).toBe(true)
    expect(JSON.parse(request.body)).toMatchObject({
      event: 'booking.paid',
      booking_id: BOOKING,
      status: 'LUNAS',
      paid_amount: 32000,
      payment_method: 'QRIS',
      payment_details: { invoice_id: 'INV-123456' },
    })
    expectNoSecretIn(result)
  })

  it('--json prints the SyncResult with url, bytes and sha256', async () => {
    const result = await run(['send', '--json', '--url', partner.url, '--booking-id', BOOKING, '--paid-amount', '1'])
    expect(result.code).toBe(0)
    const report = result.json()
    expect(report).toMatchObject({
      url: partner.url,
      ok: true,
      bookingId: BOOKING,
      status: 200,
      attempts: 1,
      response: { success: true, booking_id: BOOKING },
    })
    expect(report.attemptLog).toEqual([
      expect.objectContaining({ attempt: 1, status: 200, durationMs: expect.any(Number) }),
    ])
    expect(report.body).toBe(partner.requests[0].body)
    expect(report.bytes).toBe(Buffer.byteLength(report.body))
    expect(report.sha256).toMatch(/^[0-9a-f]{64}$/)
  })

  it('retries a flaky partner: 503, 503, then delivered on attempt 3', async () => {
    const flaky = await extraPartner({ fail: [503, 503] })
    const result = await run(['send', '--json', '--url', flaky.url, '--booking-id', BOOKING, '--paid-amount', '1'])
    expect(result.code).toBe(0)
    const report = result.json()
    expect(report.attemptLog.map((attempt) => attempt.status)).toEqual([503, 503, 200])
    expect(report.attemptLog[0].waitMs).toEqual(expect.any(Number))
  })

  it('a wrong secret: exit 1, 401 not retried, the message names the secret mismatch, the secret is never printed', async () => {
    const result = await run([
      'send',
      '--url',
      partner.url,
      '--secret',
      WRONG_SECRET,
      '--booking-id',
      BOOKING,
      '--paid-amount',
      '1',
    ])
    expect(result.code).toBe(1)
    expect(result.stdout).toMatch(/^1\s+HTTP 401/m)
    expect(result.stdout).toMatch(/Not delivered \(1 attempt.*Invalid webhook signature.*PWA_WEBHOOK_SECRET must match/)
    expect(partner.requests).toHaveLength(1)
    expectNoSecretIn(result)
  })

  it('an unknown booking: exit 1 with the 404', async () => {
    const result = await run([
      'send',
      '--json',
      '--url',
      partner.url,
      '--booking-id',
      'no-such-booking',
      '--paid-amount',
      '1',
    ])
    expect(result.code).toBe(1)
    expect(result.json()).toMatchObject({ ok: false, status: 404, attempts: 1, error: { kind: 'not_found' } })
  })

  it('a partner that is down: exit 1, network errors, within the deadline', async () => {
    const result = await run([
      'send',
      '--json',
      '--url',
      await deadUrl(),
      '--deadline-ms',
      '300',
      '--booking-id',
      BOOKING,
      '--paid-amount',
      '1',
    ])
    expect(result.code).toBe(1)
    const report = result.json()
    expect(report.attemptLog[0].error.kind).toBe('network')
    expect(report.elapsedMs).toBeLessThan(1000)
  })

  it('--file sends the data with a fresh timestamp, as syncBookingToPartner does', async () => {
    const file = tmpFile('send.json', GUIDE_PAYLOAD)
    const result = await run(['send', '--json', '--url', partner.url, '--file', file])
    expect(result.code).toBe(0)
    const sent = JSON.parse(partner.requests[0].body)
    expect(sent).toMatchObject({ booking_id: 'test-id', paid_amount: 50000 })
    expect(sent.timestamp).not.toBe('2026-02-04T23:00:00Z')
  })

  it('reads the URL, secret and knobs from the environment; flags win', async () => {
    const fromEnv = await run(['send', '--booking-id', BOOKING, '--paid-amount', '1'], {
      env: { SMASHPARTNER_SYNC_URL: partner.url },
    })
    expect(fromEnv.code).toBe(0)
    const flagWins = await run(
      ['send', '--json', '--url', partner.url, '--booking-id', BOOKING, '--paid-amount', '1'],
      { env: { SMASHPARTNER_SYNC_URL: await deadUrl() } },
    )
    expect(flagWins.code).toBe(0)
    const knob = await run(
      ['send', '--json', '--url', await deadUrl(), '--booking-id', BOOKING, '--paid-amount', '1'],
      { env: { PARTNER_SYNC_MAX_ATTEMPTS: '2', PARTNER_SYNC_DEADLINE_MS: '2000' } },
    )
    expect(knob.json().attempts).toBe(2)
    expect(partner.requests).toHaveLength(2)
  })

  describe('bad input: exit 2, a clear message, nothing sent', () => {
    it.each([
      ['a missing file', () => ['--file', path.join(tmp, 'missing.json')], /cannot read .*missing\.json: no such file/],
      ['invalid JSON', () => ['--file', tmpFile('broken.json', '{"booking_id": ')], /broken\.json is not valid JSON/],
      [
        'a payload failing validation',
        () => [
          '--file',
          tmpFile('invalid.json', '{"event":"booking.paid","booking_id":"x","status":"LUNAS","paid_amount":"32000"}'),
        ],
        /not valid, nothing was sent: paid_amount must be a finite number/,
      ],
      [
        'an empty booking id',
        () => ['--booking-id', ' ', '--paid-amount', '1'],
        /booking_id must be a non-empty string/,
      ],
    ])('%s', async (_, args, message) => {
      const result = await run(['send', '--url', partner.url, ...args()])
      expect(result.code).toBe(2)
      expect(result.stderr).toMatch(message)
      expect(result.stdout).toBe('')
      expect(partner.requests).toHaveLength(0)
    })

    it('a missing secret', async () => {
      const result = await run(['send', '--url', partner.url, '--booking-id', BOOKING, '--paid-amount', '1'], {
        env: { PWA_WEBHOOK_SECRET: '' },
      })
      expect(result.code).toBe(2)
      expect(result.stderr).toMatch(/no secret: pass --secret or set PWA_WEBHOOK_SECRET/)
      expect(partner.requests).toHaveLength(0)
    })

    it('an invalid URL', async () => {
      const result = await run(['send', '--url', 'not a url', '--booking-id', BOOKING, '--paid-amount', '1'])
      expect(result.code).toBe(2)
      expect(result.stderr).toMatch(/not a valid URL/)
    })
  })
})

describe('sign and verify', () => {
  it("sign prints the signature of the file's exact bytes, their length and sha256", async () => {
    const file = tmpFile('guide.json', GUIDE_PAYLOAD)
    const result = await run(['sign', '--file', file])
    expect(result.code).toBe(0)
    expect(result.stdout).toContain('exactly as they are')
    expect(result.stdout).toMatch(new RegExp(`bytes\\s+${GUIDE_PAYLOAD.length}`))
    expect(result.stdout).toMatch(new RegExp(`x-pwa-signature\\s+${hmac(GUIDE_PAYLOAD)}`))
    expectNoSecretIn(result)
  })

  it('sign --json, and a trailing newline is signed too (with a note)', async () => {
    const bytes = `${GUIDE_PAYLOAD}\n`
    const result = await run(['sign', '--json', '--file', tmpFile('newline.json', bytes)])
    expect(result.code).toBe(0)
    const report = result.json()
    expect(report).toMatchObject({
      stamped: false,
      bytes: bytes.length,
      header: 'x-pwa-signature',
      signature: hmac(bytes),
    })
    expect(report.sha256).toBe(createHash('sha256').update(bytes).digest('hex'))
    expect(report.notes.join(' ')).toMatch(/end with a newline/)
  })

  it('sign reads stdin with --file -', async () => {
    const result = await run(['sign', '--json', '--file', '-'], { input: GUIDE_PAYLOAD })
    expect(result.json()).toMatchObject({ source: 'stdin', signature: hmac(GUIDE_PAYLOAD) })
  })

  it('sign --timestamp signs the body syncBookingToPartner would send now, and prints it', async () => {
    const data = { event: 'booking.paid', booking_id: BOOKING, status: 'LUNAS', paid_amount: 32000 }
    const result = await run(['sign', '--json', '--timestamp', '--file', tmpFile('data.json', JSON.stringify(data))])
    expect(result.code).toBe(0)
    const report = result.json()
    expect(Object.keys(JSON.parse(report.body))).toEqual([...Object.keys(data), 'timestamp'])
    expect(report.signature).toBe(hmac(report.body))
    // The mock accepts exactly these bytes with this signature.
    const response = await fetch(partner.url, {
      method: 'POST',
      headers: { 'x-pwa-signature': report.signature },
      body: report.body,
    })
    expect(response.status).toBe(200)
  })

  it('verify: a match is exit 0, a mismatch exit 1 with how to tell bytes from secret', async () => {
    const file = tmpFile('received.json', GUIDE_PAYLOAD)
    const match = await run(['verify', '--file', file, '--signature', hmac(GUIDE_PAYLOAD)])
    expect(match.code).toBe(0)
    expect(match.stdout).toMatch(/^MATCH/)
    const mismatch = await run(['verify', '--json', '--file', file, '--signature', hmac(GUIDE_PAYLOAD, WRONG_SECRET)])
    expect(mismatch.code).toBe(1)
    expect(mismatch.json()).toMatchObject({
      valid: false,
      bytes: GUIDE_PAYLOAD.length,
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    })
    const explained = await run(['verify', '--file', file, '--signature', hmac(GUIDE_PAYLOAD, WRONG_SECRET)])
    expect(explained.stdout).toMatch(/same sha256 means the secrets differ/)
    expectNoSecretIn(explained)
  })

  it.each([
    ['sign: a missing file', ['sign', '--file', path.join(tmp, 'missing.json')], {}, /no such file/],
    ['sign: invalid JSON', ['sign', '--file', tmpFile('not-json.json', 'booking_id=1')], {}, /not valid JSON/],
    [
      'sign: a missing secret',
      ['sign', '--file', tmpFile('ok.json', GUIDE_PAYLOAD)],
      { PWA_WEBHOOK_SECRET: '' },
      /no secret/,
    ],
    [
      'sign --timestamp: data failing validation',
      ['sign', '--timestamp', '--file', tmpFile('partial.json', '{"booking_id":"x"}')],
      {},
      /would refuse this data: event must be/,
    ],
    [
      'verify: a malformed signature',
      ['verify', '--file', tmpFile('v.json', GUIDE_PAYLOAD), '--signature', 'xyz'],
      {},
      /64 hex characters/,
    ],
    [
      'verify: a missing file',
      ['verify', '--file', path.join(tmp, 'missing.json'), '--signature', hmac('x')],
      {},
      /no such file/,
    ],
    [
      'verify: a missing secret',
      ['verify', '--file', tmpFile('v2.json', GUIDE_PAYLOAD), '--signature', hmac('x')],
      { PWA_WEBHOOK_SECRET: '' },
      /no secret/,
    ],
  ])('%s: exit 2', async (_, args, env, message) => {
    const result = await run(args, { env })
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(message)
  })
})

describe('health', () => {
  it("is healthy when the endpoint answers the guide's JSON", async () => {
    const result = await run(['health', '--url', partner.url])
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/healthy: the endpoint answers the guide's health JSON exactly/)
  })

  it('--json gives the verdict, status and body; the URL can come from the environment', async () => {
    const result = await run(['health', '--json'], { env: { SMASHPARTNER_SYNC_URL: partner.url } })
    expect(result.json()).toMatchObject({
      url: partner.url,
      healthy: true,
      status: 200,
      body: { endpoint: '/api/webhooks/pwa-sync' },
      elapsedMs: expect.any(Number),
    })
  })

  it('a wrong path or a dead port is exit 1 with a verdict; a bad URL exit 2', async () => {
    const wrongPath = await run(['health', '--url', partner.url.replace('pwa-sync', 'nope')])
    expect(wrongPath.code).toBe(1)
    expect(wrongPath.stdout).toMatch(/NOT healthy: answered HTTP 404/)
    const dead = await run(['health', '--json', '--url', await deadUrl()])
    expect(dead.code).toBe(1)
    expect(dead.json().verdict).toMatch(/unreachable: .*ECONNREFUSED/)
    const bad = await run(['health', '--url', 'nope'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/is not a valid URL/)
  })
})

describe('mock', () => {
  /** Starts `partner-sync mock`, resolving with the process and a reader of its stdout lines. */
  async function startMockCli(args, env) {
    const child = spawnCli(['mock', ...args], env)
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
    const nextLine = async () => (await lines.next()).value
    const exited = new Promise((resolve) => child.on('close', (code) => resolve(code)))
    return { child, nextLine, exited }
  }

  it('--json: a listening line, one line per request, exit 0 on SIGTERM', async () => {
    const { child, nextLine, exited } = await startMockCli(['--json', '--fail', '503'])
    const listening = JSON.parse(await nextLine())
    expect(listening).toMatchObject({
      event: 'listening',
      url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/api\/webhooks\/pwa-sync$/),
      knownBookings: null,
    })
    const sent = await run(['send', '--json', '--url', listening.url, '--booking-id', BOOKING, '--paid-amount', '1'])
    expect(sent.json().attempts).toBe(2)
    const first = JSON.parse(await nextLine())
    const second = JSON.parse(await nextLine())
    expect([first.status, second.status]).toEqual([503, 200])
    expect(second).toMatchObject({ event: 'request', verified: true, bookingId: BOOKING })
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
  })

  it('text: one line per request saying why, and --known-bookings from a file', async () => {
    const ids = tmpFile('ids.txt', `# bookings the partner has\n${BOOKING}\n\n`)
    const { child, nextLine, exited } = await startMockCli(['--known-bookings', ids])
    const url = (await nextLine()).match(/listening on (\S+)/)[1]
    expect(await nextLine()).toMatch(/1 known booking from .*ids\.txt/)
    await nextLine()
    await run(['send', '--url', url, '--booking-id', 'unknown-booking', '--paid-amount', '1'])
    expect(await nextLine()).toMatch(/booking unknown-booking: verified, unknown booking -> 404 Booking not found/)
    await run(['send', '--url', url, '--secret', WRONG_SECRET, '--booking-id', BOOKING, '--paid-amount', '1'])
    expect(await nextLine()).toMatch(/INVALID .* -> 401 Invalid webhook signature/)
    child.kill('SIGINT')
    expect(await exited).toBe(0)
  })

  it('--database-error answers 500 with the text; --json request lines carry times and the transaction', async () => {
    const failing = await startMockCli(['--json', '--database-error', 'connection terminated unexpectedly'])
    const down = JSON.parse(await failing.nextLine())
    const sent = await run([
      'send',
      '--json',
      '--max-attempts',
      '1',
      '--url',
      down.url,
      '--booking-id',
      BOOKING,
      '--paid-amount',
      '1',
    ])
    expect(sent.json()).toMatchObject({
      ok: false,
      status: 500,
      response: { error: 'connection terminated unexpectedly' },
    })
    expect(JSON.parse(await failing.nextLine())).toMatchObject({ status: 500 })
    failing.child.kill('SIGTERM')
    expect(await failing.exited).toBe(0)

    const healthy = await startMockCli(['--json', '--transaction-delay-ms', '5'])
    const up = JSON.parse(await healthy.nextLine())
    await run(['send', '--url', up.url, '--booking-id', BOOKING, '--paid-amount', '1'])
    const request = JSON.parse(await healthy.nextLine())
    expect(request).toMatchObject({
      status: 200,
      transaction: 'created',
      response: { message: 'Booking synced and transaction created' },
    })
    expect(request.answeredAt).toBeGreaterThan(request.receivedAt)
    healthy.child.kill('SIGTERM')
    expect(await healthy.exited).toBe(0)
  })

  it.each([
    ['a port in use', async () => ['--port', String(partner.port)], {}, /already in use/],
    ['a missing secret', async () => [], { PWA_WEBHOOK_SECRET: '' }, /no secret/],
    ['a missing known-bookings file', async () => ['--known-bookings', path.join(tmp, 'none.txt')], {}, /no such file/],
    [
      'an empty --database-error',
      async () => ['--database-error', ''],
      {},
      /databaseError must be the database's error message/,
    ],
  ])('%s: exit 2', async (_, args, env, message) => {
    const result = await run(['mock', ...(await args())], { env })
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(message)
  })
})

describe('outbox', () => {
  it('without an outbox: exit 2 saying how to configure one', async () => {
    for (const command of [['list'], ['show', 'x'], ['retry', 'x'], ['redrive'], ['purge']]) {
      const result = await run(['outbox', ...command])
      expect(result.code).toBe(2)
      expect(result.stderr).toMatch(/no outbox: pass --outbox sqlite:<path>.* or set PARTNER_SYNC_OUTBOX/)
    }
  })

  it('keeps a sync the partner missed; list, show, retry, redrive, purge', async () => {
    const env = { PARTNER_SYNC_OUTBOX: `sqlite:${path.join(tmp, 'outbox.db')}`, PARTNER_SYNC_OUTBOX_SCHEDULE: '100ms' }
    const down = await deadUrl()
    const sent = await run(
      ['send', '--json', '--url', down, '--deadline-ms', '300', '--booking-id', BOOKING, '--paid-amount', '1'],
      { env },
    )
    expect(sent.code).toBe(1)
    const { outbox } = sent.json()
    expect(outbox).toMatchObject({ state: 'pending', id: expect.any(String) })

    const listed = await run(['outbox', 'list', '--json', '--state', 'pending'], { env })
    expect(listed.code).toBe(0)
    expect(listed.json().map((entry) => entry.id)).toContain(outbox.id)
    const listText = await run(['outbox', 'list'], { env })
    expect(listText.stdout).toContain(outbox.id)

    const shown = await run(['outbox', 'show', outbox.id, '--json'], { env })
    expect(shown.code).toBe(0)
    expect(shown.json()).toMatchObject({ id: outbox.id })
    expect((await run(['outbox', 'show', 'no-such-entry'], { env })).code).toBe(2)

    const retried = await run(['outbox', 'retry', outbox.id], { env })
    expect(retried.code).toBe(0)
    expect(retried.stdout).toMatch(/is due now/)
    // Who retried it is kept in the entry's history, and shown.
    const audited = await run(['outbox', 'show', outbox.id, '--json'], { env })
    expect(audited.json().audit).toEqual([
      { at: expect.any(String), action: 'retry', by: expect.stringMatching(/@.* \(partner-sync CLI\)$/) },
    ])
    expect((await run(['outbox', 'show', outbox.id], { env })).stdout).toMatch(
      /operators:\n.*retry by .*\(partner-sync CLI\)/,
    )
    expect((await run(['outbox', 'retry', 'no-such-entry'], { env })).code).toBe(2)

    // The partner comes back on the same port; a redrive delivers the kept sync.
    const back = await extraPartner({ port: Number(new URL(down).port) })
    const redriven = await run(['outbox', 'redrive', '--json', '--url', back.url], { env })
    expect(redriven.code).toBe(0)
    expect(redriven.json()).toMatchObject({ delivered: 1, failed: 0, dead: 0 })
    expect(back.requests.map((request) => request.status)).toEqual([200])

    const purged = await run(['outbox', 'purge', '--json', '--older-than', '30d'], { env })
    expect(purged.code).toBe(0)
    expect(purged.json()).toMatchObject({ deleted: expect.any(Number), olderThan: '30d' })
    const badDuration = await run(['outbox', 'purge', '--older-than', 'a while'], { env })
    expect(badDuration.code).toBe(2)
    expect(badDuration.stderr).toMatch(/is not a duration/)
  })

  it('redrive works through many entries in batches', async () => {
    const { outbox, port } = await pendingOutbox('many.db', 'booking', 60)
    const back = await extraPartner({ port })
    const limited = await run(['outbox', 'redrive', '--json', '--limit', '30', '--outbox', outbox, '--url', back.url])
    expect(limited.json()).toMatchObject({ delivered: 30, failed: 0, dead: 0, remaining: 30 })
    const rest = await run(['outbox', 'redrive', '--json', '--outbox', outbox, '--url', back.url])
    expect(rest.json()).toMatchObject({ delivered: 30, failed: 0, dead: 0, remaining: 0 })
    expect(new Set(back.requests.map((request) => request.bookingId)).size).toBe(60)
  })
})

// A real terminal: `script` (util-linux) runs the CLI on a pseudo-terminal, so stderr is a TTY and
// the progress bar shows, and a \x03 written to it is the Ctrl-C a person types.
const hasScript = process.platform === 'linux' && spawnSync('script', ['--version']).status === 0
if (!hasScript) console.warn('cli.test.mjs: SKIPPING the terminal tests: they need util-linux script on Linux')

describe.skipIf(!hasScript)('outbox redrive in a terminal', () => {
  const HIDE_CURSOR = '\x1b[?25l'
  const SHOW_CURSOR = '\x1b[?25h'

  it.each([
    ['Ctrl-C', 'SIGINT', 130],
    ['SIGTERM', 'SIGTERM', 143],
  ])('%s while the bar shows restores the cursor and stops', async (_, signal, exitCode) => {
    const { outbox, port } = await pendingOutbox(`terminal-${signal}.db`, 'terminal', 80)
    // Slow enough that the redrive is still going when the signal comes.
    const slow = await extraPartner({ port, delayMs: 300 })
    // exec: the CLI gets the shell's pid, printed first.
    const command = `echo PID:$$; exec '${process.execPath}' '${CLI}' outbox redrive --outbox '${outbox}' --url '${slow.url}'`
    const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], {
      env: { ...cleanEnv, PWA_WEBHOOK_SECRET: SECRET },
    })
    let output = ''
    let interrupted = false
    child.stdout.on('data', (chunk) => {
      output += chunk
      if (interrupted || !output.includes(HIDE_CURSOR)) return
      interrupted = true
      if (signal === 'SIGINT') child.stdin.write('\x03')
      else process.kill(Number(output.match(/PID:(\d+)/)[1]), 'SIGTERM')
    })
    const code = await new Promise((resolve) => child.on('close', resolve))
    expect(interrupted).toBe(true)
    expect(output.slice(output.lastIndexOf(HIDE_CURSOR))).toContain(SHOW_CURSOR)
    expect(code).toBe(exitCode)
    expect(slow.requests.length).toBeLessThan(80)
  })
})

describe('outbox: what a person is told', () => {
  // One sync sent while the partner is down, so the outbox keeps it.
  const sendWhileDown = async (outbox, bookingId, ...flags) =>
    run([
      'send',
      ...flags,
      '--url',
      await deadUrl(),
      '--deadline-ms',
      '300',
      '--outbox',
      outbox,
      '--booking-id',
      bookingId,
      '--paid-amount',
      '1',
    ])
  const pendingEntry = (outbox, bookingId) => sendWhileDown(outbox, bookingId, '--json')

  it('send names retry for a kept entry; redrive reports pending entries that are not due yet', async () => {
    const outbox = `sqlite:${path.join(tmp, 'not-due.db')}`
    const sentText = await sendWhileDown(outbox, BOOKING)
    const id = sentText.stdout.match(/Kept in the outbox as entry (\S+);/)[1]
    expect(sentText.stdout).toContain(`partner-sync outbox retry ${id}, then partner-sync outbox redrive`)

    const redriven = await run(['outbox', 'redrive', '--outbox', outbox, '--url', partner.url])
    expect(redriven.code).toBe(0)
    expect(redriven.stdout).toMatch(
      /0 delivered.*\n1 pending entry not due yet \(the next at \d{4}-.*Z\): .*partner-sync outbox retry <id> makes an entry due now/,
    )
    const json = await run(['outbox', 'redrive', '--json', '--outbox', outbox, '--url', partner.url])
    expect(json.json()).toMatchObject({ delivered: 0, remaining: 0, notYetDue: 1, nextAttemptAt: expect.any(String) })
    expect(partner.requests).toHaveLength(0)
  })

  it.each([['list'], ['show', 'some-id'], ['retry', 'some-id'], ['purge'], ['redrive']])(
    '%s on a SQLite path that does not exist: exit 2, no file created',
    async (...command) => {
      const missing = path.join(tmp, 'typo.db')
      for (const location of [`sqlite:${missing}`, `sqlite://${missing}`]) {
        const result = await run(['outbox', ...command, '--outbox', location])
        expect(result.code).toBe(2)
        expect(result.stderr).toContain(
          `no outbox at ${JSON.stringify(missing)} (${path.resolve(missing)}): the file does not exist, and the outbox commands never create one`,
        )
        expect(fs.existsSync(path.resolve(missing))).toBe(false)
      }
    },
  )

  it('list says when more entries exist than it shows', async () => {
    const outbox = `sqlite:${path.join(tmp, 'more.db')}`
    for (const bookingId of ['booking-a', 'booking-b', 'booking-c'])
      expect((await pendingEntry(outbox, bookingId)).code).toBe(1)
    const limited = await run(['outbox', 'list', '--limit', '2', '--outbox', outbox])
    expect(limited.stdout.trim().split('\n')).toHaveLength(1 + 2 + 1)
    expect(limited.stdout).toMatch(/\nshowing the newest 2 entries; more exist: use --limit\n$/)
    const json = await run(['outbox', 'list', '--json', '--state', 'pending', '--limit', '2', '--outbox', outbox])
    expect(json.json().map((entry) => entry.bookingId)).toEqual(['booking-c', 'booking-b'])
    expect(json.stderr).toBe('showing the newest 2 pending entries; more exist: use --limit\n')
    const all = await run(['outbox', 'list', '--limit', '3', '--outbox', outbox])
    expect(all.stdout).not.toContain('more exist')
  })
})

describe('demo', () => {
  it('finishes in under 15 s and reports the expected outcomes', async () => {
    const before = performance.now()
    const result = await run(['demo'])
    expect(performance.now() - before).toBeLessThan(15_000)
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/the guide's example booking\s+delivered at once\s+delivered, HTTP 200\s+1\s+ok/)
    expect(result.stdout).toMatch(/a flaky partner\s+delivered on attempt 3\s+delivered, HTTP 200\s+3\s+ok/)
    expect(result.stdout).toMatch(/a wrong secret\s+401, not retried\s+HTTP 401, not delivered\s+1\s+ok/)
    expect(result.stdout).toMatch(/PWA_WEBHOOK_SECRET must match/)
    expect(result.stdout).toMatch(/partner down, then redrive .*delivered by redrive.*ok/)
  })

  it('--json gives each step', async () => {
    const result = await run(['demo', '--json'])
    expect(result.code).toBe(0)
    const { ok, steps } = result.json()
    expect(ok).toBe(true)
    expect(steps.map((step) => [step.name, step.passed])).toEqual([
      ["the guide's example booking", true],
      ['a flaky partner', true],
      ['a wrong secret', true],
      ['partner down, then redrive', true],
    ])
    expect(steps[2]).toMatchObject({ status: 401, attempts: 1 })
  })
})
