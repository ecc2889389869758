'use strict'

// What every command shares: its exit codes and errors, the client built from its flags, the
// secret and outbox it needs, and its input files, read as raw bytes and never re-serialized.

const fs = require('node:fs')
const path = require('node:path')
const { createPartnerSync, bodySha256, DEFAULT_URL } = require('..')
const { SCHEMA } = require('./internal.js')

const EXIT_OK = 0
const EXIT_FAILED = 1
const EXIT_USAGE = 2

/** Bad input: reported in one line, exit 2, nothing sent. */
class InputError extends Error {}

/** A check or an outbox operation that failed: reported in one line, exit 1. */
class CommandFailure extends Error {}

// ---- settings: flags win over the library's environment variables ----

// The CLI prints outcomes itself; only the library's warnings (a knob that fell back to its default) go to stderr.
const warningsOnlyLogger = { info() {}, error() {}, warn: (...args) => console.error(...args) }

function clientOptions(opts) {
  const options = { logger: warningsOnlyLogger }
  // Unset flags must stay absent: a present-but-undefined option would hide the environment variable.
  for (const { option } of SCHEMA) if (opts[option] !== undefined) options[option] = opts[option]
  return options
}

const createClient = (opts) => createPartnerSync(clientOptions(opts))

function requireSecret(opts) {
  const secret = opts.secret !== undefined ? opts.secret : process.env.PWA_WEBHOOK_SECRET
  if (!secret) {
    throw new InputError(
      'no secret: pass --secret or set PWA_WEBHOOK_SECRET to the shared secret, exactly as smashpartner.online has it',
    )
  }
  return secret
}

// The outbox commands work on an outbox the app made; only a sync creates one. A typo'd SQLite
// path must not become a new, empty outbox that looks like "nothing pending".
function requireOutbox(opts) {
  const location = opts.outbox !== undefined ? opts.outbox : process.env.PARTNER_SYNC_OUTBOX
  if (!location) {
    throw new InputError(
      'no outbox: pass --outbox sqlite:<path> or --outbox postgres://..., or set PARTNER_SYNC_OUTBOX',
    )
  }
  if (!location.startsWith('sqlite:')) return
  // As the native side reads it: sqlite:<path> or sqlite://<path>.
  const file = location.slice('sqlite:'.length).replace(/^\/\//, '')
  if (!fs.existsSync(file)) {
    throw new InputError(
      `no outbox at ${JSON.stringify(file)} (${path.resolve(file)}): the file does not exist, ` +
        'and the outbox commands never create one. ' +
        `Check the path (a relative one is relative to the current directory, ${process.cwd()}) ` +
        'against the PARTNER_SYNC_OUTBOX the app uses',
    )
  }
}

const effectiveUrl = (opts) => opts.url || process.env.SMASHPARTNER_SYNC_URL || DEFAULT_URL

function outboxFailure(message) {
  return new CommandFailure(`outbox: ${message}`)
}

// The outbox calls reject with a clear message and an ErrorKind as `code` when the outbox is
// unusable or an argument is wrong. `inputCodes`: the codes that mean this command's own
// arguments are wrong (exit 2); any other rejection is a failed operation (exit 1).
async function callOutbox(call, inputCodes = []) {
  try {
    return await call()
  } catch (error) {
    if (inputCodes.includes(error.code)) throw new InputError(error.message)
    throw outboxFailure(error.message)
  }
}

function noSuchEntry(id) {
  return new InputError(`no outbox entry ${id}: partner-sync outbox list shows the ids`)
}

// ---- input files: raw bytes, never re-serialized ----

const sourceName = (file) => (file === '-' ? 'stdin' : file)

function readInput(file) {
  try {
    return file === '-' ? fs.readFileSync(0) : fs.readFileSync(file)
  } catch (error) {
    const why = error.code === 'ENOENT' ? 'no such file' : error.code === 'EISDIR' ? 'it is a directory' : error.message
    throw new InputError(`cannot read ${file}: ${why}`)
  }
}

function parseJson(bytes, file) {
  try {
    return JSON.parse(bytes.toString('utf8'))
  } catch (error) {
    throw new InputError(`${sourceName(file)} is not valid JSON: ${error.message}`)
  }
}

function describeBytes(bytes) {
  return { bytes: bytes.length, sha256: bodySha256(bytes) }
}

// Editors end files with a newline that JSON.stringify never writes: the usual "same JSON, different signature".
function trailingNewlineNote(bytes) {
  return bytes.length > 0 && bytes[bytes.length - 1] === 0x0a
    ? 'note: the bytes end with a newline, which is signed too; ' +
        'bodies built by JSON.stringify (as syncBookingToPartner does) never end with one'
    : undefined
}

function printJson(value) {
  console.log(JSON.stringify(value, null, 2))
}

// A command's action: its result is the process's exit code.
function withExitCode(run) {
  return async (...args) => {
    process.exitCode = await run(...args)
  }
}

// Resolves at Ctrl-C or a kill: how the long-running commands (mock, outbox ui) end.
function untilStopped() {
  return new Promise((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
}

module.exports = {
  EXIT_OK,
  EXIT_FAILED,
  EXIT_USAGE,
  InputError,
  CommandFailure,
  clientOptions,
  createClient,
  requireSecret,
  requireOutbox,
  effectiveUrl,
  outboxFailure,
  callOutbox,
  noSuchEntry,
  sourceName,
  readInput,
  parseJson,
  describeBytes,
  trailingNewlineNote,
  printJson,
  withExitCode,
  untilStopped,
}
