#!/usr/bin/env node
'use strict'

// partner-sync: try, debug and repair the smashcourts.online -> smashpartner.online sync
// from a shell. Built only on the package's own exports, so it behaves as the app does.

const fs = require('node:fs')
const path = require('node:path')
const crypto = require('node:crypto')
const http = require('node:http')
const os = require('node:os')
const { Command, Option, InvalidArgumentError, CommanderError } = require('commander')
const { createOutboxDashboard, createPartnerSync, generateSignature, verifySignature, bodySha256, DEFAULT_URL, SIGNATURE_HEADER } = require('../lib/index.js')
const { problemsWith, buildBody, EVENTS } = require('../lib/validate.js')
const { entryStates } = require('../lib/load-native.js')
const { startMockPartner, HEALTH_RESPONSE } = require('../lib/mock-partner.js')
const { ms, formatTable, formatPairs, formatAttempts } = require('./output.js')
const { plural } = require('../lib/format.js')
const { SCHEMA, isNumeric, settingProblem } = require('../lib/settings.js')
const { runDemo } = require('./demo.js')
const cliProgress = require('cli-progress')
const { version } = require('../package.json')

const EXIT_OK = 0
const EXIT_FAILED = 1
const EXIT_USAGE = 2

/** Bad input: reported in one line, exit 2, nothing sent. */
class InputError extends Error {}

/** A check or an outbox operation that failed: reported in one line, exit 1. */
class CommandFailure extends Error {}

// ---- option parsers: a bad value is a usage error (exit 2) before anything runs ----

function wholeNumber(min, max = Number.MAX_SAFE_INTEGER) {
  return (text) => {
    const value = Number(text)
    if (!/^\s*\d+\s*$/.test(text) || value < min || value > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}.`)
    return value
  }
}

function finiteNumber(text) {
  const value = Number(text)
  if (text.trim() === '' || !Number.isFinite(value)) throw new InvalidArgumentError('expected a number such as 32000.')
  return value
}

function rate(text) {
  const value = Number(text)
  if (text.trim() === '' || !(value >= 0 && value <= 1)) throw new InvalidArgumentError('expected a number from 0 to 1, such as 0.3.')
  return value
}

function statusList(text) {
  return text.split(',').map((part) => {
    const status = Number(part.trim())
    if (!Number.isInteger(status) || status < 200 || status > 599) throw new InvalidArgumentError(`expected HTTP statuses from 200 to 599 separated by commas, such as 503,503,200; got ${JSON.stringify(part)}.`)
    return status
  })
}

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
  if (!secret) throw new InputError('no secret: pass --secret or set PWA_WEBHOOK_SECRET to the shared secret, exactly as smashpartner.online has it')
  return secret
}

// The outbox commands work on an outbox the app made; only a sync creates one. A typo'd SQLite
// path must not become a new, empty outbox that looks like "nothing pending".
function requireOutbox(opts) {
  const location = opts.outbox !== undefined ? opts.outbox : process.env.PARTNER_SYNC_OUTBOX
  if (!location) throw new InputError('no outbox: pass --outbox sqlite:<path> or --outbox postgres://..., or set PARTNER_SYNC_OUTBOX')
  if (!location.startsWith('sqlite:')) return
  // As the native side reads it: sqlite:<path> or sqlite://<path>.
  const file = location.slice('sqlite:'.length).replace(/^\/\//, '')
  if (!fs.existsSync(file)) {
    throw new InputError(`no outbox at ${JSON.stringify(file)} (${path.resolve(file)}): the file does not exist, and the outbox commands never create one. Check the path (a relative one is relative to the current directory, ${process.cwd()}) against the PARTNER_SYNC_OUTBOX the app uses`)
  }
}

const effectiveUrl = (opts) => opts.url || process.env.SMASHPARTNER_SYNC_URL || DEFAULT_URL

// Every library setting is a flag of the same name (--max-attempts for maxAttempts), with the
// help, default and check the core declares: a value the library would fall back from is a
// usage error here.
function settingOption(name) {
  const setting = SCHEMA.find((candidate) => candidate.option === name)
  const flag = setting.option.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)
  const parse = (text) => {
    const problem = settingProblem(setting.option, text)
    if (problem) throw new InvalidArgumentError(`${problem}.`)
    return isNumeric(setting) ? Number(text) : text
  }
  const origin = setting.default ? `env ${setting.env}; default ${setting.default}` : `env ${setting.env}`
  return new Option(`--${flag} <${setting.placeholder}>`, `${setting.summary} (${origin})`).argParser(parse)
}

// groups: which of the schema's groups (connection, retry, outbox, outboxDelivery) the command takes.
function addSettingOptions(command, ...groups) {
  for (const setting of SCHEMA) if (groups.includes(setting.group)) command.addOption(settingOption(setting.option))
  return command
}

const jsonOption = (what) => new Option('--json', `print ${what} as JSON on stdout`)

// ---- input files: raw bytes, never re-serialized ----

const sourceName = (path) => (path === '-' ? 'stdin' : path)

function readInput(path) {
  try {
    return path === '-' ? fs.readFileSync(0) : fs.readFileSync(path)
  } catch (error) {
    const why = error.code === 'ENOENT' ? 'no such file' : error.code === 'EISDIR' ? 'it is a directory' : error.message
    throw new InputError(`cannot read ${path}: ${why}`)
  }
}

function parseJson(bytes, path) {
  try {
    return JSON.parse(bytes.toString('utf8'))
  } catch (error) {
    throw new InputError(`${sourceName(path)} is not valid JSON: ${error.message}`)
  }
}

function describeBytes(bytes) {
  return { bytes: bytes.length, sha256: bodySha256(bytes) }
}

// Editors end files with a newline that JSON.stringify never writes: the usual "same JSON, different signature".
function trailingNewlineNote(bytes) {
  return bytes.length > 0 && bytes[bytes.length - 1] === 0x0a
    ? 'note: the bytes end with a newline, which is signed too; bodies built by JSON.stringify (as syncBookingToPartner does) never end with one'
    : undefined
}

function printJson(value) {
  console.log(JSON.stringify(value, null, 2))
}

// ---- commands ----

function sendPayload(opts) {
  if (opts.file !== undefined) return parseJson(readInput(opts.file), opts.file)
  if (opts.bookingId === undefined || opts.paidAmount === undefined) {
    throw new InputError('send needs --booking-id and --paid-amount, or --file payload.json (see partner-sync send --help)')
  }
  const paymentDetails = {}
  if (opts.invoiceId !== undefined) paymentDetails.invoice_id = opts.invoiceId
  if (opts.paymentId !== undefined) paymentDetails.payment_id = opts.paymentId
  const data = { event: opts.event, booking_id: opts.bookingId, status: opts.status, paid_amount: opts.paidAmount }
  if (opts.paymentMethod !== undefined) data.payment_method = opts.paymentMethod
  if (Object.keys(paymentDetails).length > 0) data.payment_details = paymentDetails
  return data
}

function describeOutboxNote(outbox) {
  if (!outbox) return undefined
  if (outbox.error) return `The outbox could not keep this sync: ${outbox.error}`
  if (outbox.state === 'pending') return `Kept in the outbox as entry ${outbox.id}; next attempt at ${outbox.nextAttemptAt} by a redrive (to send it sooner: partner-sync outbox retry ${outbox.id}, then partner-sync outbox redrive)`
  if (outbox.state === 'dead') return `Outbox entry ${outbox.id} is dead: fix the cause, then partner-sync outbox retry ${outbox.id}`
  if (outbox.state === 'superseded') return `Outbox entry ${outbox.id} is superseded${outbox.supersededBy ? ` by entry ${outbox.supersededBy}` : ''}: a newer sync of this booking carries its state`
  return `Outbox entry ${outbox.id}: ${outbox.state}`
}

async function sendCommand(opts) {
  const data = sendPayload(opts)
  const problems = problemsWith(data)
  if (problems.length > 0) throw new InputError(`the payload is not valid, nothing was sent: ${problems.join('; ')}`)
  requireSecret(opts)
  const url = effectiveUrl(opts)
  const result = await createClient(opts).sync(data)
  if (result.error && ['validation', 'config'].includes(result.error.kind)) throw new InputError(result.error.message)

  const { bytes, sha256 } = describeBytes(Buffer.from(result.body))
  if (opts.json) {
    printJson({ url, ...result, bytes, sha256 })
  } else {
    console.log(`POST ${url}\nbooking ${result.bookingId}, ${bytes} bytes, sha256 ${sha256}`)
    console.log(formatAttempts(result.attemptLog))
    const took = `${plural(result.attempts, 'attempt')} in ${ms(result.elapsedMs)}`
    if (result.ok) console.log(`Delivered (${took}): HTTP ${result.status} ${JSON.stringify(result.response)}`)
    else console.log(`Not delivered (${took}): ${result.error.message}`)
    const outboxNote = describeOutboxNote(result.outbox)
    if (outboxNote) console.log(outboxNote)
  }
  return result.ok ? EXIT_OK : EXIT_FAILED
}

function signCommand(opts) {
  const secret = requireSecret(opts)
  const fileBytes = readInput(opts.file)
  const data = parseJson(fileBytes, opts.file)
  const notes = []
  let bytes = fileBytes
  if (opts.timestamp) {
    const built = buildBody(data)
    if (built.problem) throw new InputError(`syncBookingToPartner would refuse this data: ${built.problem}`)
    bytes = Buffer.from(built.body)
  } else {
    const problems = problemsWith(data)
    if (problems.length > 0) notes.push(`note: the partner will not accept this payload: ${problems.join('; ')}`)
    const newline = trailingNewlineNote(bytes)
    if (newline) notes.push(newline)
  }
  const signature = generateSignature(bytes, secret)
  const source = sourceName(opts.file)

  if (opts.json) {
    printJson({ source, stamped: Boolean(opts.timestamp), ...describeBytes(bytes), header: SIGNATURE_HEADER, signature, ...(opts.timestamp && { body: bytes.toString('utf8') }), notes })
    return EXIT_OK
  }
  if (opts.timestamp) {
    console.log(`Signed the body syncBookingToPartner would send now: ${source}'s data plus the current timestamp, serialized by JSON.stringify:`)
    console.log(bytes.toString('utf8'))
  } else {
    console.log(`Signed the bytes of ${source} exactly as they are (not parsed and re-serialized).`)
  }
  const { bytes: length, sha256 } = describeBytes(bytes)
  console.log(formatPairs([['bytes', length], ['sha256', sha256], [SIGNATURE_HEADER, signature]]))
  for (const note of notes) console.log(note)
  if (!opts.timestamp && opts.file !== '-') {
    console.log(`To send exactly these bytes: curl -X POST "$SMASHPARTNER_SYNC_URL" -H 'content-type: application/json' -H '${SIGNATURE_HEADER}: ${signature}' --data-binary @${opts.file}`)
  }
  return EXIT_OK
}

function verifyCommand(opts) {
  const secret = requireSecret(opts)
  const signature = opts.signature.trim()
  if (!/^[0-9a-f]{64}$/i.test(signature)) {
    throw new InputError(`--signature must be the 64 hex characters of an ${SIGNATURE_HEADER} header, got ${signature.length} characters`)
  }
  // Any bytes may be checked: the point is to see what the other side really received.
  const bytes = readInput(opts.file)
  const valid = verifySignature(bytes, signature, secret)
  const { bytes: length, sha256 } = describeBytes(bytes)
  const notes = [trailingNewlineNote(bytes)].filter(Boolean)
  if (opts.json) {
    printJson({ valid, source: sourceName(opts.file), bytes: length, sha256, notes })
  } else if (valid) {
    console.log(`MATCH: the signature fits these ${length} bytes (sha256 ${sha256}) under this secret.`)
  } else {
    console.log(`NO MATCH for these ${length} bytes (sha256 ${sha256}).`)
    console.log('Compare this sha256 with the sender\'s (partner-sync sign prints it): the same sha256 means the secrets differ; a different one means the bytes changed on the way (re-serialized, reformatted, a trailing newline).')
    for (const note of notes) console.log(note)
  }
  return valid ? EXIT_OK : EXIT_FAILED
}

// Healthy when the answer is the guide's health JSON, or close enough to be the same endpoint.
function healthVerdict(status, body) {
  if (status !== 200) return { healthy: false, verdict: `answered HTTP ${status}, not 200: wrong URL, or the partner is down` }
  if (JSON.stringify(body) === JSON.stringify(HEALTH_RESPONSE)) return { healthy: true, verdict: "healthy: the endpoint answers the guide's health JSON exactly" }
  const looksLikeEndpoint = body && Array.isArray(body.methods) && body.methods.includes('POST') && body.headers && Array.isArray(body.headers.required) && body.headers.required.includes(SIGNATURE_HEADER)
  if (looksLikeEndpoint) return { healthy: true, verdict: "healthy, but the health JSON differs from the guide's: compare it with the guide" }
  return { healthy: false, verdict: "answered 200, but not with the guide's health JSON: is this the /api/webhooks/pwa-sync URL?" }
}

async function healthCommand(opts) {
  const url = effectiveUrl(opts)
  if (!URL.canParse(url)) throw new InputError(`${JSON.stringify(url)} is not a URL: pass --url http(s)://host/api/webhooks/pwa-sync`)
  const started = performance.now()
  let report
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(opts.timeoutMs), redirect: 'manual' })
    const text = await response.text()
    let body = text
    try {
      body = JSON.parse(text)
    } catch {
      // Not JSON: keep the text, the verdict says it is not the health answer.
    }
    report = { url, status: response.status, ...healthVerdict(response.status, body), body }
  } catch (error) {
    const cause = error.name === 'TimeoutError' ? `no answer within ${opts.timeoutMs} ms` : (error.cause && error.cause.message) || error.message
    report = { url, healthy: false, verdict: `unreachable: ${cause}` }
  }
  report.elapsedMs = Math.round(performance.now() - started)
  if (opts.json) printJson(report)
  else {
    console.log(`GET ${url} (${ms(report.elapsedMs)})`)
    console.log(report.healthy ? report.verdict : `NOT healthy: ${report.verdict}`)
    if (report.body !== undefined) console.log(typeof report.body === 'string' ? report.body.slice(0, 500) : JSON.stringify(report.body))
  }
  return report.healthy ? EXIT_OK : EXIT_FAILED
}

function readKnownBookings(path) {
  const lines = readInput(path).toString('utf8').split(/\r?\n/)
  return lines.map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'))
}

async function mockCommand(opts) {
  const secret = requireSecret(opts)
  const knownBookings = opts.knownBookings === undefined ? undefined : readKnownBookings(opts.knownBookings)
  let partner
  try {
    partner = await startMockPartner({
      port: opts.port,
      host: opts.host,
      secret,
      knownBookings,
      fail: opts.fail,
      failRate: opts.failRate,
      seed: opts.seed,
      delayMs: opts.delayMs,
      databaseError: opts.databaseError,
      transactionDelayMs: opts.transactionDelayMs,
      log: opts.json ? false : (line) => console.log(line),
      onRequest: opts.json ? (request) => console.log(JSON.stringify({ event: 'request', ...request })) : undefined,
    })
  } catch (error) {
    throw new InputError(`cannot start the mock partner: ${error.message}`)
  }
  if (opts.json) {
    console.log(JSON.stringify({ event: 'listening', url: partner.url, port: partner.port, knownBookings: knownBookings ? knownBookings.length : null }))
  } else {
    console.log(`Mock partner listening on ${partner.url}`)
    console.log(`Bookings: ${knownBookings ? `${plural(knownBookings.length, 'known booking')} from ${opts.knownBookings}, others get 404` : 'any booking id is accepted'}. Stop with Ctrl-C.`)
    console.log(`Try: partner-sync send --url ${partner.url} --booking-id test-id --paid-amount 50000   (with the same PWA_WEBHOOK_SECRET)`)
  }
  await new Promise((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  await partner.close()
  return EXIT_OK
}

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

// What the last attempt got, short enough for a table row: `show` gives the whole message.
const lastResult = (entry) => (entry.lastStatus !== undefined ? `HTTP ${entry.lastStatus}` : entry.lastError ? entry.lastError.kind : '')

async function outboxListCommand(opts) {
  requireOutbox(opts)
  // One more than shown tells whether more exist.
  const found = await callOutbox(() => createClient(opts).outbox.list({ state: opts.state, limit: opts.limit + 1 }))
  const entries = found.slice(0, opts.limit)
  const more = found.length > opts.limit ? `showing the newest ${plural(entries.length, `${opts.state ? `${opts.state} ` : ''}entry`, `${opts.state ? `${opts.state} ` : ''}entries`)}; more exist: use --limit` : undefined
  if (opts.json) {
    printJson(entries)
    if (more) console.error(more)
  } else if (entries.length === 0) console.log(opts.state ? `No ${opts.state} entries in the outbox.` : 'The outbox is empty.')
  else {
    const rows = entries.map((entry) => [entry.id, entry.bookingId, entry.event, entry.state, entry.attempts, lastResult(entry), entry.nextAttemptAt || entry.deliveredAt, entry.createdAt])
    console.log(formatTable(['id', 'booking', 'event', 'state', 'attempts', 'last', 'next attempt / delivered', 'created'], rows))
    if (more) console.log(more)
  }
  return EXIT_OK
}

function noSuchEntry(id) {
  return new InputError(`no outbox entry ${id}: partner-sync outbox list shows the ids`)
}

async function outboxShowCommand(id, opts) {
  requireOutbox(opts)
  const entry = await callOutbox(() => createClient(opts).outbox.show(id))
  if (!entry) throw noSuchEntry(id)
  if (opts.json) {
    printJson(entry)
    return EXIT_OK
  }
  const { body, history, audit, lastError, ...fields } = entry
  console.log(formatPairs([...Object.entries(fields), ['lastError', lastError && `${lastError.kind}: ${lastError.message}`]].filter(([, value]) => value !== undefined)))
  console.log(`body (${Buffer.byteLength(body)} bytes, sha256 ${bodySha256(body)}):\n${body}`)
  const rows = history.map((attempt) => [attempt.at, attempt.status !== undefined ? `HTTP ${attempt.status}` : attempt.errorKind, ms(attempt.durationMs), attempt.message])
  console.log(`last attempts:\n${formatTable(['at', 'result', 'took', 'message'], rows)}`)
  if (audit.length) console.log(`operators:\n${audit.map((note) => `${note.at}  ${note.action} by ${note.by}`).join('\n')}`)
  return EXIT_OK
}

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

async function outboxRetryCommand(id, opts) {
  requireOutbox(opts)
  const found = await callOutbox(() => createClient(opts).outbox.retry(id, { by: cliOperator() }))
  if (!found) throw noSuchEntry(id)
  if (opts.json) printJson({ id, due: true })
  else console.log(`Entry ${id} is due now: the next redrive sends it (partner-sync outbox redrive).`)
  return EXIT_OK
}

async function outboxPurgeCommand(opts) {
  requireOutbox(opts)
  // A validation error here is --older-than that is not a duration.
  const deleted = await callOutbox(() => createClient(opts).outbox.purge({ olderThan: opts.olderThan }), ['validation'])
  if (opts.json) printJson({ deleted, olderThan: opts.olderThan })
  else console.log(`Deleted ${plural(deleted, 'delivered entry', 'delivered entries')} older than ${opts.olderThan}.`)
  return EXIT_OK
}

const REDRIVE_BATCH = 25
// How many pending entries a redrive looks at to report those not due yet.
const PENDING_SCAN = 1000

// Pending entries a redrive does not send because their next attempt is still to come.
async function notYetDue(client) {
  const pending = await callOutbox(() => client.outbox.list({ state: 'pending', limit: PENDING_SCAN }))
  const now = Date.now()
  const waiting = pending.map((entry) => entry.nextAttemptAt).filter((at) => at && Date.parse(at) > now).sort()
  return { count: waiting.length, scannedAll: pending.length < PENDING_SCAN, nextAttemptAt: waiting[0] }
}

// Ctrl-C or a kill while the bar hides the cursor: show the cursor again, then die of that signal.
function stopBarOnSignal(bar) {
  const signals = ['SIGINT', 'SIGTERM']
  const onSignal = (signal) => {
    for (const other of signals) process.off(other, onSignal)
    bar.stop()
    process.kill(process.pid, signal)
  }
  for (const signal of signals) process.on(signal, onSignal)
  return () => {
    for (const signal of signals) process.off(signal, onSignal)
    bar.stop()
  }
}

// Redrives in batches so a bar can show entries done / total; the first batch tells the total.
async function redriveInBatches(client, opts) {
  const totals = { delivered: 0, failed: 0, dead: 0, superseded: 0, remaining: 0 }
  const handled = () => totals.delivered + totals.failed + totals.dead
  let bar
  let stopBar = () => {}
  let left = opts.limit !== undefined ? opts.limit : Infinity
  try {
    while (left > 0) {
      const batch = await client.redrivePending({ limit: Math.min(REDRIVE_BATCH, left) })
      if (batch.error || batch.message) throw outboxFailure(batch.error || batch.message)
      const done = batch.delivered + batch.failed + batch.dead
      for (const key of ['delivered', 'failed', 'dead', 'superseded']) totals[key] += batch[key]
      totals.remaining = batch.remaining
      left -= done
      // Only worth a bar when more than one batch is due, and only for a person watching.
      if (!bar && batch.remaining > 0 && process.stderr.isTTY && !opts.json) {
        bar = new cliProgress.SingleBar({ format: 'redrive [{bar}] {value}/{total} entries | {rate} entries/s | ETA {eta_formatted}', hideCursor: true }, cliProgress.Presets.shades_classic)
        // Before start() hides the cursor, so no signal can find it hidden and unhandled.
        stopBar = stopBarOnSignal(bar)
        bar.start(done + Math.min(batch.remaining, left), 0, { rate: '-' })
      }
      if (bar) bar.update(handled(), { rate: (handled() / ((Date.now() - bar.startTime) / 1000 || 1)).toFixed(1) })
      // Failed entries are rescheduled into the future, so an empty batch or nothing due ends the run.
      if (done === 0 || batch.remaining === 0) break
    }
  } finally {
    stopBar()
  }
  return totals
}

async function outboxRedriveCommand(opts) {
  requireOutbox(opts)
  requireSecret(opts)
  const client = createClient(opts)
  const totals = await redriveInBatches(client, opts)
  const waiting = await notYetDue(client)
  if (opts.json) printJson({ ...totals, notYetDue: waiting.count, nextAttemptAt: waiting.nextAttemptAt })
  else {
    console.log(`Redrive: ${totals.delivered} delivered, ${totals.failed} failed (rescheduled), ${totals.dead} dead, ${totals.superseded} superseded (older than a body of their booking the partner accepted), ${totals.remaining} still due.`)
    if (waiting.count > 0) {
      const count = `${waiting.scannedAll ? '' : 'at least '}${plural(waiting.count, 'pending entry', 'pending entries')}`
      console.log(`${count} not due yet (the next at ${waiting.nextAttemptAt}): a redrive sends only what is due; partner-sync outbox retry <id> makes an entry due now (partner-sync outbox list --state pending shows the ids).`)
    }
  }
  return totals.failed + totals.dead > 0 ? EXIT_FAILED : EXIT_OK
}

// ---- the program ----

function withExitCode(run) {
  return async (...args) => {
    process.exitCode = await run(...args)
  }
}

// ---- outbox ui: the dashboard on loopback, behind a token printed in its URL ----

const UI_COOKIE = 'partner_sync_ui'
const UI_BODY_LIMIT = 64 * 1024

function cookieValue(header, name) {
  for (const part of String(header || '').split(';')) {
    const [key, ...value] = part.trim().split('=')
    if (key === name) return value.join('=')
  }
  return undefined
}

// node:http in, Request out: the dashboard speaks the Web-standard API, as in Next.js.
async function toRequest(req, origin) {
  const chunks = []
  let size = 0
  for await (const chunk of req) {
    size += chunk.length
    if (size > UI_BODY_LIMIT) throw new InputError('request body too large')
    chunks.push(chunk)
  }
  const headers = new Headers()
  for (const [name, value] of Object.entries(req.headers)) headers.set(name, Array.isArray(value) ? value.join(', ') : value)
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
  return new Request(new URL(req.url, origin), { method: req.method, headers, body: hasBody ? Buffer.concat(chunks) : undefined })
}

async function sendResponse(res, response, extraHeaders = {}) {
  res.writeHead(response.status, { ...Object.fromEntries(response.headers), ...extraHeaders })
  res.end(Buffer.from(await response.arrayBuffer()))
}

async function outboxUiCommand(opts) {
  requireOutbox(opts)
  const token = crypto.randomBytes(24).toString('base64url')
  const sameToken = (value) => typeof value === 'string' && value.length === token.length && crypto.timingSafeEqual(Buffer.from(value), Buffer.from(token))
  const dashboard = createOutboxDashboard({
    ...clientOptions(opts),
    basePath: '/',
    authorize: (request) => (sameToken(new URL(request.url).searchParams.get('token')) || sameToken(cookieValue(request.headers.get('cookie'), UI_COOKIE)) ? 'local operator (partner-sync outbox ui)' : null),
  })
  const server = http.createServer(async (req, res) => {
    const origin = `http://${req.headers.host || '127.0.0.1'}`
    try {
      const url = new URL(req.url, origin)
      // The token from the printed URL becomes a cookie, and leaves the address bar.
      if (req.method === 'GET' && sameToken(url.searchParams.get('token'))) {
        url.searchParams.delete('token')
        res.writeHead(303, { location: `${url.pathname}${url.search}`, 'set-cookie': `${UI_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict`, 'cache-control': 'no-store' })
        return res.end()
      }
      const request = await toRequest(req, origin)
      await sendResponse(res, await (req.method === 'POST' ? dashboard.POST(request) : dashboard.GET(request)))
    } catch (error) {
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
      res.end(`partner-sync outbox ui: ${error.message}\n`)
    }
  })
  await new Promise((resolve, reject) => {
    server.once('error', (error) => reject(new CommandFailure(`outbox ui cannot listen on 127.0.0.1:${opts.port}: ${error.message}; pick another --port (0 for a free one)`)))
    server.listen(opts.port, '127.0.0.1', resolve)
  })
  const url = `http://127.0.0.1:${server.address().port}/?token=${token}`
  if (opts.json) printJson({ url })
  else console.log(`Outbox page at ${url}\n(only this machine can reach it; the token in the URL is the key. Ctrl-C stops it.)`)
  await new Promise((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
  return EXIT_OK
}

function buildProgram() {
  const program = new Command('partner-sync')
    .version(version)
    .description('Sign, send, check and repair booking syncs from smashcourts.online to smashpartner.online.')
    .showHelpAfterError('(add --help for usage)')
    // Usage errors become exit 2 (commander would exit 1), and help stays exit 0.
    .exitOverride()
    .addHelpText('after', `
Exit codes: 0 ok, 1 delivery or check failed, 2 usage or input error (nothing sent).
Environment (flags override): ${SCHEMA.map((setting) => setting.env).join(', ')}.`)

  program
    .command('mock')
    .description("Run a local smashpartner-compatible endpoint: GET answers the guide's health JSON, POST verifies the signature, answers as the guide's table and records a transaction per paid booking as the partner does")
    .option('--port <port>', 'port to listen on, 0 for a free one', wholeNumber(0, 65535), 0)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .addOption(settingOption('secret'))
    .addOption(new Option('--known-bookings <file>', 'only these booking ids exist (one per line, # comments); others get 404').conflicts('acceptAny'))
    .option('--accept-any', 'accept every booking id (the default)')
    .option('--fail <statuses>', 'answer the first signed POSTs with these statuses, e.g. 503,503,200 (200 = answer normally)', statusList)
    .option('--fail-rate <rate>', 'answer this share (0..1) of signed POSTs with 503 at random', rate)
    .option('--seed <n>', 'seed for --fail-rate, so runs repeat (default 1)', wholeNumber(0))
    .option('--delay-ms <ms>', 'wait this long before every answer', wholeNumber(0))
    .option('--database-error <message>', 'answer every signed POST of a known booking with 500 {"error": message}, as the partner does when its database fails')
    .option('--transaction-delay-ms <ms>', "wait this long between the partner's check for an existing transaction and its insert (overlapping requests of one booking then both insert, as on the real partner)", wholeNumber(0))
    .addOption(jsonOption('one line when listening, then one line per request,'))
    .action(withExitCode(mockCommand))

  const send = program
    .command('send')
    .description('Send one booking sync with retries, showing each attempt: for trying the integration or re-sending a booking')
    .option('--booking-id <uuid>', "the booking's UUID, the same in both databases")
    .option('--paid-amount <amount>', 'the amount paid', finiteNumber)
    .option('--status <status>', 'LUNAS (paid in full), DP (down payment), ...', 'LUNAS')
    .addOption(new Option('--event <event>', 'the event').choices(EVENTS).default('booking.paid'))
    .option('--payment-method <method>', 'QRIS, VA, ...')
    .option('--invoice-id <id>', 'payment_details.invoice_id')
    .option('--payment-id <id>', 'payment_details.payment_id')
    .addOption(
      new Option('--file <path>', 'send this JSON data instead ("-" for stdin); like syncBookingToPartner, the current timestamp is added (replacing any in the file)')
        .conflicts(['bookingId', 'paidAmount', 'status', 'event', 'paymentMethod', 'invoiceId', 'paymentId']),
    )
  // The data first in --help, then where and how to send it.
  addSettingOptions(send, 'connection', 'retry', 'outbox', 'outboxDelivery')
    .option('--no-outbox', 'do not use the outbox even if PARTNER_SYNC_OUTBOX is set')
    .addOption(jsonOption('the SyncResult (with url, bytes, sha256)'))
    .action(withExitCode(sendCommand))

  program
    .command('sign')
    .description('Print the x-pwa-signature of a file\'s exact bytes, with their length and sha256, so two sides can compare without sharing the secret')
    .requiredOption('--file <path>', 'the JSON body ("-" for stdin); its bytes are signed exactly as they are, never re-serialized')
    .addOption(settingOption('secret'))
    .option('--timestamp', 'sign what syncBookingToPartner would send for this data now: the data plus the current timestamp, through JSON.stringify (prints that body)')
    .addOption(jsonOption('signature, bytes and sha256'))
    .action(withExitCode(signCommand))

  program
    .command('verify')
    .description('Check an x-pwa-signature against a file\'s exact bytes')
    .requiredOption('--file <path>', 'the body as received ("-" for stdin)')
    .requiredOption('--signature <hex>', `the ${SIGNATURE_HEADER} header value`)
    .addOption(settingOption('secret'))
    .addOption(jsonOption('valid, bytes and sha256'))
    .action(withExitCode(verifyCommand))

  program
    .command('health')
    .description("GET the endpoint and say whether it answers the guide's health check")
    .addOption(settingOption('url'))
    .option('--timeout-ms <ms>', 'give up after this long', wholeNumber(1), 5000)
    .addOption(jsonOption('the verdict, status and body'))
    .action(withExitCode(healthCommand))

  const outbox = program.command('outbox').description('Inspect and repair the outbox of syncs that were not delivered at once')
  addSettingOptions(outbox.command('list'), 'outbox')
    .description('List outbox entries, newest first')
    .addOption(new Option('--state <state>', 'only entries in this state').choices(entryStates()))
    .option('--limit <n>', 'at most this many, newest first', wholeNumber(1, 1_000_000), 100)
    .addOption(jsonOption('the entries'))
    .action(withExitCode(outboxListCommand))
  addSettingOptions(outbox.command('show').argument('<id>', 'the entry id'), 'outbox')
    .description('Show one entry with its attempts')
    .addOption(jsonOption('the entry'))
    .action(withExitCode(outboxShowCommand))
  addSettingOptions(outbox.command('retry').argument('<id>', 'the entry id'), 'outbox')
    .description('Make a dead or pending entry due now; the next redrive sends it')
    .addOption(jsonOption('the result'))
    .action(withExitCode(outboxRetryCommand))
  addSettingOptions(outbox.command('redrive'), 'connection', 'retry', 'outbox', 'outboxDelivery')
    .description('Deliver every due entry now, with a progress bar when there are many')
    .option('--limit <n>', 'at most this many entries', wholeNumber(1))
    .addOption(jsonOption('the counts'))
    .action(withExitCode(outboxRedriveCommand))
  addSettingOptions(outbox.command('ui'), 'connection', 'retry', 'outbox', 'outboxDelivery')
    .description('Serve the outbox page (counts, chart, search, entries, retry, redrive, purge) on 127.0.0.1, behind a random token printed in its URL')
    .option('--port <port>', 'port on 127.0.0.1, 0 for a free one', wholeNumber(0, 65535), 0)
    .addOption(jsonOption('{"url": ...} once listening'))
    .action(withExitCode(outboxUiCommand))
  addSettingOptions(outbox.command('purge'), 'outbox')
    .description('Delete delivered entries older than a duration')
    .option('--older-than <duration>', 'e.g. 30d, 12h', '30d')
    .addOption(jsonOption('the count'))
    .action(withExitCode(outboxPurgeCommand))

  program
    .command('demo')
    .description('See it work: a local mock partner, a delivery, a flaky partner, a wrong secret and an outbox redrive (needs no setup)')
    .addOption(jsonOption('the summary'))
    .action(withExitCode(runDemo))

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
