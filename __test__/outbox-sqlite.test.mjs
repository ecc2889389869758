// The SQLite outbox against real files in a temporary directory and a real partner on loopback.

import fs from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  SECRET,
  booking,
  createPartnerSync,
  outboxSettings,
  recordingLogger,
  redriveWhenDue,
  refusedUrl,
  runChild,
  seededRandom,
  waitFor,
} from './helpers/outbox-harness.mjs'
import {
  ZERO,
  liveDeliveryDespiteOutbox,
  partnerAndStore,
  partnerDownThenBack,
  rejectedGoesDead,
  staysDead,
} from './helpers/outbox-scenarios.mjs'
import { sqliteDatabase } from './helpers/sqlite-file.mjs'

const { partner, store } = await partnerAndStore('outbox-sqlite')

let files = 0
/** A client on a SQLite outbox file of its own (or `file`), schedule 100 ms, quick in-request retries. */
function clientOn(options = {}, file = store.file(`outbox-${++files}.db`)) {
  return createPartnerSync(outboxSettings(partner, `sqlite:${file}`, { logger: false, ...options }))
}
/** Milliseconds from an entry's last update to its next attempt: the schedule step it is on. */
const stepOf = (entry) => Date.parse(entry.nextAttemptAt) - Date.parse(entry.updatedAt)

describe('delivery and redrive', () => {
  it('partner down for the whole in-request window: pending, then one redrive delivers the same bytes', async () => {
    const client = clientOn()
    const { result } = await partnerDownThenBack({ partner, client, id: 'sq-down' })
    expect((await client.outbox.list({ state: 'delivered' })).map((e) => e.id)).toEqual([result.outbox.id])
    expect(await client.outbox.list({ state: 'pending' })).toEqual([])
  })

  it('a 2xx in the request marks the entry delivered at once; redrive has nothing to do', async () => {
    const client = clientOn()
    const result = await client.sync(booking('sq-ok'))
    expect(result.ok).toBe(true)
    expect(result.outbox).toMatchObject({ state: 'delivered', id: expect.any(String) })
    expect(await client.redrivePending()).toEqual(ZERO)
    expect(partner.forBooking('sq-ok')).toHaveLength(1)
    const entry = await client.outbox.show(result.outbox.id)
    expect(entry).toMatchObject({ state: 'delivered', attempts: 1, lastStatus: 200, body: result.body })
    expect(entry.history).toEqual([
      expect.objectContaining({ status: 200, at: expect.any(String), durationMs: expect.any(Number) }),
    ])
    expect(await client.outbox.show('no-such-entry')).toBeNull()
  })

  it('list() filters by state, newest first; an unknown state is refused', async () => {
    const client = clientOn({ maxAttempts: 1 })
    partner.plan('sq-list-pending', 503)
    partner.plan('sq-list-dead', 400)
    const ids = {}
    for (const name of ['delivered', 'pending', 'dead'])
      ids[name] = (await client.sync(booking(`sq-list-${name}`))).outbox.id
    for (const state of ['pending', 'delivered', 'dead']) {
      expect((await client.outbox.list({ state })).map((e) => [e.id, e.state, e.bookingId])).toEqual([
        [ids[state], state, `sq-list-${state}`],
      ])
    }
    expect((await client.outbox.list()).map((e) => e.id)).toEqual([ids.dead, ids.pending, ids.delivered])
    expect(await client.outbox.list({ limit: 1 })).toHaveLength(1)
    await expect(client.outbox.list({ state: 'stuck' })).rejects.toThrow(/unknown outbox state "stuck"/)
  })

  it('redrive delivers many due entries and counts them; limit bounds one run', async () => {
    const down = await refusedUrl()
    const file = store.file('many.db')
    const filler = clientOn({ url: down, maxAttempts: 1 }, file)
    const due = []
    for (let i = 0; i < 12; i++) due.push(Date.parse((await filler.sync(booking(`sq-many-${i}`))).outbox.nextAttemptAt))
    await waitFor('all 12 entries to be due', () => Date.now() > Math.max(...due) + 5)
    const client = clientOn({}, file)
    expect(await client.redrivePending({ limit: 5 })).toEqual({
      delivered: 5,
      failed: 0,
      dead: 0,
      superseded: 0,
      remaining: 7,
    })
    expect(await client.redrivePending()).toEqual({ ...ZERO, delivered: 7 })
    for (let i = 0; i < 12; i++) expect(partner.forBooking(`sq-many-${i}`)).toHaveLength(1)
  })
})

describe('the long schedule and dead-lettering', () => {
  it('each failure moves nextAttemptAt by the next step; the last step repeats; nothing is sent early', async () => {
    const client = clientOn({ maxAttempts: 1, outboxSchedule: '100ms,250ms,400ms' })
    partner.plan('sq-schedule', 503)
    const { outbox } = await client.sync(booking('sq-schedule'))
    const entries = [await client.outbox.show(outbox.id)]
    for (let i = 0; i < 3; i++) {
      expect(await redriveWhenDue(client)).toEqual({ ...ZERO, failed: 1 })
      entries.push(await client.outbox.show(outbox.id))
    }
    expect(entries.map(stepOf)).toEqual([100, 250, 400, 400])
    expect(entries.map((e) => [e.state, e.attempts])).toEqual([
      ['pending', 1],
      ['pending', 2],
      ['pending', 3],
      ['pending', 4],
    ])
    const sent = partner.forBooking('sq-schedule')
    for (let i = 1; i < sent.length; i++) {
      // Wall clock (the entry) against the partner's clock: allow a few ms of skew.
      expect(sent[i].startedAt).toBeGreaterThanOrEqual(Date.parse(entries[i - 1].nextAttemptAt) - 5)
    }
  })

  it('the history keeps the last 20 attempts after many failures', async () => {
    const client = clientOn({ maxAttempts: 30, backoffBaseMs: 1, backoffMaxMs: 2 })
    partner.plan('sq-history', 503)
    const result = await client.sync(booking('sq-history'))
    expect(result.attempts).toBe(30)
    let entry = await client.outbox.show(result.outbox.id)
    expect(entry.attempts).toBe(30)
    expect(entry.history).toHaveLength(20)
    expect(entry.history.every((a) => a.status === 503 && a.errorKind === 'http')).toBe(true)
    await redriveWhenDue(client)
    entry = await client.outbox.show(result.outbox.id)
    expect(entry.attempts).toBe(31)
    expect(entry.history).toHaveLength(20)
    const times = entry.history.map((a) => Date.parse(a.at))
    expect(times).toEqual([...times].sort((a, b) => a - b))
    expect(entry.history.at(-1).status).toBe(503)
  })

  it('a 400 goes dead at once and stays out of redrive', async () => {
    await rejectedGoesDead({ partner, client: clientOn(), id: 'sq-400' })
  })

  it.each([
    [400, 'dead', 'bad_request', 1],
    [422, 'dead', 'http', 1],
    [404, 'pending', 'not_found', 1],
    // The real partner also answers 401 when its own secret is missing (a deploy): not retried in
    // the request, but a few times on the schedule, so a partner-side fix heals by itself.
    [401, 'pending', 'unauthorized', 1],
    [500, 'pending', 'http', 3],
    [503, 'pending', 'http', 3],
  ])('HTTP %i leaves the entry %s (%s, %i in-request attempts)', async (status, state, kind, attempts) => {
    const id = `sq-status-${status}`
    const client = clientOn()
    partner.plan(id, status)
    const result = await client.sync(booking(id))
    expect(result.attempts).toBe(attempts)
    expect(result.outbox.state).toBe(state)
    const entry = await client.outbox.show(result.outbox.id)
    expect(entry).toMatchObject({
      state,
      attempts,
      lastStatus: status,
      lastError: { kind, message: expect.stringContaining(`HTTP ${status}`) },
    })
    expect(entry.lastError.message.includes('; dead: ')).toBe(state === 'dead')
    expect(entry.nextAttemptAt === undefined).toBe(state === 'dead')
  })

  it('a network failure leaves the entry pending', async () => {
    const client = clientOn({ url: await refusedUrl() })
    const result = await client.sync(booking('sq-network'))
    expect(result.error.kind).toBe('network')
    expect(result.outbox.state).toBe('pending')
    const entry = await client.outbox.show(result.outbox.id)
    expect(entry).toMatchObject({
      state: 'pending',
      attempts: 3,
      lastError: { kind: 'network', message: expect.stringContaining('connection refused') },
    })
    expect(entry.lastStatus).toBeUndefined()
    expect(entry.history.map((a) => [a.status, a.errorKind])).toEqual(Array(3).fill([undefined, 'network']))
  })

  it('a 404 is pending three times, then dead; a manual retry restarts the schedule and the 404 count', async () => {
    const client = clientOn({ outboxSchedule: '100ms,300ms' })
    partner.plan('sq-404', 404)
    const result = await client.sync(booking('sq-404'))
    const states = [result.outbox.state]
    for (let i = 0; i < 3; i++) {
      const run = await redriveWhenDue(client)
      states.push(run.dead === 1 ? 'dead' : run.failed === 1 ? 'pending' : JSON.stringify(run))
    }
    expect(states).toEqual(['pending', 'pending', 'pending', 'dead'])
    await staysDead({
      partner,
      client,
      entry: result.outbox.id,
      attempts: 4,
      lastStatus: 404,
      lastError: { kind: 'not_found', message: '404 or 401 4 times' },
    })

    expect(await client.outbox.retry(result.outbox.id)).toBe(true)
    expect(await client.redrivePending()).toEqual({ ...ZERO, failed: 1 })
    const retried = await client.outbox.show(result.outbox.id)
    expect(retried).toMatchObject({ state: 'pending', attempts: 5 })
    expect(stepOf(retried)).toBe(100)
  })

  it('an entry still undelivered at the max age goes dead, with one last attempt at that age', async () => {
    const client = clientOn({ maxAttempts: 1, outboxMaxAge: '450ms' })
    partner.plan('sq-max-age', 503)
    const result = await client.sync(booking('sq-max-age'))
    await waitFor('the entry to go dead', async () => (await redriveWhenDue(client)).dead === 1, { timeoutMs: 5_000 })
    const entry = await client.outbox.show(result.outbox.id)
    expect(entry.state).toBe('dead')
    expect(entry.lastError.message).toMatch(/still undelivered after 450 ms \(PARTNER_SYNC_OUTBOX_MAX_AGE\)/)
    expect(Date.parse(entry.history.at(-1).at)).toBeGreaterThanOrEqual(Date.parse(entry.createdAt) + 450)
    // 100 ms steps within 450 ms: the first attempt, up to four redrives, the one at the max age.
    expect(entry.attempts).toBeGreaterThanOrEqual(3)
    expect(entry.attempts).toBeLessThanOrEqual(6)
    expect(await client.redrivePending()).toEqual(ZERO)
  })
})

describe('repair', () => {
  it('retry(id) on a dead entry: the next redrive delivers it with the stored bytes', async () => {
    const client = clientOn()
    const { result } = await rejectedGoesDead({ partner, client, id: 'sq-retry' })
    partner.plan('sq-retry', 200)
    expect(await client.outbox.retry(result.outbox.id)).toBe(true)
    expect(await client.redrivePending()).toEqual({ ...ZERO, delivered: 1 })
    const [first, again] = partner.forBooking('sq-retry')
    expect(again.raw.equals(first.raw)).toBe(true)
    expect(again.signature).toBe(first.signature)
    expect(await client.outbox.show(result.outbox.id)).toMatchObject({
      state: 'delivered',
      attempts: 2,
      lastStatus: 200,
    })
    expect((await client.outbox.show(result.outbox.id)).lastError).toBeUndefined()
    // Delivered entries and unknown ids are not retried.
    expect(await client.outbox.retry(result.outbox.id)).toBe(false)
    expect(await client.outbox.retry('no-such-entry')).toBe(false)
    expect(await client.redrivePending()).toEqual(ZERO)
  })

  it('purge({ olderThan: "0s" }) deletes delivered entries only', async () => {
    const client = clientOn({ maxAttempts: 1 })
    partner.plan('sq-purge-pending', 503)
    partner.plan('sq-purge-dead', 422)
    const ids = {}
    for (const name of ['delivered-1', 'delivered-2', 'pending', 'dead'])
      ids[name] = (await client.sync(booking(`sq-purge-${name}`))).outbox.id
    expect(await client.outbox.purge({ olderThan: '1h' })).toBe(0)
    const synced = Date.now()
    await waitFor('a clock tick past the deliveries', () => Date.now() > synced + 1)
    expect(await client.outbox.purge({ olderThan: '0s' })).toBe(2)
    expect((await client.outbox.list()).map((e) => [e.id, e.state]).sort()).toEqual(
      [
        [ids.pending, 'pending'],
        [ids.dead, 'dead'],
      ].sort(),
    )
    expect(await client.outbox.show(ids['delivered-1'])).toBeNull()
    expect(await client.outbox.purge({ olderThan: '0s' })).toBe(0)
    await expect(client.outbox.purge({ olderThan: 'a while' })).rejects.toThrow(/not a duration/)
  })
})

describe('retention', () => {
  it('a redrive deletes delivered and superseded entries past the retention, never pending or dead ones', async () => {
    const file = store.file('retention.db')
    const keep = clientOn({ outboxRetention: '0' }, file)
    partner.plan('sq-ret-dead', 400)
    partner.plan('sq-ret-pending', 503)
    const delivered = await keep.sync(booking('sq-ret-delivered'))
    const dead = await keep.sync(booking('sq-ret-dead'))
    const pending = await keep.sync(booking('sq-ret-pending'))
    expect([delivered.outbox.state, dead.outbox.state, pending.outbox.state]).toEqual(['delivered', 'dead', 'pending'])
    await keep.redrivePending()
    expect(await keep.outbox.show(delivered.outbox.id)).not.toBeNull() // 0 keeps everything

    const log = recordingLogger()
    const trim = clientOn({ outboxRetention: '1ms', outboxSchedule: '1h', logger: log }, file)
    await new Promise((resolve) => setTimeout(resolve, 5))
    await trim.redrivePending()
    expect(await trim.outbox.show(delivered.outbox.id)).toBeNull()
    expect(await trim.outbox.show(dead.outbox.id)).toMatchObject({ state: 'dead' })
    expect(await trim.outbox.show(pending.outbox.id)).toMatchObject({ state: 'pending' })
    expect(log.lines.join('\n')).toMatch(/Retention: deleted 1 delivered or superseded outbox entry/)
  })

  it(
    'a large backlog is trimmed in bounded batches, a few thousand per redrive, while due entries are still delivered',
    { timeout: 180_000 },
    async () => {
      const file = store.file('retention-bulk.db')
      // Generous bounds: on a loaded machine a filler sync must not run out of time and stay pending.
      const filler = clientOn({ outboxRetention: '0', attemptTimeoutMs: 20_000, deadlineMs: 30_000 }, file)
      const ids = Array.from({ length: 2600 }, (_, i) => `sq-bulk-${i}`)
      for (let i = 0; i < ids.length; i += 200)
        await Promise.all(ids.slice(i, i + 200).map((id) => filler.sync(booking(id))))
      partner.plan('sq-bulk-due', 503, 503, 503, 200)
      const due = await filler.sync(booking('sq-bulk-due'))
      expect(due.outbox.state).toBe('pending')
      await new Promise((resolve) => setTimeout(resolve, 120))
      const trim = clientOn({ outboxRetention: '1ms' }, file)
      expect(await trim.redrivePending()).toMatchObject({ delivered: 1 })
      // 500 per statement, at most four statements per run: 2,000 gone, the rest left for the next run.
      expect(await trim.outbox.list({ state: 'delivered', limit: 5000 })).toHaveLength(2601 - 2000)
      await trim.redrivePending()
      expect(await trim.outbox.list({ state: 'delivered', limit: 5000 })).toHaveLength(0)
    },
  )
})

describe('configuration trouble', () => {
  it("each client's schedule applies, even on an outbox another client opened first", async () => {
    const file = store.file('two-schedules.db')
    const slow = clientOn({ url: await refusedUrl(), maxAttempts: 1, outboxSchedule: '1h' }, file)
    const quick = clientOn({ url: await refusedUrl(), maxAttempts: 1, outboxSchedule: '100ms' }, file)
    const first = await slow.sync(booking('sq-sched-slow'))
    const second = await quick.sync(booking('sq-sched-quick'))
    expect(Date.parse(first.outbox.nextAttemptAt) - Date.now()).toBeGreaterThan(50 * 60_000)
    expect(Date.parse(second.outbox.nextAttemptAt) - Date.now()).toBeLessThan(60_000)
  })

  it('an aborted sync stays pending in the outbox and is redriven', async () => {
    const client = clientOn()
    partner.plan('sq-aborted', 200)
    const result = await client.sync(booking('sq-aborted'), { signal: AbortSignal.abort() })
    expect(result).toMatchObject({ ok: false, error: { kind: 'aborted' }, outbox: { state: 'pending' } })
    expect(partner.forBooking('sq-aborted')).toHaveLength(0)
    expect(await redriveWhenDue(client)).toEqual({ ...ZERO, delivered: 1 })
  })

  it.each([
    ['sqlite:', /names no file/],
    ['sqlite:   ', /names no file/],
    ['sqlite::memory:', /not a file path/],
    ['sqlite:/tmp', /is a directory/],
  ])(
    '%j would lose entries: refused with one clear line, and the live delivery still happens',
    async (outbox, explains) => {
      await liveDeliveryDespiteOutbox({
        partner,
        id: `sq-degenerate-${files++}`,
        makeClient: (options) => clientOn({ outbox, ...options }),
        explains,
      })
    },
  )

  it('a table prefix over 40 characters is refused, not replaced: delivered live, no entry written anywhere', async () => {
    const file = store.file('long-prefix.db')
    const configured = clientOn({}, file)
    const kept = await configured.sync(booking('sq-prefix-before'))
    const long = `shop_${'x'.repeat(36)}`
    await liveDeliveryDespiteOutbox({
      partner,
      id: 'sq-prefix-long',
      makeClient: (options) => clientOn({ outboxTablePrefix: long, ...options }, file),
      explains:
        /PARTNER_SYNC_OUTBOX_TABLE_PREFIX \/ outboxTablePrefix = "shop_x+" is 41 characters long: at most 40 fit: the outbox is not used with it, .*or unset it for the default partner_sync_$/,
    })
    // The default tables, which the fallback used to fill, hold only the entry written before.
    expect((await configured.outbox.list()).map((entry) => entry.id)).toEqual([kept.outbox.id])
  })

  it('without an outbox: redrive resolves with zero counts and a message, and never throws', async () => {
    const client = createPartnerSync({ url: partner.url, secret: SECRET, outbox: false, logger: false })
    const summary = await client.redrivePending({ limit: 3 })
    expect(summary).toMatchObject(ZERO)
    expect(summary.message).toMatch(/No outbox is configured: set PARTNER_SYNC_OUTBOX to sqlite:<path> or postgres:/)
    await client.startOutboxWorker({ intervalMs: 10 }).stop()
    await expect(client.outbox.list()).rejects.toMatchObject({
      code: 'config',
      message: expect.stringMatching(/No outbox is configured/),
    })
    const result = await client.sync(booking('sq-no-outbox'))
    expect(result.ok).toBe(true)
    expect(result.outbox).toBeUndefined()
  })

  it('no secret: the sync is stored pending and nothing is sent; redrive waits for a secret', async () => {
    const file = store.file('no-secret.db')
    const client = clientOn({ secret: '' }, file)
    const result = await client.sync(booking('sq-no-secret'))
    expect(result.ok).toBe(false)
    expect(result.error).toMatchObject({
      kind: 'config',
      message: expect.stringContaining('PWA_WEBHOOK_SECRET is not set'),
    })
    expect(result.outbox.state).toBe('pending')
    expect(partner.forBooking('sq-no-secret')).toHaveLength(0)
    const stored = await client.outbox.show(result.outbox.id)
    expect(stored).toMatchObject({ state: 'pending', attempts: 0, body: result.body })
    expect(stored.history.map((a) => [a.status, a.errorKind])).toEqual([[undefined, 'config']])

    await waitFor('the entry to be due', () => Date.now() > Date.parse(stored.nextAttemptAt) + 5)
    const refused = await client.redrivePending()
    expect(refused).toMatchObject(ZERO)
    expect(refused.error).toMatch(/PWA_WEBHOOK_SECRET is not set/)
    expect(partner.forBooking('sq-no-secret')).toHaveLength(0)
    expect((await client.outbox.show(result.outbox.id)).state).toBe('pending')

    expect(await clientOn({}, file).redrivePending()).toEqual({ ...ZERO, delivered: 1 })
    const [sent] = partner.forBooking('sq-no-secret')
    expect(sent.verified).toBe(true)
    expect(sent.raw.toString('utf8')).toBe(result.body)
  })

  it('a path that cannot be opened: the live delivery still happens and the error says why', async () => {
    await liveDeliveryDespiteOutbox({
      partner,
      id: 'sq-bad-path',
      makeClient: (options) => clientOn(options, '/nonexistent/dir/x.db'),
      explains: /cannot open the SQLite outbox at "\/nonexistent\/dir\/x.db": unable to open database file/,
    })
  })

  it('a corrupted file is reported and left byte for byte as it was', async () => {
    const file = store.file('corrupted.db')
    const random = seededRandom(42)
    const garbage = Buffer.from(Array.from({ length: 16_384 }, () => Math.floor(random() * 256)))
    fs.writeFileSync(file, garbage)
    await liveDeliveryDespiteOutbox({
      partner,
      id: 'sq-corrupted',
      makeClient: (options) => clientOn(options, file),
      explains: /SQLite outbox at ".*corrupted\.db": file is not a database/,
    })
    expect(fs.readFileSync(file).equals(garbage)).toBe(true)
  })

  const foreignTables = {
    'an entries table it did not create': [
      { name: 'partner_sync_entries', sql: 'CREATE TABLE partner_sync_entries(x TEXT)' },
    ],
    'an empty schema version table': [
      { name: 'partner_sync_entries', sql: 'CREATE TABLE partner_sync_entries(x TEXT)' },
      { name: 'partner_sync_schema_version', sql: 'CREATE TABLE partner_sync_schema_version(version BIGINT)' },
    ],
  }
  const foreignMessages = {
    'an entries table it did not create':
      /the outbox table partner_sync_entries exists but has no partner_sync_schema_version table beside it.*it was left untouched/,
    'an empty schema version table':
      /the outbox table partner_sync_schema_version exists but is empty; it was left untouched/,
  }

  it.each(Object.keys(foreignTables))(
    'a foreign table (%s) is reported, the live delivery still happens, another prefix works',
    async (name) => {
      const file = store.file(`foreign-${Object.keys(foreignTables).indexOf(name)}.db`)
      fs.writeFileSync(
        file,
        sqliteDatabase([
          ...foreignTables[name],
          { name: 'orders', sql: 'CREATE TABLE orders(id INTEGER PRIMARY KEY, total INTEGER)' },
        ]),
      )
      const id = `sq-foreign-${Object.keys(foreignTables).indexOf(name)}`
      await liveDeliveryDespiteOutbox({
        partner,
        id,
        makeClient: (options) => clientOn(options, file),
        explains: foreignMessages[name],
      })
      // Still refused on the next call: nothing was created over the foreign table.
      expect((await clientOn({}, file).sync(booking(`${id}-again`))).outbox.error).toMatch(foreignMessages[name])
      // The message's advice works: a free prefix in the same file.
      const beside = clientOn({ outboxTablePrefix: 'shop_sync_' }, file)
      const result = await beside.sync(booking(`${id}-beside`))
      expect(result.outbox).toMatchObject({ state: 'delivered', id: expect.any(String) })
      expect((await beside.outbox.list()).map((e) => e.bookingId)).toEqual([`${id}-beside`])
    },
  )

  // Refusing a database must not change it: a foreign database in rollback-journal mode must not
  // be switched to WAL (a persistent change its owner did not ask for) before it is refused.
  it('a refused foreign database file is left byte for byte as it was', async () => {
    const file = store.file('foreign-bytes.db')
    const original = sqliteDatabase([
      ...foreignTables['an entries table it did not create'],
      { name: 'orders', sql: 'CREATE TABLE orders(id INTEGER PRIMARY KEY, total INTEGER)' },
    ])
    fs.writeFileSync(file, original)
    expect((await clientOn({}, file).sync(booking('sq-foreign-bytes'))).outbox.error).toMatch(/left untouched/)
    const now = fs.readFileSync(file)
    const changed = [...now.keys()].filter((i) => now[i] !== original[i])
    expect({ length: now.length, changedOffsets: changed }).toEqual({ length: original.length, changedOffsets: [] })
  })
})

describe('leases', () => {
  // A redrive claims only as many entries as it sends at once (16), each leased for
  // attemptTimeoutMs + 5 s, so no claimed entry waits for a slot past its lease; another redrive
  // at the same time (a second instance, an overlapping cron run) must still never send one twice.
  it('two redrives at once never send one entry twice, however many are due', { timeout: 25_000 }, async () => {
    const ENTRIES = 160 // ten rounds of 16
    const file = store.file('lease.db')
    const filler = clientOn({ url: await refusedUrl(), maxAttempts: 1 }, file)
    const ids = Array.from({ length: ENTRIES }, (_, i) => `sq-lease-${i}`)
    const results = await Promise.all(ids.map((id) => filler.sync(booking(id))))
    const due = Math.max(...results.map((r) => Date.parse(r.outbox.nextAttemptAt)))
    // Slow answers keep the first redrive's waves in flight while the second runs; the attempt
    // timeout is far above them, so a loaded machine cannot turn a slow answer into a failure.
    for (const id of ids) partner.plan(id, { status: 200, delayMs: 700 })
    await waitFor('the entries to be due', () => Date.now() > due + 5)

    const first = clientOn({ attemptTimeoutMs: 5000 }, file).redrivePending({ limit: ENTRIES })
    let firstDone = false
    first.finally(() => {
      firstDone = true
    })
    await waitFor('the first redrive to start sending', () => partner.forBooking(ids[0]).length > 0)
    const second = clientOn({ attemptTimeoutMs: 5000 }, file)
    const secondTotals = { delivered: 0, failed: 0 }
    while (!firstDone) {
      const run = await second.redrivePending()
      secondTotals.delivered += run.delivered
      secondTotals.failed += run.failed
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const firstTotals = await first
    // The first run stops after looking at as many entries as its limit, the ones the second took
    // included: what neither reached before the first ended is still due. Send it now.
    await waitFor('nothing left due', async () => {
      const run = await second.redrivePending()
      secondTotals.delivered += run.delivered
      secondTotals.failed += run.failed
      return run.remaining === 0 && run.delivered + run.failed === 0
    })

    const overlapping = ids.filter((id) => {
      const [a, b] = partner.forBooking(id)
      return b !== undefined && b.startedAt < a.endedAt
    })
    // The second redrive may take entries the first has not claimed yet; none may be sent twice.
    const sentTwice = ids.filter((id) => partner.forBooking(id).length !== 1)
    expect({ overlapping: overlapping.length, sentTwice, failed: firstTotals.failed + secondTotals.failed }).toEqual({
      overlapping: 0,
      sentTwice: [],
      failed: 0,
    })
    expect(firstTotals.delivered + secondTotals.delivered).toBe(ENTRIES)
    // Not `remaining` of the first run: what it left due was the second's, drained above.
    expect(firstTotals).toMatchObject({ dead: 0, superseded: 0 })
  })
})

describe('background worker', () => {
  it('startOutboxWorker delivers a pending entry in the background; stop() resolves and ends the runs', async () => {
    const client = clientOn()
    partner.plan('sq-worker', 503, 503, 503, 200)
    const result = await client.sync(booking('sq-worker'))
    expect(result.outbox.state).toBe('pending')
    const worker = client.startOutboxWorker({ intervalMs: 50 })
    await waitFor(
      'the worker to deliver the entry',
      async () => (await client.outbox.show(result.outbox.id)).state === 'delivered',
      { timeoutMs: 5_000 },
    )
    await worker.stop()
    expect(partner.forBooking('sq-worker')).toHaveLength(4)

    // Stopped: a new pending entry stays pending however long we look.
    partner.plan('sq-worker-after', 503, 503, 503, 200)
    const later = await client.sync(booking('sq-worker-after'))
    await new Promise((resolve) => setTimeout(resolve, 400))
    expect(partner.forBooking('sq-worker-after')).toHaveLength(3)
    expect((await client.outbox.show(later.outbox.id)).state).toBe('pending')
  })

  it('when more is due than one run takes, the worker goes on at once instead of waiting its interval', async () => {
    const file = store.file('worker-backlog.db')
    const filler = clientOn({ url: await refusedUrl(), maxAttempts: 1 }, file)
    const ids = Array.from({ length: 40 }, (_, i) => `sq-backlog-${i}`)
    const kept = await Promise.all(ids.map((id) => filler.sync(booking(id))))
    expect(kept.every((r) => r.outbox.state === 'pending')).toBe(true)
    const due = Math.max(...kept.map((r) => Date.parse(r.outbox.nextAttemptAt)))
    await waitFor('the entries to be due', () => Date.now() > due + 5)

    const client = clientOn({}, file)
    const worker = client.startOutboxWorker({ intervalMs: 60_000, limit: 10 })
    await waitFor('the backlog to drain', async () => (await client.outbox.list({ state: 'pending' })).length === 0, {
      timeoutMs: 5_000,
    })
    await worker.stop()
    expect(ids.filter((id) => partner.forBooking(id).length !== 1)).toEqual([])
  })

  it('a process running only the worker exits by itself', async () => {
    const started = Date.now()
    const { exited } = runChild(
      {
        task: 'worker',
        intervalMs: 50,
        options: {
          url: partner.url,
          secret: SECRET,
          outbox: `sqlite:${store.file('worker-child.db')}`,
          outboxSchedule: '100ms',
        },
      },
      { timeoutMs: 10_000 },
    )
    const { code, signal, lines, stderr } = await exited
    expect({ code, signal, lines, stderr }).toEqual({ code: 0, signal: null, lines: ['worker started'], stderr: '' })
    expect(Date.now() - started).toBeLessThan(10_000)
  })
})
