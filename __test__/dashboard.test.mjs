// The outbox page (createOutboxDashboard) through its Web-standard handlers, on real outboxes:
// SQLite files and the PostgreSQL server of PARTNER_SYNC_TEST_POSTGRES, filled by real syncs
// against real partners on 127.0.0.1.

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  POSTGRES_TARGETS,
  QUICK,
  SECRET,
  booking,
  createPartnerSync,
  recordingLogger,
  refusedUrl,
  startPartner,
  tempDir,
} from './helpers/outbox-harness.mjs'
import { tablePrefixes } from './helpers/postgres.mjs'
import { startReceiver } from './helpers/receiver.mjs'

const require = createRequire(import.meta.url)
const { createOutboxDashboard } = require('../lib/index.js')

const BASE = '/admin/partner-sync'
const ORIGIN = 'http://shop.test'
const HOSTILE_ID = `"'><img src=x onerror=alert(1)><script>alert(2)</script>`
const HOSTILE_MESSAGE = '<script>alert(1)</script>'

// Fills go faster on a RAM disk: a SQLite outbox syncs every commit to disk.
const FAST_DIR = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir()
const store = tempDir('dashboard')
let partner
beforeAll(async () => {
  partner = await startPartner()
})
afterAll(async () => {
  await partner?.close()
  store.remove()
})

let prefixes = 0
const freshPrefix = tablePrefixes('t_dash')
const backends = [
  ['SQLite', () => ({ outbox: `sqlite:${store.file(`o-${prefixes++}.db`)}` })],
  ...POSTGRES_TARGETS.map(([name, url]) => [name, () => ({ outbox: url, outboxTablePrefix: freshPrefix() })]),
]

const settingsFor = (where, extra = {}) => ({
  url: partner.url,
  secret: SECRET,
  ...QUICK,
  outboxSchedule: '1h',
  outboxMaxAge: '1d',
  logger: false,
  ...where,
  ...extra,
})

/** The operator is whoever the x-user header names: the app's auth, reduced to one header. */
function dashboardOn(where, extra = {}) {
  return createOutboxDashboard({
    ...settingsFor(where, extra),
    authorize: (request) => request.headers.get('x-user') || null,
  })
}

async function get(dashboard, pathAndQuery, { user = 'ann', headers = {} } = {}) {
  const response = await dashboard.GET(
    new Request(`${ORIGIN}${BASE}${pathAndQuery}`, { headers: { ...(user ? { 'x-user': user } : {}), ...headers } }),
  )
  return { response, html: await response.text() }
}

async function post(dashboard, action, form, { user = 'ann', origin = ORIGIN, referer, headers = {} } = {}) {
  const request = new Request(`${ORIGIN}${BASE}/actions/${action}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(user ? { 'x-user': user } : {}),
      ...(origin ? { origin } : {}),
      ...(referer ? { referer } : {}),
      ...headers,
    },
    body: new URLSearchParams(form).toString(),
  })
  const response = await dashboard.POST(request)
  return { response, html: await response.text() }
}

const csrfOf = (html) => html.match(/name="csrf" value="([^"]+)"/)[1]

/** Follows a 303 and returns the page it leads to. */
async function follow(dashboard, response, user = 'ann') {
  expect(response.status).toBe(303)
  return get(dashboard, response.headers.get('location').slice(BASE.length), { user })
}

const noticeOf = (html) => (html.match(/<div class="notice[^>]*>(.*?)<\/div>/s) || [])[1]

function expectAdminHeaders(response) {
  expect(response.headers.get('cache-control')).toBe('no-store')
  expect(response.headers.get('x-frame-options')).toBe('DENY')
  expect(response.headers.get('content-security-policy')).toMatch(/default-src 'none'.*form-action 'self'/)
}

describe('authorize', () => {
  const where = () => ({ outbox: `sqlite:${store.file('auth.db')}` })

  it('missing: every request is refused with 403 and a clear message, and one line is logged', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {})
    const dashboard = createOutboxDashboard(settingsFor(where()))
    expect(logged).toHaveBeenCalledTimes(1)
    expect(logged.mock.calls[0][0]).toMatch(/createOutboxDashboard needs authorize\(request\)/)
    logged.mockRestore()
    for (const { response, html } of [await get(dashboard, '/'), await post(dashboard, 'redrive', {})]) {
      expect(response.status).toBe(403)
      expectAdminHeaders(response)
      expect(html).toMatch(/needs authorize\(request\).*every request is refused/)
    }
  })

  it('refusing (falsy, or throwing) gets 403; allowing shows the page with who is signed in', async () => {
    await createPartnerSync(settingsFor(where())).sync(booking('auth-1'))
    const dashboard = dashboardOn(where())
    const refused = await get(dashboard, '/', { user: '' })
    expect(refused.response.status).toBe(403)
    expectAdminHeaders(refused.response)
    expect(refused.html).toMatch(/not allowed to see the partner-sync outbox/)

    const logged = vi.spyOn(console, 'error').mockImplementation(() => {})
    const throwing = createOutboxDashboard({
      ...settingsFor(where()),
      authorize: () => Promise.reject(new Error('session store down')),
    })
    expect((await get(throwing, '/')).response.status).toBe(403)
    expect(logged.mock.calls.flat().join('\n')).toMatch(/authorize\(request\) threw.*session store down/)
    logged.mockRestore()

    const allowed = await get(dashboard, '/')
    expect(allowed.response.status).toBe(200)
    expectAdminHeaders(allowed.response)
    expect(allowed.html).toContain('signed in as ann')
    expect(allowed.html).toContain('<b data-count="delivered">1</b>')
    const named = createOutboxDashboard({ ...settingsFor(where()), authorize: async () => ({ name: 'Rina (admin)' }) })
    expect((await get(named, '/')).html).toContain('signed in as Rina (admin)')
  })
})

describe('CSRF', () => {
  it("refuses a POST without the token, with another operator's or a forged token, or from another origin; does it when all is right", async () => {
    const where = { outbox: `sqlite:${store.file('csrf.db')}` }
    partner.plan('csrf-1', 400)
    const dead = await createPartnerSync(settingsFor(where)).sync(booking('csrf-1'))
    expect(dead.outbox.state).toBe('dead')
    const dashboard = dashboardOn(where)
    const token = csrfOf((await get(dashboard, `/entries/${dead.outbox.id}`)).html)
    const bobs = csrfOf((await get(dashboard, '/', { user: 'bob' })).html)
    const form = { id: dead.outbox.id }
    const refusals = [
      [form, {}, /form token is missing/],
      [{ ...form, csrf: bobs }, {}, /form token is missing or was not issued to you/],
      [{ ...form, csrf: `${token.slice(0, -2)}xx` }, {}, /form token/],
      [{ ...form, csrf: token }, { origin: 'https://evil.example' }, /not sent from this dashboard/],
      [{ ...form, csrf: token }, { origin: null }, /not sent from this dashboard/],
      [
        { ...form, csrf: token },
        { origin: null, referer: 'https://evil.example/admin/partner-sync' },
        /not sent from this dashboard/,
      ],
    ]
    for (const [fields, headers, message] of refusals) {
      const { response, html } = await post(dashboard, 'retry', fields, headers)
      expect(response.status, `${JSON.stringify(fields)} ${JSON.stringify(headers)}`).toBe(403)
      expectAdminHeaders(response)
      expect(html).toMatch(message)
    }
    // Nothing was done by any of them.
    expect((await createPartnerSync(settingsFor(where)).outbox.show(dead.outbox.id)).state).toBe('dead')

    // A Referer of this host stands in for a missing Origin.
    const { response } = await post(
      dashboard,
      'retry',
      { ...form, csrf: token },
      { origin: null, referer: `${ORIGIN}${BASE}/entries/${dead.outbox.id}` },
    )
    expectAdminHeaders(response)
    const done = await follow(dashboard, response)
    expect(noticeOf(done.html)).toMatch(/is due now \(retried by ann\)/)
    expect((await createPartnerSync(settingsFor(where)).outbox.show(dead.outbox.id)).state).toBe('pending')
  })

  it('a notice cannot be forged through the redirect URL', async () => {
    const dashboard = dashboardOn({ outbox: `sqlite:${store.file('csrf.db')}` })
    const forged = Buffer.from(JSON.stringify({ kind: 'ok', text: 'All good, call +62 ...' })).toString('base64url')
    const { html } = await get(dashboard, `/?notice=${forged}.AAAA`)
    expect(noticeOf(html)).toBeUndefined()
  })
})

describe('escaping and masking', () => {
  let receiver
  afterAll(() => receiver?.close())

  it('a hostile booking id and a hostile partner message show as text; customers are masked in lists; the secret never shows', async () => {
    receiver = await startReceiver(() => ({ status: 500, json: { error: HOSTILE_MESSAGE } }))
    const where = { outbox: `sqlite:${store.file('hostile.db')}` }
    const client = createPartnerSync({ ...settingsFor(where), url: receiver.url, maxAttempts: 1 })
    const result = await client.sync({
      ...booking(HOSTILE_ID),
      customer_name: 'Budi Santoso',
      customer_phone: '081234567890',
    })
    expect(result.outbox.state).toBe('pending')
    const stored = await client.outbox.show(result.outbox.id)
    expect(stored.lastError.message).toContain(HOSTILE_MESSAGE)

    const dashboard = dashboardOn(where)
    const list = await get(dashboard, `/entries?q=${encodeURIComponent(HOSTILE_ID.slice(0, 6))}`)
    const entry = await get(dashboard, `/entries/${result.outbox.id}`)
    for (const { html } of [list, entry]) {
      expect(html).not.toContain('<script>alert')
      expect(html).not.toContain('<img src=x')
      expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;')
      expect(html).not.toContain(SECRET)
      // The page's own script is the only one, and it carries the response's nonce.
      const nonce = entry.response.headers.get('content-security-policy').match(/'nonce-([^']+)'/)
      expect(html.match(/<script/g)).toHaveLength(1)
      expect(nonce).toBeTruthy()
    }
    expect(entry.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
    // Masked in the list, in full on the entry page only.
    expect(list.html).toContain('B*** S***')
    expect(list.html).toContain('***890')
    expect(list.html).not.toContain('Budi')
    expect(list.html).not.toContain('081234567890')
    expect(entry.html).toContain('Budi Santoso')
    expect(entry.html).toContain('081234567890')
    // The signature that was sent, never the secret.
    expect(entry.html).toContain(`<code data-signature>${receiver.requests[0].headers['x-pwa-signature']}</code>`)

    // The exact stored bytes on request, as plain text that no browser renders as HTML.
    const raw = await get(dashboard, `/entries/${result.outbox.id}?raw=1`)
    expect(raw.html).toBe(result.body)
    expect(raw.response.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    expect(raw.response.headers.get('x-content-type-options')).toBe('nosniff')
    expectAdminHeaders(raw.response)

    // Without a secret the page says so instead of a signature.
    const unsigned = createOutboxDashboard({ ...settingsFor(where), secret: '', authorize: () => 'ann' })
    expect((await get(unsigned, `/entries/${result.outbox.id}`)).html).toMatch(
      /no secret is configured for this dashboard/,
    )
  })
})

describe('pagination', () => {
  it(
    'walks 10,000 entries newest first through the next-page links, each entry once; filters by state and booking prefix',
    { timeout: 180_000 },
    async () => {
      const dir = fs.mkdtempSync(path.join(FAST_DIR, 'partner-sync-pages-'))
      try {
        const where = { outbox: `sqlite:${path.join(dir, 'o.db')}` }
        const client = createPartnerSync({ ...settingsFor(where), url: await refusedUrl(), maxAttempts: 1 })
        const TOTAL = 10_000
        const BATCH = 64
        for (let i = 0; i < TOTAL; i += BATCH) {
          await Promise.all(
            Array.from({ length: Math.min(BATCH, TOTAL - i) }, (_, j) =>
              client.sync(booking(`PG-${String(i + j).padStart(5, '0')}`)),
            ),
          )
        }
        const dashboard = createOutboxDashboard({ ...settingsFor(where), pageSize: 200, authorize: () => 'ann' })
        expect((await get(dashboard, '/')).html).toContain(`<b data-count="pending">${TOTAL}</b>`)

        const seen = []
        let next = '/entries'
        let pages = 0
        while (next) {
          const { html } = await get(dashboard, next)
          pages++
          const rows = [
            ...html.matchAll(/<tr data-entry="([^"]+)"><td>.*?<\/td><td>([^<]*)<\/td>.*?<td>([^<]*)<\/td><\/tr>/g),
          ]
          seen.push(...rows.map((row) => ({ id: row[1], createdAt: row[3] })))
          const link = html.match(/<a rel="next" href="([^"]+)"/)
          next = link && link[1].replace(/&amp;/g, '&').slice(BASE.length)
        }
        expect(pages).toBe(TOTAL / 200)
        expect(seen).toHaveLength(TOTAL)
        expect(new Set(seen.map((row) => row.id)).size).toBe(TOTAL)
        const times = seen.map((row) => Date.parse(row.createdAt))
        expect(times.every((t, i) => i === 0 || t <= times[i - 1])).toBe(true)

        const prefixed = await client.outbox.page({ bookingPrefix: 'PG-012', limit: 1000 })
        expect(prefixed.entries.map((e) => e.bookingId).sort()).toEqual(
          Array.from({ length: 100 }, (_, i) => `PG-0${1200 + i}`),
        )
        expect(prefixed.nextCursor).toBeUndefined()
        // list() is not bound by the page size: the CLI's --limit goes well past it.
        expect(await client.outbox.list({ limit: 5000 })).toHaveLength(5000)
        expect((await client.outbox.page({ limit: 5000 })).entries).toHaveLength(1000)
        const exact = await client.outbox.page({ bookingId: 'PG-00042' })
        expect(exact.entries.map((e) => e.bookingId)).toEqual(['PG-00042'])
        expect((await client.outbox.page({ state: 'delivered' })).entries).toEqual([])
        await expect(client.outbox.page({ cursor: 'nonsense' })).rejects.toThrow(
          /cursor "nonsense" is not one this outbox gave: start again from the first page/,
        )
        await expect(client.outbox.page({ state: 'lost' })).rejects.toThrow(/unknown outbox state "lost"/)
      } finally {
        fs.rmSync(dir, { recursive: true, force: true })
      }
    },
  )
})

describe.each(backends)('actions on %s', (_name, where) => {
  it('retry a dead entry (with an audit note), redrive it delivered, refuse an older entry, purge (each audited)', async () => {
    const at = where()
    const client = createPartnerSync(settingsFor(at))
    const log = recordingLogger()
    const dashboard = dashboardOn(at, { logger: log })
    const id = `act-${prefixes}-${Date.now()}`

    partner.plan(id, 400)
    const dead = await client.sync(booking(id))
    expect(dead.outbox.state).toBe('dead')
    const overview = await get(dashboard, '/')
    expect(overview.html).toContain('<b data-count="dead">1</b>')
    // The chart has 24 hours, and this hour shows the dead entry.
    expect(overview.html.match(/<title>[^<]*dead<\/title>/g)).toHaveLength(24)
    expect(overview.html).toMatch(/<title>[^<]*: 1 dead<\/title>/)
    const csrf = csrfOf(overview.html)

    partner.plan(id, 200)
    const retried = await follow(dashboard, (await post(dashboard, 'retry', { csrf, id: dead.outbox.id })).response)
    expect(noticeOf(retried.html)).toMatch(new RegExp(`Entry ${dead.outbox.id} is due now \\(retried by ann\\)`))
    expect(retried.html).toMatch(/<li>[^<]*: retry by ann<\/li>/)
    const shown = await client.outbox.show(dead.outbox.id)
    expect(shown.audit).toEqual([{ at: expect.any(String), action: 'retry', by: 'ann' }])
    expect(shown.history).toHaveLength(1)

    const redriven = await follow(
      dashboard,
      (await post(dashboard, 'redrive', { csrf, back: dead.outbox.id })).response,
    )
    expect(noticeOf(redriven.html)).toMatch(
      /Redrive by ann: 1 delivered, 0 failed \(will be retried\), 0 dead, 0 superseded; 0 still due\./,
    )
    expect(redriven.html).toContain('data-state>delivered<')
    expect((await client.outbox.show(dead.outbox.id)).audit).toEqual([
      { at: expect.any(String), action: 'retry', by: 'ann' },
      { at: expect.any(String), action: 'redrive', by: 'ann' },
    ])

    // An older body of a booking whose newer body was delivered: the core refuses, the page says why.
    const older = `${id}-older`
    partner.plan(older, 503)
    const first = await client.sync(booking(older))
    expect(first.outbox.state).toBe('pending')
    partner.plan(older, 200)
    const second = await client.sync(booking(older))
    expect(second.ok).toBe(true)
    const refused = await follow(dashboard, (await post(dashboard, 'retry', { csrf, id: first.outbox.id })).response)
    expect(noticeOf(refused.html)).toMatch(
      /Not retried: outbox entry .* is older than entry .*: retrying it would put an older state back on the partner/,
    )
    expect(refused.html).toContain('notice error')
    expect(refused.html).toContain(`superseded by</dt><dd><a href="${BASE}/entries/${second.outbox.id}"`)

    const badPurge = await follow(dashboard, (await post(dashboard, 'purge', { csrf, olderThan: 'soon' })).response)
    expect(noticeOf(badPurge.html)).toMatch(/Nothing purged: .*soon/)
    const purged = await follow(dashboard, (await post(dashboard, 'purge', { csrf, olderThan: '0s' })).response)
    expect(noticeOf(purged.html)).toMatch(/Purge by ann: 3 delivered or superseded entries older than 0s deleted\./)
    expect(purged.html).toContain('<b data-count="delivered">0</b>')
    expect(await client.outbox.show(dead.outbox.id)).toBeNull()
    // The entries are gone: their audit notes are log lines.
    expect(
      log.lines.filter(
        (line) => line.startsWith('info: [Partner Sync] Audit: outbox entry ') && line.endsWith(' purged by ann'),
      ),
    ).toHaveLength(3)
    expect(log.lines).toContain(
      `info: [Partner Sync] Audit: outbox entry ${dead.outbox.id} of booking ${id} purged by ann`,
    )
  })
})
