// The PostgreSQL server of PARTNER_SYNC_TEST_POSTGRES, for the tests that use it: psql against
// it, and table prefixes of their own whose tables are dropped after the test file.

import { execFileSync } from 'node:child_process'
import { afterAll } from 'vitest'

export const PG = process.env.PARTNER_SYNC_TEST_POSTGRES

/** Runs SQL with psql against the test database; returns its unaligned output. */
export function psql(sql) {
  return execFileSync('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', PG, '-c', sql], {
    encoding: 'utf8',
    timeout: 10_000,
  }).trim()
}

/**
 * For a test file: a function that gives a table prefix (starting with `label`) no other test or
 * run uses. The tables of every prefix it gave are dropped after the file's tests.
 */
export function tablePrefixes(label) {
  const prefixes = []
  afterAll(() => {
    if (!prefixes.length) return
    // Best effort: the CI database is thrown away anyway.
    try {
      psql(
        'SET client_min_messages TO warning; ' +
          prefixes.map((p) => `DROP TABLE IF EXISTS ${p}entries, ${p}bookings, ${p}schema_version;`).join(' '),
      )
    } catch (error) {
      console.warn(`could not drop the test tables: ${error.message}`)
    }
  })
  return () => {
    prefixes.push(`${label}_${Date.now().toString(36)}_${process.pid}_${prefixes.length}_`)
    return prefixes.at(-1)
  }
}
