// Per booking, the partner ends with the newest body it was given, and never processes two of
// our requests of one booking at once: with and without an outbox, SQLite and PostgreSQL, in one
// process and across worker processes. The partner here behaves like the real one where it
// matters: it *sets* the booking's state from every body it accepts, and records revenue with a
// check-then-insert that is not atomic, so overlapping requests count a payment twice.

import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  ONE_ATTEMPT,
  POSTGRES_TARGETS,
  SECRET,
  createPartnerSync,
  payment,
  redriveWhenDue,
  refusedUrl,
  seededRandom,
  startPartner,
  tempDir,
  waitFor,
} from './helpers/outbox-harness.mjs'
import { inChildren } from './helpers/outbox-scenarios.mjs'
import { startReceiver } from './helpers/receiver.mjs'

const nowMs = () => performance.timeOrigin + performance.now()

const downPayment = (id) => payment(id, 'DP', 16000)
const paidInFull = (id) => payment(id, 'LUNAS', 32000, 'booking.updated')

/**
 * Makes the harness partner behave like smashpartner.online's handler. `script(record, index)`
 * may answer a status (>= 300: refuse before processing) for the index-th request of a booking;
 * otherwise the request is processed: `processMs`, then the state is set from the body, then the
 * check-then-insert of a transaction with `checkToInsertMs` between check and insert.
 */
function likeTheRealPartner(partner, { script = () => undefined, processMs = 0, checkToInsertMs = 0 } = {}) {
  const state = { accepted: new Map(), transactions: new Map(), seen: new Map() }
  partner.answer = async (record) => {
    const index = state.seen.get(record.bookingId) ?? 0
    state.seen.set(record.bookingId, index + 1)
    const body = JSON.parse(record.raw.toString('utf8'))
    record.body = body
    const scripted = script(record, index)
    if (scripted !== undefined) {
      record.processedAt = nowMs()
      return scripted
    }
    if (processMs) await sleep(typeof processMs === 'function' ? processMs(record, index) : processMs)
    state.accepted.set(body.booking_id, body)
    if (body.paid_amount > 0) {
      const exists = (state.transactions.get(body.booking_id) ?? 0) > 0
      if (checkToInsertMs) await sleep(checkToInsertMs)
      if (!exists) state.transactions.set(body.booking_id, (state.transactions.get(body.booking_id) ?? 0) + 1)
    }
    record.processedAt = nowMs()
    return 200
  }
  return state
}

/** Bookings whose requests the partner was processing at the same time. */
function overlapping(requests) {
  const byBooking = new Map()
  for (const request of requests)
    byBooking.set(request.bookingId, [...(byBooking.get(request.bookingId) ?? []), request])
  const found = []
  for (const [id, list] of byBooking) {
    const sorted = [...list].sort((a, b) => a.startedAt - b.startedAt)
    for (let i = 1; i < sorted.length; i++)
      if (sorted[i].startedAt < (sorted[i - 1].processedAt ?? Infinity)) found.push(id)
  }
  return found
}

const backends = [['SQLite', (store) => `sqlite:${store.file('ordering.db')}`]]
for (const [name, url] of POSTGRES_TARGETS) backends.push([name, () => url])

describe.each(backends)('with a %s outbox', (_name, location) => {
  let partner
  let store
  let prefixes = 0
  beforeAll(async () => {
    partner = await startPartner()
    store = tempDir('ordering')
  })
  afterAll(async () => {
    await partner.close()
    store.remove()
  })
  // Each test its own tables, so tests never meet.
  const clientFor = (options = {}) =>
    createPartnerSync({
      ...ONE_ATTEMPT,
      url: partner.url,
      outbox: location(store),
      outboxTablePrefix: `ord_${process.pid}_${Date.now().toString(36)}_${prefixes++}_`,
      ...options,
    })

  it('DP fails, LUNAS is accepted live, then a redrive: the partner keeps LUNAS and the DP entry is superseded', async () => {
    const id = `ord-dp-live-${prefixes}`
    const real = likeTheRealPartner(partner, { script: (record, index) => (index === 0 ? 503 : undefined) })
    const client = clientFor()
    const dp = await client.sync(downPayment(id))
    expect(dp).toMatchObject({ ok: false, status: 503, outbox: { state: 'pending' } })
    const lunas = await client.sync(paidInFull(id))
    expect(lunas).toMatchObject({ ok: true, outbox: { state: 'delivered' } })

    await sleep(100) // the DP entry's next attempt is due by now
    expect(await client.redrivePending()).toMatchObject({ delivered: 0, failed: 0, remaining: 0 })
    expect(real.accepted.get(id)).toMatchObject({ status: 'LUNAS', paid_amount: 32000 })
    expect(partner.forBooking(id).map((r) => r.body.status)).toEqual(['DP', 'LUNAS'])
    const stored = await client.outbox.show(dp.outbox.id)
    expect(stored).toMatchObject({ state: 'superseded', supersededBy: lunas.outbox.id })
    expect((await client.outbox.list({ state: 'superseded' })).map((e) => e.id)).toEqual([dp.outbox.id])
    // A manual retry must not put the down payment back either.
    await expect(client.outbox.retry(dp.outbox.id)).rejects.toThrow(
      /older than entry .*which superseded it.*put an older state back/,
    )
  })

  it('DP and LUNAS both pending, then a redrive: the partner ends with LUNAS, DP is never sent after it', async () => {
    const id = `ord-both-${prefixes}`
    let down = true
    const real = likeTheRealPartner(partner, { script: () => (down ? 503 : undefined) })
    const client = clientFor()
    const dp = await client.sync(downPayment(id))
    const lunas = await client.sync(paidInFull(id))
    expect([dp.outbox.state, lunas.outbox.state]).toEqual(['pending', 'pending'])
    down = false
    const counts = await redriveWhenDue(client)
    expect(counts).toMatchObject({ delivered: 1, superseded: 1, remaining: 0 })
    expect(real.accepted.get(id).status).toBe('LUNAS')
    const statuses = partner.forBooking(id).map((r) => r.body.status)
    expect(statuses.slice(statuses.lastIndexOf('LUNAS') + 1)).toEqual([])
    expect((await client.outbox.show(dp.outbox.id)).state).toBe('superseded')
  })

  it('a partner slower than the attempt timeout: one request at a time, delivered by the outbox after the quiet period, one transaction', async () => {
    const id = `ord-slow-${prefixes}`
    const real = likeTheRealPartner(partner, {
      processMs: (_record, index) => (index === 0 ? 600 : 5),
      checkToInsertMs: 50,
    })
    // The quiet period outlasts the request's deadline: the outbox takes over.
    const client = clientFor({ attemptTimeoutMs: 150, maxAttempts: 3, deadlineMs: 1000, quietPeriod: '1200ms' })
    const started = Date.now()
    const result = await client.sync(payment(id, 'LUNAS', 32000))
    expect(result).toMatchObject({ ok: false, attempts: 1, error: { kind: 'timeout' }, outbox: { state: 'pending' } })
    expect(Date.parse(result.outbox.nextAttemptAt)).toBeGreaterThanOrEqual(started + 1200)
    // Nothing is due while the partner may still be processing the first request.
    expect(await client.redrivePending()).toMatchObject({ delivered: 0, failed: 0 })
    await redriveWhenDue(client)
    expect(partner.forBooking(id)).toHaveLength(2)
    expect(overlapping(partner.forBooking(id))).toEqual([])
    expect(real.transactions.get(id)).toBe(1)
  })

  it('two syncs of one booking at once in one process: never both on the wire, the newer one last', async () => {
    const id = `ord-race-${prefixes}`
    const real = likeTheRealPartner(partner, { processMs: 100, checkToInsertMs: 20 })
    const client = clientFor({ maxAttempts: 3 })
    const [dp, lunas] = await Promise.all([client.sync(downPayment(id)), client.sync(paidInFull(id))])
    expect(lunas).toMatchObject({ ok: true, outbox: { state: 'delivered' } })
    expect(overlapping(partner.forBooking(id))).toEqual([])
    expect(real.accepted.get(id).status).toBe('LUNAS')
    expect(real.transactions.get(id)).toBe(1)
    // The DP sync either got through before LUNAS started, or was superseded without being sent.
    if (!dp.ok) expect(dp).toMatchObject({ error: { kind: 'superseded' }, outbox: { state: 'superseded' } })
  })
})

describe.each(POSTGRES_TARGETS)('two worker processes on one outbox through %s', (_name, PG, tag) => {
  let partner
  beforeAll(async () => {
    partner = await startPartner()
  })
  afterAll(() => partner.close())

  it(
    '200 bookings × 3 versions pending, redriven by two processes at once: each booking ends with its newest body, never two at once',
    { timeout: 90_000 },
    async () => {
      const BOOKINGS = 200
      const VERSIONS = ['DP', 'DP2', 'LUNAS']
      const settings = {
        url: partner.url,
        secret: SECRET,
        outbox: PG,
        outboxTablePrefix: `ord_workers_${tag}_${process.pid}_${Date.now().toString(36)}_`,
        outboxSchedule: '50ms',
        outboxMaxAge: '1h',
        maxAttempts: 1,
        attemptTimeoutMs: 2000,
        quietPeriod: '200ms',
      }
      const filler = createPartnerSync({ ...settings, url: await refusedUrl(), logger: false })
      const ids = Array.from({ length: BOOKINGS }, (_, i) => `ord-workers-${i}`)
      for (let batch = 0; batch < BOOKINGS; batch += 50) {
        await Promise.all(
          ids.slice(batch, batch + 50).map(async (id) => {
            for (const [n, status] of VERSIONS.entries()) {
              const result = await filler.sync(payment(id, status, 10000 * (n + 1)))
              expect(result.outbox.state).toBe('pending')
            }
          }),
        )
      }
      const random = seededRandom(5)
      const real = likeTheRealPartner(partner, {
        script: () => (random() < 0.2 ? 503 : undefined),
        processMs: () => 1 + Math.floor(random() * 4),
        checkToInsertMs: 2,
      })
      const worker = { task: 'drain', options: settings, limit: 40, timeoutMs: 60_000 }
      const { totals } = await inChildren([worker, worker], { timeoutMs: 70_000 })
      console.log(
        `ordering workers: ${totals.map((t) => `${t.delivered} delivered, ${t.superseded} superseded, ${t.failed} failed in ${t.runs} runs`).join(' / ')}`,
      )

      const sent = partner.requests.filter((r) => r.bookingId?.startsWith('ord-workers-'))
      expect(overlapping(sent)).toEqual([])
      const wrong = ids.filter((id) => real.accepted.get(id)?.status !== 'LUNAS')
      expect(wrong).toEqual([])
      expect(ids.filter((id) => real.transactions.get(id) !== 1)).toEqual([])
      const inspect = createPartnerSync({ ...settings, logger: false })
      expect(await inspect.outbox.list({ state: 'delivered', limit: 1000 })).toHaveLength(BOOKINGS)
      expect(await inspect.outbox.list({ state: 'superseded', limit: 1000 })).toHaveLength(BOOKINGS * 2)
    },
  )
})

describe('without an outbox, in one process', () => {
  let receiver
  afterAll(() => receiver?.close())
  const options = (url) => ({
    url,
    secret: SECRET,
    maxAttempts: 4,
    backoffBaseMs: 10,
    backoffMaxMs: 40,
    attemptTimeoutMs: 1000,
    deadlineMs: 4000,
    logger: false,
  })

  it('DP gets 503 with Retry-After: 1; LUNAS is accepted during the wait: the partner keeps LUNAS, DP is superseded', async () => {
    const id = 'ord-retry-after'
    receiver = await startReceiver((_request, index) =>
      index === 0
        ? { status: 503, headers: { 'retry-after': '1' }, json: { error: 'Service Unavailable' } }
        : { status: 200 },
    )
    const client = createPartnerSync(options(receiver.url))
    const started = Date.now()
    const dpPending = client.sync(downPayment(id))
    await waitFor('the DP attempt', () => receiver.requests.length === 1)
    const lunas = await client.sync(paidInFull(id))
    const dp = await dpPending
    expect(lunas.ok).toBe(true)
    expect(dp).toMatchObject({ ok: false, attempts: 1, error: { kind: 'superseded' } })
    expect(dp.error.message).toMatch(/superseded by the sync with timestamp .* of booking ord-retry-after/)
    expect(Date.now() - started).toBeLessThan(900) // DP stopped waiting as soon as LUNAS started
    await sleep(1200) // past the Retry-After: nothing more arrives
    expect(receiver.requests.map((r) => JSON.parse(r.body).status)).toEqual(['DP', 'LUNAS'])
    await receiver.close()
    receiver = undefined
  })

  it('distinct bookings are independent: 20 at once against a slow partner overlap freely', async () => {
    const partner = await startPartner()
    let inFlight = 0
    let most = 0
    partner.answer = async () => {
      most = Math.max(most, ++inFlight)
      await sleep(200)
      inFlight--
      return 200
    }
    try {
      const client = createPartnerSync(options(partner.url))
      const started = Date.now()
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => client.sync(payment(`ord-distinct-${i}`, 'LUNAS', 1000))),
      )
      expect(results.every((r) => r.ok)).toBe(true)
      expect(most).toBeGreaterThanOrEqual(10)
      expect(Date.now() - started).toBeLessThan(2000)
    } finally {
      await partner.close()
    }
  })

  it('a slow partner: the timed-out request runs alone there; the call says the partner may have processed it', async () => {
    const id = 'ord-slow-live'
    const processing = []
    receiver = await startReceiver(() => {
      const at = Date.now()
      processing.push({ start: at, end: at + 500 })
      return { status: 200, delayMs: 500 }
    })
    const client = createPartnerSync({
      ...options(receiver.url),
      attemptTimeoutMs: 150,
      deadlineMs: 600,
      quietPeriod: '700ms',
    })
    const first = await client.sync(paidInFull(id))
    expect(first).toMatchObject({ ok: false, attempts: 1, error: { kind: 'timeout' } })
    expect(first.error.message).toMatch(/may have received it and may still be processing it/)
    const during = await client.sync(paidInFull(id))
    expect(during).toMatchObject({ ok: false, attempts: 0, error: { kind: 'deadline' } })
    expect(receiver.requests).toHaveLength(1)
    await sleep(750)
    const after = await createPartnerSync({ ...options(receiver.url), quietPeriod: '700ms' }).sync(paidInFull(id))
    expect(after.ok).toBe(true)
    expect(processing[1].start).toBeGreaterThanOrEqual(processing[0].end)
  })
})
