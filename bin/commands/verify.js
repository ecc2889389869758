'use strict'

// partner-sync verify: does an x-pwa-signature fit a file's exact bytes?

const { verifySignature, SIGNATURE_HEADER } = require('../..')
const { settingOption, jsonOption } = require('../options.js')
const cli = require('../context.js')

function verifyCommand(opts) {
  const secret = cli.requireSecret(opts)
  const signature = opts.signature.trim()
  if (!/^[0-9a-f]{64}$/i.test(signature)) {
    throw new cli.InputError(
      `--signature must be the 64 hex characters of an ${SIGNATURE_HEADER} header, got ${signature.length} characters`,
    )
  }
  // Any bytes may be checked: the point is to see what the other side really received.
  const bytes = cli.readInput(opts.file)
  const valid = verifySignature(bytes, signature, secret)
  const { bytes: length, sha256 } = cli.describeBytes(bytes)
  const notes = [cli.trailingNewlineNote(bytes)].filter(Boolean)
  if (opts.json) {
    cli.printJson({ valid, source: cli.sourceName(opts.file), bytes: length, sha256, notes })
  } else if (valid) {
    console.log(`MATCH: the signature fits these ${length} bytes (sha256 ${sha256}) under this secret.`)
  } else {
    console.log(`NO MATCH for these ${length} bytes (sha256 ${sha256}).`)
    console.log(
      "Compare this sha256 with the sender's (partner-sync sign prints it): " +
        'the same sha256 means the secrets differ; a different one means the bytes changed on the way ' +
        '(re-serialized, reformatted, a trailing newline).',
    )
    for (const note of notes) console.log(note)
  }
  return valid ? cli.EXIT_OK : cli.EXIT_FAILED
}

function register(program) {
  program
    .command('verify')
    .description("Check an x-pwa-signature against a file's exact bytes")
    .requiredOption('--file <path>', 'the body as received ("-" for stdin)')
    .requiredOption('--signature <hex>', `the ${SIGNATURE_HEADER} header value`)
    .addOption(settingOption('secret'))
    .addOption(jsonOption('valid, bytes and sha256'))
    .action(cli.withExitCode(verifyCommand))
}

module.exports = { register }
