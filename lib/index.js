'use strict'

// The package's public surface. The native core signs, delivers and keeps the outbox;
// this layer reads process.env, builds the exact body with JSON.stringify, and logs.

const native = require('./load-native.js')
const { buildBody } = require('./validate.js')
const { plural } = require('./plural.js')
const { createObserver } = require('./observe.js')

const PREFIX = '[Partner Sync]'

// Option name -> environment variable. Read at every call: Next.js loads env late.
const SETTINGS_FROM_ENV = {
  url: 'SMASHPARTNER_SYNC_URL',
  secret: 'PWA_WEBHOOK_SECRET',
  maxAttempts: 'PARTNER_SYNC_MAX_ATTEMPTS',
  attemptTimeoutMs: 'PARTNER_SYNC_ATTEMPT_TIMEOUT_MS',
  deadlineMs: 'PARTNER_SYNC_DEADLINE_MS',
  backoffBaseMs: 'PARTNER_SYNC_BACKOFF_BASE_MS',
  backoffMaxMs: 'PARTNER_SYNC_BACKOFF_MAX_MS',
  quietPeriod: 'PARTNER_SYNC_QUIET_PERIOD',
  outbox: 'PARTNER_SYNC_OUTBOX',
  outboxSchedule: 'PARTNER_SYNC_OUTBOX_SCHEDULE',
  outboxMaxAge: 'PARTNER_SYNC_OUTBOX_MAX_AGE',
  outboxTablePrefix: 'PARTNER_SYNC_OUTBOX_TABLE_PREFIX',
  outboxRetention: 'PARTNER_SYNC_OUTBOX_RETENTION',
}


const NO_OUTBOX_MESSAGE =
  'No outbox is configured: set PARTNER_SYNC_OUTBOX to sqlite:<path> or postgres://... (or the outbox option) to keep undelivered syncs'

// napi rejects only with its own status codes: the native side names the ErrorKind in the
// rejection's `cause`, and this moves it to `error.code`, where Node's own errors carry theirs.
async function coded(pending) {
  try {
    return await pending
  } catch (error) {
    if (error instanceof Error && error.cause instanceof Error) {
      error.code = error.cause.message
      delete error.cause
    }
    throw error
  }
}

function codedError(code, message) {
  return Object.assign(new Error(message), { code })
}

function readSettings(options) {
  const raw = {}
  for (const [key, envName] of Object.entries(SETTINGS_FROM_ENV)) {
    const value = Object.prototype.hasOwnProperty.call(options, key) ? options[key] : process.env[envName]
    // outbox: false switches the outbox off even when the environment sets one.
    if (value !== undefined && value !== null && value !== false) raw[key] = String(value)
  }
  return raw
}

// Each level shows itself and those before it; PARTNER_SYNC_LOG picks one for the console.
const LOG_LEVELS = ['silent', 'error', 'warn', 'info']
const consoleLogger = {
  info: (line) => console.log(line),
  warn: (line) => console.warn(line),
  error: (line) => console.error(line),
}

// PARTNER_SYNC_LOG, read at every call, so a test setup can silence syncBookingToPartner.
function consoleLevel() {
  const raw = process.env.PARTNER_SYNC_LOG
  const index = LOG_LEVELS.indexOf((raw || '').trim().toLowerCase() || 'info')
  if (index >= 0) return { index }
  return { index: LOG_LEVELS.indexOf('info'), problem: `PARTNER_SYNC_LOG = ${JSON.stringify(raw)} is not one of ${LOG_LEVELS.join(', ')}; using info` }
}

// Every line is one self-contained string (booking and entry ids inside), passed as the only
// argument: pino and winston treat further arguments as format values and drop them.
// `logger`: false for silence, an object of the user's, or absent for the console filtered by
// PARTNER_SYNC_LOG. The log can never throw into our callers.
function createLog(logger) {
  const warned = new Set()
  const byEnvironment = !logger && logger !== false
  const target = logger === false ? {} : logger
  function write(level, line) {
    let out = target
    if (byEnvironment) {
      const { index, problem } = consoleLevel()
      if (problem) warnOnce([problem])
      if (LOG_LEVELS.indexOf(level) > index) return
      out = consoleLogger
    }
    try {
      if (typeof out[level] === 'function') out[level](line)
    } catch {
      // A broken logger must not turn a delivered sync into a failure.
    }
  }
  function warnOnce(warnings) {
    for (const warning of warnings || []) {
      if (warned.has(warning)) continue
      warned.add(warning)
      write('warn', `${PREFIX} ${warning}`)
    }
  }
  return { info: (line) => write('info', line), warn: (line) => write('warn', line), error: (line) => write('error', line), warnOnce }
}

function parseResponse(report) {
  if (report.responseText === undefined || report.responseText === null) return undefined
  if (!report.responseIsJson) return report.responseText
  try {
    return JSON.parse(report.responseText)
  } catch {
    return report.responseText
  }
}

function describeOutbox(outbox) {
  if (!outbox) return ''
  if (outbox.error) return `; the outbox could not keep it (${outbox.error})`
  if (outbox.state === 'pending') return `; kept in the outbox (entry ${outbox.id}), next attempt at ${outbox.nextAttemptAt}`
  if (outbox.state === 'dead') return `; outbox entry ${outbox.id} is dead: fix the cause, then retry it (partner-sync outbox retry ${outbox.id})`
  if (outbox.state === 'superseded') return `; outbox entry ${outbox.id} is superseded${outbox.supersededBy ? ` by entry ${outbox.supersededBy}` : ''}`
  return ''
}

// Body timestamps strictly increase within the process, so that "newer" between two syncs
// of one booking is always the later call, even within one millisecond.
let lastTimestampMs = 0
function nextTimestamp() {
  lastTimestampMs = Math.max(Date.now(), lastTimestampMs + 1)
  return new Date(lastTimestampMs)
}

function failureResult(bookingId, kind, message) {
  return { ok: false, bookingId, attempts: 0, elapsedMs: 0, attemptLog: [], error: { kind, message } }
}

// Runs `send(abortId)` with the caller's AbortSignal wired to the core. The id is registered
// before the call, so an abort that fires before the core starts is not missed.
let lastAbortId = 0
async function withSignal(signal, send) {
  if (!signal || typeof signal.addEventListener !== 'function') return send(undefined)
  const id = (lastAbortId = (lastAbortId % 0xffffffff) + 1)
  native.registerAbort(id)
  const onAbort = () => native.abortSync(id)
  if (signal.aborted) onAbort()
  else signal.addEventListener('abort', onAbort, { once: true })
  try {
    return await send(id)
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

function createPartnerSync(options = {}) {
  const opts = options && typeof options === 'object' ? options : {}
  const log = createLog(opts.logger)
  const settings = () => readSettings(opts)
  const observer = createObserver(opts, log, () => {
    const raw = settings()
    return raw.outbox ? native.outboxCounts(raw) : null
  })
  const partnerUrl = (raw) => raw.url || native.DEFAULT_URL

  async function sync(data, { signal } = {}) {
    const bookingId = data && typeof data.booking_id === 'string' ? data.booking_id : ''
    const built = buildBody(data, nextTimestamp())
    if (built.problem) {
      const message = `invalid data, nothing was sent: ${built.problem}`
      log.error(`${PREFIX} Not sent for booking ${bookingId || '(no booking_id)'}: ${message}`)
      const result = failureResult(bookingId, 'validation', message)
      observer.afterSync(undefined, result, {})
      return result
    }
    const raw = settings()
    const observed = observer.beforeSync(data)
    let report
    try {
      report = await withSignal(signal, (abortId) => native.sendSync(built.body, bookingId, data.event, built.timestampMs, raw, observed.headers, abortId))
    } catch (error) {
      // Only a bug could land here (the native side reports delivery problems in `report`).
      const message = `internal error, the sync may not have been sent: ${error && error.message}`
      log.error(`${PREFIX} Failed for booking ${bookingId}: ${message}`)
      const result = failureResult(bookingId, 'internal', message)
      observer.afterSync(observed, result, { url: partnerUrl(raw), event: data.event })
      return result
    }
    log.warnOnce(report.warnings)
    if (report.outbox && report.outbox.error) log.error(`${PREFIX} Outbox unavailable for booking ${bookingId}: ${report.outbox.error}; delivering without it`)
    const result = {
      ok: report.ok,
      bookingId,
      status: report.status,
      attempts: report.attempts.length,
      elapsedMs: report.elapsedMs,
      response: parseResponse(report),
      error: report.error,
      attemptLog: report.attempts,
      body: built.body,
      outbox: report.outbox,
    }
    const took = `${plural(result.attempts, 'attempt')}, ${Math.round(result.elapsedMs)} ms`
    if (result.ok) {
      log.info(`${PREFIX} Success for booking: ${bookingId} (${took})`)
    } else if (report.error.kind === 'superseded' || report.error.kind === 'aborted') {
      // Not a failure of the integration: a newer sync carries the booking's state, or the caller stopped it.
      const what = report.error.kind === 'aborted' ? 'Aborted' : 'Superseded'
      log.warn(`${PREFIX} ${what} for booking ${bookingId} (${took}): ${report.error.message}${describeOutbox(report.outbox)}`)
    } else {
      log.error(`${PREFIX} Failed for booking ${bookingId} (${took}): ${report.error.message}${describeOutbox(report.outbox)}`)
    }
    observer.afterSync(observed, result, { url: partnerUrl(raw), event: data.event, deliveryStartedAtMs: report.deliveryStartedAtMs })
    return result
  }

  async function redrivePending({ limit } = {}) {
    const raw = settings()
    if (!raw.outbox) return { delivered: 0, failed: 0, dead: 0, superseded: 0, remaining: 0, message: NO_OUTBOX_MESSAGE }
    const observed = observer.beforeRedrive()
    try {
      const summary = await coded(native.redriveOutbox(raw, limit === undefined ? undefined : Math.max(1, Math.floor(limit))))
      observer.afterRedrive(observed, summary, partnerUrl(raw))
      log.warnOnce(summary.warnings)
      for (const entry of summary.entries) {
        if (entry.state === 'delivered') log.info(`${PREFIX} Success for booking: ${entry.bookingId} (outbox entry ${entry.id}, attempt ${entry.attempts})`)
        else {
          const note = { id: entry.id, state: entry.state, nextAttemptAt: entry.nextAttemptAt, error: entry.outboxError }
          log.error(`${PREFIX} Redrive failed for booking ${entry.bookingId} (outbox entry ${entry.id}, attempt ${entry.attempts}): ${entry.error ? entry.error.message : 'unknown error'}${describeOutbox(note)}`)
        }
      }
      const { delivered, failed, dead, superseded, remaining } = summary
      if (superseded > 0) log.info(`${PREFIX} Redrive superseded ${plural(superseded, 'outbox entry', 'outbox entries')} older than a body of the same booking the partner already accepted; not sent`)
      if (summary.trimmed > 0) log.info(`${PREFIX} Retention: deleted ${plural(summary.trimmed, 'delivered or superseded outbox entry', 'delivered or superseded outbox entries')} older than PARTNER_SYNC_OUTBOX_RETENTION`)
      return { delivered, failed, dead, superseded, remaining }
    } catch (error) {
      const message = `redrive could not run: ${error && error.message}`
      log.error(`${PREFIX} ${message}`)
      observer.redriveFailed(observed, message)
      return { delivered: 0, failed: 0, dead: 0, superseded: 0, remaining: 0, error: message }
    }
  }

  function startOutboxWorker({ intervalMs = 30_000, limit } = {}) {
    let running = null
    let stopped = false
    const tick = () => {
      if (running || stopped) return
      running = redrivePending({ limit }).then((counts) => {
        running = null
        // More is due than one run takes (after an outage, say): go on without waiting.
        if (counts.remaining > 0 && !stopped) setTimeout(tick, 0).unref()
      })
    }
    // Unref'd: the worker never keeps the process alive on its own.
    const timer = setInterval(tick, Math.max(10, intervalMs))
    timer.unref()
    setTimeout(tick, 0).unref()
    return {
      async stop() {
        stopped = true
        clearInterval(timer)
        if (running) await running
      },
    }
  }

  // Inspect and repair. These reject with a clear error, its `code` the ErrorKind, when the
  // outbox is unusable or an argument is wrong.
  const requireOutbox = () => {
    const raw = settings()
    if (!raw.outbox) throw codedError('config', NO_OUTBOX_MESSAGE)
    return raw
  }
  const outbox = {
    list: async ({ state, limit = 100 } = {}) => coded(native.outboxList(requireOutbox(), state, limit)),
    page: async ({ state, bookingId, bookingPrefix, cursor, limit } = {}) =>
      coded(native.outboxPage(requireOutbox(), { state, bookingId, bookingPrefix, cursor, limit })),
    counts: async () => coded(native.outboxCounts(requireOutbox())),
    hourly: async () => coded(native.outboxHourly(requireOutbox())),
    show: async (id) => coded(native.outboxShow(requireOutbox(), String(id))),
    retry: async (id, { by } = {}) => coded(native.outboxRetry(requireOutbox(), String(id), by === undefined ? undefined : String(by))),
    purge: async ({ olderThan = '30d' } = {}) => coded(native.outboxPurge(requireOutbox(), String(olderThan))),
    // The x-pwa-signature a body was sent with, from the configured secret; null without one.
    signatureOf: (body) => {
      const { secret } = settings()
      return secret ? native.generateSignature(String(body), secret) : null
    },
  }

  return { sync, redrivePending, startOutboxWorker, outbox }
}

const defaultClient = createPartnerSync()

/**
 * The integration guide's function, with retries, validation and an optional outbox.
 * Resolves true when the partner answered 2xx; never rejects.
 */
async function syncBookingToPartner(data, options) {
  try {
    return (await defaultClient.sync(data, options && typeof options === 'object' ? options : undefined)).ok === true
  } catch (error) {
    try {
      console.error(`${PREFIX} Error: ${error && error.message}`)
    } catch {
      // Nothing left to report to.
    }
    return false
  }
}

function generateSignature(payload, secret) {
  if (typeof secret !== 'string') throw new TypeError('generateSignature(payload, secret): secret must be a string')
  if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) throw new TypeError('generateSignature(payload, secret): payload must be a string or a Buffer')
  return native.generateSignature(payload, secret)
}

function verifySignature(payload, signature, secret) {
  if (typeof signature !== 'string' || typeof secret !== 'string') return false
  if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return false
  return native.verifySignature(payload, signature, secret)
}

module.exports = {
  syncBookingToPartner,
  createPartnerSync,
  generateSignature,
  verifySignature,
  bodySha256: native.bodySha256,
  redrivePending: (options) => defaultClient.redrivePending(options),
  startOutboxWorker: (options) => defaultClient.startOutboxWorker(options),
  SIGNATURE_HEADER: native.SIGNATURE_HEADER,
  DEFAULT_URL: native.DEFAULT_URL,
  // Loaded on first use: apps that never start a mock don't pay for it.
  get startMockPartner() {
    return require('./mock-partner.js').startMockPartner
  },
  get createOutboxDashboard() {
    return require('./dashboard.js').createOutboxDashboard
  },
}
