import { startOutboxWorker } from '@smashcourts/partner-sync'

// OUTBOX_WORKER_INTERVAL_MS is this app's own switch: set it where the process lives long
// enough for a background worker (not on serverless, where the cron route does the job).
const intervalMs = Number(process.env.OUTBOX_WORKER_INTERVAL_MS)
if (process.env.PARTNER_SYNC_OUTBOX && intervalMs > 0) {
  // Unref'd: it never keeps the server from shutting down.
  startOutboxWorker({ intervalMs })
  console.log(`[Partner Sync] outbox worker started, every ${intervalMs} ms`)
}
