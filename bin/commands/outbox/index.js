'use strict'

// partner-sync outbox <command>: inspect and repair the outbox, one file per subcommand.

const SUBCOMMANDS = ['list', 'show', 'retry', 'redrive', 'ui', 'purge']

function register(program) {
  const outbox = program
    .command('outbox')
    .description('Inspect and repair the outbox of syncs that were not delivered at once')
  for (const name of SUBCOMMANDS) require(`./${name}.js`).register(outbox)
}

module.exports = { register }
