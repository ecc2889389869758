'use strict'

// A local stand-in for smashpartner.online's /api/webhooks/pwa-sync, answering as the integration
// guide's table says and as the partner's real handler behaves where an app's tests can see it:
// its success message, a 500 on a database error, and a transaction per paid booking, created by
// a check-then-insert that is not atomic (two overlapping requests of one booking can both insert).

const http = require('node:http')
const { setMaxListeners } = require('node:events')
const { setTimeout: sleep } = require('node:timers/promises')
const { verifySignature, SIGNATURE_HEADER } = require('./signing.js')

const ENDPOINT_PATH = '/api/webhooks/pwa-sync'

// The guide's "Health Check" answer, verbatim.
const HEALTH_RESPONSE = Object.freeze({
  endpoint: ENDPOINT_PATH,
  description: 'PWA Booking Sync Webhook',
  methods: ['POST'],
  headers: {
    required: [SIGNATURE_HEADER],
    description: 'HMAC-SHA256 signature of the request body',
  },
})

// The guide's error texts; any other scripted status gets Node's standard reason phrase.
const GUIDE_ERRORS = {
  missingSignature: 'Missing x-pwa-signature header',
  invalidSignature: 'Invalid webhook signature',
  missingBookingId: 'Missing booking_id',
  bookingNotFound: 'Booking not found',
  internal: 'Internal server error',
}
const SUCCESS_MESSAGE = 'Booking synced and transaction created'

// Milliseconds since the epoch with sub-millisecond resolution, monotonic within the process.
const now = () => performance.timeOrigin + performance.now()

// mulberry32: a tiny seeded PRNG, so a given seed fails the same requests on every run.
function seededRandom(seed) {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function checkOptions({ secret, fail, failRate, delayMs, transactionDelayMs, databaseError, port }) {
  if (typeof secret !== 'string' || secret === '') {
    throw new TypeError('startMockPartner needs the shared secret: pass { secret } or set PWA_WEBHOOK_SECRET')
  }
  for (const status of fail) {
    if (!Number.isInteger(status) || status < 200 || status > 599) {
      throw new TypeError(
        `startMockPartner: fail must list HTTP statuses from 200 to 599, got ${JSON.stringify(status)}`,
      )
    }
  }
  if (typeof failRate !== 'number' || !(failRate >= 0 && failRate <= 1)) {
    throw new TypeError(`startMockPartner: failRate must be a number from 0 to 1, got ${JSON.stringify(failRate)}`)
  }
  for (const [name, value] of Object.entries({ delayMs, transactionDelayMs })) {
    if (!Number.isFinite(value) || value < 0)
      throw new TypeError(`startMockPartner: ${name} must be a number >= 0, got ${JSON.stringify(value)}`)
  }
  checkDatabaseError(databaseError)
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new TypeError(`startMockPartner: port must be a whole number from 0 to 65535, got ${JSON.stringify(port)}`)
}

function checkDatabaseError(databaseError) {
  if (databaseError !== undefined && (typeof databaseError !== 'string' || databaseError === '')) {
    throw new TypeError(
      `startMockPartner: databaseError must be the database's error message (a non-empty string) or undefined, got ${JSON.stringify(databaseError)}`,
    )
  }
}

function errorBody(status) {
  return { error: status === 500 ? GUIDE_ERRORS.internal : http.STATUS_CODES[status] || 'Error' }
}

// The parsed body when it is a JSON object, else an empty one (the partner then misses booking_id).
function readPayload(rawBody) {
  try {
    const parsed = JSON.parse(rawBody.toString('utf8'))
    return parsed && typeof parsed === 'object' ? parsed : {}
  } catch {
    return {}
  }
}

// The partner's rule for creating a transaction.
function isPaid(payload) {
  const paidInfo =
    payload.status === 'LUNAS' ||
    payload.status === 'PAID' ||
    payload.payment_status === 'PAID' ||
    payload.event === 'booking.paid'
  return paidInfo && payload.paid_amount > 0
}

function describeRequest(record, verdict) {
  const said = record.response.error || record.response.message
  const booking = record.bookingId ? ` booking ${record.bookingId}` : ''
  return `[mock partner] ${record.method} ${record.path}${booking}: ${verdict} -> ${record.status}${said ? ` ${said}` : ''}`
}

async function startMockPartner(options = {}) {
  const {
    port = 0,
    host = '127.0.0.1',
    secret = process.env.PWA_WEBHOOK_SECRET,
    knownBookings,
    fail = [],
    failRate = 0,
    seed = 1,
    delayMs = 0,
    transactionDelayMs = 0,
    databaseError,
    log = (line) => console.log(line),
    onRequest,
  } = options
  checkOptions({ secret, fail, failRate, delayMs, transactionDelayMs, databaseError, port })
  const known = knownBookings === undefined ? null : new Set(Array.from(knownBookings, String))
  const requests = []
  const bookings = new Map()
  const transactions = []
  let currentDatabaseError = databaseError
  const closing = new AbortController()
  // Every delayed answer listens on this one signal; many at once is normal, not a leak.
  setMaxListeners(0, closing.signal)
  let scriptedFailures = [...fail]
  let random = seededRandom(seed)

  // Scripted and random failures stand for a partner that is down once the request is
  // authenticated: they never hide a signature problem, and unsigned requests do not use them up.
  function nextFailure() {
    if (scriptedFailures.length > 0) {
      const status = scriptedFailures.shift()
      return status >= 300 ? status : undefined
    }
    return failRate > 0 && random() < failRate ? 503 : undefined
  }

  // What the partner's handler does to its database for an accepted sync: update the booking
  // (status only when given, paid_amount when present), then check for a transaction of the
  // booking and insert one if none was found, with `transactionDelayMs` between the two steps.
  async function store(payload, record) {
    const previous = bookings.get(record.bookingId)
    bookings.set(record.bookingId, {
      status: payload.status || (previous && previous.status),
      paidAmount: payload.paid_amount !== undefined ? payload.paid_amount : previous && previous.paidAmount,
      body: record.body,
      updatedAt: now(),
    })
    if (!isPaid(payload)) return
    if (transactions.some((transaction) => transaction.bookingId === record.bookingId)) {
      record.transaction = 'existed'
      return
    }
    if (transactionDelayMs > 0) await sleep(transactionDelayMs, undefined, { signal: closing.signal })
    transactions.push({
      bookingId: record.bookingId,
      paidAmount: payload.paid_amount,
      totalAmount: payload.total_amount || payload.paid_amount,
      at: now(),
    })
    record.transaction = 'created'
  }

  // Decides the answer to a POST: [status, body, verdict for the log line].
  async function answerPost(rawBody, payload, signature, record) {
    if (!signature) return [401, { error: GUIDE_ERRORS.missingSignature }, 'unsigned']
    record.verified = verifySignature(rawBody, signature, secret)
    if (!record.verified)
      return [401, { error: GUIDE_ERRORS.invalidSignature }, 'signature INVALID (different secret or different bytes)']
    const failure = nextFailure()
    if (failure) return [failure, errorBody(failure), 'verified, failing on purpose']
    if (!record.bookingId) return [400, { error: GUIDE_ERRORS.missingBookingId }, 'verified']
    if (known && !known.has(record.bookingId))
      return [404, { error: GUIDE_ERRORS.bookingNotFound }, 'verified, unknown booking']
    if (currentDatabaseError) return [500, { error: currentDatabaseError }, 'verified, database error on purpose']
    await store(payload, record)
    const verdict = record.transaction
      ? `verified, transaction ${record.transaction === 'created' ? 'created' : 'existed already'}`
      : 'verified'
    return [200, { success: true, message: SUCCESS_MESSAGE, booking_id: record.bookingId }, verdict]
  }

  async function handle(req, res) {
    const at = new Date().toISOString()
    const receivedAt = now()
    const chunks = []
    for await (const chunk of req) chunks.push(chunk)
    const rawBody = Buffer.concat(chunks)
    const path = new URL(req.url, 'http://mock').pathname
    const signatureHeader = req.headers[SIGNATURE_HEADER]
    const signature = Array.isArray(signatureHeader) ? signatureHeader.join(', ') : signatureHeader
    const record = {
      at,
      receivedAt,
      method: req.method,
      path,
      headers: req.headers,
      body: rawBody.toString('utf8'),
      verified: false,
    }
    if (signature !== undefined) record.signature = signature

    let answer
    if (path !== ENDPOINT_PATH) {
      answer = [404, { error: `Not found: this mock serves only ${ENDPOINT_PATH}` }, 'wrong path']
    } else if (req.method === 'GET') {
      answer = [200, HEALTH_RESPONSE, 'health check']
    } else if (req.method === 'POST') {
      const payload = readPayload(rawBody)
      if (typeof payload.booking_id === 'string' && payload.booking_id.trim() !== '')
        record.bookingId = payload.booking_id
      answer = await answerPost(rawBody, payload, signature, record)
    } else {
      answer = [405, { error: `Method not allowed: use GET (health check) or POST` }, 'wrong method']
    }
    const [status, response, verdict] = answer

    if (delayMs > 0) await sleep(delayMs, undefined, { signal: closing.signal })
    record.status = status
    record.response = response
    record.answeredAt = now()
    requests.push(record)
    if (log) log(describeRequest(record, verdict))
    if (onRequest) onRequest(record)
    const headers = { 'content-type': 'application/json' }
    if (status === 405) headers.allow = 'GET, POST'
    res.writeHead(status, headers).end(JSON.stringify(response))
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error) => {
      // close() cuts delayed answers and open requests short; anything else is worth seeing.
      if (!closing.signal.aborted && log)
        log(`[mock partner] failed to answer ${req.method} ${req.url}: ${error.message}`)
      if (!res.headersSent)
        res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify(errorBody(500)))
    })
  })

  await new Promise((resolve, reject) => {
    server.once('error', (error) => {
      if (error.code === 'EADDRINUSE')
        error.message = `port ${port} on ${host} is already in use: pick another port, or 0 for a free one`
      reject(error)
    })
    server.listen(port, host, resolve)
  })
  const boundPort = server.address().port
  const urlHost = host.includes(':') ? `[${host}]` : host

  let closed
  return {
    url: `http://${urlHost}:${boundPort}${ENDPOINT_PATH}`,
    port: boundPort,
    requests,
    bookings,
    transactions,
    transactionsFor: (bookingId) => transactions.filter((transaction) => transaction.bookingId === bookingId),
    get databaseError() {
      return currentDatabaseError
    },
    set databaseError(message) {
      checkDatabaseError(message)
      currentDatabaseError = message
    },
    close() {
      if (!closed) {
        closing.abort()
        closed = new Promise((resolve) => server.close(() => resolve()))
        // Keep-alive sockets would otherwise hold close() open until they time out.
        server.closeAllConnections()
      }
      return closed
    },
    // Forgets what was seen and stored, restarts the failure script and the PRNG, and restores databaseError.
    reset() {
      requests.length = 0
      bookings.clear()
      transactions.length = 0
      currentDatabaseError = databaseError
      scriptedFailures = [...fail]
      random = seededRandom(seed)
    },
  }
}

module.exports = { startMockPartner, seededRandom, ENDPOINT_PATH, HEALTH_RESPONSE }
