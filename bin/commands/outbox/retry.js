'use strict'

// partner-sync outbox retry <id>: make an entry due now, noting who did it.

const os = require('node:os')
const cli = require('../../context.js')
const { entryCommand } = require('./entry-command.js')

// Who retried, for the entry's audit note: the shell's user on this host.
function cliOperator() {
  let user
  try {
    user = os.userInfo().username
  } catch {
    user = process.env.USER || 'unknown user'
  }
  return `${user}@${os.hostname()} (partner-sync CLI)`
}

module.exports = entryCommand('retry', {
  description: 'Make a dead or pending entry due now; the next redrive sends it',
  json: 'the result',
  find: (outbox, id) => outbox.retry(id, { by: cliOperator() }),
  print(_found, id, opts) {
    if (opts.json) cli.printJson({ id, due: true })
    else console.log(`Entry ${id} is due now: the next redrive sends it (partner-sync outbox redrive).`)
  },
})
