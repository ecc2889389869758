// The PostgreSQL outbox against a real server: PARTNER_SYNC_TEST_POSTGRES=postgres://... (.ci/run
// starts one on loopback), and through PgBouncer in transaction mode in front of it
// (PARTNER_SYNC_TEST_PGBOUNCER), as serverless apps reach Supabase. Each test uses its own table
// prefix, so tests and runs never meet.

import { spawn } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  POSTGRES_TARGETS,
  booking,
  createPartnerSync,
  outboxSettings,
  recordingLogger,
  redriveWhenDue,
  refusedUrl,
  seededRandom,
  startPartner,
} from './helpers/outbox-harness.mjs'
import {
  ZERO,
  inChildren,
  liveDeliveryDespiteOutbox,
  partnerDownThenBack,
  rejectedGoesDead,
} from './helpers/outbox-scenarios.mjs'
import { startPgBouncer } from './helpers/pgbouncer.mjs'
import { PG, psql, tablePrefixes } from './helpers/postgres.mjs'

const REQUIRED = process.env.PARTNER_SYNC_REQUIRE_POSTGRES === '1'
const HOW =
  'Set PARTNER_SYNC_TEST_POSTGRES=postgres://user@127.0.0.1:PORT/db to a throwaway database (.ci/run installs and starts one on loopback)'

if ((!PG || !process.env.PARTNER_SYNC_TEST_PGBOUNCER) && REQUIRED) {
  it('PostgreSQL tests must run here', () => {
    throw new Error(
      `PARTNER_SYNC_REQUIRE_POSTGRES=1 but PARTNER_SYNC_TEST_POSTGRES or PARTNER_SYNC_TEST_PGBOUNCER is not set, so the PostgreSQL outbox tests cannot run. ${HOW}, and PARTNER_SYNC_TEST_PGBOUNCER to PgBouncer in transaction mode in front of it.`,
    )
  })
} else if (!PG) {
  console.warn(
    `\n${'!'.repeat(78)}\n!!! SKIPPING the PostgreSQL outbox tests: PARTNER_SYNC_TEST_POSTGRES is not set.\n!!! ${HOW},\n!!! or run .ci/run. CI sets PARTNER_SYNC_REQUIRE_POSTGRES=1, where this is a failure.\n${'!'.repeat(78)}\n`,
  )
}

const freshPrefix = tablePrefixes('t')
/** `outboxSettings` on tables of their own. */
const pgSettings = (partner, outbox, options = {}) =>
  outboxSettings(partner, outbox, { outboxTablePrefix: freshPrefix(), ...options })

/** A partner for a block of tests. */
function partnerForBlock() {
  const holder = {}
  beforeAll(async () => {
    holder.partner = await startPartner()
  })
  afterAll(() => holder.partner?.close())
  return holder
}

describe.skipIf(!PG)('PostgreSQL outbox that cannot be used', () => {
  const block = partnerForBlock()
  const clientOn = (options = {}) => createPartnerSync(pgSettings(block.partner, PG, { logger: false, ...options }))

  const PASSWORD = 'Sup3r-s3cret-pg-passw0rd'
  const server = PG && new URL(PG)
  const withCredentials = (user, database) => `postgres://${user}:${PASSWORD}@${server.host}/${database}`

  it('an unreachable port: the live delivery still happens; the error is clear and hides the password', async () => {
    const port = new URL(await refusedUrl()).port
    const outbox = `postgres://app:${PASSWORD}@127.0.0.1:${port}/app`
    await liveDeliveryDespiteOutbox({
      partner: block.partner,
      id: 'pg-unreachable',
      makeClient: (options) => clientOn({ outbox, ...options }),
      explains: new RegExp(
        `cannot connect to the PostgreSQL outbox at postgres://app:\\*\\*\\*@127\\.0\\.0\\.1:${port}/app: .*refused.*; check the host, port, user, password and database`,
      ),
      hidden: PASSWORD,
    })
  })

  // The test server trusts loopback (initdb --auth=trust), so a wrong password for an existing
  // role is accepted there; an unknown role or database is what it refuses.
  it.each([
    [
      'an unknown role',
      () => withCredentials('no_such_role_x', server.pathname.slice(1)),
      /role "no_such_role_x" does not exist/,
    ],
    [
      'an unknown database',
      () => withCredentials(server.username || 'postgres', 'no_such_database_x'),
      /database "no_such_database_x" does not exist/,
    ],
  ])(
    '%s: the live delivery still happens; the error is clear and hides the password',
    async (what, outbox, explains) => {
      await liveDeliveryDespiteOutbox({
        partner: block.partner,
        id: `pg-refused-${what.replaceAll(' ', '-')}`,
        makeClient: (options) => clientOn({ outbox: outbox(), ...options }),
        explains: new RegExp(
          `cannot connect to the PostgreSQL outbox at postgres://[a-z_]+:\\*\\*\\*@.*${explains.source}`,
        ),
        hidden: PASSWORD,
      })
    },
  )
})

// `prepared_statements=on`: named statements, prepared once per connection. For a direct
// connection or a session pooler only; the default (off) is what works through any pooler.
describe.skipIf(!PG)('PostgreSQL outbox with prepared_statements=on', () => {
  const block = partnerForBlock()
  it('keeps, redrives and reconnects as without it', async () => {
    const { partner } = block
    const outbox = `${PG}${PG.includes('?') ? '&' : '?'}prepared_statements=on`
    const client = createPartnerSync(pgSettings(partner, outbox, { logger: false }))
    await partnerDownThenBack({ partner, client, id: 'pg-prepared-down' })
    const { result } = await rejectedGoesDead({ partner, client, id: 'pg-prepared-400' })
    expect(await client.outbox.show(result.outbox.id)).toMatchObject({ state: 'dead' })
  })

  it('a value other than on or off is refused with what to do; the live delivery still happens', async () => {
    await liveDeliveryDespiteOutbox({
      partner: block.partner,
      id: 'pg-prepared-bad',
      makeClient: (options) =>
        createPartnerSync(
          pgSettings(block.partner, `${PG}${PG.includes('?') ? '&' : '?'}prepared_statements=sometimes`, options),
        ),
      explains: /prepared_statements="sometimes" is neither on nor off; leave it out \(the default, off\)/,
    })
  })
})

describe.each(POSTGRES_TARGETS)('PostgreSQL outbox through %s', (_name, TARGET) => {
  let partner
  const block = partnerForBlock()
  beforeAll(() => {
    partner = block.partner
  })
  const clientOn = (options = {}) => createPartnerSync(pgSettings(partner, TARGET, { logger: false, ...options }))

  it('partner down for the whole in-request window: pending, then one redrive delivers the same bytes', async () => {
    await partnerDownThenBack({ partner, client: clientOn(), id: 'pg-down' })
  })

  it('a 400 goes dead at once; after retry(id) the next redrive delivers it', async () => {
    const client = clientOn()
    const { result } = await rejectedGoesDead({ partner, client, id: 'pg-400' })
    partner.plan('pg-400', 200)
    expect(await client.outbox.retry(result.outbox.id)).toBe(true)
    expect(await client.redrivePending()).toEqual({ delivered: 1, failed: 0, dead: 0, superseded: 0, remaining: 0 })
    expect(await client.outbox.show(result.outbox.id)).toMatchObject({ state: 'delivered', attempts: 2 })
  })

  it('a foreign table is reported and left as it was; the live delivery still happens', async () => {
    const prefix = freshPrefix()
    psql(`CREATE TABLE ${prefix}entries (x TEXT); INSERT INTO ${prefix}entries VALUES ('theirs');`)
    await liveDeliveryDespiteOutbox({
      partner,
      id: 'pg-foreign',
      makeClient: (options) => clientOn({ outboxTablePrefix: prefix, ...options }),
      explains: new RegExp(
        `the outbox table ${prefix}entries exists but has no ${prefix}schema_version table beside it.*left untouched`,
      ),
    })
    expect(
      psql(`SELECT string_agg(column_name, ',') FROM information_schema.columns WHERE table_name = '${prefix}entries'`),
    ).toBe('x')
    expect(psql(`SELECT string_agg(x, ',') FROM ${prefix}entries`)).toBe('theirs')
    expect(psql(`SELECT to_regclass('${prefix}schema_version') IS NULL`)).toBe('t')
  })

  it('an outbox written by schema version 1 is migrated: order within each booking, stale entries superseded, then used', async () => {
    const prefix = freshPrefix()
    // Version 1 as partner-sync 0.1 created it.
    psql(`CREATE TABLE ${prefix}entries (id TEXT PRIMARY KEY, booking_id TEXT NOT NULL, event TEXT NOT NULL, body TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')), attempts BIGINT NOT NULL DEFAULT 0,
        schedule_step BIGINT NOT NULL DEFAULT 0, not_found_count BIGINT NOT NULL DEFAULT 0, created_at_ms BIGINT NOT NULL,
        updated_at_ms BIGINT NOT NULL, schedule_started_at_ms BIGINT NOT NULL, next_attempt_at_ms BIGINT, delivered_at_ms BIGINT,
        lease_until_ms BIGINT, lease_owner TEXT, last_status BIGINT, last_error_kind TEXT, last_error TEXT, history TEXT NOT NULL DEFAULT '[]');
      CREATE INDEX ${prefix}entries_due ON ${prefix}entries (state, next_attempt_at_ms);
      CREATE INDEX ${prefix}entries_booking ON ${prefix}entries (booking_id);
      CREATE TABLE ${prefix}schema_version (version BIGINT NOT NULL); INSERT INTO ${prefix}schema_version VALUES (1);
      INSERT INTO ${prefix}entries (id, booking_id, event, body, state, created_at_ms, updated_at_ms, schedule_started_at_ms, next_attempt_at_ms, delivered_at_ms) VALUES
        ('dp', 'pg-v1', 'booking.paid', '{"booking_id":"pg-v1","status":"DP"}', 'pending', 50, 50, 50, 50, NULL),
        ('lunas', 'pg-v1', 'booking.updated', '{"booking_id":"pg-v1","status":"LUNAS"}', 'delivered', 100, 100, 100, NULL, 100),
        ('other', 'pg-v1-other', 'booking.paid', '{"booking_id":"pg-v1-other","status":"LUNAS"}', 'pending', 60, 60, 60, 60, NULL);`)
    // Retention off: its entries are from 1970, and a purge would forget the booking along with them.
    const client = clientOn({ outboxTablePrefix: prefix, outboxRetention: '0' })
    expect(await client.outbox.show('dp')).toMatchObject({ state: 'superseded', supersededBy: 'lunas' })
    expect(psql(`SELECT MAX(version) FROM ${prefix}schema_version`)).toBe('2')
    // The pending entry of another booking is redriven as before, with the bytes version 1 stored.
    expect(await client.redrivePending()).toMatchObject({ delivered: 1, superseded: 0, remaining: 0 })
    expect(partner.forBooking('pg-v1-other').at(-1).raw.toString('utf8')).toBe(
      '{"booking_id":"pg-v1-other","status":"LUNAS"}',
    )
    expect(partner.forBooking('pg-v1')).toEqual([])
    // New syncs of a migrated booking come after its old entries.
    expect(await client.sync(booking('pg-v1'))).toMatchObject({ ok: true, outbox: { state: 'delivered' } })
    expect(psql(`SELECT seq FROM ${prefix}entries WHERE booking_id = 'pg-v1' ORDER BY seq DESC LIMIT 1`)).toBe('3')
  })

  // Every outbox step in the request path is bounded by its share of the deadline, the one that
  // settles the entry after the attempts too: a database that stops answering cannot hold the handler.
  it(
    'a database that stops answering after the write-ahead does not hold the sync past its deadline',
    { timeout: 30_000 },
    async () => {
      const prefix = freshPrefix()
      const DEADLINE_MS = 3000
      const client = clientOn({ outboxTablePrefix: prefix, deadlineMs: DEADLINE_MS })
      const LOCK_MS = 15_000
      let locker
      const planned = partner.answer
      // The partner answers once another session holds the entry's row locked, for LOCK_MS.
      partner.answer = (record) =>
        new Promise((resolve, reject) => {
          const take = [
            `SELECT id FROM ${prefix}entries WHERE booking_id = '${record.bookingId}' FOR UPDATE`,
            `SELECT pg_sleep(${LOCK_MS / 1000})`,
            'COMMIT',
          ]
          locker = spawn(
            'psql',
            [
              '-X',
              '-q',
              '-A',
              '-t',
              '-v',
              'ON_ERROR_STOP=1',
              '-d',
              PG,
              '-c',
              'BEGIN',
              ...take.flatMap((sql) => ['-c', sql]),
            ],
            { stdio: ['ignore', 'pipe', 'inherit'] },
          )
          locker.exited = new Promise((done) => locker.on('close', done))
          locker.stdout.once('data', () => resolve(200)) // the row's id: locked
          locker.exited.then((code) => reject(new Error(`psql ended (${code}) without locking the entry`)))
        })
      try {
        const started = Date.now()
        const result = await client.sync(booking('pg-stuck'))
        const elapsed = Date.now() - started
        expect(result.ok).toBe(true)
        expect(elapsed).toBeLessThan(DEADLINE_MS + 750)
        expect(locker.exitCode).toBe(null) // the lock was still held when the sync ended
        expect(result.outbox).toMatchObject({
          id: expect.any(String),
          error: expect.stringMatching(/did not answer within .*will be redriven/),
        })
      } finally {
        partner.answer = planned
        await locker?.exited
      }
    },
  )

  it(
    'two worker processes drain 1000 entries: every booking delivered, never twice at once, both did work',
    { timeout: 60_000 },
    async () => {
      const ENTRIES = 1000
      const settings = pgSettings(partner, TARGET, { maxAttempts: 1 })
      const filler = createPartnerSync({ ...settings, url: await refusedUrl(), logger: false })
      const filled = Date.now()
      for (let batch = 0; batch < ENTRIES; batch += 100) {
        const results = await Promise.all(
          Array.from({ length: 100 }, (_, i) => filler.sync(booking(`pg-many-${batch + i}`))),
        )
        expect(results.filter((r) => r.outbox.state !== 'pending')).toEqual([])
      }
      const fillMs = Date.now() - filled

      const random = seededRandom(11)
      const planned = partner.answer
      partner.answer = () => ({ status: 200, delayMs: 1 + Math.floor(random() * 5) })
      const worker = { task: 'drain', options: settings, limit: 25, timeoutMs: 30_000, waitForGo: true }
      const { totals, ms: drainMs } = await inChildren([worker, worker], { timeoutMs: 35_000 })
      console.log(
        `postgres workers: filled ${ENTRIES} entries in ${fillMs} ms; drained in ${drainMs} ms; split ${totals.map((t) => `${t.delivered} delivered in ${t.runs} runs`).join(' / ')}`,
      )

      const sent = partner.requests.filter((r) => r.bookingId?.startsWith('pg-many-'))
      const byBooking = new Map()
      for (const request of sent)
        byBooking.set(request.bookingId, [...(byBooking.get(request.bookingId) ?? []), request])
      expect(byBooking.size).toBe(ENTRIES)
      const overlapping = []
      for (const [bookingId, requests] of byBooking) {
        const sorted = [...requests].sort((a, b) => a.startedAt - b.startedAt)
        for (let i = 1; i < sorted.length; i++)
          if (sorted[i].startedAt < sorted[i - 1].endedAt) overlapping.push(bookingId)
        expect(requests.some((r) => r.status === 200 && r.verified)).toBe(true)
      }
      expect(overlapping).toEqual([])
      // Nothing failed, so no lease could expire: each entry went out exactly once.
      expect(sent).toHaveLength(ENTRIES)
      expect(totals[0].delivered + totals[1].delivered).toBe(ENTRIES)
      expect(totals.every((t) => t.delivered > 0)).toBe(true)

      partner.answer = planned
      const inspect = createPartnerSync({ ...settings, logger: false })
      expect(await inspect.outbox.list({ state: 'delivered', limit: 2 * ENTRIES })).toHaveLength(ENTRIES)
      expect(await inspect.outbox.list({ state: 'pending' })).toEqual([])
      expect(await inspect.outbox.list({ state: 'dead' })).toEqual([])
    },
  )

  // The run that lost 100 of 300 bookings through PgBouncer before statements went unnamed.
  it(
    'three processes make 100 syncs each, 20 at a time, while every third request gets a 503: every sync is kept, two redrivers deliver the rest',
    { timeout: 90_000 },
    async () => {
      const settings = pgSettings(partner, TARGET, { maxAttempts: 1 })
      const planned = partner.answer
      let answered = 0
      partner.answer = () => (++answered % 3 === 0 ? 503 : 200)
      try {
        const makers = [0, 1, 2].map((n) => ({
          task: 'syncs',
          options: settings,
          bookingPrefix: `pg-burst-${n}-`,
          count: 100,
          concurrency: 20,
        }))
        const { results: made } = await inChildren(makers, { timeoutMs: 60_000 })
        const ends = made.flatMap((m) => m.lines.filter((line) => line.startsWith('end ')))
        expect(ends).toHaveLength(300)
        // Kept: delivered, or pending for a redrive. Never "the outbox could not keep it".
        expect(ends.filter((line) => !/ (ok delivered|failed pending)$/.test(line))).toEqual([])
        const pending = ends.filter((line) => line.endsWith('failed pending')).length
        expect(pending).toBeGreaterThan(50)

        partner.answer = planned
        const redriver = { task: 'drain', options: settings, limit: 25, timeoutMs: 30_000 }
        const { totals } = await inChildren([redriver, redriver], { timeoutMs: 35_000 })
        expect(totals[0].delivered + totals[1].delivered).toBe(pending)

        const sent = partner.requests.filter((r) => r.bookingId?.startsWith('pg-burst-'))
        const bookings = new Set(sent.map((r) => r.bookingId))
        expect(bookings.size).toBe(300)
        for (const id of bookings)
          expect(sent.some((r) => r.bookingId === id && r.status === 200 && r.verified)).toBe(true)
        const inspect = createPartnerSync({ ...settings, logger: false })
        expect(await inspect.outbox.counts()).toMatchObject({ pending: 0, delivered: 300, dead: 0 })
      } finally {
        partner.answer = planned
      }
    },
  )

  it(
    'processes that start together on an empty database create the schema once and keep every sync',
    { timeout: 60_000 },
    async () => {
      const settings = pgSettings(partner, TARGET)
      const prefix = settings.outboxTablePrefix
      const starters = [0, 1, 2, 3].map((n) => ({
        task: 'syncs',
        options: settings,
        bookingPrefix: `pg-start-${n}-`,
        count: 5,
        concurrency: 5,
        waitForGo: true,
      }))
      const { results } = await inChildren(starters, { timeoutMs: 30_000 })
      const ends = results.flatMap((r) => r.lines.filter((line) => line.startsWith('end ')))
      expect(ends).toHaveLength(20)
      const why = results.flatMap((r) => r.lines.filter((line) => line.startsWith('why ')))
      expect(
        ends.filter((line) => !line.endsWith(' ok delivered')),
        why.join('\n'),
      ).toEqual([])
      expect(psql(`SELECT COUNT(*) FROM ${prefix}schema_version`)).toBe('1')
      expect(psql(`SELECT COUNT(*) FROM ${prefix}entries WHERE state = 'delivered'`)).toBe('20')
    },
  )
})

// .ci/run also starts a server that speaks TLS with a certificate from a throwaway CA, as hosted
// databases (Supabase) do: the outbox must verify it against `sslrootcert`, and refuse it without.
const PG_TLS = process.env.PARTNER_SYNC_TEST_POSTGRES_TLS
const PG_CA = process.env.PARTNER_SYNC_TEST_POSTGRES_CA

if (!(PG_TLS && PG_CA) && REQUIRED) {
  it('PostgreSQL TLS tests must run here', () => {
    throw new Error(
      'PARTNER_SYNC_REQUIRE_POSTGRES=1 but PARTNER_SYNC_TEST_POSTGRES_TLS or PARTNER_SYNC_TEST_POSTGRES_CA is not set: run .ci/run.',
    )
  })
}

describe.skipIf(!(PG_TLS && PG_CA))('PostgreSQL outbox over TLS', () => {
  let partner
  beforeAll(async () => {
    partner = await startPartner()
  })
  afterAll(() => partner?.close())
  const clientWith = (outbox, options = {}) =>
    createPartnerSync(pgSettings(partner, outbox, { logger: false, ...options }))

  it('verifies the server against sslrootcert, then keeps and redrives through it', async () => {
    await partnerDownThenBack({
      partner,
      client: clientWith(`${PG_TLS}&sslrootcert=${encodeURIComponent(PG_CA)}`),
      id: 'pg-tls-down',
    })
  })

  it('a certificate that does not chain to a trusted root is refused; the live delivery still happens', async () => {
    await liveDeliveryDespiteOutbox({
      partner,
      id: 'pg-tls-untrusted',
      makeClient: (options) => clientWith(PG_TLS, options),
      explains:
        /cannot connect to the PostgreSQL outbox at .*certificate.*; if the server's certificate comes from your provider's own CA .*add sslrootcert=/,
      hidden: 'no password in this URL',
    })
  })
})

// A pooler restart (or Supabase's idle timeout, or a serverless function thawed after minutes)
// closes the outbox's connection: the next sync reconnects and still writes its entry ahead.
describe.skipIf(!PG)('PostgreSQL outbox through a pooler that restarts', () => {
  let pooler
  const block = partnerForBlock()
  beforeAll(async () => {
    pooler = await startPgBouncer(PG)
  })
  afterAll(() => pooler?.stop())

  it(
    'a sync after a PgBouncer restart reconnects, keeps its entry, and a redrive delivers it',
    { timeout: 30_000 },
    async () => {
      const { partner } = block
      const log = recordingLogger()
      const client = createPartnerSync(pgSettings(partner, pooler.url, { logger: log }))
      expect(await client.sync(booking('pg-restart-before'))).toMatchObject({
        ok: true,
        outbox: { state: 'delivered' },
      })

      await pooler.restart()
      partner.plan('pg-restart-after', 503, 503, 503, 200)
      const after = await client.sync(booking('pg-restart-after'))
      expect(after).toMatchObject({ ok: false, outbox: { state: 'pending', id: expect.any(String) } })
      expect(log.lines.filter((line) => line.includes('Outbox could not keep'))).toEqual([])
      expect(await redriveWhenDue(client)).toEqual({ ...ZERO, delivered: 1 })

      // The inspection calls reconnect too.
      await pooler.restart()
      expect(await client.outbox.show(after.outbox.id)).toMatchObject({ state: 'delivered', attempts: 4 })
    },
  )
})
