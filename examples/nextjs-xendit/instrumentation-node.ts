import { appendFileSync } from 'node:fs'
import { startOutboxWorker } from '@smashcourts/partner-sync'
import { NodeTracerProvider, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-node'

// Tracing, as an app registers it (here by hand; @vercel/otel's registerOTel does the same): every
// sync becomes a `partner-sync sync` span with an attempt span per HTTP attempt, and the partner
// receives a traceparent header. This example writes finished spans as JSON lines to the file named
// by OTEL_SPANS_FILE (its own switch, for the e2e test); use your real exporter (OTLP) instead.
const spansFile = process.env.OTEL_SPANS_FILE
if (spansFile) {
  const toFile = {
    export(spans: ReadableSpan[], done: (result: { code: number }) => void) {
      for (const span of spans) {
        const { traceId, spanId } = span.spanContext()
        appendFileSync(
          spansFile,
          `${JSON.stringify({ name: span.name, traceId, spanId, attributes: span.attributes })}\n`,
        )
      }
      done({ code: 0 })
    },
    async shutdown() {},
  }
  new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(toFile)] }).register()
}

// OUTBOX_WORKER_INTERVAL_MS is this app's own switch: set it where the process lives long
// enough for a background worker (not on serverless, where the cron route does the job).
const intervalMs = Number(process.env.OUTBOX_WORKER_INTERVAL_MS)
if (process.env.PARTNER_SYNC_OUTBOX && intervalMs > 0) {
  // Unref'd: it never keeps the server from shutting down.
  startOutboxWorker({ intervalMs })
  console.log(`[Partner Sync] outbox worker started, every ${intervalMs} ms`)
}
