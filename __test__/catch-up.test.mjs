// catchUp(): the short redrive a serverless app runs after a request's answer (Next.js after()),
// where no cron runs more than once a day. Once the partner has accepted a body again, entries
// that failed on its side go out without waiting out their schedule; one request per booking holds.

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import {
  ONE_ATTEMPT,
  POSTGRES_TARGETS,
  booking,
  createPartnerSync,
  refusedUrl,
  startPartner,
  tempDir,
} from './helpers/outbox-harness.mjs'
import { inChildren } from './helpers/outbox-scenarios.mjs'

const backends = [
  ['SQLite', (store) => `sqlite:${store.file('catch-up.db')}`, 'lite'],
  ...POSTGRES_TARGETS.map(([name, url, tag]) => [name, () => url, tag]),
]
const nothing = { delivered: 0, failed: 0, dead: 0, superseded: 0, remaining: 0 }

describe.each(backends)('catchUp on a %s outbox', (_name, location, tag) => {
  let store
  let prefixes = 0
  beforeAll(() => {
    store = tempDir('catch-up')
  })
  afterAll(() => store.remove())
  // A one-hour schedule: nothing a catch-up sends here was due by its schedule.
  const settingsFor = (partner) => ({
    ...ONE_ATTEMPT,
    url: partner.url,
    outbox: location(store),
    outboxSchedule: '1h',
    outboxTablePrefix: `cu_${tag}_${process.pid}_${Date.now().toString(36)}_${prefixes++}_`,
  })

  it('sends entries that failed on the partner side once it accepted a body again; a 404 keeps its schedule', async () => {
    const partner = await startPartner()
    try {
      const client = createPartnerSync(settingsFor(partner))
      partner.plan('cu-down', 503, 200)
      partner.plan('cu-missing', 404, 200)
      expect(await client.sync(booking('cu-down'))).toMatchObject({ ok: false, outbox: { state: 'pending' } })
      expect(await client.sync(booking('cu-missing'))).toMatchObject({ ok: false, outbox: { state: 'pending' } })
      // Nothing says the partner is back yet: nothing is due, nothing is sent.
      expect(await client.catchUp()).toEqual(nothing)
      expect(partner.forBooking('cu-down')).toHaveLength(1)

      expect(await client.sync(booking('cu-next-callback'))).toMatchObject({ ok: true })
      expect(await client.catchUp()).toEqual({ ...nothing, delivered: 1 })
      expect(partner.forBooking('cu-down').map((r) => r.status)).toEqual([503, 200])
      // A 404 may be a booking the partner does not have: it waits for its schedule.
      expect(partner.forBooking('cu-missing')).toHaveLength(1)
      expect(await client.outbox.list({ state: 'pending' })).toEqual([
        expect.objectContaining({ bookingId: 'cu-missing' }),
      ])
    } finally {
      await partner.close()
    }
  })

  it(
    'two processes catching up at once send each pending booking once, never two requests of one booking at a time',
    { timeout: 60_000 },
    async () => {
      const partner = await startPartner()
      try {
        const settings = settingsFor(partner)
        const PENDING = 40
        const filler = createPartnerSync({ ...settings, url: await refusedUrl() })
        const kept = await Promise.all(Array.from({ length: PENDING }, (_, i) => filler.sync(booking(`cu-two-${i}`))))
        expect(kept.filter((r) => r.outbox.state !== 'pending')).toEqual([])

        partner.answer = () => ({ status: 200, delayMs: 5 })
        const instances = [0, 1].map((n) => ({
          task: 'catchUp',
          options: settings,
          bookingId: `cu-callback-${n}`,
          limit: PENDING,
          waitForGo: true,
        }))
        const { results, totals: counts } = await inChildren(instances, { timeoutMs: 30_000 })
        expect(results.map((result) => result.lines[0])).toEqual(['synced true', 'synced true'])
        expect(counts[0].delivered + counts[1].delivered).toBe(PENDING)

        const sent = partner.requests.filter((r) => r.bookingId?.startsWith('cu-two-'))
        expect(sent).toHaveLength(PENDING)
        expect(new Set(sent.map((r) => r.bookingId)).size).toBe(PENDING)
        expect(await filler.outbox.counts()).toMatchObject({ pending: 0, delivered: PENDING + 2 })
      } finally {
        await partner.close()
      }
    },
  )

  it('a purge forgets the booking rows nothing needs any more, and keeps those of dead entries', async () => {
    const partner = await startPartner()
    try {
      const settings = settingsFor(partner)
      const client = createPartnerSync(settings)
      partner.plan('cu-dead', 400)
      for (const id of ['cu-gone-1', 'cu-gone-2', 'cu-dead']) await client.sync(booking(id))
      expect(bookingRows(settings)).toEqual(['cu-dead', 'cu-gone-1', 'cu-gone-2'])
      expect(await client.outbox.purge({ olderThan: '0s' })).toBe(2)
      expect(bookingRows(settings)).toEqual(['cu-dead'])
      // A booking forgotten starts afresh: newest-wins holds among its new entries.
      expect(await client.sync(booking('cu-gone-1'))).toMatchObject({ ok: true, outbox: { state: 'delivered' } })
      expect(bookingRows(settings)).toEqual(['cu-dead', 'cu-gone-1'])
    } finally {
      await partner.close()
    }
  })
})

/** The booking ids of the outbox's bookings table, read with the database's own client. */
function bookingRows({ outbox, outboxTablePrefix }) {
  const sql = `SELECT booking_id FROM ${outboxTablePrefix}bookings ORDER BY booking_id`
  const [command, args] = outbox.startsWith('sqlite:')
    ? [
        'python3',
        [
          '-c',
          'import sqlite3,sys; print("\\n".join(r[0] for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2])))',
          outbox.slice('sqlite:'.length),
          sql,
        ],
      ]
    : ['psql', ['-X', '-q', '-A', '-t', '-d', process.env.PARTNER_SYNC_TEST_POSTGRES, '-c', sql]]
  return execFileSync(command, args, { encoding: 'utf8', timeout: 10_000 }).split('\n').filter(Boolean)
}
