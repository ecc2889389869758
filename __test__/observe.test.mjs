// Alert hooks: createPartnerSync({ on: { delivered, failed, dead, superseded } }) is called exactly
// once per event, from live syncs and from redrives, against a real local partner and a real SQLite
// outbox; a hook that throws or never settles changes nothing in the result or its timing.

import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import {
  ONE_ATTEMPT,
  SECRET,
  createPartnerSync,
  payment,
  recordingLogger,
  redriveWhenDue,
  waitFor,
} from './helpers/outbox-harness.mjs'
import { partnerAndStore } from './helpers/outbox-scenarios.mjs'

/** Hooks that record every call: [name, payload]. */
function recordingHooks() {
  const calls = []
  const on = {}
  for (const name of ['delivered', 'failed', 'dead', 'superseded']) on[name] = (event) => calls.push([name, event])
  return { calls, on }
}

const { partner, store } = await partnerAndStore('observe')
let tables = 0

const withOutbox = (options) =>
  createPartnerSync({
    ...ONE_ATTEMPT,
    url: partner.url,
    outbox: `sqlite:${store.file('observe.db')}`,
    outboxTablePrefix: `obs_${process.pid}_${tables++}_`,
    ...options,
  })

describe('hooks', () => {
  it('each hook is called exactly once per event, across live syncs and redrives', async () => {
    const { calls, on } = recordingHooks()
    const client = withOutbox({ on })
    const run = `${process.pid}-${Date.now().toString(36)}`
    const ok = `hook-ok-${run}`
    const later = `hook-later-${run}`
    const dead = `hook-dead-${run}`
    const older = `hook-older-${run}`
    partner.plan(ok, 200)
    partner.plan(later, 503, 200) // failed live, delivered by the redrive
    partner.plan(dead, 503, 400) // failed live, dead in the redrive
    partner.plan(older, 503, 200) // DP fails live, LUNAS is accepted live: DP is superseded

    const okResult = await client.sync(payment(ok, 'LUNAS', 32000))
    const laterResult = await client.sync(payment(later, 'LUNAS', 32000))
    const deadResult = await client.sync(payment(dead, 'LUNAS', 32000))
    const dp = await client.sync(payment(older, 'DP', 16000))
    const lunas = await client.sync(payment(older, 'LUNAS', 32000, 'booking.updated'))
    expect([okResult.ok, laterResult.ok, deadResult.ok, dp.ok, lunas.ok]).toEqual([true, false, false, false, true])
    expect(lunas.outbox.supersededOlder).toEqual([dp.outbox.id])

    // Both entries due before the one redrive that must handle them together.
    const due = Math.max(Date.parse(laterResult.outbox.nextAttemptAt), Date.parse(deadResult.outbox.nextAttemptAt))
    await waitFor('both entries to be due', () => Date.now() > due + 5)
    const counts = await client.redrivePending()
    expect(counts).toMatchObject({ delivered: 1, dead: 1 })
    await sleep(50) // nothing more may come
    const seen = calls.map(([name, e]) => `${name} ${e.bookingId} ${e.entryId}`).sort()
    expect(seen).toEqual(
      [
        `delivered ${ok} ${okResult.outbox.id}`,
        `failed ${later} ${laterResult.outbox.id}`,
        `delivered ${later} ${laterResult.outbox.id}`,
        `failed ${dead} ${deadResult.outbox.id}`,
        `dead ${dead} ${deadResult.outbox.id}`,
        `failed ${older} ${dp.outbox.id}`,
        `delivered ${older} ${lunas.outbox.id}`,
        `superseded ${older} ${dp.outbox.id}`,
      ].sort(),
    )
    const find = (name, id) => calls.find(([n, e]) => n === name && e.bookingId === id)[1]
    expect(find('delivered', ok)).toEqual({
      bookingId: ok,
      entryId: okResult.outbox.id,
      attempts: 1,
      status: 200,
      errorKind: undefined,
      message: undefined,
    })
    expect(find('failed', later)).toMatchObject({ attempts: 1, status: 503, errorKind: 'http' })
    expect(find('delivered', later)).toMatchObject({ attempts: 2, status: 200 })
    expect(find('dead', dead)).toMatchObject({ attempts: 2, status: 400, errorKind: 'bad_request' })
    expect(find('dead', dead).message).toMatch(/400/)
    expect(find('superseded', older)).toMatchObject({ errorKind: 'superseded' })
    expect(JSON.stringify(calls)).not.toContain(SECRET)
    expect(calls.every(([, e]) => Object.isFrozen(e))).toBe(true)
  })

  it('a redrive that supersedes pending entries without sending them calls superseded for each', async () => {
    const { calls, on } = recordingHooks()
    const client = withOutbox({ on })
    const id = `hook-both-${process.pid}-${Date.now().toString(36)}`
    partner.plan(id, 503, 503, 200)
    const dp = await client.sync(payment(id, 'DP', 16000))
    const lunas = await client.sync(payment(id, 'LUNAS', 32000, 'booking.updated'))
    expect([dp.outbox.state, lunas.outbox.state]).toEqual(['pending', 'pending'])
    const counts = await redriveWhenDue(client)
    expect(counts).toMatchObject({ delivered: 1, superseded: 1 })
    await sleep(50)
    expect(calls.map(([name, e]) => `${name} ${e.entryId}`).sort()).toEqual(
      [
        `failed ${dp.outbox.id}`,
        `failed ${lunas.outbox.id}`,
        `delivered ${lunas.outbox.id}`,
        `superseded ${dp.outbox.id}`,
      ].sort(),
    )
  })

  it('the outbox worker calls the hooks too', async () => {
    const { calls, on } = recordingHooks()
    const client = withOutbox({ on })
    const id = `hook-worker-${process.pid}-${Date.now().toString(36)}`
    partner.plan(id, 503, 200)
    const first = await client.sync(payment(id, 'LUNAS', 32000))
    expect(first.outbox.state).toBe('pending')
    const worker = client.startOutboxWorker({ intervalMs: 20 })
    try {
      await waitFor('the worker to deliver', () => calls.some(([name]) => name === 'delivered'))
    } finally {
      await worker.stop()
    }
    await sleep(50)
    expect(calls.map(([name, e]) => `${name} ${e.entryId} ${e.attempts}`)).toEqual([
      `failed ${first.outbox.id} 1`,
      `delivered ${first.outbox.id} 2`,
    ])
  })

  it('without an outbox: failed for a failed sync, superseded for a sync a newer one replaced', async () => {
    const { calls, on } = recordingHooks()
    const client = createPartnerSync({
      url: partner.url,
      secret: SECRET,
      maxAttempts: 3,
      backoffBaseMs: 5,
      backoffMaxMs: 10,
      deadlineMs: 5000,
      logger: false,
      on,
    })
    const run = `${process.pid}-${Date.now().toString(36)}`
    const down = `hook-down-${run}`
    partner.plan(down, 500)
    const failed = await client.sync(payment(down, 'LUNAS', 32000))
    expect(failed).toMatchObject({ ok: false, attempts: 3, status: 500 })

    const id = `hook-newer-${run}`
    partner.plan(id, { status: 503, headers: { 'retry-after': '1' } }, 200)
    const dpPromise = client.sync(payment(id, 'DP', 16000))
    await waitFor('the DP attempt', () => partner.forBooking(id).length === 1 && partner.forBooking(id)[0].status)
    const lunas = await client.sync(payment(id, 'LUNAS', 32000, 'booking.updated'))
    const dp = await dpPromise
    expect(lunas.ok).toBe(true)
    expect(dp.error.kind).toBe('superseded')

    const invalid = await client.sync({ booking_id: `hook-invalid-${run}` })
    expect(invalid.error.kind).toBe('validation')
    await sleep(50)
    expect(calls.map(([name, e]) => `${name} ${e.bookingId} ${e.attempts}`).sort()).toEqual(
      [`failed ${down} 3`, `superseded ${id} 1`, `delivered ${id} 1`, `failed hook-invalid-${run} 0`].sort(),
    )
    expect(calls.every(([, e]) => e.entryId === undefined)).toBe(true)
  })

  it('a throwing hook and a hanging hook change nothing in the result or its timing; each failure is logged once', async () => {
    const logger = recordingLogger()
    const hang = () => new Promise(() => {})
    const thrower = () => {
      throw new Error('hook exploded')
    }
    const clientWith = (options) =>
      createPartnerSync({
        url: partner.url,
        secret: SECRET,
        maxAttempts: 2,
        backoffBaseMs: 5,
        backoffMaxMs: 10,
        ...options,
      })
    const plain = clientWith({ logger: false })
    const throwing = clientWith({ logger, on: { delivered: thrower, failed: thrower } })
    const hanging = clientWith({
      logger,
      on: { delivered: hang, failed: async () => Promise.reject(new Error('rejected too')) },
    })
    const run = `${process.pid}-${Date.now().toString(36)}`
    const shape = (r) => ({
      ok: r.ok,
      status: r.status,
      attempts: r.attempts,
      errorKind: r.error && r.error.kind,
      outbox: r.outbox,
    })
    for (const [label, client] of [
      ['throwing', throwing],
      ['hanging', hanging],
    ]) {
      const okId = `hook-${label}-ok-${run}`
      const badId = `hook-${label}-bad-${run}`
      const baseOk = `hook-${label}-plain-ok-${run}`
      const baseBad = `hook-${label}-plain-bad-${run}`
      partner.plan(badId, 503)
      partner.plan(baseBad, 503)
      const started = performance.now()
      const ok = await client.sync(payment(okId, 'LUNAS', 32000))
      const bad = await client.sync(payment(badId, 'LUNAS', 32000))
      const took = performance.now() - started
      // The hanging hook's 1 s bound is never waited for.
      expect(took).toBeLessThan(800)
      expect(shape(ok)).toEqual(shape(await plain.sync(payment(baseOk, 'LUNAS', 32000))))
      expect(ok.ok).toBe(true)
      expect(shape(bad)).toEqual(shape(await plain.sync(payment(baseBad, 'LUNAS', 32000))))
      expect(bad).toMatchObject({ ok: false, status: 503, attempts: 2 })
    }
    expect(logger.lines.filter((l) => l.includes("hook 'delivered' failed: hook exploded"))).toHaveLength(1)
    expect(logger.lines.filter((l) => l.includes("hook 'failed' failed: hook exploded"))).toHaveLength(1)
    expect(logger.lines.filter((l) => l.includes("hook 'failed' failed: rejected too"))).toHaveLength(1)
    await waitFor(
      'the hanging hook to be reported',
      () => logger.lines.some((l) => l.includes("hook 'delivered' failed: did not settle within 1000 ms")),
      { timeoutMs: 3000 },
    )
    expect(logger.lines.filter((l) => l.includes("hook 'delivered' failed: did not settle"))).toHaveLength(1)
    const hookLines = logger.lines.filter((l) => l.includes(" hook '"))
    expect(hookLines).toHaveLength(4)
    expect(hookLines.every((l) => l.startsWith("error: [Partner Sync] hook '") && !l.includes('\n'))).toBe(true)
  })

  it('syncBookingToPartner never throws even when a hook does (its hooks come only from createPartnerSync)', async () => {
    const client = createPartnerSync({
      url: partner.url,
      secret: SECRET,
      logger: false,
      on: { delivered: 'not a function' },
    })
    expect((await client.sync(payment(`hook-nofn-${process.pid}`, 'LUNAS', 1))).ok).toBe(true)
  })
})
