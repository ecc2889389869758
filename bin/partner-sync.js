#!/usr/bin/env node
'use strict'

// partner-sync: try, debug and repair the smashcourts.online -> smashpartner.online sync
// from a shell. Each command lives in bin/commands/; they use the package's public surface
// (require('..')), so they behave as the app does, and name the few internals they need in
// bin/internal.js.

const { Command, CommanderError } = require('commander')
const { version } = require('../package.json')
const { SCHEMA } = require('./internal.js')
const { EXIT_OK, EXIT_FAILED, EXIT_USAGE, InputError, CommandFailure } = require('./context.js')

// In the order --help lists them.
const COMMANDS = ['mock', 'send', 'sign', 'verify', 'health', 'outbox', 'demo']

function buildProgram() {
  const program = new Command('partner-sync')
    .version(version)
    .description('Sign, send, check and repair booking syncs from smashcourts.online to smashpartner.online.')
    .showHelpAfterError('(add --help for usage)')
    // Usage errors become exit 2 (commander would exit 1), and help stays exit 0.
    .exitOverride()
    .addHelpText(
      'after',
      `
Exit codes: 0 ok, 1 delivery or check failed, 2 usage or input error (nothing sent).
Environment (flags override): ${SCHEMA.map((setting) => setting.env).join(', ')}.`,
    )
  for (const name of COMMANDS) require(`./commands/${name}`).register(program)
  return program
}

async function main(argv) {
  try {
    await buildProgram().parseAsync(argv)
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander has printed the message (or the help) already.
      process.exitCode = error.exitCode === 0 ? EXIT_OK : EXIT_USAGE
    } else if (error instanceof InputError) {
      console.error(`partner-sync: ${error.message}`)
      process.exitCode = EXIT_USAGE
    } else if (error instanceof CommandFailure) {
      console.error(`partner-sync: ${error.message}`)
      process.exitCode = EXIT_FAILED
    } else {
      console.error(`partner-sync: unexpected error, please report it: ${error.stack}`)
      process.exitCode = EXIT_FAILED
    }
  }
}

main(process.argv)
