import { ADMIN_COOKIE } from '@/lib/admin'
import { secretMatches } from '@/lib/secrets'

export const runtime = 'nodejs'
export const dynamic = 'force-dynamic'

// /admin/login?token=ADMIN_TOKEN sets the admin cookie and opens the outbox page.
// A stand-in for your app's admin sign-in: replace it.
export function GET(request: Request) {
  const token = new URL(request.url).searchParams.get('token')
  if (!secretMatches(token, process.env.ADMIN_TOKEN)) {
    return new Response('Unauthorized: open /admin/login?token=<ADMIN_TOKEN>', {
      status: 401,
      headers: { 'cache-control': 'no-store' },
    })
  }
  return new Response(null, {
    status: 303,
    headers: {
      location: '/admin/partner-sync',
      'set-cookie': `${ADMIN_COOKIE}=${encodeURIComponent(token ?? '')}; Path=/admin; HttpOnly; SameSite=Strict`,
      'cache-control': 'no-store',
    },
  })
}
