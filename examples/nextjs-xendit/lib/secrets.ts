import { timingSafeEqual } from 'node:crypto'

/** Constant-time comparison of a secret from a request header; false when either is missing. */
export function secretMatches(given: string | null, expected: string | undefined): boolean {
  if (!given || !expected) return false
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}
