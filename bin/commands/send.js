'use strict'

// partner-sync send: one booking sync with retries, each attempt shown.

const { Option } = require('commander')
const { problemsWith, EVENTS, plural } = require('../internal.js')
const { ms, formatAttempts } = require('../output.js')
const { addSettingOptions, DELIVERY_GROUPS, finiteNumber, jsonOption } = require('../options.js')
const cli = require('../context.js')

function sendPayload(opts) {
  if (opts.file !== undefined) return cli.parseJson(cli.readInput(opts.file), opts.file)
  if (opts.bookingId === undefined || opts.paidAmount === undefined) {
    throw new cli.InputError(
      'send needs --booking-id and --paid-amount, or --file payload.json (see partner-sync send --help)',
    )
  }
  const paymentDetails = {}
  if (opts.invoiceId !== undefined) paymentDetails.invoice_id = opts.invoiceId
  if (opts.paymentId !== undefined) paymentDetails.payment_id = opts.paymentId
  const data = { event: opts.event, booking_id: opts.bookingId, status: opts.status, paid_amount: opts.paidAmount }
  if (opts.paymentMethod !== undefined) data.payment_method = opts.paymentMethod
  if (Object.keys(paymentDetails).length > 0) data.payment_details = paymentDetails
  return data
}

function describeOutboxNote(outbox) {
  if (!outbox) return undefined
  if (outbox.error) return `The outbox could not keep this sync: ${outbox.error}`
  if (outbox.state === 'pending') {
    return (
      `Kept in the outbox as entry ${outbox.id}; next attempt at ${outbox.nextAttemptAt} by a redrive ` +
      `(to send it sooner: partner-sync outbox retry ${outbox.id}, then partner-sync outbox redrive)`
    )
  }
  if (outbox.state === 'dead') {
    return `Outbox entry ${outbox.id} is dead: fix the cause, then partner-sync outbox retry ${outbox.id}`
  }
  if (outbox.state === 'superseded') {
    const by = outbox.supersededBy ? ` by entry ${outbox.supersededBy}` : ''
    return `Outbox entry ${outbox.id} is superseded${by}: a newer sync of this booking carries its state`
  }
  return `Outbox entry ${outbox.id}: ${outbox.state}`
}

async function sendCommand(opts) {
  const data = sendPayload(opts)
  const problems = problemsWith(data)
  if (problems.length > 0) {
    throw new cli.InputError(`the payload is not valid, nothing was sent: ${problems.join('; ')}`)
  }
  cli.requireSecret(opts)
  const url = cli.effectiveUrl(opts)
  const result = await cli.createClient(opts).sync(data)
  if (result.error && ['validation', 'config'].includes(result.error.kind))
    throw new cli.InputError(result.error.message)

  const { bytes, sha256 } = cli.describeBytes(Buffer.from(result.body))
  if (opts.json) {
    cli.printJson({ url, ...result, bytes, sha256 })
  } else {
    console.log(`POST ${url}\nbooking ${result.bookingId}, ${bytes} bytes, sha256 ${sha256}`)
    console.log(formatAttempts(result.attemptLog))
    const took = `${plural(result.attempts, 'attempt')} in ${ms(result.elapsedMs)}`
    if (result.ok) console.log(`Delivered (${took}): HTTP ${result.status} ${JSON.stringify(result.response)}`)
    else console.log(`Not delivered (${took}): ${result.error.message}`)
    const outboxNote = describeOutboxNote(result.outbox)
    if (outboxNote) console.log(outboxNote)
  }
  return result.ok ? cli.EXIT_OK : cli.EXIT_FAILED
}

function register(program) {
  const send = program
    .command('send')
    .description(
      'Send one booking sync with retries, showing each attempt: for trying the integration or re-sending a booking',
    )
    .option('--booking-id <uuid>', "the booking's UUID, the same in both databases")
    .option('--paid-amount <amount>', 'the amount paid', finiteNumber)
    .option('--status <status>', 'LUNAS (paid in full), DP (down payment), ...', 'LUNAS')
    .addOption(new Option('--event <event>', 'the event').choices(EVENTS).default('booking.paid'))
    .option('--payment-method <method>', 'QRIS, VA, ...')
    .option('--invoice-id <id>', 'payment_details.invoice_id')
    .option('--payment-id <id>', 'payment_details.payment_id')
    .addOption(
      new Option(
        '--file <path>',
        'send this JSON data instead ("-" for stdin); like syncBookingToPartner, the current timestamp is added ' +
          '(replacing any in the file)',
      ).conflicts(['bookingId', 'paidAmount', 'status', 'event', 'paymentMethod', 'invoiceId', 'paymentId']),
    )
  // The data first in --help, then where and how to send it.
  addSettingOptions(send, ...DELIVERY_GROUPS)
    .option('--no-outbox', 'do not use the outbox even if PARTNER_SYNC_OUTBOX is set')
    .addOption(jsonOption('the SyncResult (with url, bytes, sha256)'))
    .action(cli.withExitCode(sendCommand))
}

module.exports = { register }
