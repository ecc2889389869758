import { redrivePending } from '@smashcourts/partner-sync'
import { secretMatches } from '@/lib/secrets'

export const runtime = 'nodejs'
// Never cached or prerendered: every call must redrive.
export const dynamic = 'force-dynamic'

// Vercel Cron (or any scheduler) calls this with `Authorization: Bearer ${CRON_SECRET}`;
// on serverless there is no long-lived process to run startOutboxWorker().
export async function GET(request: Request) {
  const expected = process.env.CRON_SECRET && `Bearer ${process.env.CRON_SECRET}`
  if (!secretMatches(request.headers.get('authorization'), expected)) {
    return Response.json({ error: 'Unauthorized' }, { status: 401 })
  }
  return Response.json(await redrivePending({ limit: 100 }))
}
