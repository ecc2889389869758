// The mock partner answers every row of the integration guide's table, over real HTTP on loopback.

import http from 'node:http'
import { createRequire } from 'node:module'
import { afterEach, describe, expect, it } from 'vitest'

const require = createRequire(import.meta.url)
const { startMockPartner, HEALTH_RESPONSE } = require('../lib/mock-partner.js')
const { createPartnerSync, generateSignature } = require('../lib/index.js')

const SECRET = 'mock-test-secret-51c0ffee'
const BOOKING = 'b24a8a76-edb7-4b0c-950b-3144cc4d7ec6'

/** Syncs one paid booking to `partner` with a client of these retry settings; resolves with its result. */
function syncTo(partner, retries) {
  const client = createPartnerSync({ url: partner.url, secret: SECRET, ...retries, outbox: false, logger: false })
  return client.sync({ event: 'booking.paid', booking_id: BOOKING, status: 'LUNAS', paid_amount: 32000 })
}
const bodyFor = (bookingId = BOOKING) =>
  JSON.stringify({
    event: 'booking.paid',
    booking_id: bookingId,
    status: 'LUNAS',
    paid_amount: 32000,
    timestamp: '2026-02-04T23:00:00.000Z',
  })

const started = []
async function mock(options = {}) {
  const partner = await startMockPartner({ secret: SECRET, log: false, ...options })
  started.push(partner)
  return partner
}
afterEach(async () => {
  await Promise.all(started.splice(0).map((partner) => partner.close()))
})

async function post(url, body, signature = generateSignature(body, SECRET)) {
  const headers = { 'content-type': 'application/json' }
  if (signature !== null) headers['x-pwa-signature'] = signature
  const response = await fetch(url, { method: 'POST', headers, body })
  return { status: response.status, json: await response.json() }
}

describe("the guide's table", () => {
  it('GET answers the health JSON exactly', async () => {
    const partner = await mock()
    const response = await fetch(partner.url)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toContain('application/json')
    expect(await response.json()).toEqual({
      endpoint: '/api/webhooks/pwa-sync',
      description: 'PWA Booking Sync Webhook',
      methods: ['POST'],
      headers: { required: ['x-pwa-signature'], description: 'HMAC-SHA256 signature of the request body' },
    })
    expect(HEALTH_RESPONSE.endpoint).toBe('/api/webhooks/pwa-sync')
  })

  it('200 with the success JSON for a signed sync', async () => {
    const partner = await mock()
    expect(await post(partner.url, bodyFor())).toEqual({
      status: 200,
      json: { success: true, message: 'Booking synced and transaction created', booking_id: BOOKING },
    })
  })

  it('401 Missing x-pwa-signature header', async () => {
    const partner = await mock()
    expect(await post(partner.url, bodyFor(), null)).toEqual({
      status: 401,
      json: { error: 'Missing x-pwa-signature header' },
    })
  })

  it('401 Invalid webhook signature for another secret', async () => {
    const partner = await mock()
    expect(await post(partner.url, bodyFor(), generateSignature(bodyFor(), 'another-secret'))).toEqual({
      status: 401,
      json: { error: 'Invalid webhook signature' },
    })
  })

  it('400 Missing booking_id, also for a body that is not JSON', async () => {
    const partner = await mock()
    const missing = JSON.stringify({ event: 'booking.paid', status: 'LUNAS', paid_amount: 1 })
    expect(await post(partner.url, missing)).toEqual({ status: 400, json: { error: 'Missing booking_id' } })
    expect(await post(partner.url, '{not json')).toEqual({ status: 400, json: { error: 'Missing booking_id' } })
  })

  it('404 Booking not found when knownBookings is given', async () => {
    const partner = await mock({ knownBookings: [BOOKING] })
    expect(await post(partner.url, bodyFor('no-such-booking'))).toEqual({
      status: 404,
      json: { error: 'Booking not found' },
    })
    expect((await post(partner.url, bodyFor())).status).toBe(200)
  })

  it('500 Internal server error when scripted', async () => {
    const partner = await mock({ fail: [500] })
    expect(await post(partner.url, bodyFor())).toEqual({ status: 500, json: { error: 'Internal server error' } })
    expect((await post(partner.url, bodyFor())).status).toBe(200)
  })
})

describe('signatures', () => {
  it('are checked over the raw bytes, not a re-serialization', async () => {
    const partner = await mock()
    const pretty = `{\n  "booking_id": "${BOOKING}",\n  "event": "booking.paid"\n}\n`
    expect((await post(partner.url, pretty)).status).toBe(200)
    const reserialized = JSON.stringify(JSON.parse(pretty))
    expect((await post(partner.url, pretty, generateSignature(reserialized, SECRET))).status).toBe(401)
  })

  it('need a secret to start', async () => {
    const saved = process.env.PWA_WEBHOOK_SECRET
    delete process.env.PWA_WEBHOOK_SECRET
    try {
      await expect(startMockPartner({ log: false })).rejects.toThrow(/PWA_WEBHOOK_SECRET/)
    } finally {
      if (saved !== undefined) process.env.PWA_WEBHOOK_SECRET = saved
    }
  })
})

describe('failures for trying retries', () => {
  it('scripted failures come after the signature checks and are used up by signed POSTs only', async () => {
    const partner = await mock({ fail: [503, 200, 502] })
    expect((await post(partner.url, bodyFor(), null)).status).toBe(401)
    expect((await post(partner.url, bodyFor(), 'ab'.repeat(32))).status).toBe(401)
    const statuses = []
    for (let i = 0; i < 4; i++) statuses.push((await post(partner.url, bodyFor())).status)
    expect(statuses).toEqual([503, 200, 502, 200])
  })

  it('failRate is repeatable for a seed, and reset() rewinds it', async () => {
    const statusesOf = async (partner) => {
      const statuses = []
      for (let i = 0; i < 12; i++) statuses.push((await post(partner.url, bodyFor())).status)
      return statuses
    }
    const first = await mock({ failRate: 0.5, seed: 42 })
    const second = await mock({ failRate: 0.5, seed: 42 })
    const statuses = await statusesOf(first)
    expect(statuses).toContain(503)
    expect(statuses).toContain(200)
    expect(await statusesOf(second)).toEqual(statuses)
    first.reset()
    expect(first.requests).toEqual([])
    expect(await statusesOf(first)).toEqual(statuses)
  })

  it('the library retries through them and delivers on attempt 3', async () => {
    const partner = await mock({ fail: [503, 503] })
    const result = await syncTo(partner, { backoffBaseMs: 20 })
    expect(result).toMatchObject({ ok: true, status: 200, attempts: 3 })
    expect(partner.requests.map((request) => request.status)).toEqual([503, 503, 200])
    expect(partner.requests.every((request) => request.verified && request.body === result.body)).toBe(true)
  })

  it('delayMs holds every answer back', async () => {
    const partner = await mock({ delayMs: 150 })
    const before = performance.now()
    await fetch(partner.url)
    expect(performance.now() - before).toBeGreaterThanOrEqual(140)
  })

  it('rejects options it cannot honour', async () => {
    await expect(mock({ fail: [42] })).rejects.toThrow(/fail must list HTTP statuses/)
    await expect(mock({ failRate: 2 })).rejects.toThrow(/failRate/)
  })
})

describe('what it records', () => {
  it('one MockRequest per request, with what was answered', async () => {
    const partner = await mock()
    const body = bodyFor()
    await post(partner.url, body)
    await fetch(partner.url)
    const [sync, health] = partner.requests
    expect(sync).toMatchObject({
      method: 'POST',
      path: '/api/webhooks/pwa-sync',
      body,
      signature: generateSignature(body, SECRET),
      verified: true,
      bookingId: BOOKING,
      status: 200,
    })
    expect(sync.response).toEqual({
      success: true,
      message: 'Booking synced and transaction created',
      booking_id: BOOKING,
    })
    expect(sync.headers['content-type']).toBe('application/json')
    expect(Number.isNaN(Date.parse(sync.at))).toBe(false)
    expect(health).toMatchObject({ method: 'GET', status: 200, verified: false })
  })

  it('log gets one line per request saying why', async () => {
    const lines = []
    const partner = await mock({ log: (line) => lines.push(line) })
    await post(partner.url, bodyFor(), 'ab'.repeat(32))
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(new RegExp(`${BOOKING}.*INVALID.*401 Invalid webhook signature`))
  })

  it('answers other paths with 404 and other methods with 405', async () => {
    const partner = await mock()
    expect((await fetch(partner.url.replace('/pwa-sync', '/other'))).status).toBe(404)
    const put = await fetch(partner.url, { method: 'PUT', body: '{}' })
    expect(put.status).toBe(405)
    expect(put.headers.get('allow')).toBe('GET, POST')
  })
})

describe("like the partner's real handler", () => {
  const paid = (overrides = {}) =>
    JSON.stringify({
      event: 'booking.paid',
      booking_id: BOOKING,
      status: 'LUNAS',
      paid_amount: 32000,
      ...overrides,
      timestamp: '2026-02-04T23:00:00.000Z',
    })
  const overlap = (a, b) => a.receivedAt < b.answeredAt && b.receivedAt < a.answeredAt

  it('databaseError: 500 with the database text, nothing stored, after the 404 check; healed at run time', async () => {
    const partner = await mock({ knownBookings: [BOOKING], databaseError: 'connection terminated unexpectedly' })
    expect(await post(partner.url, bodyFor('no-such-booking'))).toEqual({
      status: 404,
      json: { error: 'Booking not found' },
    })
    expect(await post(partner.url, bodyFor())).toEqual({
      status: 500,
      json: { error: 'connection terminated unexpectedly' },
    })
    expect(partner.bookings.size).toBe(0)
    expect(partner.transactions).toEqual([])
    partner.databaseError = undefined
    expect((await post(partner.url, bodyFor())).status).toBe(200)
    expect(partner.transactionsFor(BOOKING)).toHaveLength(1)
    partner.reset()
    expect(partner.databaseError).toBe('connection terminated unexpectedly')
    expect(() => (partner.databaseError = '')).toThrow(/databaseError must be/)
  })

  it('the library reports the database text and retries the 500', async () => {
    const partner = await mock({ databaseError: 'deadlock detected' })
    const result = await syncTo(partner, { maxAttempts: 2, backoffBaseMs: 1 })
    expect(result).toMatchObject({ ok: false, status: 500, attempts: 2, response: { error: 'deadlock detected' } })
    expect(result.error.message).toContain('deadlock detected')
  })

  it('one transaction per paid booking: a repeat of the same sync finds it', async () => {
    const partner = await mock()
    await post(partner.url, paid({ total_amount: 64000 }))
    await post(partner.url, paid({ total_amount: 64000 }))
    expect(partner.transactionsFor(BOOKING)).toEqual([
      { bookingId: BOOKING, paidAmount: 32000, totalAmount: 64000, at: expect.any(Number) },
    ])
    expect(partner.requests.map((request) => request.transaction)).toEqual(['created', 'existed'])
  })

  it.each([
    ['a down payment update', { event: 'booking.updated', status: 'DP' }],
    ['a zero amount', { paid_amount: 0 }],
  ])('no transaction for %s', async (_, overrides) => {
    const partner = await mock()
    expect((await post(partner.url, paid(overrides))).status).toBe(200)
    expect(partner.transactions).toEqual([])
  })

  it.each([
    ["status 'PAID' on booking.updated", { event: 'booking.updated', status: 'PAID' }],
    ["payment_status 'PAID'", { event: 'booking.updated', status: 'DP', payment_status: 'PAID' }],
  ])('a transaction for %s', async (_, overrides) => {
    const partner = await mock()
    await post(partner.url, paid(overrides))
    expect(partner.transactionsFor(BOOKING)).toHaveLength(1)
  })

  it('transactionDelayMs reproduces the double insert of two overlapping requests; one after the other insert once', async () => {
    const partner = await mock({ transactionDelayMs: 100 })
    await Promise.all([post(partner.url, paid()), post(partner.url, paid())])
    const [first, second] = partner.requests
    expect(overlap(first, second)).toBe(true)
    expect(partner.transactionsFor(BOOKING)).toHaveLength(2)

    partner.reset()
    await post(partner.url, paid())
    await post(partner.url, paid())
    expect(overlap(...partner.requests)).toBe(false)
    expect(partner.transactionsFor(BOOKING)).toHaveLength(1)
    const [created] = partner.transactions
    expect(created.at - partner.requests[0].receivedAt).toBeGreaterThanOrEqual(95)
  })

  it('bookings keep the last accepted sync; a sync without a status keeps the previous one', async () => {
    const partner = await mock({ fail: [503] })
    await post(partner.url, paid({ status: 'REFUSED', paid_amount: 999 }))
    expect(partner.bookings.size).toBe(0)
    await post(partner.url, paid({ paid_amount: 1 }))
    const second = paid({ event: 'booking.updated', status: undefined, paid_amount: 64000 })
    await post(partner.url, second)
    expect(partner.bookings.get(BOOKING)).toEqual({
      status: 'LUNAS',
      paidAmount: 64000,
      body: second,
      updatedAt: expect.any(Number),
    })
  })

  it('records when each request arrived and was answered', async () => {
    const partner = await mock({ delayMs: 50 })
    const before = performance.timeOrigin + performance.now()
    await post(partner.url, bodyFor())
    const [request] = partner.requests
    expect(request.receivedAt).toBeGreaterThanOrEqual(before)
    expect(request.answeredAt - request.receivedAt).toBeGreaterThanOrEqual(45)
    expect(Math.abs(request.receivedAt - Date.parse(request.at))).toBeLessThan(5)
  })

  it('rejects a databaseError or transactionDelayMs it cannot use', async () => {
    await expect(mock({ databaseError: 500 })).rejects.toThrow(/databaseError must be the database's error message/)
    await expect(mock({ transactionDelayMs: -1 })).rejects.toThrow(/transactionDelayMs must be a number >= 0/)
  })
})

describe('lifecycle', () => {
  it('close() does not wait for keep-alive connections', async () => {
    const partner = await mock()
    const agent = new http.Agent({ keepAlive: true })
    await new Promise((resolve, reject) =>
      http.get(partner.url, { agent }, (res) => res.resume().on('end', resolve)).on('error', reject),
    )
    const before = performance.now()
    await partner.close()
    expect(performance.now() - before).toBeLessThan(1000)
    agent.destroy()
  })

  it('a port in use is a clear error', async () => {
    const partner = await mock()
    await expect(mock({ port: partner.port })).rejects.toMatchObject({
      code: 'EADDRINUSE',
      message: expect.stringMatching(/already in use/),
    })
  })
})
