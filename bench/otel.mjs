// OpenTelemetry's cost (issue 12): the same syncs with the API absent (a copy of the package that
// cannot resolve @opentelemetry/api), present but with no provider registered, and with the real
// SDKs registered (traces and metrics) exporting to nowhere. Package only.
import { createRequire } from 'node:module'
import { runConcurrent, runSequential } from './workload.mjs'

const job = JSON.parse(process.argv[2])
const require = createRequire(import.meta.url)

// Exporters that accept everything and keep nothing: the SDK does all its work but the export.
const nowhere = { export: (_items, done) => done({ code: 0 }), shutdown: async () => {}, forceFlush: async () => {} }

if (job.mode === 'sdk') {
  const { context, metrics, propagation, trace } = require('@opentelemetry/api')
  const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks')
  const { W3CTraceContextPropagator } = require('@opentelemetry/core')
  const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base')
  const { MeterProvider, PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics')
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  propagation.setGlobalPropagator(new W3CTraceContextPropagator())
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(nowhere)] }))
  metrics.setGlobalMeterProvider(
    new MeterProvider({
      readers: [
        new PeriodicExportingMetricReader({
          exporter: { ...nowhere, selectAggregationTemporality: () => 1 },
          exportIntervalMillis: 60_000,
        }),
      ],
    }),
  )
}

const { createPartnerSync } = require(job.entry)
const client = createPartnerSync({ url: job.target.url, secret: job.target.secret, logger: false })
const sync = (data) => client.sync(data).then((r) => r.ok)
await runConcurrent(sync, { concurrency: 64, count: 2000 })
const sequential = await runSequential(sync, job.sequentialCount)
const concurrent = await runConcurrent(sync, { concurrency: 64, untilMs: job.levelMs })
const result = {
  perSecond1: job.sequentialCount / (sequential.latencies.reduce((a, b) => a + b, 0) / 1000),
  cpuMicrosPerSync1: sequential.cpuMicrosPerSync,
  perSecond64: concurrent.perSecond,
  cpuMicrosPerSync64: concurrent.cpuMicrosPerSync,
  failures: sequential.failures + concurrent.failures,
}
process.send({ result }, () => process.exit(0))
