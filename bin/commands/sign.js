'use strict'

// partner-sync sign: the x-pwa-signature of a file's exact bytes, with their length and sha256.

const { generateSignature, SIGNATURE_HEADER } = require('../..')
const { problemsWith, buildBody } = require('../internal.js')
const { formatPairs } = require('../output.js')
const { settingOption, jsonOption } = require('../options.js')
const cli = require('../context.js')

function signCommand(opts) {
  const secret = cli.requireSecret(opts)
  const fileBytes = cli.readInput(opts.file)
  const data = cli.parseJson(fileBytes, opts.file)
  const notes = []
  let bytes = fileBytes
  if (opts.timestamp) {
    const built = buildBody(data)
    if (built.problem) throw new cli.InputError(`syncBookingToPartner would refuse this data: ${built.problem}`)
    bytes = Buffer.from(built.body)
  } else {
    const problems = problemsWith(data)
    if (problems.length > 0) notes.push(`note: the partner will not accept this payload: ${problems.join('; ')}`)
    const newline = cli.trailingNewlineNote(bytes)
    if (newline) notes.push(newline)
  }
  const signature = generateSignature(bytes, secret)
  const source = cli.sourceName(opts.file)

  if (opts.json) {
    cli.printJson({
      source,
      stamped: Boolean(opts.timestamp),
      ...cli.describeBytes(bytes),
      header: SIGNATURE_HEADER,
      signature,
      ...(opts.timestamp && { body: bytes.toString('utf8') }),
      notes,
    })
    return cli.EXIT_OK
  }
  if (opts.timestamp) {
    console.log(
      `Signed the body syncBookingToPartner would send now: ${source}'s data plus the current timestamp, ` +
        'serialized by JSON.stringify:',
    )
    console.log(bytes.toString('utf8'))
  } else {
    console.log(`Signed the bytes of ${source} exactly as they are (not parsed and re-serialized).`)
  }
  const { bytes: length, sha256 } = cli.describeBytes(bytes)
  console.log(
    formatPairs([
      ['bytes', length],
      ['sha256', sha256],
      [SIGNATURE_HEADER, signature],
    ]),
  )
  for (const note of notes) console.log(note)
  if (!opts.timestamp && opts.file !== '-') {
    console.log(
      `To send exactly these bytes: curl -X POST "$SMASHPARTNER_SYNC_URL" -H 'content-type: application/json' ` +
        `-H '${SIGNATURE_HEADER}: ${signature}' --data-binary @${opts.file}`,
    )
  }
  return cli.EXIT_OK
}

function register(program) {
  program
    .command('sign')
    .description(
      "Print the x-pwa-signature of a file's exact bytes, with their length and sha256, so two sides can compare " +
        'without sharing the secret',
    )
    .requiredOption(
      '--file <path>',
      'the JSON body ("-" for stdin); its bytes are signed exactly as they are, never re-serialized',
    )
    .addOption(settingOption('secret'))
    .option(
      '--timestamp',
      'sign what syncBookingToPartner would send for this data now: the data plus the current timestamp, through ' +
        'JSON.stringify (prints that body)',
    )
    .addOption(jsonOption('signature, bytes and sha256'))
    .action(cli.withExitCode(signCommand))
}

module.exports = { register }
