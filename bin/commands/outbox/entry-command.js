'use strict'

// The subcommands about one entry (show, retry): `<id>`, the outbox's settings and --json, and an
// id the outbox does not hold refused with what to do.

const { addSettingOptions, jsonOption } = require('../../options.js')
const cli = require('../../context.js')

/**
 * `outbox <name> <id>`, for the subcommand list in index.js: `find(outbox, id)` asks the
 * package's outbox (nothing when it holds no such entry); `print(found, id, opts)` answers.
 */
function entryCommand(name, { description, json, find, print }) {
  async function run(id, opts) {
    cli.requireOutbox(opts)
    const found = await cli.callOutbox(() => find(cli.createClient(opts).outbox, id))
    if (!found) throw cli.noSuchEntry(id)
    print(found, id, opts)
    return cli.EXIT_OK
  }
  function register(outbox) {
    addSettingOptions(outbox.command(name).argument('<id>', 'the entry id'), 'outbox')
      .description(description)
      .addOption(jsonOption(json))
      .action(cli.withExitCode(run))
  }
  return { register }
}

module.exports = { entryCommand }
