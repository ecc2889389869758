// Log lines as pino and winston users see them, and PARTNER_SYNC_LOG, the switch that silences
// the one-line syncBookingToPartner in a test run.

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { createRequire } from 'node:module'
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { inOrder, startReceiver } from './helpers/receiver.mjs'

const require = createRequire(import.meta.url)
const { syncBookingToPartner, createPartnerSync } = require('../lib/index.js')
const pino = require('pino')
const winston = require('winston')

const SECRET = 'loggers-test-secret-51c0'
const BOOKING = '6f0c2a5e-9d4b-4c1a-8e7f-2b3d4c5e6f70'
const data = { event: 'booking.paid', booking_id: BOOKING, status: 'LUNAS', paid_amount: 32000 }
const FAST = { secret: SECRET, maxAttempts: 1, backoffBaseMs: 0, attemptTimeoutMs: 1000, deadlineMs: 3000 }

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'partner-sync-loggers-'))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

let receiver
afterEach(async () => {
  await receiver?.close()
  receiver = undefined
})

/** A real pino logger writing its JSON lines to a stream we read. */
function pinoCapture() {
  const lines = []
  const logger = pino({ level: 'info' }, { write: (line) => lines.push(JSON.parse(line)) })
  return { logger, messages: () => lines.map((line) => line.msg) }
}

/** A real winston logger (JSON format) writing to a stream we read. */
function winstonCapture() {
  const lines = []
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()))
      done()
    },
  })
  const logger = winston.createLogger({
    level: 'info',
    format: winston.format.json(),
    transports: [new winston.transports.Stream({ stream })],
  })
  return { logger, messages: () => lines.map((line) => line.message) }
}

/** Polls until `read()` has `count` items: winston writes through streams, a tick or two later. */
async function atLeast(count, read, withinMs = 2000) {
  const until = Date.now() + withinMs
  while (read().length < count && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 5))
  return read()
}

describe.each([
  ['pino', pinoCapture],
  ['winston', winstonCapture],
])('with a %s logger, every line names the booking', (_, capture) => {
  it('a delivered sync and a failed one', async () => {
    receiver = await startReceiver(inOrder({ status: 200 }, { status: 404, json: { error: 'Booking not found' } }))
    const { logger, messages } = capture()
    const client = createPartnerSync({ ...FAST, url: receiver.url, logger })
    await client.sync(data)
    await client.sync(data)
    const [success, failure] = await atLeast(2, messages)
    expect(success).toMatch(new RegExp(`^\\[Partner Sync\\] Success for booking: ${BOOKING} \\(1 attempt, \\d+ ms\\)$`))
    expect(failure).toMatch(
      new RegExp(`^\\[Partner Sync\\] Failed for booking ${BOOKING} .*HTTP 404 "Booking not found"`),
    )
  })

  it('a redrive names the booking and the outbox entry', async () => {
    receiver = await startReceiver(inOrder({ status: 503 }, { status: 200 }))
    const { logger, messages } = capture()
    const client = createPartnerSync({
      ...FAST,
      url: receiver.url,
      logger,
      outbox: `sqlite:${path.join(tmp, `${capture.name}.db`)}`,
      outboxSchedule: '1ms',
    })
    const { outbox } = await client.sync(data)
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(await client.redrivePending()).toMatchObject({ delivered: 1 })
    const lines = await atLeast(2, messages)
    expect(lines[1]).toBe(`[Partner Sync] Success for booking: ${BOOKING} (outbox entry ${outbox.id}, attempt 2)`)
  })
})

describe('PARTNER_SYNC_LOG', () => {
  let saved
  let spies
  beforeEach(() => {
    saved = { ...process.env }
    process.env.PWA_WEBHOOK_SECRET = SECRET
    process.env.PARTNER_SYNC_MAX_ATTEMPTS = '1'
    spies = {
      log: vi.spyOn(console, 'log').mockImplementation(() => {}),
      warn: vi.spyOn(console, 'warn').mockImplementation(() => {}),
      error: vi.spyOn(console, 'error').mockImplementation(() => {}),
    }
  })
  afterEach(() => {
    process.env = saved
    vi.restoreAllMocks()
  })
  const printed = () =>
    Object.fromEntries(Object.entries(spies).map(([name, spy]) => [name, spy.mock.calls.map((call) => call.join(' '))]))

  /** One delivered and one failed syncBookingToPartner call. */
  async function deliverAndFail() {
    receiver = await startReceiver(inOrder({ status: 200 }, { status: 400, json: { error: 'Missing booking_id' } }))
    process.env.SMASHPARTNER_SYNC_URL = receiver.url
    await expect(syncBookingToPartner(data)).resolves.toBe(true)
    await expect(syncBookingToPartner(data)).resolves.toBe(false)
  }

  it.each([
    ['unset', undefined, { log: 1, error: 1 }],
    ['info', 'info', { log: 1, error: 1 }],
    ['error', 'error', { log: 0, error: 1 }],
    ['silent', 'silent', { log: 0, error: 0 }],
    ['SILENT, with spaces', ' SILENT ', { log: 0, error: 0 }],
  ])('%s: syncBookingToPartner prints as much as asked', async (_, level, counts) => {
    if (level !== undefined) process.env.PARTNER_SYNC_LOG = level
    await deliverAndFail()
    const { log, error, warn } = printed()
    expect({ log: log.length, error: error.length }).toEqual(counts)
    expect(warn).toEqual([])
  })

  it('is read at every call', async () => {
    process.env.PARTNER_SYNC_LOG = 'silent'
    receiver = await startReceiver()
    process.env.SMASHPARTNER_SYNC_URL = receiver.url
    await syncBookingToPartner(data)
    process.env.PARTNER_SYNC_LOG = 'info'
    await syncBookingToPartner(data)
    expect(printed().log).toEqual([expect.stringContaining(`Success for booking: ${BOOKING}`)])
  })

  it('an unknown value warns once and logs as info', async () => {
    process.env.PARTNER_SYNC_LOG = 'quiet'
    const client = createPartnerSync()
    receiver = await startReceiver()
    process.env.SMASHPARTNER_SYNC_URL = receiver.url
    await client.sync(data)
    await client.sync(data)
    expect(printed().warn).toEqual([
      '[Partner Sync] PARTNER_SYNC_LOG = "quiet" is not one of silent, error, warn, info; using info',
    ])
    expect(printed().log).toHaveLength(2)
  })

  it('applies to clients without a logger, not to an explicit one', async () => {
    process.env.PARTNER_SYNC_LOG = 'silent'
    receiver = await startReceiver()
    process.env.SMASHPARTNER_SYNC_URL = receiver.url
    await createPartnerSync().sync(data)
    expect(printed().log).toEqual([])
    const { logger, messages } = pinoCapture()
    await createPartnerSync({ logger }).sync(data)
    expect(messages()).toEqual([expect.stringContaining(`Success for booking: ${BOOKING}`)])
  })
})
