'use strict'

// What the app can see of each delivery besides the log: alert hooks (`on`) and
// OpenTelemetry traces and metrics. Nothing here may change a sync's result or timing:
// hooks are not awaited, and every call into user or OTel code is guarded.

const { entryStates } = require('./load-native.js')
const { PREFIX } = require('./log.js')
const HOOK_BOUND_MS = 1000
const NAME = '@smashcourts/partner-sync'

// @opentelemetry/api is an optional peer dependency: loaded on first use, null when absent.
// Loading it is most of a require of this package, so it waits until the app registers a provider.
let otelApi
function otel() {
  if (otelApi === undefined) {
    try {
      otelApi = require('@opentelemetry/api')
    } catch {
      otelApi = null
    }
  }
  return otelApi
}

// OTel drops attributes whose value is undefined, with a diagnostic: leave them out.
function defined(attributes) {
  return Object.fromEntries(Object.entries(attributes).filter(([, value]) => value !== undefined && value !== null))
}

function describe(error) {
  return error && error.message ? error.message : String(error)
}

function createHooks(on, log) {
  const hooks = on && typeof on === 'object' ? on : {}
  const failed = (name, error) => log.error(`${PREFIX} hook '${name}' failed: ${describe(error)}`)
  // Called now (so that an async hook starts before a serverless handler returns), never awaited;
  // a throw or a rejection is logged, and so is a promise still unsettled after HOOK_BOUND_MS.
  // `payload` is a function: nothing is built for an event nobody listens to.
  return function fire(name, payload) {
    const hook = hooks[name]
    if (typeof hook !== 'function') return
    let returned
    try {
      returned = hook(Object.freeze(payload()))
    } catch (error) {
      failed(name, error)
      return
    }
    if (!returned || typeof returned.then !== 'function') return
    let settled = false
    const timer = setTimeout(() => {
      if (!settled) failed(name, new Error(`did not settle within ${HOOK_BOUND_MS} ms; not waited for`))
    }, HOOK_BOUND_MS)
    timer.unref()
    Promise.resolve(returned).then(
      () => {
        settled = true
        clearTimeout(timer)
      },
      (error) => {
        settled = true
        clearTimeout(timer)
        failed(name, error)
      },
    )
  }
}

function payloadOf({ bookingId, entryId, attempts, status, error }) {
  return {
    bookingId,
    entryId,
    attempts,
    status,
    errorKind: error ? error.kind : undefined,
    message: error ? error.message : undefined,
  }
}

function supersededPayload(bookingId, entryId) {
  return {
    bookingId,
    entryId,
    attempts: undefined,
    status: undefined,
    errorKind: 'superseded',
    message: `outbox entry ${entryId} of booking ${bookingId} was superseded by a newer body the partner accepted; it is not sent again`,
  }
}

/** The outcome of a sync, for hooks, spans and metrics. */
function syncOutcome(result) {
  if (result.ok) return 'delivered'
  if ((result.error && result.error.kind === 'superseded') || (result.outbox && result.outbox.state === 'superseded'))
    return 'superseded'
  if (result.outbox && result.outbox.state === 'dead') return 'dead'
  return 'failed'
}

function redriveOutcome(entry) {
  if (entry.state === 'delivered' || entry.state === 'dead' || entry.state === 'superseded') return entry.state
  return 'failed'
}

// url.full without the query string (it may carry a token) nor credentials.
function urlParts(raw) {
  try {
    const url = new URL(raw)
    const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80
    return { full: `${url.protocol}//${url.host}${url.pathname}`, address: url.hostname, port }
  } catch {
    return undefined
  }
}

// An attempt's error.type: the HTTP status from 400 on, else our error kind.
function attemptErrorType(attempt) {
  if (attempt.status !== undefined && attempt.status !== null && attempt.status >= 400) return String(attempt.status)
  return attempt.error ? attempt.error.kind : undefined
}

function attemptMetricAttributes(attempt) {
  return defined({
    'http.request.method': 'POST',
    'http.response.status_code': attempt.status,
    'error.type': attemptErrorType(attempt),
  })
}

// The gauge's read of the outbox waits at most this long: a slow database never holds an export.
const COUNTS_TIMEOUT_MS = 2000
const OUTBOX_STATES = entryStates()

// Where API 1.x keeps what the app registered (`trace`, `metrics`, ...): readable without loading it.
const OTEL_GLOBAL = Symbol.for('opentelemetry.js.api.1')
function registeredGlobally(signal) {
  const registry = globalThis[OTEL_GLOBAL]
  return Boolean(registry && registry[signal])
}

// Until the app registers a provider, the API hands out no-op ones: then skip the work altogether.
function registered(provider) {
  const actual = provider && typeof provider.getDelegate === 'function' ? provider.getDelegate() : provider
  return Boolean(actual) && !((actual.constructor && actual.constructor.name) || '').startsWith('Noop')
}

function createTracing(enabled, outboxCounts) {
  if (!enabled) return undefined
  // Set by `active` before any other method runs: each runs only once its signal is active.
  let api
  const active = (signal) => {
    if (!registeredGlobally(signal)) return false
    api = otel()
    if (!api) return false
    return registered(signal === 'trace' ? api.trace.getTracerProvider() : api.metrics.getMeterProvider())
  }
  const tracer = () => api.trace.getTracer(NAME)
  const meter = () => api.metrics.getMeter(NAME)
  // Made again when the app registers (another) meter provider after the first sync.
  let instruments
  let instrumentsOf
  const metricsOf = () => {
    const provider = api.metrics.getMeterProvider()
    if (!instruments || instrumentsOf !== provider) {
      const m = meter()
      instrumentsOf = provider
      instruments = {
        deliveries: m.createCounter('partner_sync.deliveries', {
          description: 'Syncs and redriven outbox entries, by outcome',
          unit: '{delivery}',
        }),
        duration: m.createHistogram('partner_sync.attempt.duration', {
          description: 'Duration of one HTTP attempt to the partner',
          unit: 's',
        }),
        outbox: m.createObservableGauge('partner_sync.outbox.entries', {
          description: 'Outbox entries by state, read when the exporter collects',
          unit: '{entry}',
        }),
      }
      // One GROUP BY, run only when metrics are collected, and given up after COUNTS_TIMEOUT_MS.
      instruments.outbox.addCallback(async (result) => {
        const counting = outboxCounts()
        if (!counting) return
        let timer
        const late = new Promise((resolve) => (timer = setTimeout(resolve, COUNTS_TIMEOUT_MS).unref()))
        const counts = await Promise.race([counting.catch(() => undefined), late])
        clearTimeout(timer)
        if (counts)
          for (const state of OUTBOX_STATES) result.observe(counts[state], { 'partner_sync.outbox.state': state })
      })
    }
    return instruments
  }

  function attemptSpans(parentContext, { url, bookingId, event, entryId, attemptLog, startedAtMs }) {
    const where = urlParts(url)
    for (const attempt of attemptLog || []) {
      const start = startedAtMs + attempt.startedMs
      const attributes = {
        'http.request.method': 'POST',
        'partner_sync.booking_id': bookingId,
        'partner_sync.attempt': attempt.attempt,
      }
      if (where)
        Object.assign(attributes, {
          'url.full': where.full,
          'server.address': where.address,
          'server.port': where.port,
        })
      if (event) attributes['partner_sync.event'] = event
      if (entryId) attributes['partner_sync.outbox.entry_id'] = entryId
      if (attempt.status !== undefined && attempt.status !== null)
        attributes['http.response.status_code'] = attempt.status
      const failed = attemptErrorType(attempt)
      if (failed) attributes['error.type'] = failed
      const span = tracer().startSpan(
        'POST',
        { kind: api.SpanKind.CLIENT, startTime: start, attributes },
        parentContext,
      )
      if (failed)
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: attempt.error ? attempt.error.message : undefined })
      span.end(start + attempt.durationMs)
    }
  }

  function finish(span, outcome, error) {
    span.setAttribute('partner_sync.outcome', outcome)
    if (outcome !== 'delivered' && outcome !== 'superseded') {
      span.setStatus({ code: api.SpanStatusCode.ERROR, message: error ? error.message : outcome })
      if (error) span.setAttribute('error.type', error.kind)
    }
    span.end()
  }

  return {
    tracingActive: () => active('trace'),
    metricsActive: () => active('metrics'),
    /** Starts the sync's span; returns it and the headers that carry its context. */
    startSync(data) {
      const span = tracer().startSpan('partner-sync sync', {
        kind: api.SpanKind.INTERNAL,
        attributes: {
          'partner_sync.booking_id': String(data && data.booking_id),
          'partner_sync.event': String(data && data.event),
        },
      })
      const context = api.trace.setSpan(api.context.active(), span)
      const headers = {}
      if (api.trace.isSpanContextValid(span.spanContext())) api.propagation.inject(context, headers)
      return { span, context, headers: Object.keys(headers).length > 0 ? headers : undefined }
    },
    endSync(started, result, url, deliveryStartedAtMs) {
      const outcome = syncOutcome(result)
      const entryId = result.outbox ? result.outbox.id : undefined
      if (entryId) started.span.setAttribute('partner_sync.outbox.entry_id', entryId)
      if (started.span.isRecording()) {
        attemptSpans(started.context, {
          url,
          bookingId: result.bookingId,
          event: result.event,
          entryId,
          attemptLog: result.attemptLog,
          startedAtMs: deliveryStartedAtMs,
        })
      }
      finish(started.span, outcome, result.error)
    },
    /** The sync's metrics: its outcome and each attempt's duration. */
    countSync(result) {
      for (const a of result.attemptLog || [])
        metricsOf().duration.record(a.durationMs / 1000, attemptMetricAttributes(a))
      metricsOf().deliveries.add(1, { 'partner_sync.outcome': syncOutcome(result), 'partner_sync.source': 'sync' })
    },
    startRedrive() {
      const span = tracer().startSpan('partner-sync redrive', { kind: api.SpanKind.INTERNAL })
      return { span, context: api.trace.setSpan(api.context.active(), span) }
    },
    endRedrive(started, summary, url) {
      const { span, context } = started
      for (const entry of summary.entries || []) {
        const outcome = redriveOutcome(entry)
        if (!span.isRecording()) continue
        const entrySpan = tracer().startSpan(
          'partner-sync redrive entry',
          {
            kind: api.SpanKind.INTERNAL,
            startTime: entry.deliveryStartedAtMs,
            attributes: {
              'partner_sync.booking_id': entry.bookingId,
              'partner_sync.outbox.entry_id': entry.id,
              'partner_sync.outcome': outcome,
            },
          },
          context,
        )
        attemptSpans(api.trace.setSpan(context, entrySpan), {
          url,
          bookingId: entry.bookingId,
          entryId: entry.id,
          attemptLog: entry.attemptLog,
          startedAtMs: entry.deliveryStartedAtMs,
        })
        if (outcome === 'failed' || outcome === 'dead')
          entrySpan.setStatus({ code: api.SpanStatusCode.ERROR, message: entry.error ? entry.error.message : outcome })
        const last = (entry.attemptLog || [])[entry.attemptLog.length - 1]
        entrySpan.end(last ? entry.deliveryStartedAtMs + last.startedMs + last.durationMs : entry.deliveryStartedAtMs)
      }
      for (const key of ['delivered', 'failed', 'dead', 'superseded', 'remaining'])
        span.setAttribute(`partner_sync.redrive.${key}`, summary[key] || 0)
      span.end()
    },
    /** The redrive's metrics: each entry's outcome and attempt, and the entries it superseded. */
    countRedrive(summary) {
      for (const entry of summary.entries || []) {
        metricsOf().deliveries.add(1, {
          'partner_sync.outcome': redriveOutcome(entry),
          'partner_sync.source': 'redrive',
        })
        for (const a of entry.attemptLog || [])
          metricsOf().duration.record(a.durationMs / 1000, attemptMetricAttributes(a))
      }
      const superseded = (summary.supersededEntries || []).length
      if (superseded > 0)
        metricsOf().deliveries.add(superseded, {
          'partner_sync.outcome': 'superseded',
          'partner_sync.source': 'redrive',
        })
    },
    endRedriveFailed(started, message) {
      started.span.setStatus({ code: api.SpanStatusCode.ERROR, message })
      started.span.end()
    },
  }
}

// Every call into OTel is guarded: observability never breaks a delivery.
function guarded(log, fn) {
  try {
    return fn()
  } catch (error) {
    log.warnOnce([`OpenTelemetry instrumentation failed and is skipped: ${describe(error)}`])
    return undefined
  }
}

/**
 * The observer of one client: `createPartnerSync({ on, tracing, metrics })`.
 * `beforeSync(data)` returns extra headers for the attempts; `afterSync(...)` fires the hooks,
 * ends the spans and counts.
 */
// `outboxCounts()` resolves with the configured outbox's counts by state, or is null without one.
function createObserver(options, log, outboxCounts) {
  const fire = createHooks(options.on, log)
  const traces = options.tracing !== false
  const counts = options.metrics !== false
  const tracing = createTracing(traces || counts, counts ? outboxCounts : () => null)
  const tracingOn = () => tracing && traces && tracing.tracingActive()
  const countingOn = () => tracing && counts && tracing.metricsActive()

  function beforeSync(data) {
    const started = tracingOn() && guarded(log, () => tracing.startSync(data))
    return { started, headers: started ? started.headers : undefined }
  }

  function afterSync(handle, result, { url, event, deliveryStartedAtMs }) {
    if (handle && handle.started)
      guarded(log, () => tracing.endSync(handle.started, { ...result, event }, url, deliveryStartedAtMs ?? Date.now()))
    if (countingOn()) guarded(log, () => tracing.countSync(result))
    const outcome = syncOutcome(result)
    fire(outcome, () => payloadOf({ ...result, entryId: result.outbox ? result.outbox.id : undefined }))
    for (const id of (result.outbox && result.outbox.supersededOlder) || [])
      fire('superseded', () => supersededPayload(result.bookingId, id))
    // Neither delivered nor kept: the one outcome nothing will repair by itself.
    if (result.lost) fire('lost', () => payloadOf(result))
  }

  function beforeRedrive() {
    return tracingOn() ? guarded(log, () => tracing.startRedrive()) : undefined
  }

  function afterRedrive(started, summary, url) {
    if (started) guarded(log, () => tracing.endRedrive(started, summary, url))
    if (countingOn()) guarded(log, () => tracing.countRedrive(summary))
    for (const entry of summary.entries) {
      fire(redriveOutcome(entry), () =>
        payloadOf({
          bookingId: entry.bookingId,
          entryId: entry.id,
          attempts: entry.attempts,
          status: entry.status,
          error: entry.error,
        }),
      )
    }
    for (const { id, bookingId } of summary.supersededEntries || [])
      fire('superseded', () => supersededPayload(bookingId, id))
  }

  function redriveFailed(started, message) {
    if (started) guarded(log, () => tracing.endRedriveFailed(started, message))
  }

  return { beforeSync, afterSync, beforeRedrive, afterRedrive, redriveFailed }
}

module.exports = { createObserver, HOOK_BOUND_MS }
