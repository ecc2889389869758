// The outbox page in a real browser: Debian's Chromium, headless, driven by playwright-core
// (which never downloads a browser), against `partner-sync outbox ui` spawned as a user runs it.
// Screenshots of the list and of an entry go to a fresh temporary folder, or to
// PARTNER_SYNC_SCREENSHOT_DIR (docs/screenshots regenerates docs/operations.md's).

import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { QUICK, SECRET, booking, createPartnerSync, startPartner, tempDir, waitFor } from './helpers/outbox-harness.mjs'
import { startReceiver } from './helpers/receiver.mjs'
import { CHROMIUM, launchChromium } from '../scripts/chromium.mjs'

const HAVE_CHROMIUM = fs.existsSync(CHROMIUM)
const CLI = fileURLToPath(new URL('../bin/partner-sync.js', import.meta.url))
const HOSTILE_ID = `<img src=x onerror=alert(1)><script>alert(2)</script>`
const HOSTILE_MESSAGE = '<script>alert(3)</script>'

if (!HAVE_CHROMIUM) {
  const how = `Install Debian's chromium (apt-get install chromium; .ci/run does) or set CHROMIUM_PATH`
  if (process.env.PARTNER_SYNC_REQUIRE_CHROMIUM === '1') {
    it('Chromium must be here', () => {
      throw new Error(`PARTNER_SYNC_REQUIRE_CHROMIUM=1 but there is no browser at ${CHROMIUM}. ${how}.`)
    })
  } else console.warn(`\n!!! SKIPPING the browser test of the outbox page: no Chromium at ${CHROMIUM}. ${how}.\n`)
}

describe.skipIf(!HAVE_CHROMIUM)('the outbox page in Chromium, served by partner-sync outbox ui', () => {
  const store = tempDir('dashboard-browser')
  const shots =
    process.env.PARTNER_SYNC_SCREENSHOT_DIR || fs.mkdtempSync(path.join(os.tmpdir(), 'partner-sync-screenshots-'))
  let partner
  let receiver
  let ui
  let chromium
  let context
  let url
  const dialogs = []

  beforeAll(async () => {
    partner = await startPartner()
    receiver = await startReceiver(() => ({ status: 500, json: { error: HOSTILE_MESSAGE } }))
    const outbox = `sqlite:${store.file('outbox.db')}`
    const client = createPartnerSync({
      url: partner.url,
      secret: SECRET,
      outbox,
      ...QUICK,
      outboxSchedule: '1h',
      logger: false,
    })
    // A day's worth of traffic: delivered bookings, one the partner refused (dead), and one
    // with a hostile id whose partner answered with a hostile message.
    for (let i = 1; i <= 12; i++) {
      await client.sync({
        ...booking(`SC-2024-${String(i).padStart(4, '0')}`),
        customer_name: 'Budi Santoso',
        customer_phone: '081234567890',
      })
    }
    partner.plan('SC-DEAD-1', 400)
    expect((await client.sync(booking('SC-DEAD-1'))).outbox.state).toBe('dead')
    const hostile = createPartnerSync({
      url: receiver.url,
      secret: SECRET,
      outbox,
      maxAttempts: 1,
      outboxSchedule: '1h',
      logger: false,
    })
    expect((await hostile.sync(booking(HOSTILE_ID))).outbox.state).toBe('pending')

    ui = spawn(
      process.execPath,
      [CLI, 'outbox', 'ui', '--json', '--outbox', outbox, '--url', partner.url, '--port', '0'],
      {
        env: { PATH: process.env.PATH, PWA_WEBHOOK_SECRET: SECRET, PARTNER_SYNC_LOG: 'silent' },
      },
    )
    let out = ''
    ui.stdout.on('data', (chunk) => (out += chunk))
    ui.stderr.on('data', (chunk) => (out += chunk))
    url = (await waitFor('the ui to print its URL', () => out.match(/"url":\s*"([^"]+)"/), { timeoutMs: 15_000 }))[1]

    chromium = await launchChromium('partner-sync-chromium-')
    context = chromium.context
  }, 60_000)

  afterAll(async () => {
    await chromium?.close()
    if (ui && ui.exitCode === null) {
      const exited = new Promise((resolve) => ui.once('exit', resolve))
      ui.kill('SIGINT')
      await exited
    }
    await partner?.close()
    await receiver?.close()
    store.remove()
  })

  it(
    'counts, search, a dead entry retried and redriven to delivered, hostile strings as text, no token no POST',
    { timeout: 60_000 },
    async () => {
      const page = await context.newPage()
      page.on('dialog', async (dialog) => {
        dialogs.push({ type: dialog.type(), message: dialog.message() })
        await dialog.accept()
      })

      await page.goto(url)
      // The token became a cookie and left the address bar.
      expect(new URL(page.url()).search).toBe('')
      expect(await page.textContent('[data-count="delivered"]')).toBe('12')
      expect(await page.textContent('[data-count="dead"]')).toBe('1')
      expect(await page.textContent('[data-count="pending"]')).toBe('1')
      expect(await page.locator('svg rect').count()).toBe(72)
      await page.screenshot({ path: path.join(shots, 'outbox-overview.png'), fullPage: true })

      await page.click('header >> text=Entries')
      expect(await page.locator('tr[data-entry]').count()).toBe(14)
      // The hostile booking id is text in its cell, and the list masks customers.
      expect(await page.locator('tr[data-entry] td:nth-child(2)', { hasText: HOSTILE_ID }).count()).toBe(1)
      expect(await page.locator('img').count()).toBe(0)
      expect(await page.textContent('tbody')).toContain('B*** S*** · ***890')
      await page.screenshot({ path: path.join(shots, 'outbox-list.png'), fullPage: true })

      await page.fill('input[name="q"]', 'SC-DEAD')
      await page.click('button:has-text("Filter")')
      const rows = page.locator('tr[data-entry]')
      expect(await rows.count()).toBe(1)
      expect(await rows.first().textContent()).toContain('dead')
      await rows.first().locator('a').click()
      expect(await page.textContent('[data-state]')).toBe('dead')
      expect(await page.textContent('table')).toContain('bad_request')
      await page.screenshot({ path: path.join(shots, 'outbox-entry.png'), fullPage: true })

      partner.plan('SC-DEAD-1', 200)
      await page.click('button:has-text("Retry now")')
      await page.waitForSelector('.notice')
      expect(await page.textContent('.notice')).toMatch(/is due now \(retried by local operator/)
      expect(await page.textContent('[data-state]')).toBe('pending')
      await page.click('button:has-text("Redrive what is due now")')
      await page.waitForSelector('.notice >> text=Redrive by')
      expect(await page.textContent('.notice')).toMatch(/1 delivered, 0 failed/)
      expect(await page.textContent('[data-state]')).toBe('delivered')
      expect(partner.forBooking('SC-DEAD-1').at(-1).status).toBe(200)
      expect(dialogs.map((d) => d.type)).toEqual(['confirm', 'confirm'])
      expect(dialogs[0].message).toMatch(/^Retry entry .* of booking SC-DEAD-1 now\?/)

      // The hostile entry: its id and the partner's message are text, and nothing runs.
      await page.goto(new URL('/entries', url).href)
      await page.fill('input[name="q"]', '<img')
      await page.click('button:has-text("Filter")')
      await page.locator('tr[data-entry] a').first().click()
      expect(await page.textContent('dd')).toBe(HOSTILE_ID)
      expect(await page.textContent('body')).toContain(HOSTILE_MESSAGE)
      expect(await page.locator('img').count()).toBe(0)
      expect(dialogs.filter((d) => d.type !== 'confirm')).toEqual([])

      // A POST without the form token is refused, even from the page itself with its cookie
      // (a form: the page's CSP lets no script fetch anything).
      const [refused] = await Promise.all([
        page.waitForNavigation(),
        page.evaluate(() => {
          const form = Object.assign(document.createElement('form'), { method: 'post', action: '/actions/redrive' })
          document.body.append(form)
          form.submit()
        }),
      ])
      expect(refused.status()).toBe(403)
      expect(await page.textContent('main')).toMatch(/form token is missing/)
      // And without the cookie, nothing at all.
      const outside = await fetch(new URL('/', url), { redirect: 'manual' })
      expect(outside.status).toBe(403)
      for (const shot of ['outbox-overview.png', 'outbox-list.png', 'outbox-entry.png'])
        expect(fs.statSync(path.join(shots, shot)).size).toBeGreaterThan(10_000)
    },
  )
})
