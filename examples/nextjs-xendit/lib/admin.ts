import { secretMatches } from '@/lib/secrets'

// A stand-in for real admin auth, so the example runs on its own: replace it with your app's
// admin session check (NextAuth, Clerk, Supabase Auth, ...). Here an operator proves they hold
// ADMIN_TOKEN once, at /admin/login?token=..., and carries it in an HttpOnly cookie after that.
export const ADMIN_COOKIE = 'smashcourts_admin'

function cookie(request: Request, name: string): string | null {
  for (const part of (request.headers.get('cookie') ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=')
    if (key === name) return decodeURIComponent(value.join('='))
  }
  return null
}

/** The operator's name, or null when the request does not carry ADMIN_TOKEN. */
export function adminOf(request: Request): string | null {
  return secretMatches(cookie(request, ADMIN_COOKIE), process.env.ADMIN_TOKEN) ? 'admin (ADMIN_TOKEN)' : null
}
