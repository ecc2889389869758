'use strict'

// partner-sync outbox show <id>: one entry with its body, attempts and operator notes.

const { bodySha256 } = require('../../..')
const { ms, formatTable, formatPairs } = require('../../output.js')
const cli = require('../../context.js')
const { entryCommand } = require('./entry-command.js')

function printEntry(entry, _id, opts) {
  if (opts.json) {
    cli.printJson(entry)
    return
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
}

module.exports = entryCommand('show', {
  description: 'Show one entry with its attempts',
  json: 'the entry',
  find: (outbox, id) => outbox.show(id),
  print: printEntry,
})
