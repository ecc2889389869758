// The partner's endpoint, played locally in its own process so its CPU is not the client's:
// keep-alive, verifies every signature with node:crypto, answers the guide's 200 JSON.
// Talks to the orchestrator over IPC: sends { port } once listening, answers 'counts'.
import crypto from 'node:crypto'
import http from 'node:http'

const SECRET = process.env.PWA_WEBHOOK_SECRET || ''
const counts = { requests: 0, badSignatures: 0, badBodies: 0 }

function signatureMatches(raw, given) {
  const expected = crypto.createHmac('sha256', SECRET).update(raw).digest()
  const received = Buffer.from(typeof given === 'string' ? given : '', 'hex')
  return received.length === expected.length && crypto.timingSafeEqual(received, expected)
}

function answer(res, status, json) {
  const text = JSON.stringify(json)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

const server = http.createServer((req, res) => {
  const chunks = []
  req.on('data', (chunk) => chunks.push(chunk))
  req.on('end', () => {
    counts.requests++
    const raw = Buffer.concat(chunks)
    if (!signatureMatches(raw, req.headers['x-pwa-signature'])) {
      counts.badSignatures++
      return answer(res, 401, { error: 'Invalid webhook signature' })
    }
    let bookingId
    try {
      bookingId = JSON.parse(raw.toString('utf8')).booking_id
    } catch {
      bookingId = undefined
    }
    if (!bookingId) {
      counts.badBodies++
      return answer(res, 400, { error: 'Missing booking_id' })
    }
    answer(res, 200, { success: true, message: 'Booking synced successfully', booking_id: bookingId })
  })
})
// Clients keep connections across a whole phase; never let the server close them first.
server.keepAliveTimeout = 120_000
server.headersTimeout = 121_000
server.maxRequestsPerSocket = 0

server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }))
process.on('message', (message) => {
  if (message === 'counts') process.send({ counts })
})
process.on('disconnect', () => process.exit(0))
