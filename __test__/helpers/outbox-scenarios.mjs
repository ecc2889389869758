// The vitest side of the outbox helpers: per-file set-up, and scenarios both outbox backends
// must pass, with their assertions. Each test file supplies clients bound to its own store.
// (Child processes import only outbox-harness.mjs, which does not load vitest.)

import { afterAll, expect } from 'vitest'
import {
  booking,
  hmac,
  recordingLogger,
  redriveWhenDue,
  runChild,
  startPartner,
  tempDir,
  waitForLine,
} from './outbox-harness.mjs'

export const ZERO = { delivered: 0, failed: 0, dead: 0, superseded: 0, remaining: 0 }

/** For a test file: a partner and a temporary directory, both gone after its tests. */
export async function partnerAndStore(label) {
  const partner = await startPartner()
  const store = tempDir(label)
  afterAll(async () => {
    await partner.close()
    store.remove()
  })
  return { partner, store }
}

/**
 * Runs one child process per task, all at once (those with `waitForGo` start together, once all
 * are ready), and expects each to exit cleanly. Returns their results; the `done <totals>` each
 * printed last (undefined for a task that prints none); and `ms` from the start to the last exit.
 */
export async function inChildren(tasks, { timeoutMs }) {
  const children = tasks.map((task) => runChild(task, { timeoutMs }))
  const waiting = children.filter((_, i) => tasks[i].waitForGo)
  for (const child of waiting) await waitForLine(child, 'ready')
  const started = Date.now()
  for (const child of waiting) child.child.stdin.write('go\n')
  const results = await Promise.all(children.map((child) => child.exited))
  const ms = Date.now() - started
  for (const { code, stderr, lines } of results)
    expect({ code, stderr }, `its last line: ${lines.at(-1)}`).toEqual({ code: 0, stderr: '' })
  const totals = results.map(({ lines }) =>
    lines.at(-1)?.startsWith('done ') ? JSON.parse(lines.at(-1).slice('done '.length)) : undefined,
  )
  return { results, totals, ms }
}

/**
 * The partner answers 503 for the whole in-request window, then comes back: one redrive
 * delivers the entry exactly once more, with the bytes and signature of the first attempts.
 */
export async function partnerDownThenBack({ partner, client, id }) {
  partner.plan(id, 503)
  const result = await client.sync(booking(id))
  expect(result.ok).toBe(false)
  expect(result.attempts).toBe(3)
  expect(result.outbox).toMatchObject({ state: 'pending', id: expect.any(String), nextAttemptAt: expect.any(String) })
  expect(partner.forBooking(id)).toHaveLength(3)

  partner.plan(id, 200)
  expect(await redriveWhenDue(client)).toEqual({ ...ZERO, delivered: 1 })
  const received = partner.forBooking(id)
  expect(received).toHaveLength(4)
  expect(received[3].status).toBe(200)
  for (const request of received) {
    expect(request.raw.equals(Buffer.from(result.body, 'utf8'))).toBe(true)
    expect(request.signature).toBe(hmac(result.body))
    expect(request.verified).toBe(true)
  }
  // Delivered means done: another redrive sends nothing.
  expect(await client.redrivePending()).toEqual(ZERO)
  expect(partner.forBooking(id)).toHaveLength(4)

  const entry = await client.outbox.show(result.outbox.id)
  expect(entry).toMatchObject({
    id: result.outbox.id,
    bookingId: id,
    event: 'booking.paid',
    state: 'delivered',
    attempts: 4,
    lastStatus: 200,
    body: result.body,
  })
  expect(entry.deliveredAt).toEqual(expect.any(String))
  expect(entry.nextAttemptAt).toBeUndefined()
  expect(entry.history.map((attempt) => attempt.status)).toEqual([503, 503, 503, 200])
  expect(entry.history[0]).toMatchObject({ errorKind: 'http', message: expect.stringContaining('HTTP 503') })
  return { result, entry }
}

/** A 400 goes dead at once: no redrive sends it again until a person retries it. */
export async function rejectedGoesDead({ partner, client, id }) {
  partner.plan(id, 400)
  const result = await client.sync(booking(id))
  expect(result.ok).toBe(false)
  expect(result.error.kind).toBe('bad_request')
  expect(result.outbox).toMatchObject({ state: 'dead', id: expect.any(String) })
  expect(result.outbox.nextAttemptAt).toBeUndefined()
  expect(partner.forBooking(id)).toHaveLength(1)
  const entry = await staysDead({
    partner,
    client,
    entry: result.outbox.id,
    attempts: 1,
    lastStatus: 400,
    lastError: { kind: 'bad_request', message: 'dead: the partner rejected it' },
  })
  expect((await client.outbox.list({ state: 'dead' })).map((e) => e.id)).toEqual([result.outbox.id])
  return { result, entry }
}

/**
 * A dead entry after `attempts`, each one request of its booking, the last answered `lastStatus`
 * with `lastError` (its message contains the one given): a redrive sends it no more. Returns it.
 */
export async function staysDead({ partner, client, entry: id, attempts, lastStatus, lastError }) {
  expect(await client.redrivePending()).toEqual(ZERO)
  const entry = await client.outbox.show(id)
  expect(partner.forBooking(entry.bookingId)).toHaveLength(attempts)
  expect(entry).toMatchObject({
    state: 'dead',
    attempts,
    lastStatus,
    lastError: { kind: lastError.kind, message: expect.stringContaining(lastError.message) },
  })
  return entry
}

/**
 * An outbox that cannot be opened: the partner still gets the sync, the result and the log
 * say why the outbox could not keep it (matching `explains`), and `hidden` (a password) shows nowhere.
 */
export async function liveDeliveryDespiteOutbox({ partner, makeClient, id, explains, hidden }) {
  const log = recordingLogger()
  const client = makeClient({ logger: log })
  const result = await client.sync(booking(id))
  expect(result.ok).toBe(true)
  expect(partner.forBooking(id)).toHaveLength(1)
  expect(partner.forBooking(id)[0].verified).toBe(true)
  expect(result.outbox.id).toBeUndefined()
  expect(result.outbox.state).toBeUndefined()
  expect(result.outbox.error).toMatch(explains)
  // Delivered live: a warning, not an error (nothing is lost), and the booking is not "lost".
  expect(result.lost).toBe(false)
  expect(log.lines.join('\n')).toContain(
    `warn: [Partner Sync] Outbox could not keep booking ${id} (${result.outbox.error}); delivered live, so nothing is lost`,
  )
  expect(log.lines.filter((line) => line.startsWith('error:'))).toEqual([])
  // The repair calls report the same trouble without throwing from redrive.
  const redrive = await client.redrivePending()
  expect(redrive).toMatchObject(ZERO)
  expect(redrive.error).toMatch(explains)
  await expect(client.outbox.list()).rejects.toThrow(explains)
  if (hidden) {
    for (const text of [result.outbox.error, redrive.error, ...log.lines]) expect(text).not.toContain(hidden)
  }
  return result
}
