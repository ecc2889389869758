// A process doing syncs through a flaky partner is killed with SIGKILL in the middle of a
// delivery; a fresh process with the same SQLite outbox redrives until nothing is pending.

import { expect, it } from 'vitest'
import { createPartnerSync, outboxSettings, runChild, seededRandom } from './helpers/outbox-harness.mjs'
import { inChildren, partnerAndStore } from './helpers/outbox-scenarios.mjs'

const { partner, store } = await partnerAndStore('outbox-crash')

const SYNCS = 200
const DEADLINE_MS = 500
const LEASE_MARGIN_MS = 5_000
// A lease that ran out is taken over only after the quiet period: its holder may have died
// with a request on the wire.
const QUIET_MS = 1_000
const options = () =>
  outboxSettings(partner, `sqlite:${store.file(`crash-${++runs}.db`)}`, {
    attemptTimeoutMs: 400,
    deadlineMs: DEADLINE_MS,
    quietPeriod: `${QUIET_MS}ms`,
  })
let runs = 0
const numberIn = (line) => Number(line.split(' ')[1])

/**
 * Runs 200 syncs (bookings crash-0..199) in a child through a partner failing 30% of requests
 * (fixed seed), SIGKILLs it when `killWhen({ line, record })` says so (a stdout line of the
 * child, or a request the partner got), then redrives from a second process until nothing is
 * pending, and checks that nothing was lost. Returns what the test may check further.
 */
async function crashAndRecover(killWhen) {
  const settings = options()
  partner.requests.length = 0
  const random = seededRandom(7)
  let victim
  partner.answer = (record) => {
    if (killWhen({ record })) {
      victim.kill('SIGKILL')
      return 'hang'
    }
    return random() < 0.3 ? 503 : 200
  }
  const first = runChild(
    { task: 'syncs', options: settings, bookingPrefix: 'crash-', count: SYNCS },
    { timeoutMs: 20_000, onLine: (line, child) => killWhen({ line }) && child.kill('SIGKILL') },
  )
  victim = first.child
  const killed = await first.exited
  expect(killed.signal).toBe('SIGKILL')
  const begun = killed.lines.filter((l) => l.startsWith('begin ')).map(numberIn)
  const ended = new Map(
    killed.lines.filter((l) => l.startsWith('end ')).map((l) => [numberIn(l), l.split(' ').slice(2).join(' ')]),
  )
  expect(begun).toEqual(Array.from({ length: begun.length }, (_, i) => i))
  expect(begun.length).toBeLessThan(SYNCS)
  expect([...ended.keys()]).toEqual(begun.slice(0, -1))
  // Each finished sync was either delivered in the request or left pending in the outbox.
  for (const outcome of ended.values()) expect(['ok delivered', 'failed pending']).toContain(outcome)
  const inFlightId = `crash-${begun.at(-1)}`

  const inspect = createPartnerSync({ ...settings, logger: false })
  const waiting = await inspect.outbox.list({ state: 'pending', limit: 1000 })
  const second = { task: 'drain', options: settings, limit: 50, timeoutMs: 20_000 }
  const drained = await inChildren([second], { timeoutMs: 25_000 })
  const [totals] = drained.totals
  console.log(
    `crash test: killed after ${begun.length} begun syncs, ${waiting.length} pending at restart; redrive took ${drained.ms} ms, ${totals.runs} runs, ${totals.delivered} delivered, ${totals.failed} failed again`,
  )
  expect(totals.delivered).toBe(waiting.length)
  expect(totals.dead).toBe(0)

  // Nothing lost, nothing invented: one entry per begun booking (the one in flight may be
  // missing only if its write-ahead had not committed, and then the partner never saw it), all
  // delivered (delivered entries hold no lease: settling clears it), each with its stored bytes.
  const entries = await inspect.outbox.list({ limit: 1000 })
  const stored = entries.map((e) => e.bookingId).sort()
  const expected = begun.map((i) => `crash-${i}`)
  if (!stored.includes(inFlightId)) {
    expect(partner.forBooking(inFlightId)).toEqual([])
    expected.pop()
  }
  expect(stored).toEqual(expected.sort())
  console.log(
    `crash test: the sync in flight at the kill (${inFlightId}) was ${stored.includes(inFlightId) ? 'stored' : 'not yet stored'}`,
  )
  expect(entries.filter((e) => e.state !== 'delivered')).toEqual([])
  expect(await inspect.redrivePending()).toEqual({ delivered: 0, failed: 0, dead: 0, superseded: 0, remaining: 0 })
  for (const entry of entries) {
    const sent = partner.forBooking(entry.bookingId)
    expect(sent.some((r) => r.status === 200)).toBe(true)
    for (const request of sent) {
      expect(request.verified).toBe(true)
      expect(request.raw.toString('utf8')).toBe(entry.body)
    }
  }
  expect(partner.requests.filter((r) => !stored.includes(r.bookingId))).toEqual([])
  return { waiting, entries, inFlightId }
}

it(
  'killed while the partner holds a request: the leased entry waits out its lease, then is delivered',
  { timeout: 40_000 },
  async () => {
    const KILL_AT = 'crash-80'
    const { waiting, entries, inFlightId } = await crashAndRecover(
      ({ record }) => record?.bookingId === KILL_AT && partner.forBooking(KILL_AT).length === 1,
    )
    expect(inFlightId).toBe(KILL_AT)
    // Its request reached the partner, so its write-ahead had committed: it was stored, unsettled.
    const inFlight = waiting.find((e) => e.bookingId === KILL_AT)
    expect(inFlight).toMatchObject({ state: 'pending', attempts: 0 })
    // The killed process's lease was respected until it expired, and the quiet period after it.
    expect(partner.forBooking(KILL_AT)[1].startedAt).toBeGreaterThanOrEqual(
      Date.parse(inFlight.createdAt) + DEADLINE_MS + LEASE_MARGIN_MS + QUIET_MS - 5,
    )
    // Attempts count what the partner answered; the held request died with its process.
    for (const entry of entries)
      expect(entry.attempts).toBe(partner.forBooking(entry.bookingId).filter((r) => r.status !== undefined).length)
  },
)

it('killed wherever it is when it prints "begin 120": nothing is lost either', { timeout: 40_000 }, async () => {
  await crashAndRecover(({ line }) => line === 'begin 120')
})
