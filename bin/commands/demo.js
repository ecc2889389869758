'use strict'

// `npm run demo`: the whole integration on this machine, against local mock partners,
// with small retry knobs so it finishes in a few seconds.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { randomBytes, randomUUID } = require('node:crypto')
const { setTimeout: sleep } = require('node:timers/promises')
const { createPartnerSync, startMockPartner } = require('../..')
const { formatTable, formatAttempts, ms } = require('../output.js')
const { withExitCode } = require('../context.js')
const { jsonOption } = require('../options.js')

// The integration guide's example payload, without the timestamp the library adds (sync.test.mjs sends it too).
const GUIDE_EXAMPLE = {
  event: 'booking.paid',
  booking_id: 'b24a8a76-edb7-4b0c-950b-3144cc4d7ec6',
  status: 'LUNAS',
  paid_amount: 32000,
  payment_method: 'QRIS',
  payment_details: { invoice_id: 'INV-123456' },
}

const FAST_RETRIES = { maxAttempts: 4, attemptTimeoutMs: 1000, deadlineMs: 3000, backoffBaseMs: 50, backoffMaxMs: 200 }
const REDRIVE_PATIENCE_MS = 3000

const anotherBooking = () => ({ ...GUIDE_EXAMPLE, booking_id: randomUUID() })

// Short outcome for the summary; the library's full message (what went wrong, what to do) as detail.
function outcomeOf(result) {
  if (result.ok) return { outcome: `delivered, HTTP ${result.status}` }
  const outcome =
    result.status !== undefined ? `HTTP ${result.status}, not delivered` : `${result.error.kind}, not delivered`
  return { outcome, detail: result.error.message }
}

async function runDemo(opts = {}) {
  const say = opts.json ? () => {} : (line) => console.log(line)
  const partnerLog = opts.json ? false : (line) => say(`    ${line}`)
  // A fresh secret: the demo needs no setup and never touches the environment's settings.
  const secret = randomBytes(16).toString('hex')
  const clientFor = (url, overrides = {}) =>
    createPartnerSync({ url, secret, ...FAST_RETRIES, outbox: false, logger: false, ...overrides })
  const steps = []

  function report(step) {
    steps.push(step)
    const detail = step.detail ? `\n     ${step.detail}` : ''
    say(`  => ${step.passed ? 'as expected' : 'NOT as expected'}: ${step.outcome}${detail}\n`)
  }

  async function deliverStep(name, expected, client, data, isExpected) {
    say(`* ${name} (expected: ${expected})`)
    const result = await client.sync(data)
    say(formatAttempts(result.attemptLog, '    '))
    report({
      name,
      expected,
      ...outcomeOf(result),
      attempts: result.attempts,
      status: result.status,
      passed: isExpected(result),
    })
  }

  const partner = await startMockPartner({ secret, log: partnerLog })
  const flakyPartner = await startMockPartner({ secret, fail: [503, 503], log: partnerLog })
  say(`Mock partner on ${partner.url}; a flaky one (503, 503, then normal) on ${flakyPartner.url}\n`)
  try {
    await deliverStep(
      "the guide's example booking",
      'delivered at once',
      clientFor(partner.url),
      GUIDE_EXAMPLE,
      (r) => r.ok && r.attempts === 1,
    )
    await deliverStep(
      'a flaky partner',
      'delivered on attempt 3',
      clientFor(flakyPartner.url),
      anotherBooking(),
      (r) => r.ok && r.attempts === 3,
    )
    await deliverStep(
      'a wrong secret',
      '401, not retried',
      clientFor(partner.url, { secret: 'not-the-partners-secret' }),
      anotherBooking(),
      (r) => !r.ok && r.status === 401 && r.attempts === 1 && r.error.kind === 'unauthorized',
    )
  } finally {
    await Promise.all([partner.close(), flakyPartner.close()])
  }
  report(await partnerDownStep({ secret, say, partnerLog, clientFor }))

  const passed = steps.every((step) => step.passed)
  if (opts.json) {
    console.log(JSON.stringify({ ok: passed, steps }, null, 2))
  } else {
    say('Summary')
    const verdict = (step) => (step.passed ? 'ok' : 'FAILED')
    say(
      formatTable(
        ['step', 'expected', 'outcome', 'attempts', ''],
        steps.map((step) => [step.name, step.expected, step.outcome, step.attempts, verdict(step)]),
      ),
    )
    say(passed ? '\nEvery step behaved as expected.' : '\nSome steps did not behave as expected: see above.')
  }
  return passed ? 0 : 1
}

// A sync while the partner is down goes to a temporary SQLite outbox; a redrive delivers it once the partner is back.
async function partnerDownStep({ secret, say, partnerLog, clientFor }) {
  const name = 'partner down, then redrive'
  const expected = 'kept in the outbox, delivered by redrivePending()'
  say(`* ${name} (expected: ${expected})`)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'partner-sync-demo-'))
  try {
    // A port nobody listens on: take a free one and let it go.
    const gone = await startMockPartner({ secret, log: false })
    await gone.close()
    const client = clientFor(gone.url, {
      outbox: `sqlite:${path.join(dir, 'outbox.db')}`,
      outboxSchedule: '100ms',
      deadlineMs: 400,
    })
    const result = await client.sync(anotherBooking())
    say(formatAttempts(result.attemptLog, '    '))
    const kept = !result.ok && result.outbox && result.outbox.state === 'pending'
    if (result.error) say(`    ${result.error.message}`)
    if (kept) say(`    kept in the outbox as entry ${result.outbox.id}, due at ${result.outbox.nextAttemptAt}`)
    if (!kept)
      return {
        name,
        expected,
        outcome: 'not kept in the outbox',
        detail: JSON.stringify(result.outbox),
        attempts: result.attempts,
        passed: false,
      }

    say('    the partner comes back; redriving')
    const backAgain = await startMockPartner({ secret, port: gone.port, log: partnerLog })
    try {
      // The entry is due 100 ms after the failure: redrive until it is delivered, within bounds.
      const started = Date.now()
      let redrive
      do {
        await sleep(100)
        redrive = await client.redrivePending()
      } while (redrive.delivered === 0 && !redrive.error && Date.now() - started < REDRIVE_PATIENCE_MS)
      const delivered = redrive.delivered === 1 && backAgain.requests.some((request) => request.status === 200)
      const outcome = delivered
        ? `delivered by redrive after ${ms(Date.now() - started)}`
        : 'redrive did not deliver it'
      return {
        name,
        expected,
        outcome,
        detail: delivered ? undefined : JSON.stringify(redrive),
        attempts: result.attempts,
        passed: delivered,
      }
    } finally {
      await backAgain.close()
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

function register(program) {
  program
    .command('demo')
    .description(
      'See it work: a local mock partner, a delivery, a flaky partner, a wrong secret and an outbox redrive ' +
        '(needs no setup)',
    )
    .addOption(jsonOption('the summary'))
    .action(withExitCode(runDemo))
}

module.exports = { register, GUIDE_EXAMPLE }
