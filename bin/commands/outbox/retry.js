'use strict'

// partner-sync outbox retry <id>: make an entry due now, noting who did it.

const os = require('node:os')
const { addSettingOptions, jsonOption } = require('../../options.js')
const cli = require('../../context.js')

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

async function retryCommand(id, opts) {
  cli.requireOutbox(opts)
  const found = await cli.callOutbox(() => cli.createClient(opts).outbox.retry(id, { by: cliOperator() }))
  if (!found) throw cli.noSuchEntry(id)
  if (opts.json) cli.printJson({ id, due: true })
  else console.log(`Entry ${id} is due now: the next redrive sends it (partner-sync outbox redrive).`)
  return cli.EXIT_OK
}

function register(outbox) {
  addSettingOptions(outbox.command('retry').argument('<id>', 'the entry id'), 'outbox')
    .description('Make a dead or pending entry due now; the next redrive sends it')
    .addOption(jsonOption('the result'))
    .action(cli.withExitCode(retryCommand))
}

module.exports = { register }
