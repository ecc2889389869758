// Runs once when the server starts. On a long-running server (`next start`, a container), the
// outbox worker redrives pending syncs in the background; serverless deployments use the cron
// route instead. Node-only code lives in its own file, so the Edge build never sees the addon.
export async function register() {
  if (process.env.NEXT_RUNTIME === 'nodejs') await import('./instrumentation-node')
}
