import { createOutboxDashboard } from '@smashcourts/partner-sync'
import { adminOf } from '@/lib/admin'

export const runtime = 'nodejs' // a native addon: not on the Edge runtime
export const dynamic = 'force-dynamic' // never cached or prerendered

// The outbox page: counts, the last 24 hours, entries, retry / redrive / purge.
// authorize is your app's admin auth (replace adminOf); it returns who acts, or null for 403.
export const { GET, POST } = createOutboxDashboard({
  authorize: (request) => adminOf(request),
  basePath: '/admin/partner-sync',
  // Serverless instances behind one URL must share the key of the forms' CSRF tokens.
  csrfSecret: process.env.PARTNER_SYNC_DASHBOARD_KEY,
})
