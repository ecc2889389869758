'use strict'

// createPartnerSync: one client with its own settings, log and hooks. The native core signs,
// delivers and keeps the outbox; this layer reads process.env, builds the exact body with
// JSON.stringify, and logs.

const native = require('./load-native.js')
const { buildBody } = require('./validate.js')
const { syncOutcomeLine, outboxTroubleLine, redriveEntryLine, redriveSummaryLines } = require('./format.js')
const { createObserver } = require('./observe.js')
const { createSettingsReader } = require('./settings.js')
const { PREFIX, createLog } = require('./log.js')

const { NO_OUTBOX_MESSAGE } = native

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

function parseResponse(report) {
  if (report.responseText === undefined || report.responseText === null) return undefined
  if (!report.responseIsJson) return report.responseText
  try {
    return JSON.parse(report.responseText)
  } catch {
    return report.responseText
  }
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

const NOTHING_REDRIVEN = { delivered: 0, failed: 0, dead: 0, superseded: 0, remaining: 0 }

function createPartnerSync(options = {}) {
  const opts = options && typeof options === 'object' ? options : {}
  const log = createLog(opts.logger)
  const settings = createSettingsReader(opts, (resolved) => log.warnOnce(resolved.core.warnings))
  // Once a delivery started the process's HTTP client: why it verifies TLS with the bundled roots, if it must.
  const warnAboutHttpClient = () => log.warnOnce(native.httpClientWarnings())
  const observer = createObserver(opts, log, () => {
    const current = settings()
    return current.hasOutbox ? current.core.outboxCounts() : null
  })

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
    const current = settings()
    const observed = observer.beforeSync(data)
    let report
    try {
      report = await withSignal(signal, (abortId) =>
        current.core.send(built.body, bookingId, data.event, built.timestampMs, observed.headers, abortId),
      )
    } catch (error) {
      // Only a bug could land here (the native side reports delivery problems in `report`).
      const message = `internal error, the sync may not have been sent: ${error && error.message}`
      log.error(`${PREFIX} Failed for booking ${bookingId}: ${message}`)
      const result = failureResult(bookingId, 'internal', message)
      observer.afterSync(observed, result, { url: current.url, event: data.event })
      return result
    }
    warnAboutHttpClient()
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
      lost: report.lost,
    }
    const outcome = syncOutcomeLine(result, report)
    log[outcome.level](outcome.line)
    // The body's hash only for the line of a lost booking: no hashing on every sync.
    const outboxLine = outboxTroubleLine(result, () => native.bodySha256(built.body))
    if (outboxLine) log[outboxLine.level](outboxLine.line)
    observer.afterSync(observed, result, {
      url: current.url,
      event: data.event,
      deliveryStartedAtMs: report.deliveryStartedAtMs,
    })
    return result
  }

  // A redrive, or with `catchUp` the short one after a request's answer. Never rejects.
  async function redrive({ limit, by, catchUp = false }) {
    const current = settings()
    if (!current.hasOutbox) return { ...NOTHING_REDRIVEN, message: NO_OUTBOX_MESSAGE }
    const observed = observer.beforeRedrive()
    try {
      const options = {
        limit: limit === undefined ? undefined : Math.max(1, Math.floor(limit)),
        catchUp,
        by: by === undefined ? undefined : String(by),
      }
      const summary = await coded(current.core.redrive(options))
      warnAboutHttpClient()
      observer.afterRedrive(observed, summary, current.url)
      for (const entry of summary.entries) {
        const outcome = redriveEntryLine(entry)
        log[outcome.level](outcome.line)
      }
      for (const line of redriveSummaryLines(summary)) log.info(line)
      const { delivered, failed, dead, superseded, remaining } = summary
      return { delivered, failed, dead, superseded, remaining }
    } catch (error) {
      const message = `redrive could not run: ${error && error.message}`
      log.error(`${PREFIX} ${message}`)
      observer.redriveFailed(observed, message)
      return { ...NOTHING_REDRIVEN, error: message }
    }
  }

  const redrivePending = ({ limit, by } = {}) => redrive({ limit, by })
  const catchUp = ({ limit } = {}) => redrive({ limit, catchUp: true })

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
    const current = settings()
    if (!current.hasOutbox) throw codedError('config', NO_OUTBOX_MESSAGE)
    return current.core
  }
  const outbox = {
    list: async ({ state, limit = 100 } = {}) => coded(requireOutbox().outboxList(state, limit)),
    page: async ({ state, bookingId, bookingPrefix, cursor, limit } = {}) =>
      coded(requireOutbox().outboxPage({ state, bookingId, bookingPrefix, cursor, limit })),
    counts: async () => coded(requireOutbox().outboxCounts()),
    hourly: async () => coded(requireOutbox().outboxHourly()),
    show: async (id) => coded(requireOutbox().outboxShow(String(id))),
    retry: async (id, { by } = {}) =>
      coded(requireOutbox().outboxRetry(String(id), by === undefined ? undefined : String(by))),
    purge: async ({ olderThan = '30d', by } = {}) => {
      const purged = await coded(requireOutbox().outboxPurge(String(olderThan)))
      // The entries are gone, so the audit note of each is a log line.
      if (by !== undefined) {
        for (const entry of purged) {
          log.info(`${PREFIX} Audit: outbox entry ${entry.id} of booking ${entry.bookingId} purged by ${by}`)
        }
      }
      return purged.length
    },
    // The x-pwa-signature a body was sent with, from the configured secret; null without one.
    signatureOf: (body) => {
      const { secret } = settings()
      return secret ? native.generateSignature(String(body), secret) : null
    },
  }

  return { sync, redrivePending, catchUp, startOutboxWorker, outbox }
}

module.exports = { createPartnerSync }
