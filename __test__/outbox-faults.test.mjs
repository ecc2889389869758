// The outbox under the faults of a real network, with a TCP fault proxy (helpers/fault-proxy.mjs)
// between the package and PostgreSQL, direct and through PgBouncer in transaction mode (as
// Supabase's port 6543), and with the SQLite file locked by another process: connections reset,
// silently dead, a database that hangs, latency far away. A paid booking is either accepted by
// the partner or kept in the outbox; the deadline bounds every call.

import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  POSTGRES_TARGETS,
  booking,
  createPartnerSync,
  outboxSettings,
  recordingLogger,
  startPartner,
  tempDir,
  waitFor,
} from './helpers/outbox-harness.mjs'
import { inChildren } from './helpers/outbox-scenarios.mjs'
import { startFaultProxy } from './helpers/fault-proxy.mjs'
import { PG, tablePrefixes } from './helpers/postgres.mjs'

const { bodySha256 } = createRequire(import.meta.url)('../lib/index.js')
const freshPrefix = tablePrefixes('f')
// Scheduling slack on a loaded two-core machine, for "within the deadline".
const SLACK_MS = 750

/** A client of `partner` whose outbox is reached through `proxy`, on tables of its own. */
const faultSettings = (partner, outbox, options = {}) =>
  outboxSettings(partner, outbox, { outboxTablePrefix: freshPrefix(), ...options })

/** Every booking of `prefix` the partner accepted (a verified 200). */
const accepted = (partner, prefix) =>
  new Set(
    partner.requests
      .filter((r) => r.bookingId?.startsWith(prefix) && r.status === 200 && r.verified)
      .map((r) => r.bookingId),
  )

/** The pending entries' booking ids, read directly (not through the proxy). */
async function pendingBookings(settings, directUrl) {
  const inspect = createPartnerSync({ ...settings, outbox: directUrl, logger: false })
  const pending = await inspect.outbox.list({ state: 'pending', limit: 1000 })
  return new Set(pending.map((entry) => entry.bookingId))
}

/** Options for a 3 s deadline and 2 attempts, with a logger and the `lost` hook recorded. */
function watched() {
  const hooks = []
  const log = recordingLogger()
  return { hooks, log, options: { deadlineMs: 3000, maxAttempts: 2, logger: log, on: { lost: (e) => hooks.push(e) } } }
}

/**
 * With the outbox unusable (`why` says how): a sync of `${id}-live` is delivered live within the
 * deadline, with no attempt cut to nothing; with the partner down too, `${id}-lost` is reported lost
 * by booking id and body hash, once, and the `lost` hook fires.
 */
async function liveThenLost({ client, partner, id, why, watch: { hooks, log } }) {
  let started = Date.now()
  const live = await client.sync(booking(`${id}-live`))
  expect(Date.now() - started).toBeLessThan(3000 + SLACK_MS)
  expect(live).toMatchObject({ ok: true, status: 200, attempts: 1, lost: false })
  expect(live.attemptLog[0].durationMs).toBeGreaterThan(0)
  expect(live.outbox.error).toMatch(why)

  partner.plan(`${id}-lost`, 503)
  started = Date.now()
  const gone = await client.sync(booking(`${id}-lost`))
  expect(Date.now() - started).toBeLessThan(3000 + SLACK_MS)
  expect(gone).toMatchObject({ ok: false, lost: true, attempts: 2 })
  expect(gone.error.message).not.toMatch(/on the wire/)
  const lostLines = log.lines.filter((line) => line.startsWith('error: [Partner Sync] Lost booking'))
  expect(lostLines).toHaveLength(1)
  expect(lostLines[0]).toContain(`Lost booking ${id}-lost:`)
  expect(lostLines[0]).toContain(`body sha256 ${bodySha256(gone.body)}`)
  expect(hooks).toEqual([expect.objectContaining({ bookingId: `${id}-lost`, errorKind: 'http' })])
}

describe.skipIf(!PG)('PostgreSQL outbox behind a faulty network', () => {
  let partner
  beforeAll(async () => {
    partner = await startPartner()
  })
  afterAll(() => partner?.close())

  for (const [label, url, tag] of POSTGRES_TARGETS) {
    describe(label, () => {
      let proxy
      beforeAll(async () => {
        proxy = await startFaultProxy(url, { seed: 7 })
      })
      afterAll(() => proxy?.close())

      // Issue 23's first run: 18 to 25 of 153 bookings were lost at this rate.
      it(
        'resets of 1 in 4 connections and chunks: every booking is accepted or kept, and a redrive delivers the rest once the network heals',
        { timeout: 150_000 },
        async () => {
          // A short quiet period: an entry whose settle was lost is redriven once its lease and that end.
          const settings = faultSettings(partner, proxy.url(), {
            maxAttempts: 1,
            deadlineMs: 10_000,
            quietPeriod: '1s',
          })
          const prefix = `${tag}-resets-`
          let ends
          // The schema exists, as on every day but the first (creating it takes a dozen statements).
          await createPartnerSync({ ...settings, outbox: url, logger: false }).outbox.counts()
          const planned = partner.answer
          let answered = 0
          partner.answer = () => (++answered % 3 === 0 ? 503 : 200)
          proxy.set({ resetRate: 0.25 })
          try {
            const makers = [0, 1, 2].map((n) => ({
              task: 'syncs',
              options: settings,
              bookingPrefix: `${prefix}${n}-`,
              count: 50,
              concurrency: 10,
            }))
            const { results } = await inChildren(makers, { timeoutMs: 100_000 })
            ends = results.flatMap((r, n) => r.lines.filter((line) => /^(end|why) /.test(line)).map((l) => `${n} ${l}`))
            expect(ends.filter((line) => / end /.test(line))).toHaveLength(150)
            expect(proxy.stats.resets + proxy.stats.refused).toBeGreaterThan(50)
          } finally {
            partner.answer = planned
            proxy.set({ resetRate: 0 })
          }
          const all = [0, 1, 2].flatMap((n) => Array.from({ length: 50 }, (_, i) => `${prefix}${n}-${i}`))
          const pending = await pendingBookings(settings, url)
          const live = accepted(partner, prefix)
          const lost = all.filter((id) => !live.has(id) && !pending.has(id))
          const [process, i] = [(id) => id.split('-').at(-2), (id) => id.split('-').at(-1)]
          const endOf = (id) => ends.filter((line) => new RegExp(`^${process(id)} (end|why) ${i(id)} `).test(line))
          expect(lost, `their ends: ${JSON.stringify(lost.map(endOf))}`).toEqual([])

          // Healed: redrives deliver every one (an entry whose settle was lost waits for its lease).
          const redriver = createPartnerSync({ ...settings, logger: false })
          await waitFor(
            'every booking accepted',
            async () => {
              await redriver.redrivePending({ limit: 200 })
              return accepted(partner, prefix).size === 150
            },
            { timeoutMs: 40_000, intervalMs: 250 },
          )
        },
      )

      it(
        'a silently dead connection is dropped: while the database is black-holed the sync is delivered live within the deadline, and after the network heals the next one is kept though the old connections stay dead',
        { timeout: 30_000 },
        async () => {
          const log = recordingLogger()
          const client = createPartnerSync(faultSettings(partner, proxy.url(), { deadlineMs: 3000, logger: log }))
          // Two syncs at once leave two connections in the pool.
          const warm = await Promise.all(['a', 'b'].map((n) => client.sync(booking(`${tag}-dead-warm-${n}`))))
          for (const result of warm) expect(result.outbox.state).toBe('delivered')

          proxy.set({ blackhole: true })
          const started = Date.now()
          const during = await client.sync(booking(`${tag}-dead-during`))
          const took = Date.now() - started
          expect(took).toBeLessThan(3000 + SLACK_MS)
          expect(during).toMatchObject({ ok: true, lost: false })
          expect(during.outbox.error).toMatch(/may still (appear|take effect)/)
          expect(log.lines.filter((line) => line.startsWith('error:'))).toEqual([])

          // Healed, but every connection opened before stays silent for ever, as after a NAT forgot it.
          proxy.heal('freeze')
          const after = await client.sync(booking(`${tag}-dead-after`))
          expect(after).toMatchObject({ ok: true, outbox: { state: 'delivered' } })
        },
      )

      it(
        'a hung database and a 3 s deadline: delivered live within the deadline with no 0 ms attempt; with the partner down too, the booking is reported lost by id and body hash, and the lost hook fires',
        { timeout: 30_000 },
        async () => {
          const watch = watched()
          proxy.set({ blackhole: true })
          try {
            // A fresh client: opening the outbox itself hangs.
            const client = createPartnerSync(faultSettings(partner, proxy.url(), watch.options))
            const why = /(did not answer|no answer) within \d+ ms/
            await liveThenLost({ client, partner, id: `${tag}-hung`, why, watch })
          } finally {
            proxy.heal('reset')
          }
        },
      )

      it(
        'a database that refuses connections while the partner fails: the sync is written late, once the database is back, and not lost',
        { timeout: 30_000 },
        async () => {
          const watch = watched()
          const client = createPartnerSync(faultSettings(partner, proxy.url(), watch.options))
          await client.outbox.counts() // the schema exists: only the connections are refused
          proxy.set({ refuse: true })
          const id = `${tag}-refused`
          const planned = partner.answer
          // The database comes back while the partner answers 503.
          partner.answer = (record) => {
            proxy.set({ refuse: false })
            return record.bookingId === id ? 503 : planned(record)
          }
          try {
            const result = await client.sync(booking(id))
            expect(result).toMatchObject({ ok: false, lost: false, attempts: 2, outbox: { state: 'pending' } })
            expect(watch.hooks).toEqual([])
            expect(proxy.stats.refused).toBeGreaterThan(0)
          } finally {
            partner.answer = planned
            proxy.set({ refuse: false })
          }
        },
      )

      it(
        'a cold start far away costs at most 4 round trips (login, one check, the write-ahead, the settle); a warm sync 2',
        { timeout: 60_000 },
        async () => {
          // The schema exists already, as on every cold start but the first.
          const settings = faultSettings(partner, url)
          await createPartnerSync({ ...settings, logger: false }).outbox.counts()
          // Long enough that scheduling noise on a loaded machine stays well under half a round trip.
          const oneWayMs = 50
          const timed = async (latencyMs) => {
            proxy.set({ latencyMs })
            const through = new URL(proxy.url())
            through.searchParams.set('sslmode', 'disable')
            const task = {
              task: 'timedSyncs',
              options: { ...settings, outbox: through.toString() },
              bookingPrefix: `${tag}-cold-${latencyMs}-`,
              count: 3,
            }
            const { results } = await inChildren([task], { timeoutMs: 20_000 })
            const took = results[0].lines.filter((l) => l.startsWith('took ')).map((l) => l.split(' '))
            expect(took.map((t) => t[3] + ' ' + t[4])).toEqual(Array(3).fill('ok delivered'))
            return took.map((t) => Number(t[2]))
          }
          try {
            // The median of three processes each, with and without the latency.
            const runs = async (latencyMs) => {
              const each = []
              for (let i = 0; i < 3; i++) each.push(await timed(latencyMs))
              const median = (values) => values.sort((a, b) => a - b)[1]
              return [median(each.map((t) => t[0])), median(each.map((t) => Math.min(t[1], t[2])))]
            }
            const [coldFast, warmFast] = await runs(0)
            const [coldSlow, warmSlow] = await runs(oneWayMs)
            const roundTrips = (slow, fast) => (slow - fast) / (2 * oneWayMs)
            const cold = roundTrips(coldSlow, coldFast)
            const warm = roundTrips(warmSlow, warmFast)
            console.log(`${label}: a cold sync took ${cold.toFixed(2)} round trips, a warm one ${warm.toFixed(2)}`)
            expect(cold).toBeGreaterThan(3.5)
            expect(cold).toBeLessThan(4.5)
            expect(warm).toBeGreaterThan(1.5)
            expect(warm).toBeLessThan(2.5)
          } finally {
            proxy.set({ latencyMs: 0 })
          }
        },
      )
    })
  }
})

// Issue 18's pooler run with the machine's cores busy: before each connection carried one statement
// at a time, 2 of 4 runs corrupted the protocol through PgBouncer (PgBouncer issue #759: statements
// pipelined over one client connection, split between server connections).
const PGBOUNCER = process.env.PARTNER_SYNC_TEST_PGBOUNCER
describe.skipIf(!PGBOUNCER)('PgBouncer in transaction mode, busy', () => {
  let partner
  let busy = []
  beforeAll(async () => {
    partner = await startPartner()
    // One spinning process per core, as a loaded machine or a noisy neighbour.
    busy = [0, 1].map(() => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }))
  })
  afterAll(async () => {
    for (const child of busy) child.kill('SIGKILL')
    await partner?.close()
  })

  it(
    'three processes start together and sync in 5 waves of 20 at once, a 503 for every third request: nothing is lost and no outbox step fails',
    { timeout: 120_000 },
    async () => {
      const settings = faultSettings(partner, PGBOUNCER, { maxAttempts: 1, deadlineMs: 10_000, quietPeriod: '1s' })
      const planned = partner.answer
      let answered = 0
      partner.answer = () => (++answered % 3 === 0 ? 503 : 200)
      let ends
      try {
        const makers = [0, 1, 2].map((n) => ({
          task: 'syncs',
          options: settings,
          bookingPrefix: `busy-${n}-`,
          count: 20,
          waves: 5,
          waitForGo: true,
        }))
        const { results } = await inChildren(makers, { timeoutMs: 90_000 })
        ends = results.flatMap((r) => r.lines.filter((line) => line.startsWith('end ')))
      } finally {
        partner.answer = planned
      }
      expect(ends).toHaveLength(300)
      expect(ends.filter((line) => !/ (ok delivered|failed pending)$/.test(line))).toEqual([])
      const redriver = createPartnerSync({ ...settings, logger: false })
      await waitFor(
        'every booking accepted',
        async () => {
          await redriver.redrivePending({ limit: 300 })
          return accepted(partner, 'busy-').size === 300
        },
        { timeoutMs: 30_000, intervalMs: 250 },
      )
    },
  )
})

// SQLite: another process (Python's sqlite3 here: a backup, a script, a second server on the same
// file) holds the file's write lock for 8 s.
describe('SQLite outbox whose file another process keeps locked', () => {
  let partner
  let store
  beforeAll(async () => {
    partner = await startPartner()
    store = tempDir('locked')
  })
  afterAll(async () => {
    await partner?.close()
    store?.remove()
  })

  /** Holds the write lock of `file` for `ms`; resolves once it is held, with `released`, the lock's end. */
  async function lockFor(file, ms) {
    const script = [
      'import sqlite3, sys, time',
      `c = sqlite3.connect(${JSON.stringify(file)}, isolation_level=None)`,
      "c.execute('BEGIN IMMEDIATE')",
      "print('locked', flush=True)",
      `time.sleep(${ms / 1000})`,
      "c.execute('COMMIT')",
    ].join('\n')
    const child = spawn('python3', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] })
    await new Promise((resolve, reject) => {
      child.stdout.once('data', resolve)
      child.once('exit', (code) => reject(new Error(`the lock holder exited (${code}) before locking`)))
    })
    return { released: new Promise((resolve) => child.once('exit', resolve)) }
  }

  it(
    'a 3 s deadline: the sync resolves within it and is delivered live; with the partner down too, it is reported lost',
    { timeout: 30_000 },
    async () => {
      const watch = watched()
      const file = store.file('locked.db')
      const client = createPartnerSync(outboxSettings(partner, `sqlite:${file}`, watch.options))
      expect((await client.sync(booking('sq-locked-before'))).outbox.state).toBe('delivered')
      const { released } = await lockFor(file, 8000)
      await liveThenLost({ client, partner, id: 'sq-locked', why: /database is locked|did not answer/, watch })
      await released

      // The lock is gone: the outbox keeps syncs again.
      expect((await client.sync(booking('sq-locked-after'))).outbox.state).toBe('delivered')
    },
  )
})
