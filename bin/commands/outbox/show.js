'use strict'

// partner-sync outbox show <id>: one entry with its body, attempts and operator notes.

const { bodySha256 } = require('../../..')
const { ms, formatTable, formatPairs } = require('../../output.js')
const { addSettingOptions, jsonOption } = require('../../options.js')
const cli = require('../../context.js')

async function showCommand(id, opts) {
  cli.requireOutbox(opts)
  const entry = await cli.callOutbox(() => cli.createClient(opts).outbox.show(id))
  if (!entry) throw cli.noSuchEntry(id)
  if (opts.json) {
    cli.printJson(entry)
    return cli.EXIT_OK
  }
  const { body, history, audit, lastError, ...fields } = entry
  const pairs = [...Object.entries(fields), ['lastError', lastError && `${lastError.kind}: ${lastError.message}`]]
  console.log(formatPairs(pairs.filter(([, value]) => value !== undefined)))
  console.log(`body (${Buffer.byteLength(body)} bytes, sha256 ${bodySha256(body)}):\n${body}`)
  const rows = history.map((attempt) => [
    attempt.at,
    attempt.status !== undefined ? `HTTP ${attempt.status}` : attempt.errorKind,
    ms(attempt.durationMs),
    attempt.message,
  ])
  console.log(`last attempts:\n${formatTable(['at', 'result', 'took', 'message'], rows)}`)
  if (audit.length)
    console.log(`operators:\n${audit.map((note) => `${note.at}  ${note.action} by ${note.by}`).join('\n')}`)
  return cli.EXIT_OK
}

function register(outbox) {
  addSettingOptions(outbox.command('show').argument('<id>', 'the entry id'), 'outbox')
    .description('Show one entry with its attempts')
    .addOption(jsonOption('the entry'))
    .action(cli.withExitCode(showCommand))
}

module.exports = { register }
