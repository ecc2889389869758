'use strict'

// partner-sync outbox list: the newest entries, in a table or as JSON.

const { Option } = require('commander')
const { ENTRY_STATES, plural } = require('../../internal.js')
const { formatTable } = require('../../output.js')
const { addSettingOptions, wholeNumber, jsonOption } = require('../../options.js')
const cli = require('../../context.js')

// What the last attempt got, short enough for a table row: `show` gives the whole message.
const lastResult = (entry) =>
  entry.lastStatus !== undefined ? `HTTP ${entry.lastStatus}` : entry.lastError ? entry.lastError.kind : ''

async function listCommand(opts) {
  cli.requireOutbox(opts)
  // One more than shown tells whether more exist.
  const list = { state: opts.state, limit: opts.limit + 1 }
  const found = await cli.callOutbox(() => cli.createClient(opts).outbox.list(list))
  const entries = found.slice(0, opts.limit)
  const kind = opts.state ? `${opts.state} ` : ''
  const more =
    found.length > opts.limit
      ? `showing the newest ${plural(entries.length, `${kind}entry`, `${kind}entries`)}; more exist: use --limit`
      : undefined
  if (opts.json) {
    cli.printJson(entries)
    if (more) console.error(more)
  } else if (entries.length === 0)
    console.log(opts.state ? `No ${opts.state} entries in the outbox.` : 'The outbox is empty.')
  else {
    const rows = entries.map((entry) => [
      entry.id,
      entry.bookingId,
      entry.event,
      entry.state,
      entry.attempts,
      lastResult(entry),
      entry.nextAttemptAt || entry.deliveredAt,
      entry.createdAt,
    ])
    const headers = ['id', 'booking', 'event', 'state', 'attempts', 'last', 'next attempt / delivered', 'created']
    console.log(formatTable(headers, rows))
    if (more) console.log(more)
  }
  return cli.EXIT_OK
}

function register(outbox) {
  addSettingOptions(outbox.command('list'), 'outbox')
    .description('List outbox entries, newest first')
    .addOption(new Option('--state <state>', 'only entries in this state').choices(ENTRY_STATES))
    .option('--limit <n>', 'at most this many, newest first', wholeNumber(1, 1_000_000), 100)
    .addOption(jsonOption('the entries'))
    .action(cli.withExitCode(listCommand))
}

module.exports = { register }
