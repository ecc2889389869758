'use strict'

// partner-sync outbox purge: delete delivered entries older than a duration.

const { plural } = require('../../internal.js')
const { addSettingOptions, jsonOption } = require('../../options.js')
const cli = require('../../context.js')

async function purgeCommand(opts) {
  cli.requireOutbox(opts)
  // A validation error here is --older-than that is not a duration.
  const purge = () => cli.createClient(opts).outbox.purge({ olderThan: opts.olderThan })
  const deleted = await cli.callOutbox(purge, ['validation'])
  if (opts.json) cli.printJson({ deleted, olderThan: opts.olderThan })
  else console.log(`Deleted ${plural(deleted, 'delivered entry', 'delivered entries')} older than ${opts.olderThan}.`)
  return cli.EXIT_OK
}

function register(outbox) {
  addSettingOptions(outbox.command('purge'), 'outbox')
    .description('Delete delivered entries older than a duration')
    .option('--older-than <duration>', 'e.g. 30d, 12h', '30d')
    .addOption(jsonOption('the count'))
    .action(cli.withExitCode(purgeCommand))
}

module.exports = { register }
