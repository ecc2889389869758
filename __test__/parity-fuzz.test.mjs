// Seeded fuzz: whatever the data, the partner receives exactly JSON.stringify's bytes, signed,
// and a receiver that parses and re-serializes the body gets the same bytes back.
import { createHmac } from 'node:crypto'
import { createRequire } from 'node:module'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startReceiver } from './helpers/receiver.mjs'

const require = createRequire(import.meta.url)
const { createPartnerSync } = require('../lib/index.js')
const { seededRandom } = require('../lib/mock-partner.js')

const SECRET = 'fuzz-secret-2b7e151628aed2a6'
const CASES = 300
const SEED = 0x5eed

// The mock partner's mulberry32: the same sequence on every run.
const random = seededRandom(SEED)
const pick = (items) => items[Math.floor(random() * items.length)]
const int = (max) => Math.floor(random() * max)

const PIECES = [
  'a',
  'Z',
  ' ',
  '"',
  '\\',
  '/',
  '\n',
  '\t',
  '\u0000',
  '\u001f',
  '\u007f',
  'é',
  'ß',
  '✓',
  '日本',
  '🎾',
  '\u2028',
  '\u2029',
  '\ud800',
  '\udfff',
  '\ufeff',
  '<script>',
  "'",
  '{}',
  ':',
]
const NUMBERS = [
  0,
  -0,
  1,
  -1,
  32000,
  0.1,
  0.30000000000000004,
  1e21,
  1e-7,
  123456789.123,
  2 ** 53,
  -(2 ** 53),
  2 ** 53 + 2,
  4294967296,
  1e16,
  5e-324,
  Number.MAX_VALUE,
  NaN,
  Infinity,
]
// What the partner's numeric(10,2) amount columns can store; the rest of NUMBERS is refused as an amount.
const AMOUNTS = NUMBERS.filter((n) => n >= 0 && n <= 99_999_999.99).concat([99_999_999.99, 12345.678])
const KEYS = [
  'invoice_id',
  'payment_id',
  'channel',
  '0',
  '1',
  '10',
  '2',
  '01',
  '-1',
  '4294967294',
  '4294967295',
  '1.5',
  'é',
  '🎾',
  '',
  ' ',
  'a"b',
  'constructor',
  'toString',
]

const text = () => Array.from({ length: int(6) }, () => pick(PIECES)).join('')

function value(depth) {
  const kind = int(depth > 2 ? 6 : 9)
  if (kind === 0) return text()
  if (kind === 1) return pick(NUMBERS)
  if (kind === 2) return random() < 0.5
  if (kind === 3) return null
  if (kind === 4) return undefined
  if (kind === 5) return new Date(Date.UTC(2026, int(12), 1 + int(28), int(24), int(60), int(60), int(1000)))
  if (kind === 6) return Array.from({ length: int(4) }, () => value(depth + 1))
  return object(depth + 1)
}

function object(depth) {
  const result = {}
  for (let i = int(5); i > 0; i--) result[pick(KEYS)] = value(depth)
  return result
}

// The required fields in a random order, among random extra top-level fields.
function syncData() {
  const fields = [
    ['event', pick(['booking.paid', 'booking.updated'])],
    ['booking_id', `${text()}-${int(1e6)}`.trim() || 'b'],
    ['status', pick(['LUNAS', 'DP', 'lunas ✓'])],
    ['paid_amount', pick(AMOUNTS)],
    ['payment_method', pick(['QRIS', 'VA', undefined, null])],
    ['payment_details', random() < 0.8 ? object(0) : undefined],
    ['venue_id', text()],
    ['customer_phone', undefined],
    ['total_amount', pick(AMOUNTS)],
    ['notes', value(0)],
    ['42', text()],
  ]
  fields.sort(() => random() - 0.5)
  return Object.fromEntries(
    fields
      .slice(0, 4 + int(fields.length - 3))
      .concat(fields.filter(([k]) => ['event', 'booking_id', 'status', 'paid_amount'].includes(k))),
  )
}

let receiver
beforeAll(async () => {
  receiver = await startReceiver()
})
afterAll(() => receiver.close())

it(`sends exactly JSON.stringify's bytes for ${CASES} seeded random payloads`, async () => {
  const client = createPartnerSync({ url: receiver.url, secret: SECRET, logger: false, maxAttempts: 1 })
  const cases = Array.from({ length: CASES }, syncData)
  const results = await Promise.all(cases.map((data) => client.sync(data)))

  expect(results.filter((r) => !r.ok).map((r) => r.error)).toEqual([])
  expect(receiver.requests).toHaveLength(CASES)
  const received = new Map(receiver.requests.map((r) => [r.body, r]))
  cases.forEach((data, i) => {
    const { body } = results[i]
    const request = received.get(body)
    expect(request, `case ${i} reached the partner`).toBeDefined()
    const { timestamp } = JSON.parse(request.body)
    expect(request.body).toBe(JSON.stringify({ ...data, timestamp }))
    expect(request.headers['x-pwa-signature']).toBe(createHmac('sha256', SECRET).update(request.raw).digest('hex'))
    // A partner that parses and re-serializes before verifying still gets the signed bytes.
    expect(JSON.stringify(JSON.parse(request.body))).toBe(request.body)
  })
})
