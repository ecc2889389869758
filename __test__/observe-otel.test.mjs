// OpenTelemetry through the real SDKs (in-memory exporters, registered globally), against a real
// local partner: one span per sync with a CLIENT span per attempt, W3C trace context on the wire
// with the signature intact, redrive spans, metrics; and a project without @opentelemetry/api.

import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  context,
  createTraceState,
  metrics,
  propagation,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
} from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { SECRET, createPartnerSync, redriveWhenDue, startPartner, tempDir } from './helpers/outbox-harness.mjs'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const payment = (id, status = 'LUNAS', paidAmount = 32000) => ({
  event: 'booking.paid',
  booking_id: id,
  status,
  paid_amount: paidAmount,
  payment_method: 'QRIS',
})
const hrMs = ([s, ns]) => s * 1000 + ns / 1e6

let partner
let store
const spans = new InMemorySpanExporter()
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 })
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] })
const meterProvider = new MeterProvider({ readers: [reader] })

beforeAll(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  propagation.setGlobalPropagator(new W3CTraceContextPropagator())
  trace.setGlobalTracerProvider(tracerProvider)
  metrics.setGlobalMeterProvider(meterProvider)
  partner = await startPartner()
  store = tempDir('otel')
})
afterAll(async () => {
  await partner.close()
  store.remove()
  await tracerProvider.shutdown()
  await meterProvider.shutdown()
  trace.disable()
  metrics.disable()
  propagation.disable()
  context.disable()
})
beforeEach(() => spans.reset())

const quick = {
  secret: SECRET,
  maxAttempts: 3,
  backoffBaseMs: 5,
  backoffMaxMs: 10,
  attemptTimeoutMs: 2000,
  deadlineMs: 3000,
  logger: false,
}
const childrenOf = (parent) =>
  spans
    .getFinishedSpans()
    .filter((s) => s.parentSpanContext && s.parentSpanContext.spanId === parent.spanContext().spanId)

describe('tracing', () => {
  it('a 503-then-200 sync: one sync span, two CLIENT attempt spans, traceparent on the wire, the signature still verifies', async () => {
    const id = `otel-503-${process.pid}`
    partner.plan(id, 503, 200)
    const client = createPartnerSync({ ...quick, url: `${partner.url}?token=do-not-export` })
    const app = trace.getTracer('app')
    const result = await app.startActiveSpan('POST /api/webhooks/xendit', async (span) => {
      try {
        return await client.sync(payment(id))
      } finally {
        span.end()
      }
    })
    expect(result).toMatchObject({ ok: true, attempts: 2 })

    const finished = spans.getFinishedSpans()
    const appSpan = finished.find((s) => s.name === 'POST /api/webhooks/xendit')
    const syncSpans = finished.filter((s) => s.name === 'partner-sync sync')
    expect(syncSpans).toHaveLength(1)
    const [sync] = syncSpans
    expect(sync.parentSpanContext.spanId).toBe(appSpan.spanContext().spanId)
    expect(sync.kind).toBe(SpanKind.INTERNAL)
    expect(sync.attributes).toMatchObject({
      'partner_sync.booking_id': id,
      'partner_sync.event': 'booking.paid',
      'partner_sync.outcome': 'delivered',
    })
    expect(sync.status.code).not.toBe(SpanStatusCode.ERROR)

    const attempts = childrenOf(sync).sort(
      (a, b) => a.attributes['partner_sync.attempt'] - b.attributes['partner_sync.attempt'],
    )
    expect(attempts).toHaveLength(2)
    const common = {
      'http.request.method': 'POST',
      'url.full': `http://127.0.0.1:${partner.port}/api/webhooks/pwa-sync`,
      'server.address': '127.0.0.1',
      'server.port': partner.port,
      'partner_sync.booking_id': id,
      'partner_sync.event': 'booking.paid',
    }
    expect(attempts[0].attributes).toEqual({
      ...common,
      'partner_sync.attempt': 1,
      'http.response.status_code': 503,
      'error.type': '503',
    })
    expect(attempts[1].attributes).toEqual({ ...common, 'partner_sync.attempt': 2, 'http.response.status_code': 200 })
    expect(attempts.map((s) => s.kind)).toEqual([SpanKind.CLIENT, SpanKind.CLIENT])
    expect(attempts[0].status.code).toBe(SpanStatusCode.ERROR)
    // Real times from the attempt log: in order, inside the sync span.
    expect(hrMs(attempts[0].startTime)).toBeGreaterThanOrEqual(hrMs(sync.startTime) - 1)
    expect(hrMs(attempts[1].startTime)).toBeGreaterThanOrEqual(hrMs(attempts[0].endTime))
    expect(hrMs(attempts[1].endTime)).toBeLessThanOrEqual(hrMs(sync.endTime) + 1)
    expect(hrMs(attempts[0].endTime) - hrMs(attempts[0].startTime)).toBeCloseTo(result.attemptLog[0].durationMs, 3)

    const received = partner.forBooking(id)
    expect(received).toHaveLength(2)
    for (const request of received) {
      expect(request.verified).toBe(true)
      expect(request.headers.traceparent).toBe(`00-${sync.spanContext().traceId}-${sync.spanContext().spanId}-01`)
    }
    const everything = JSON.stringify(finished.map((s) => s.attributes))
    expect(everything).not.toContain(SECRET)
    expect(everything).not.toContain('do-not-export')
  })

  it('an incoming trace (traceparent and tracestate) is continued: the partner gets both', async () => {
    const id = `otel-state-${process.pid}`
    const remote = {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
      traceState: createTraceState('vendor=opaque'),
    }
    const result = await context.with(trace.setSpanContext(context.active(), remote), () =>
      createPartnerSync({ ...quick, url: partner.url }).sync(payment(id)),
    )
    expect(result.ok).toBe(true)
    const sync = spans.getFinishedSpans().find((s) => s.name === 'partner-sync sync')
    expect(sync.spanContext().traceId).toBe(remote.traceId)
    const [request] = partner.forBooking(id)
    expect(request.headers.traceparent).toBe(`00-${remote.traceId}-${sync.spanContext().spanId}-01`)
    expect(request.headers.tracestate).toBe('vendor=opaque')
    expect(request.verified).toBe(true)
  })

  it('a failed sync marks its span as an error with the kind', async () => {
    const id = `otel-401-${process.pid}`
    partner.plan(id, 401)
    await createPartnerSync({ ...quick, url: partner.url }).sync(payment(id))
    const sync = spans.getFinishedSpans().find((s) => s.name === 'partner-sync sync')
    expect(sync.status.code).toBe(SpanStatusCode.ERROR)
    expect(sync.attributes).toMatchObject({ 'partner_sync.outcome': 'failed', 'error.type': 'unauthorized' })
    expect(childrenOf(sync)[0].attributes).toMatchObject({ 'http.response.status_code': 401, 'error.type': '401' })
  })

  it('tracing: false makes no span and sends no traceparent', async () => {
    const id = `otel-off-${process.pid}`
    const result = await createPartnerSync({ ...quick, url: partner.url, tracing: false }).sync(payment(id))
    expect(result.ok).toBe(true)
    expect(spans.getFinishedSpans()).toEqual([])
    expect(partner.forBooking(id)[0].headers.traceparent).toBeUndefined()
  })

  it('a redrive makes a span, with an entry span and its attempt', async () => {
    const id = `otel-redrive-${process.pid}`
    partner.plan(id, 503, 200)
    const client = createPartnerSync({
      ...quick,
      maxAttempts: 1,
      url: partner.url,
      outbox: `sqlite:${store.file('otel.db')}`,
      outboxSchedule: '50ms',
      outboxMaxAge: '1h',
    })
    const first = await client.sync(payment(id))
    expect(first.outbox.state).toBe('pending')
    spans.reset()
    await redriveWhenDue(client)
    const finished = spans.getFinishedSpans()
    const redrive = finished
      .filter((s) => s.name === 'partner-sync redrive')
      .find((s) => s.attributes['partner_sync.redrive.delivered'] === 1)
    expect(redrive).toBeDefined()
    const [entry] = childrenOf(redrive)
    expect(entry.attributes).toMatchObject({
      'partner_sync.booking_id': id,
      'partner_sync.outbox.entry_id': first.outbox.id,
      'partner_sync.outcome': 'delivered',
    })
    const [attempt] = childrenOf(entry)
    expect(attempt.kind).toBe(SpanKind.CLIENT)
    expect(attempt.attributes).toMatchObject({
      'http.response.status_code': 200,
      'partner_sync.outbox.entry_id': first.outbox.id,
      'partner_sync.attempt': 1,
    })
  })
})

describe('metrics', () => {
  it('counts deliveries by outcome and records attempt durations in seconds', async () => {
    const run = `otel-metrics-${process.pid}`
    partner.plan(`${run}-a`, 503, 200)
    partner.plan(`${run}-b`, 401)
    const client = createPartnerSync({ ...quick, url: partner.url })
    const before = await collect()
    await client.sync(payment(`${run}-a`)) // delivered, 2 attempts
    await client.sync(payment(`${run}-b`)) // failed, 1 attempt
    await client.sync(payment(`${run}-c`)) // delivered, 1 attempt
    await client.sync({ booking_id: `${run}-d` }) // failed, validation, no attempt
    const after = await collect()
    expect(after.deliveries.delivered - before.deliveries.delivered).toBe(2)
    expect(after.deliveries.failed - before.deliveries.failed).toBe(2)
    expect(after.durationCount - before.durationCount).toBe(4)
    expect(after.durationUnit).toBe('s')
    expect(after.durationSum - before.durationSum).toBeGreaterThan(0)
    expect(after.durationSum - before.durationSum).toBeLessThan(5)
    expect(after.bySource.sync - before.bySource.sync).toBe(4)
  })

  it('counts redriven entries under partner_sync.source redrive', async () => {
    const id = `otel-metrics-redrive-${process.pid}`
    partner.plan(id, 503, 200)
    const client = createPartnerSync({
      ...quick,
      maxAttempts: 1,
      url: partner.url,
      outbox: `sqlite:${store.file('otel-metrics.db')}`,
      outboxSchedule: '50ms',
      outboxMaxAge: '1h',
    })
    await client.sync(payment(id))
    const before = await collect()
    await redriveWhenDue(client)
    const after = await collect()
    expect(after.redriveDelivered - before.redriveDelivered).toBe(1)
    expect(after.durationCount - before.durationCount).toBe(1)
  })

  it('an observable gauge gives the outbox entries by state when the exporter collects', async () => {
    const id = `otel-gauge-${process.pid}`
    partner.plan(`${id}-pending`, 503)
    const client = createPartnerSync({
      ...quick,
      maxAttempts: 1,
      url: partner.url,
      outbox: `sqlite:${store.file('otel-gauge.db')}`,
      outboxSchedule: '1h',
      outboxMaxAge: '2h',
    })
    await client.sync(payment(`${id}-ok`))
    await client.sync(payment(`${id}-pending`))
    await client.redrivePending() // instruments exist from the first sync or redrive on
    expect((await collect()).outbox).toEqual({ pending: 1, delivered: 1, dead: 0, superseded: 0 })
  })

  it('metrics: false counts nothing; tracing: false alone still counts', async () => {
    const before = await collect()
    await createPartnerSync({ ...quick, url: partner.url, metrics: false }).sync(
      payment(`otel-nometrics-${process.pid}`),
    )
    const middle = await collect()
    expect(middle.bySource.sync).toBe(before.bySource.sync)
    await createPartnerSync({ ...quick, url: partner.url, tracing: false }).sync(payment(`otel-notrace-${process.pid}`))
    expect((await collect()).bySource.sync - middle.bySource.sync).toBe(1)
  })
})

async function collect() {
  metricExporter.reset()
  await reader.forceFlush()
  const all = metricExporter
    .getMetrics()
    .flatMap((r) => r.scopeMetrics)
    .filter((s) => s.scope.name === '@smashcourts/partner-sync')
    .flatMap((s) => s.metrics)
  const deliveries = { delivered: 0, failed: 0, dead: 0, superseded: 0 }
  const bySource = { sync: 0, redrive: 0 }
  let redriveDelivered = 0
  for (const point of all.find((m) => m.descriptor.name === 'partner_sync.deliveries')?.dataPoints ?? []) {
    deliveries[point.attributes['partner_sync.outcome']] += point.value
    bySource[point.attributes['partner_sync.source']] += point.value
    if (
      point.attributes['partner_sync.source'] === 'redrive' &&
      point.attributes['partner_sync.outcome'] === 'delivered'
    )
      redriveDelivered += point.value
  }
  const gauge = all.find((m) => m.descriptor.name === 'partner_sync.outbox.entries')
  const outbox =
    gauge && Object.fromEntries(gauge.dataPoints.map((p) => [p.attributes['partner_sync.outbox.state'], p.value]))
  const duration = all.find((m) => m.descriptor.name === 'partner_sync.attempt.duration')
  const points = duration?.dataPoints ?? []
  return {
    deliveries,
    outbox,
    bySource,
    redriveDelivered,
    durationUnit: duration?.descriptor.unit,
    durationCount: points.reduce((n, p) => n + p.value.count, 0),
    durationSum: points.reduce((n, p) => n + p.value.sum, 0),
  }
}

describe('loading @opentelemetry/api', () => {
  it('waits for a registered provider: not loaded by require, loaded and tracing once the app registers one', async () => {
    // A fresh process: this file's own import of the API has registered providers here.
    const id = `otel-late-${process.pid}`
    const script = `
      const loaded = () => Object.keys(require.cache).some((file) => file.includes('@opentelemetry'))
      const { createPartnerSync, syncBookingToPartner } = require('@smashcourts/partner-sync')
      const client = createPartnerSync({ url: ${JSON.stringify(partner.url)}, secret: ${JSON.stringify(SECRET)}, logger: false })
      const sync = (suffix) => client.sync({ event: 'booking.paid', booking_id: '${id}' + suffix, status: 'LUNAS', paid_amount: 1 })
      const atRequire = loaded()
      sync('-untraced').then(async () => {
        const afterUntracedSync = loaded()
        const { trace } = require('@opentelemetry/api')
        const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base')
        const spans = new InMemorySpanExporter()
        trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }))
        await sync('-traced')
        console.log(JSON.stringify({ atRequire, afterUntracedSync, spans: spans.getFinishedSpans().map((s) => s.name) }))
      })
    `
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 20_000,
    })
    expect(JSON.parse(stdout.trim())).toEqual({
      atRequire: false,
      afterUntracedSync: false,
      spans: ['POST', 'partner-sync sync'],
    })
    expect(partner.forBooking(`${id}-untraced`)[0].headers.traceparent).toBeUndefined()
  })
})

describe('without @opentelemetry/api', () => {
  it('a project that does not have it installs, syncs and traces nothing', async () => {
    const project = tempDir('no-otel')
    try {
      const pkg = path.join(project.dir, 'node_modules', '@smashcourts', 'partner-sync')
      fs.mkdirSync(pkg, { recursive: true })
      for (const name of [
        'package.json',
        'binding.js',
        'lib',
        ...fs.readdirSync(ROOT).filter((f) => f.endsWith('.node')),
      ])
        fs.cpSync(path.join(ROOT, name), path.join(pkg, name), { recursive: true })
      const script = `
        const { createPartnerSync } = require('@smashcourts/partner-sync')
        let found = true
        try { require.resolve('@opentelemetry/api') } catch { found = false }
        createPartnerSync({ url: ${JSON.stringify(partner.url)}, secret: ${JSON.stringify(SECRET)}, logger: false })
          .sync({ event: 'booking.paid', booking_id: 'otel-absent-${process.pid}', status: 'LUNAS', paid_amount: 1 })
          .then((r) => console.log(JSON.stringify({ found, ok: r.ok })))
      `
      const { stdout: out } = await promisify(execFile)(process.execPath, ['-e', script], {
        cwd: project.dir,
        encoding: 'utf8',
        timeout: 20_000,
      })
      expect(JSON.parse(out.trim())).toEqual({ found: false, ok: true })
      expect(partner.forBooking(`otel-absent-${process.pid}`)[0].headers.traceparent).toBeUndefined()
    } finally {
      project.remove()
    }
  })
})
