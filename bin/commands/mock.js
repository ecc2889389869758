'use strict'

// partner-sync mock: a local smashpartner-compatible endpoint, for trying the integration and
// for an app's own tests.

const { Option } = require('commander')
const { startMockPartner } = require('../..')
const { plural } = require('../internal.js')
const { settingOption, wholeNumber, statusList, rate, jsonOption } = require('../options.js')
const cli = require('../context.js')

function readKnownBookings(file) {
  const lines = cli.readInput(file).toString('utf8').split(/\r?\n/)
  return lines.map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'))
}

async function mockCommand(opts) {
  const secret = cli.requireSecret(opts)
  const knownBookings = opts.knownBookings === undefined ? undefined : readKnownBookings(opts.knownBookings)
  let partner
  try {
    partner = await startMockPartner({
      port: opts.port,
      host: opts.host,
      secret,
      knownBookings,
      fail: opts.fail,
      failRate: opts.failRate,
      seed: opts.seed,
      delayMs: opts.delayMs,
      databaseError: opts.databaseError,
      transactionDelayMs: opts.transactionDelayMs,
      log: opts.json ? false : (line) => console.log(line),
      onRequest: opts.json ? (request) => console.log(JSON.stringify({ event: 'request', ...request })) : undefined,
    })
  } catch (error) {
    throw new cli.InputError(`cannot start the mock partner: ${error.message}`)
  }
  if (opts.json) {
    const known = knownBookings ? knownBookings.length : null
    console.log(JSON.stringify({ event: 'listening', url: partner.url, port: partner.port, knownBookings: known }))
  } else {
    const bookings = knownBookings
      ? `${plural(knownBookings.length, 'known booking')} from ${opts.knownBookings}, others get 404`
      : 'any booking id is accepted'
    console.log(`Mock partner listening on ${partner.url}`)
    console.log(`Bookings: ${bookings}. Stop with Ctrl-C.`)
    console.log(
      `Try: partner-sync send --url ${partner.url} --booking-id test-id --paid-amount 50000   ` +
        '(with the same PWA_WEBHOOK_SECRET)',
    )
  }
  await cli.untilStopped()
  await partner.close()
  return cli.EXIT_OK
}

function register(program) {
  program
    .command('mock')
    .description(
      "Run a local smashpartner-compatible endpoint: GET answers the guide's health JSON, POST verifies the " +
        "signature, answers as the guide's table and records a transaction per paid booking as the partner does",
    )
    .option('--port <port>', 'port to listen on, 0 for a free one', wholeNumber(0, 65535), 0)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .addOption(settingOption('secret'))
    .addOption(
      new Option(
        '--known-bookings <file>',
        'only these booking ids exist (one per line, # comments); others get 404',
      ).conflicts('acceptAny'),
    )
    .option('--accept-any', 'accept every booking id (the default)')
    .option(
      '--fail <statuses>',
      'answer the first signed POSTs with these statuses, e.g. 503,503,200 (200 = answer normally)',
      statusList,
    )
    .option('--fail-rate <rate>', 'answer this share (0..1) of signed POSTs with 503 at random', rate)
    .option('--seed <n>', 'seed for --fail-rate, so runs repeat (default 1)', wholeNumber(0))
    .option('--delay-ms <ms>', 'wait this long before every answer', wholeNumber(0))
    .option(
      '--database-error <message>',
      'answer every signed POST of a known booking with 500 {"error": message}, as the partner does when its ' +
        'database fails',
    )
    .option(
      '--transaction-delay-ms <ms>',
      "wait this long between the partner's check for an existing transaction and its insert (overlapping requests " +
        'of one booking then both insert, as on the real partner)',
      wholeNumber(0),
    )
    .addOption(jsonOption('one line when listening, then one line per request,'))
    .action(cli.withExitCode(mockCommand))
}

module.exports = { register }
