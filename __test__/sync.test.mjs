import { createHmac } from 'node:crypto'
import { createRequire } from 'node:module'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { capturingLogger, inOrder, refusedPort, startReceiver } from './helpers/receiver.mjs'

const require = createRequire(import.meta.url)
const { syncBookingToPartner, createPartnerSync, generateSignature, verifySignature } = require('../lib/index.js')
const { GUIDE_EXAMPLE } = require('../bin/commands/demo.js')

const SECRET = 'test-shared-secret-4f9a'
const hmac = (body, secret = SECRET) => createHmac('sha256', secret).update(body).digest('hex')

// The guide's step-3 call (its example payload, as `npm run demo` sends it), with the overrides a test
// needs; a copy of its own, as a test may change it in place.
const booking = (overrides = {}) => ({ ...structuredClone(GUIDE_EXAMPLE), ...overrides })

const FAST = {
  secret: SECRET,
  maxAttempts: 4,
  backoffBaseMs: 10,
  backoffMaxMs: 40,
  attemptTimeoutMs: 500,
  deadlineMs: 3000,
}

let receiver
let log
afterEach(async () => {
  await receiver?.close()
  receiver = undefined
})
beforeEach(() => {
  log = capturingLogger()
})
const client = (answer, options = {}) => ({ ...FAST, url: receiver.url, logger: log.logger, ...options })
async function syncWith(answer, data = booking(), options = {}) {
  receiver = await startReceiver(answer)
  return createPartnerSync(client(answer, options)).sync(data)
}

describe('syncBookingToPartner (the guide signature)', () => {
  let saved
  beforeEach(() => {
    saved = { ...process.env }
  })
  afterEach(() => {
    process.env = saved
    vi.restoreAllMocks()
  })

  it('signs the exact JSON.stringify body, sends it, resolves true and logs like the guide', async () => {
    receiver = await startReceiver()
    process.env.SMASHPARTNER_SYNC_URL = receiver.url
    process.env.PWA_WEBHOOK_SECRET = SECRET
    const info = vi.spyOn(console, 'log').mockImplementation(() => {})
    const data = booking({ venue_id: 'v-1', total_amount: 64000, customer_name: 'Budi', customer_phone: undefined })

    await expect(syncBookingToPartner(data)).resolves.toBe(true)

    expect(receiver.requests).toHaveLength(1)
    const [request] = receiver.requests
    const sent = JSON.parse(request.body)
    expect(request.body).toBe(JSON.stringify({ ...data, timestamp: sent.timestamp }))
    expect(sent.timestamp).toBe(new Date(sent.timestamp).toISOString())
    expect(Object.keys(sent)).toEqual([
      'event',
      'booking_id',
      'status',
      'paid_amount',
      'payment_method',
      'payment_details',
      'venue_id',
      'total_amount',
      'customer_name',
      'timestamp',
    ])
    expect(request.method).toBe('POST')
    expect(request.headers['content-type']).toBe('application/json')
    expect(request.headers['x-pwa-signature']).toBe(hmac(request.raw))
    expect(info).toHaveBeenCalledWith(
      expect.stringMatching(
        new RegExp(`^\\[Partner Sync\\] Success for booking: ${data.booking_id} \\(1 attempt, \\d+ ms\\)$`),
      ),
    )
  })

  it('reads the environment at each call', async () => {
    receiver = await startReceiver()
    process.env.PWA_WEBHOOK_SECRET = SECRET
    process.env.SMASHPARTNER_SYNC_URL = `http://127.0.0.1:${await refusedPort()}/x`
    process.env.PARTNER_SYNC_MAX_ATTEMPTS = '1'
    vi.spyOn(console, 'error').mockImplementation(() => {})
    await expect(syncBookingToPartner(booking())).resolves.toBe(false)
    process.env.SMASHPARTNER_SYNC_URL = receiver.url
    process.env.PWA_WEBHOOK_SECRET = 'rotated-secret-000'
    vi.spyOn(console, 'log').mockImplementation(() => {})
    await expect(syncBookingToPartner(booking())).resolves.toBe(true)
    expect(receiver.requests[0].headers['x-pwa-signature']).toBe(hmac(receiver.requests[0].raw, 'rotated-secret-000'))
  })

  it('refuses to send without PWA_WEBHOOK_SECRET, naming it', async () => {
    receiver = await startReceiver()
    process.env.SMASHPARTNER_SYNC_URL = receiver.url
    for (const secret of [undefined, '']) {
      if (secret === undefined) delete process.env.PWA_WEBHOOK_SECRET
      else process.env.PWA_WEBHOOK_SECRET = secret
      const error = vi.spyOn(console, 'error').mockImplementation(() => {})
      await expect(syncBookingToPartner(booking())).resolves.toBe(false)
      expect(error.mock.calls.flat().join(' ')).toMatch(/PWA_WEBHOOK_SECRET is not set/)
    }
    expect(receiver.requests).toHaveLength(0)
  })

  it('never throws or rejects, whatever it is given', async () => {
    receiver = await startReceiver()
    process.env.SMASHPARTNER_SYNC_URL = receiver.url
    process.env.PWA_WEBHOOK_SECRET = SECRET
    const error = vi.spyOn(console, 'error').mockImplementation(() => {})
    const cyclic = booking()
    cyclic.payment_details.self = cyclic.payment_details
    class Booking {
      constructor() {
        Object.assign(this, booking())
      }
    }
    const throwingGetter = booking()
    Object.defineProperty(throwingGetter, 'venue_id', {
      enumerable: true,
      get: () => {
        throw new Error('boom')
      },
    })
    const inputs = [
      undefined,
      null,
      42,
      'b24a8a76',
      [],
      [booking()],
      () => {},
      Symbol('x'),
      new Booking(),
      cyclic,
      throwingGetter,
      booking({ booking_id: undefined }),
      booking({ booking_id: '' }),
      booking({ booking_id: '   ' }),
      booking({ booking_id: 7 }),
      booking({ event: 'booking.refunded' }),
      booking({ event: undefined }),
      booking({ status: '' }),
      booking({ status: 1 }),
      booking({ paid_amount: NaN }),
      booking({ paid_amount: Infinity }),
      booking({ paid_amount: '32000' }),
      booking({ paid_amount: 10n }),
      booking({ payment_method: 5 }),
      booking({ payment_details: 'INV-1' }),
      booking({ payment_details: ['INV-1'] }),
      booking({ payment_details: { amount: 10n } }),
      booking({ toJSON: () => ({}) }),
    ]
    for (const input of inputs) {
      await expect(syncBookingToPartner(input)).resolves.toBe(false)
    }
    expect(receiver.requests).toHaveLength(0)
    expect(error).toHaveBeenCalledTimes(inputs.length)
    expect(error.mock.calls[0][0]).toMatch(/^\[Partner Sync\] Not sent .*plain object/)
  })

  it('still resolves true when the logger throws', async () => {
    receiver = await startReceiver()
    const result = await createPartnerSync({
      ...FAST,
      url: receiver.url,
      logger: {
        info() {
          throw new Error('log down')
        },
      },
    }).sync(booking())
    expect(result.ok).toBe(true)
  })
})

describe("amounts the partner's numeric(10,2) columns can store", () => {
  it.each([
    ['paid_amount', -1],
    ['paid_amount', -0.01],
    ['paid_amount', 1e8],
    ['paid_amount', 99_999_999.991],
    ['paid_amount', 1e21],
    ['total_amount', -5],
    ['total_amount', 1e8],
    ['total_amount', NaN],
  ])('%s %d is refused before anything is sent', async (field, amount) => {
    const result = await syncWith(() => ({ status: 200 }), booking({ [field]: amount }))
    expect(result).toMatchObject({ ok: false, attempts: 0, error: { kind: 'validation' } })
    expect(result.error.message).toContain(
      `${field} must be from 0 to 99,999,999.99 (the partner stores amounts as numeric(10,2))`,
    )
    expect(receiver.requests).toHaveLength(0)
    expect(log.lines[0].text).toMatch(
      new RegExp(`^\\[Partner Sync\\] Not sent for booking ${booking().booking_id}: invalid data`),
    )
  })

  it.each([
    [{ paid_amount: 0 }],
    [{ paid_amount: 99_999_999.99, total_amount: 99_999_999.99 }],
    [{ paid_amount: 32000, total_amount: '1e9' }],
  ])('%j is sent', async (amounts) => {
    const result = await syncWith(() => ({ status: 200 }), booking(amounts))
    expect(result.ok).toBe(true)
  })
})

describe('answers from the guide table', () => {
  it.each([
    [401, 'Missing x-pwa-signature header', 'unauthorized', /PWA_WEBHOOK_SECRET must match/],
    [401, 'Invalid webhook signature', 'unauthorized', /PWA_WEBHOOK_SECRET must match/],
    [400, 'Missing booking_id', 'bad_request', /incomplete/],
    [404, 'Booking not found', 'not_found', /no such booking/],
    [403, 'Forbidden', 'http', /refused/],
    [422, 'Unprocessable', 'http', /could not process/],
  ])('%i %s: not retried, reported with the partner text', async (status, text, kind, hint) => {
    const result = await syncWith(() => ({ status, json: { error: text } }))
    expect(result).toMatchObject({ ok: false, status, attempts: 1, error: { kind }, response: { error: text } })
    expect(result.error.message).toContain(`HTTP ${status} "${text}"`)
    expect(result.error.message).toMatch(hint)
    expect(receiver.requests).toHaveLength(1)
    const line = log.lines.find((l) => l.level === 'error').text
    expect(line).toMatch(
      new RegExp(
        `^\\[Partner Sync\\] Failed for booking ${booking().booking_id} \\(1 attempt, \\d+ ms\\): HTTP ${status}`,
      ),
    )
  })

  it('500 is retried up to the attempt limit, with the count in the log', async () => {
    const result = await syncWith(() => ({ status: 500, json: { error: 'Internal server error' } }))
    expect(result).toMatchObject({ ok: false, status: 500, attempts: 4, error: { kind: 'http' } })
    expect(log.text()).toMatch(/4 attempts.*HTTP 500 "Internal server error"/)
  })

  it('a redirect is a failure, not followed', async () => {
    const result = await syncWith(() => ({ status: 302, headers: { location: 'https://elsewhere.example/x' } }))
    expect(result).toMatchObject({ ok: false, status: 302, attempts: 1, error: { kind: 'http' } })
    expect(result.error.message).toMatch(/redirects are not followed.*Location: https:\/\/elsewhere.example\/x/)
  })
})

describe('retrying delivery', () => {
  it('retries 502/503/504 and 408, then succeeds, with identical bytes and signature each time', async () => {
    const result = await syncWith(inOrder({ status: 503 }, { status: 502 }, { status: 408 }, { status: 200 }))
    expect(result).toMatchObject({ ok: true, status: 200, attempts: 4 })
    const bodies = new Set(receiver.requests.map((r) => r.body))
    const signatures = new Set(receiver.requests.map((r) => r.headers['x-pwa-signature']))
    expect(receiver.requests).toHaveLength(4)
    expect(bodies.size).toBe(1)
    expect(signatures.size).toBe(1)
    expect(result.body).toBe([...bodies][0])
    expect(result.attemptLog.map((a) => a.status)).toEqual([503, 502, 408, 200])
    expect(result.attemptLog.slice(0, 3).every((a) => a.waitMs >= 0 && a.waitMs <= 40)).toBe(true)
  })

  it('honours Retry-After on 429 when it fits in the deadline', async () => {
    const started = Date.now()
    const result = await syncWith(inOrder({ status: 429, headers: { 'retry-after': '1' } }, { status: 200 }))
    const waited = receiver.requests[1].at - receiver.requests[0].at
    expect(result).toMatchObject({ ok: true, attempts: 2 })
    expect(waited).toBeGreaterThanOrEqual(950)
    expect(Date.now() - started).toBeLessThan(2500)
  })

  it('stops at once when Retry-After does not fit in the deadline', async () => {
    const result = await syncWith(() => ({ status: 503, headers: { 'retry-after': '120' } }))
    expect(result).toMatchObject({ ok: false, attempts: 1, error: { kind: 'deadline' } })
    expect(result.error.message).toMatch(/asked to retry after 120000 ms.*HTTP 503/)
    expect(result.elapsedMs).toBeLessThan(1000)
  })

  it('a connection reset after the body was sent waits out the quiet period, then retries', async () => {
    const result = await syncWith(inOrder('reset', { status: 200 }), booking(), { quietPeriod: '150ms' })
    expect(result).toMatchObject({ ok: true, attempts: 2 })
    expect(result.attemptLog[0].error.kind).toBe('network')
    const [first, second] = result.attemptLog
    expect(second.startedMs - (first.startedMs + first.durationMs)).toBeGreaterThanOrEqual(140)
  })

  it('an attempt that hangs past the attempt timeout is retried only after the quiet period', async () => {
    const started = Date.now()
    const result = await syncWith(inOrder('hang', { status: 200 }), booking(), {
      attemptTimeoutMs: 200,
      quietPeriod: '300ms',
    })
    expect(result).toMatchObject({ ok: true, attempts: 2 })
    expect(result.attemptLog[0].error.kind).toBe('timeout')
    expect(result.attemptLog[0].durationMs).toBeGreaterThanOrEqual(190)
    expect(result.attemptLog[1].startedMs).toBeGreaterThanOrEqual(490)
    expect(Date.now() - started).toBeLessThan(2000)
  })

  it('after a timeout, by default nothing more of that booking is sent in the request: the partner may still be processing it', async () => {
    const result = await syncWith(inOrder('hang', { status: 200 }), booking(), { attemptTimeoutMs: 200 })
    expect(result).toMatchObject({ ok: false, attempts: 1, error: { kind: 'timeout' } })
    expect(result.error.message).toMatch(
      /no answer within 200 ms \(PARTNER_SYNC_ATTEMPT_TIMEOUT_MS\).*may still be processing it.*5m \(PARTNER_SYNC_QUIET_PERIOD\)/,
    )
    // A newer sync of the same booking waits for the quiet period too: never two at once.
    const next = await createPartnerSync(client()).sync(booking({ status: 'LUNAS', paid_amount: 64000 }))
    expect(next).toMatchObject({ ok: false, attempts: 0, error: { kind: 'deadline' } })
    expect(next.error.message).toMatch(/may still be processing it/)
    expect(receiver.requests).toHaveLength(1)
    // Another booking is not held up.
    expect(await createPartnerSync(client()).sync(booking({ booking_id: 'another-booking' }))).toMatchObject({
      ok: true,
    })
  })

  it('a refused connection is retried at once: the request never ran', async () => {
    receiver = await startReceiver()
    const url = `http://127.0.0.1:${await refusedPort()}/api/webhooks/pwa-sync`
    const result = await createPartnerSync({ ...FAST, url, logger: false, maxAttempts: 2, backoffBaseMs: 0 }).sync(
      booking(),
    )
    expect(result).toMatchObject({ ok: false, attempts: 2 })
    expect(result.attemptLog[1].startedMs).toBeLessThan(200)
  })

  it('warns once about plain http:// to a host that is not local, and still sends', async () => {
    receiver = await startReceiver()
    // 127.0.0.2 is loopback too; a public name is what the warning is for: check the message on one.
    const quiet = createPartnerSync(client())
    await quiet.sync(booking())
    expect(log.lines.filter((l) => l.level === 'warn')).toEqual([])
    const remote = createPartnerSync({
      ...client(),
      url: 'http://example.invalid/api/webhooks/pwa-sync',
      maxAttempts: 1,
    })
    await remote.sync(booking())
    await remote.sync(booking())
    const warnings = log.lines.filter((l) => l.level === 'warn').map((l) => l.text)
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/uses plain http:\/\/ to a host that is not local.*use https:\/\//)
  })

  it('names what was left of the deadline when that, not the attempt timeout, cut an attempt short', async () => {
    const result = await syncWith(() => 'hang', booking(), { attemptTimeoutMs: 600, deadlineMs: 400 })
    expect(result.error.message).toMatch(/no answer within \d+ ms \(what was left of PARTNER_SYNC_DEADLINE_MS\)/)
  })

  it('reports a refused port as a network error after every attempt', async () => {
    receiver = await startReceiver()
    const url = `http://127.0.0.1:${await refusedPort()}/api/webhooks/pwa-sync`
    const result = await createPartnerSync({ ...FAST, url, logger: log.logger }).sync(booking())
    expect(result).toMatchObject({ ok: false, attempts: 4, error: { kind: 'network' } })
    expect(result.error.message).toMatch(
      /^connection refused .*; is the partner up, and are the host and port in SMASHPARTNER_SYNC_URL right\?$/,
    )
    expect(result.status).toBeUndefined()
  })

  it('names a TLS failure (an https URL to a plain-HTTP port)', async () => {
    receiver = await startReceiver()
    const result = await createPartnerSync({
      ...FAST,
      url: receiver.url.replace('http:', 'https:'),
      maxAttempts: 1,
      logger: false,
    }).sync(booking())
    expect(result).toMatchObject({ ok: false, error: { kind: 'network' } })
    expect(result.error.message).toMatch(/^TLS failed/)
  })

  it('never runs past the deadline', async () => {
    const started = Date.now()
    const result = await syncWith(() => ({ status: 503, delayMs: 150 }), booking(), {
      maxAttempts: 50,
      deadlineMs: 700,
      backoffBaseMs: 50,
      backoffMaxMs: 100,
    })
    const elapsed = Date.now() - started
    expect(result.ok).toBe(false)
    expect(['deadline', 'timeout']).toContain(result.error.kind)
    expect(elapsed).toBeLessThan(700 + 300)
    expect(result.attempts).toBeGreaterThan(1)
  })

  it('delivers 500 concurrent syncs, each exactly once', async () => {
    receiver = await startReceiver()
    // Generous bounds: a loaded machine must not turn this into a timing test.
    const sync = createPartnerSync({
      ...FAST,
      attemptTimeoutMs: 10_000,
      deadlineMs: 20_000,
      url: receiver.url,
      logger: false,
    })
    const ids = Array.from({ length: 500 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`)
    const results = await Promise.all(ids.map((booking_id) => sync.sync(booking({ booking_id }))))
    expect(results.every((r) => r.ok && r.attempts === 1)).toBe(true)
    const received = receiver.requests.map((r) => JSON.parse(r.body).booking_id).sort()
    expect(received).toEqual(ids)
    expect(receiver.requests.every((r) => r.headers['x-pwa-signature'] === hmac(r.raw))).toBe(true)
  })
})

describe('results, logs and the secret', () => {
  it('gives a SyncResult with the parsed answer', async () => {
    const result = await syncWith(() => ({
      status: 200,
      json: { success: true, message: 'Booking synced successfully', booking_id: 'x' },
    }))
    expect(result).toMatchObject({
      ok: true,
      bookingId: booking().booking_id,
      status: 200,
      attempts: 1,
      response: { success: true, booking_id: 'x' },
    })
    expect(result.error).toBeUndefined()
    expect(result.elapsedMs).toBeGreaterThan(0)
  })

  it('reads at most 64 KiB of an answer', async () => {
    const result = await syncWith(() => ({ status: 500, json: { error: 'x'.repeat(1 << 20) } }), booking(), {
      maxAttempts: 1,
    })
    expect(result.response.length).toBe(64 * 1024)
    expect(result.error.message.length).toBeLessThan(400)
  })

  it('never shows the secret, even when the partner echoes it', async () => {
    const result = await syncWith(() => ({ status: 500, json: { error: `bad key ${SECRET}` } }), booking(), {
      maxAttempts: 2,
    })
    const everything = JSON.stringify(result) + log.text()
    expect(everything).not.toContain(SECRET)
    expect(everything).toContain('[redacted]')
  })

  it('warns once about an unparsable knob and uses its default', async () => {
    const sync =
      (await startReceiver().then((r) => (receiver = r)),
      createPartnerSync({ ...FAST, url: receiver.url, logger: log.logger, maxAttempts: 'many' }))
    await sync.sync(booking())
    await sync.sync(booking())
    const warnings = log.lines.filter((l) => l.level === 'warn')
    expect(warnings).toHaveLength(1)
    expect(warnings[0].text).toMatch(/PARTNER_SYNC_MAX_ATTEMPTS \/ maxAttempts = "many" .*default 5/)
  })

  it('rejects an unusable URL as a config error without sending', async () => {
    receiver = await startReceiver()
    const result = await createPartnerSync({ ...FAST, url: 'ftp://partner/x', logger: log.logger }).sync(booking())
    expect(result).toMatchObject({ ok: false, attempts: 0, error: { kind: 'config' } })
    expect(result.error.message).toMatch(/SMASHPARTNER_SYNC_URL must start with https:\/\//)
  })
})

describe('signatures', () => {
  it('generateSignature matches node:crypto for strings and buffers, including 1 MB', () => {
    const big = 'x'.repeat(1 << 20)
    for (const payload of ['{"a":1}', 'é ✓ 🎾', big, Buffer.from([0, 255, 10])]) {
      expect(generateSignature(payload, SECRET)).toBe(hmac(payload))
      expect(verifySignature(payload, hmac(payload), SECRET)).toBe(true)
    }
  })

  it('verifySignature is false, never throws, on malformed input', () => {
    const good = hmac('body')
    for (const [payload, signature, secret] of [
      ['body', good, 'other'],
      ['body!', good, SECRET],
      ['body', 'zz', SECRET],
      ['body', good.slice(0, 10), SECRET],
      ['body', undefined, SECRET],
      ['body', 42, SECRET],
      [undefined, good, SECRET],
      [{}, good, SECRET],
      ['body', good, undefined],
    ]) {
      expect(verifySignature(payload, signature, secret)).toBe(false)
    }
  })
})

describe('cancellation with an AbortSignal', () => {
  it('an abort during a backoff resolves at once, with no further request', async () => {
    receiver = await startReceiver(() => ({ status: 503 }))
    const controller = new AbortController()
    const started = Date.now()
    const pending = createPartnerSync(
      client(undefined, { backoffBaseMs: 3000, backoffMaxMs: 3000, deadlineMs: 9000 }),
    ).sync(booking(), { signal: controller.signal })
    while (receiver.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
    controller.abort()
    const result = await pending
    expect(result).toMatchObject({ ok: false, attempts: 1, error: { kind: 'aborted' } })
    expect(Date.now() - started).toBeLessThan(1500)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(receiver.requests).toHaveLength(1)
  })

  it('an abort while the request is on the wire abandons it; the booking then stays quiet', async () => {
    receiver = await startReceiver(() => 'hang')
    const controller = new AbortController()
    const pending = createPartnerSync(client()).sync(booking(), { signal: controller.signal })
    while (receiver.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
    controller.abort()
    const result = await pending
    expect(result).toMatchObject({
      ok: false,
      attempts: 1,
      error: { kind: 'aborted', message: expect.stringMatching(/may have received it/) },
    })
    const next = await createPartnerSync(client()).sync(booking())
    expect(next).toMatchObject({ ok: false, attempts: 0, error: { kind: 'deadline' } })
    expect(receiver.requests).toHaveLength(1)
  })

  it('an already aborted signal sends nothing; syncBookingToPartner takes it as its second argument', async () => {
    receiver = await startReceiver()
    const saved = { ...process.env }
    Object.assign(process.env, {
      PWA_WEBHOOK_SECRET: SECRET,
      SMASHPARTNER_SYNC_URL: receiver.url,
      PARTNER_SYNC_LOG: 'silent',
    })
    try {
      expect(await syncBookingToPartner(booking(), { signal: AbortSignal.abort() })).toBe(false)
      const result = await createPartnerSync(client()).sync(booking(), { signal: AbortSignal.abort() })
      expect(result).toMatchObject({ ok: false, attempts: 0, error: { kind: 'aborted' } })
      expect(receiver.requests).toHaveLength(0)
    } finally {
      process.env = saved
    }
  })
})
