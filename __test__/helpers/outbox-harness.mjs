// Shared by the outbox tests: a scripted partner on loopback that records every request's
// raw bytes and start/end times, clients configured without process.env, child processes,
// and bounded polling.

import { spawn } from 'node:child_process'
import { createHmac } from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { freePort } from '../../scripts/free-port.mjs'
import { setTimeout as sleep } from 'node:timers/promises'

const require = createRequire(import.meta.url)
export const { createPartnerSync } = require('../../lib/index.js')

export const SECRET = 'outbox-test-secret-5d1c83e0'
const ENDPOINT = '/api/webhooks/pwa-sync'
const CHILD = fileURLToPath(new URL('../fixtures/outbox-child.mjs', import.meta.url))

/** One attempt in the request, a 50 ms outbox schedule: what the ordering and hooks tests send with. */
export const ONE_ATTEMPT = {
  secret: SECRET,
  outboxSchedule: '50ms',
  outboxMaxAge: '1h',
  maxAttempts: 1,
  attemptTimeoutMs: 2000,
  deadlineMs: 3000,
  logger: false,
}

/** In-request retries kept short, so a test's "partner down" window lasts milliseconds. */
export const QUICK = { maxAttempts: 3, backoffBaseMs: 5, backoffMaxMs: 20, attemptTimeoutMs: 2000, deadlineMs: 3000 }

/**
 * A client of `partner` on `outbox`: a 100 ms schedule, a max age of an hour, QUICK retries;
 * `options` add or replace settings. Plain data, so a child process can take it too.
 */
export function outboxSettings(partner, outbox, options = {}) {
  return { url: partner.url, secret: SECRET, outbox, outboxSchedule: '100ms', outboxMaxAge: '1h', ...QUICK, ...options }
}

export const hmac = (bytes, secret = SECRET) => createHmac('sha256', secret).update(bytes).digest('hex')
const nowMs = () => performance.timeOrigin + performance.now()

/** The mock partner's mulberry32, so "random" failures and bytes are the same on every run. */
export const { seededRandom } = require('../../lib/mock-partner.js')

/** The data the app hands to sync, for one booking id. */
export function booking(id) {
  return {
    event: 'booking.paid',
    booking_id: id,
    status: 'LUNAS',
    paid_amount: 150000,
    payment_method: 'QRIS',
    payment_details: { invoice_id: `INV-${id}` },
  }
}

/** One payment of a booking: a down payment ('DP') or the rest ('LUNAS'), as the app sends them. */
export const payment = (id, status, paidAmount, event = 'booking.paid') => ({
  event,
  booking_id: id,
  status,
  paid_amount: paidAmount,
  payment_method: 'QRIS',
})

/**
 * A partner whose answers are scripted per booking: `plan(id, 503, 503, 200)` (the last one
 * repeats; unplanned bookings get 200), or replace `answer(record)` altogether. An answer is a
 * status, `{ status, delayMs, headers }`, or `'hang'` (never answer), or a promise of one. Every request is recorded with its
 * raw bytes, headers, signature, whether the signature matches SECRET, and when it started and ended.
 */
export async function startPartner() {
  const requests = []
  const plans = new Map()
  const partner = {
    requests,
    plan(id, ...statuses) {
      plans.set(id, statuses)
    },
    answer(record) {
      const plan = plans.get(record.bookingId)
      if (!plan) return 200
      const earlier = requests.filter((r) => r.bookingId === record.bookingId).length - 1
      return plan[Math.min(earlier, plan.length - 1)]
    },
    forBooking: (id) => requests.filter((r) => r.bookingId === id),
  }
  const server = http.createServer((req, res) => {
    const startedAt = nowMs()
    const chunks = []
    req.on('data', (chunk) => chunks.push(chunk))
    req.on('end', () => {
      const raw = Buffer.concat(chunks)
      let bookingId
      try {
        bookingId = JSON.parse(raw.toString('utf8')).booking_id
      } catch {
        bookingId = undefined
      }
      const signature = req.headers['x-pwa-signature']
      const record = {
        bookingId,
        raw,
        signature,
        verified: signature === hmac(raw),
        headers: req.headers,
        startedAt,
        endedAt: undefined,
        status: undefined,
      }
      requests.push(record)
      Promise.resolve(partner.answer(record)).then((planned) => {
        if (planned === 'hang') return
        const { status, delayMs = 0, headers = {} } = typeof planned === 'number' ? { status: planned } : planned
        setTimeout(() => {
          record.status = status
          const json =
            status < 300
              ? { success: true, message: 'Booking synced successfully', booking_id: bookingId }
              : { error: http.STATUS_CODES[status] }
          res.writeHead(status, { 'content-type': 'application/json', ...headers })
          res.end(JSON.stringify(json), () => {
            record.endedAt = nowMs()
          })
        }, delayMs)
      })
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  partner.port = server.address().port
  partner.url = `http://127.0.0.1:${partner.port}${ENDPOINT}`
  partner.close = async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
  return partner
}

/**
 * The PostgreSQL servers the outbox scenarios run on, as [label, url, tag]: the server itself, and
 * PgBouncer in transaction mode in front of it, as serverless apps reach Supabase (.ci/run starts
 * both). The tag keeps table prefixes apart, and short (40 characters at most).
 */
export const POSTGRES_TARGETS = [
  ['PostgreSQL', process.env.PARTNER_SYNC_TEST_POSTGRES, 'pg'],
  ['PgBouncer in transaction mode', process.env.PARTNER_SYNC_TEST_PGBOUNCER, 'pool'],
].filter(([, url]) => url)

/** A URL on 127.0.0.1 where nothing listens. */
export async function refusedUrl() {
  return `http://127.0.0.1:${await freePort()}${ENDPOINT}`
}

/** A temporary directory, removed by `remove()`. */
export function tempDir(label) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `partner-sync-${label}-`))
  return { dir, file: (name) => path.join(dir, name), remove: () => fs.rmSync(dir, { recursive: true, force: true }) }
}

/** A logger that keeps every line, to read messages back. */
export function recordingLogger() {
  const lines = []
  const at =
    (level) =>
    (...args) =>
      lines.push(`${level}: ${args.join(' ')}`)
  return { lines, info: at('info'), warn: at('warn'), error: at('error') }
}

/** Polls `check` (sync or async) until it returns something truthy; fails after `timeoutMs`. */
export async function waitFor(what, check, { timeoutMs = 10_000, intervalMs = 20 } = {}) {
  const until = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(intervalMs)
  }
}

/** Redrives until a run handles at least one entry (what is pending becomes due), and returns that run's counts. */
export function redriveWhenDue(client, options = {}) {
  return waitFor('a redrive that handles an entry', async () => {
    const summary = await client.redrivePending(options)
    if (summary.error || summary.message) throw new Error(`redrive did not run: ${summary.error || summary.message}`)
    return summary.delivered + summary.failed + summary.dead > 0 && summary
  })
}

// Another platform's Node (a musl or qemu one, started through a wrapper script) runs its children
// the same way: its process.execPath cannot be started on its own.
/** The Node that child processes run on: this platform's own (PARTNER_SYNC_TEST_NODE), or this one. */
export const NODE = process.env.PARTNER_SYNC_TEST_NODE || process.execPath
// The library's variables are removed, so the developer's shell cannot change what a child does.
const childEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    ([name]) => !/^(PARTNER_SYNC_|PWA_WEBHOOK_SECRET|SMASHPARTNER_SYNC_URL)/.test(name),
  ),
)

/**
 * Runs __test__/fixtures/outbox-child.mjs with one task. `onLine(line, child)` sees each stdout line
 * as it comes; `exited` resolves with { code, signal, lines, stderr } and the child is killed
 * after `timeoutMs` so that no test can hang on it.
 */
export function runChild(task, { onLine = () => {}, timeoutMs = 30_000 } = {}) {
  const child = spawn(NODE, [CHILD, JSON.stringify(task)], {
    env: childEnv,
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  const lines = []
  let stderr = ''
  let partial = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (text) => {
    const parts = (partial + text).split('\n')
    partial = parts.pop()
    for (const line of parts) {
      lines.push(line)
      onLine(line, child)
    }
  })
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (text) => {
    stderr += text
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const exited = new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, lines, stderr })
    })
  })
  return { child, lines, exited }
}

/** Resolves when a child has printed `line`; rejects if it exits first. */
export function waitForLine({ lines, exited, child }, line) {
  return new Promise((resolve, reject) => {
    if (lines.includes(line)) return resolve()
    const onData = () => {
      if (lines.includes(line)) {
        child.stdout.off('data', onData)
        resolve()
      }
    }
    child.stdout.on('data', onData)
    exited.then((result) => reject(new Error(`the child exited before printing ${line}: ${JSON.stringify(result)}`)))
  })
}
