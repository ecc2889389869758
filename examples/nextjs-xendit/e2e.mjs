#!/usr/bin/env node
// End to end, the way a user meets the package: pack it, install the tarball into a fresh copy
// of this example, build it with webpack and with Turbopack, `next start` it and drive the
// Xendit route against the package's mock partner on 127.0.0.1.
// Usage: npm run test:e2e   (KEEP_E2E_DIR=1 keeps the temp dir; it is always kept on failure)

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { CHROMIUM, launchChromium } from '../../scripts/chromium.mjs'
import { freePort } from '../../scripts/free-port.mjs'

const EXAMPLE_DIR = path.dirname(fileURLToPath(import.meta.url))
const ROOT = path.resolve(EXAMPLE_DIR, '../..')
const PACKAGE_NAME = '@smashcourts/partner-sync'

const SECRET = 'e2e-shared-secret'
const CALLBACK_TOKEN = 'e2e-xendit-callback-token'
const CRON_SECRET = 'e2e-cron-secret'
const ADMIN_TOKEN = 'e2e-admin-token'
const DEADLINE_MS = 2000
const SYNC_KNOBS = {
  PARTNER_SYNC_MAX_ATTEMPTS: '3',
  PARTNER_SYNC_ATTEMPT_TIMEOUT_MS: '1000',
  PARTNER_SYNC_DEADLINE_MS: String(DEADLINE_MS),
  PARTNER_SYNC_BACKOFF_BASE_MS: '50',
  PARTNER_SYNC_BACKOFF_MAX_MS: '200',
}
// A route that answers this fast did not wait on retries.
const QUICK_MS = 2000
// The route may take the whole deadline, plus Next's own overhead on a busy 2-core machine.
const DOWN_BOUND_MS = DEADLINE_MS + 1500
const MINUTE = 60_000
// Whole-run guard: a first Rust build can take minutes, everything after it is bounded below.
const WHOLE_RUN_MS = 25 * MINUTE

const children = new Set()
let passed = 0
let failed = 0

function killGroup(child, signal) {
  try {
    // Each child leads its own process group, so next's build workers go down with it.
    process.kill(-child.pid, signal)
  } catch {
    // Already gone.
  }
}

process.on('exit', () => {
  for (const child of children) killGroup(child, 'SIGKILL')
})
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130))
setTimeout(() => {
  console.log(`FAIL e2e did not finish within ${WHOLE_RUN_MS / MINUTE} minutes`)
  process.exit(1)
}, WHOLE_RUN_MS).unref()

function tail(text, lines = 40) {
  return text.split('\n').slice(-lines).join('\n')
}

function startChild(command, args, { cwd, env }) {
  const child = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  child.output = ''
  child.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      children.delete(child)
      resolve(signal || code)
    })
    child.on('error', (error) => {
      children.delete(child)
      child.output += `\n${error.message}`
      resolve(error.message)
    })
  })
  children.add(child)
  child.stdout.on('data', (chunk) => (child.output += chunk))
  child.stderr.on('data', (chunk) => (child.output += chunk))
  return child
}

const TIMED_OUT = Symbol('timed out')

// Races a promise against a timer that is cleared afterwards, so no stray timer keeps us alive.
async function within(ms, promise) {
  let timer
  const timeout = new Promise((resolve) => {
    timer = setTimeout(resolve, ms, TIMED_OUT)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

async function stopChild(child) {
  killGroup(child, 'SIGTERM')
  if ((await within(5000, child.exited)) === TIMED_OUT) {
    killGroup(child, 'SIGKILL')
    await child.exited
  }
}

async function run(label, command, args, { cwd, env = process.env, timeoutMs }) {
  const child = startChild(command, args, { cwd, env })
  const outcome = await within(timeoutMs, child.exited)
  if (outcome === TIMED_OUT) {
    await stopChild(child)
    throw new Error(`${label}: not done after ${timeoutMs / 1000} s\n${tail(child.output)}`)
  }
  if (outcome !== 0) throw new Error(`${label} failed (${outcome})\n${tail(child.output)}`)
  return child.output
}

async function check(name, body) {
  const started = performance.now()
  try {
    await body()
    passed++
    console.log(`PASS ${name} (${Math.round(performance.now() - started)} ms)`)
  } catch (error) {
    failed++
    console.log(`FAIL ${name}: ${error.message}`)
  }
}

async function waitFor(what, condition, timeoutMs) {
  const until = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > until) throw new Error(`gave up after ${timeoutMs} ms waiting for ${what}`)
    await sleep(100)
  }
}

async function request(url, init = {}) {
  const started = performance.now()
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(15_000) })
  const text = await response.text()
  let json
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: response.status, json, text, elapsedMs: performance.now() - started }
}

/** A Xendit invoice callback as Xendit posts it when a QRIS payment completes. */
function invoiceCallback(bookingId, status = 'PAID') {
  const now = new Date().toISOString()
  return {
    id: randomBytes(12).toString('hex'),
    external_id: bookingId,
    user_id: '5f2b6c1d9e8a7b0012c3d4e5',
    is_high: false,
    payment_method: 'QR_CODE',
    status,
    merchant_name: 'smashcourts',
    amount: 32000,
    paid_amount: 32000,
    paid_at: now,
    payer_email: 'player@example.com',
    description: 'Court 2, 19:00-20:00',
    currency: 'IDR',
    payment_channel: 'QRIS',
    created: now,
    updated: now,
  }
}

function postCallback(baseUrl, callback, token = CALLBACK_TOKEN) {
  return request(`${baseUrl}/api/webhooks/xendit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-callback-token': token },
    body: JSON.stringify(callback),
  })
}

function callCron(baseUrl, secret = CRON_SECRET) {
  return request(`${baseUrl}/api/cron/partner-sync`, { headers: { authorization: `Bearer ${secret}` } })
}

/** A paid invoice the partner cannot take: the route still answers 200 (not synced) within DOWN_BOUND_MS. */
async function postWhilePartnerDown(baseUrl) {
  const callback = invoiceCallback(randomUUID())
  const answer = await postCallback(baseUrl, callback)
  assert.equal(answer.status, 200, answer.text)
  assert.deepEqual(answer.json, { received: true, synced: false })
  assert.ok(answer.elapsedMs < DOWN_BOUND_MS, `route took ${Math.round(answer.elapsedMs)} ms, want < ${DOWN_BOUND_MS}`)
  return callback
}

/** The partner saw exactly the guide's step-3 body for this callback, correctly signed. */
function assertPartnerGot(mock, callback) {
  const seen = mock.requests.filter((r) => r.bookingId === callback.external_id)
  assert.equal(seen.length, 1, `partner requests for the booking: ${seen.length}, want exactly 1`)
  const [record] = seen
  assert.equal(record.verified, true, 'x-pwa-signature does not verify with the shared secret')
  assert.match(String(record.headers['content-type']), /^application\/json/)
  const body = JSON.parse(record.body)
  const { timestamp, ...rest } = body
  assert.deepEqual(rest, {
    event: 'booking.paid',
    booking_id: callback.external_id,
    status: 'LUNAS',
    paid_amount: callback.paid_amount,
    payment_method: 'QRIS',
    payment_details: { invoice_id: callback.id },
  })
  assert.equal(new Date(timestamp).toISOString(), timestamp, `timestamp ${timestamp} is not ISO 8601`)
  assert.equal(Object.keys(body).at(-1), 'timestamp', 'timestamp must come last, as the guide builds it')
}

function appEnv(partnerUrl, extra = {}) {
  const env = { ...process.env }
  // Only what this run sets may configure the app.
  for (const name of Object.keys(env)) {
    if (/^(PARTNER_SYNC_|PWA_|SMASHPARTNER_|XENDIT_|CRON_SECRET$|ADMIN_TOKEN$)/.test(name)) delete env[name]
  }
  return {
    ...env,
    NEXT_TELEMETRY_DISABLED: '1',
    PWA_WEBHOOK_SECRET: SECRET,
    SMASHPARTNER_SYNC_URL: partnerUrl,
    XENDIT_CALLBACK_TOKEN: CALLBACK_TOKEN,
    CRON_SECRET,
    ADMIN_TOKEN,
    ...SYNC_KNOBS,
    ...extra,
  }
}

function nextBin(appDir) {
  return path.join(appDir, 'node_modules', 'next', 'dist', 'bin', 'next')
}

async function startNext(appDir, env) {
  const port = await freePort()
  const server = startChild(process.execPath, [nextBin(appDir), 'start', '-H', '127.0.0.1', '-p', String(port)], {
    cwd: appDir,
    env,
  })
  server.baseUrl = `http://127.0.0.1:${port}`
  let exited = false
  server.exited.then(() => (exited = true))
  await waitFor(
    'next start to serve /',
    async () => {
      if (exited) throw new Error(`next start exited:\n${tail(server.output)}`)
      return fetch(server.baseUrl, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.ok,
        () => false,
      )
    },
    MINUTE,
  )
  return server
}

async function readBookings(appDir) {
  try {
    return JSON.parse(await readFile(path.join(appDir, '.data', 'bookings.json'), 'utf8'))
  } catch {
    return {}
  }
}

async function packAndInstall(workDir) {
  // Build explicitly, then pack what was built: the same whether or not `prepare` builds.
  await run('npm run build', 'npm', ['run', 'build'], { cwd: ROOT, timeoutMs: 15 * MINUTE })
  const packDir = path.join(workDir, 'pack')
  await mkdir(packDir)
  const packed = JSON.parse(
    await run('npm pack', 'npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], {
      cwd: ROOT,
      timeoutMs: 2 * MINUTE,
    }),
  )
  const tarball = path.join(packDir, packed[0].filename)

  const appDir = path.join(workDir, 'app')
  const skip = new Set(['node_modules', '.next', '.data', 'next-env.d.ts', 'tsconfig.tsbuildinfo'])
  await cp(EXAMPLE_DIR, appDir, { recursive: true, filter: (source) => !skip.has(path.basename(source)) })
  // The committed lockfile pins next/react; --prefer-offline reuses npm's cache on reruns.
  await run('npm install <tarball>', 'npm', ['install', tarball, '--no-audit', '--no-fund', '--prefer-offline'], {
    cwd: appDir,
    timeoutMs: 5 * MINUTE,
  })
  return appDir
}

/** The package as the app installed it from the tarball: its mock partner and outbox client. */
function installedPackage(appDir) {
  return createRequire(path.join(appDir, 'package.json'))(PACKAGE_NAME)
}

/**
 * Starts the installed package's mock partner (with `partner` options) and `next start` wired to
 * it (with `env`), runs `checks({ server, mock, restartPartner })`, then stops them all; returns
 * next's output for the failure report. `restartPartner(options)` starts a partner on the mock's
 * port, in its place once the checks have closed it.
 */
async function withApp(appDir, { partner = {}, env = {} }, checks) {
  const { startMockPartner } = installedPackage(appDir)
  const mock = await startMockPartner({ secret: SECRET, log: false, ...partner })
  const server = await startNext(appDir, appEnv(mock.url, env))
  const replacements = []
  const restartPartner = async (options = {}) => {
    const replacement = await startMockPartner({ secret: SECRET, port: mock.port, log: false, ...options })
    replacements.push(replacement)
    return replacement
  }
  try {
    await checks({ server, mock, restartPartner })
  } finally {
    await stopChild(server)
    await mock.close()
    for (const replacement of replacements) await replacement.close()
  }
  return server.output
}

async function proveWithoutOutbox(bundler, appDir) {
  const spansFile = path.join(appDir, `spans-${bundler}.jsonl`)
  return withApp(appDir, { env: { OTEL_SPANS_FILE: spansFile } }, async ({ server, mock, restartPartner }) => {
    await check(`${bundler}: invoice PAID -> 200 quickly, partner got one signed booking.paid`, async () => {
      const callback = invoiceCallback(randomUUID())
      const answer = await postCallback(server.baseUrl, callback)
      assert.equal(answer.status, 200, answer.text)
      assert.deepEqual(answer.json, { received: true, synced: true })
      assert.ok(answer.elapsedMs < QUICK_MS, `route took ${Math.round(answer.elapsedMs)} ms, want < ${QUICK_MS}`)
      assertPartnerGot(mock, callback)
      const stored = (await readBookings(appDir))[callback.external_id]
      assert.equal(stored?.status, 'LUNAS', 'local store was not updated')
      assert.equal(stored.invoiceId, callback.id)
    })

    await check(
      `${bundler}: the sync is traced: a partner-sync span exported, its trace id in the partner's traceparent`,
      async () => {
        const callback = invoiceCallback(randomUUID())
        const answer = await postCallback(server.baseUrl, callback)
        assert.equal(answer.status, 200, answer.text)
        const readSpans = () =>
          existsSync(spansFile)
            ? readFileSync(spansFile, 'utf8')
                .trim()
                .split('\n')
                .filter(Boolean)
                .map((l) => JSON.parse(l))
            : []
        const isSync = (s) =>
          s.name === 'partner-sync sync' && s.attributes['partner_sync.booking_id'] === callback.external_id
        await waitFor('the exported sync span', () => readSpans().some(isSync), 3000)
        const spans = readSpans()
        const sync = spans.find(isSync)
        assert.equal(sync.attributes['partner_sync.outcome'], 'delivered')
        assert.ok(
          spans.some((s) => s.name === 'POST' && s.traceId === sync.traceId),
          'no attempt span in the sync trace',
        )
        const [record] = mock.requests.filter((r) => r.bookingId === callback.external_id)
        assert.equal(
          String(record.headers.traceparent).split('-')[1],
          sync.traceId,
          `traceparent ${record.headers.traceparent}`,
        )
        assert.equal(record.verified, true, 'the signature must still verify with the trace header added')
      },
    )

    await check(`${bundler}: wrong x-callback-token -> 401, partner got nothing`, async () => {
      const before = mock.requests.length
      const callback = invoiceCallback(randomUUID())
      const answer = await postCallback(server.baseUrl, callback, 'not-the-token')
      assert.equal(answer.status, 401, answer.text)
      assert.equal(mock.requests.length, before, 'the partner was called')
      assert.equal((await readBookings(appDir))[callback.external_id], undefined, 'the store was updated')
    })

    await check(`${bundler}: invoice EXPIRED -> 200, partner got nothing`, async () => {
      const before = mock.requests.length
      const answer = await postCallback(server.baseUrl, invoiceCallback(randomUUID(), 'EXPIRED'))
      assert.equal(answer.status, 200, answer.text)
      assert.deepEqual(answer.json, { received: true, synced: false })
      assert.equal(mock.requests.length, before, 'the partner was called')
    })

    await check(`${bundler}: partner hangs -> route answers within ${DOWN_BOUND_MS} ms, failure logged`, async () => {
      // Same port, but a partner that accepts connections and never answers.
      await mock.close()
      await restartPartner({ delayMs: 10 * MINUTE })
      const callback = await postWhilePartnerDown(server.baseUrl)
      await waitFor(
        "the failure in next's log",
        () => server.output.includes(`[Partner Sync] Failed for booking ${callback.external_id}`),
        3000,
      )
    })
  })
}

async function proveOutbox(bundler, appDir, workDir) {
  const { createPartnerSync } = installedPackage(appDir)
  const outbox = `sqlite:${path.join(workDir, `outbox-${bundler}.db`)}`
  // 100ms: a failed sync is due again almost at once, so one cron call can redrive it.
  const env = { PARTNER_SYNC_OUTBOX: outbox, PARTNER_SYNC_OUTBOX_SCHEDULE: '100ms' }
  return withApp(appDir, { env }, async ({ server, mock, restartPartner }) => {
    await check(`${bundler}: cron route without the right bearer -> 401`, async () => {
      const answer = await callCron(server.baseUrl, 'wrong')
      assert.equal(answer.status, 401, answer.text)
    })

    await check(`${bundler}: partner down with an outbox -> entry pending, cron redrive delivers it`, async () => {
      const probe = await callCron(server.baseUrl)
      assert.equal(probe.status, 200, probe.text)
      assert.equal(probe.json?.error, undefined, probe.text)

      await mock.close()
      const callback = await postWhilePartnerDown(server.baseUrl)
      const kept = new RegExp(`Failed for booking ${callback.external_id} .*kept in the outbox \\(entry ([^)]+)\\)`)
      await waitFor('"kept in the outbox" in next\'s log', () => kept.test(server.output), 3000)
      const entryId = server.output.match(kept)[1]

      // Read the outbox through the package, as the CLI or an admin script would.
      const inspector = createPartnerSync({ outbox, logger: false })
      const pendingIds = async () => (await inspector.outbox.list({ state: 'pending' })).map((entry) => entry.id)
      assert.ok((await pendingIds()).includes(entryId), `entry ${entryId} is not pending`)

      const partnerBack = await restartPartner()
      await sleep(150) // past the 100ms schedule step
      const redrive = await callCron(server.baseUrl)
      assert.equal(redrive.status, 200, redrive.text)
      assert.equal(redrive.json.delivered, 1, redrive.text)
      assert.equal(redrive.json.failed, 0, redrive.text)
      assertPartnerGot(partnerBack, callback)
      assert.ok(!(await pendingIds()).includes(entryId), `entry ${entryId} is still pending after delivery`)
    })
  })
}

// The serverless pattern without a frequent cron: the Xendit route runs catchUp() in after(). A
// sync kept while the partner was down goes out right after the next paid invoice's answer, though
// its schedule says an hour, with no cron call. Through PgBouncer in transaction mode when .ci/run
// started one (as Supabase's pooler on port 6543), else a SQLite file.
async function proveCatchUp(bundler, appDir, workDir) {
  const pooler = process.env.PARTNER_SYNC_TEST_PGBOUNCER
  const outbox = pooler
    ? { PARTNER_SYNC_OUTBOX: pooler, PARTNER_SYNC_OUTBOX_TABLE_PREFIX: `e2e_${bundler}_${Date.now().toString(36)}_` }
    : { PARTNER_SYNC_OUTBOX: `sqlite:${path.join(workDir, `outbox-catch-up-${bundler}.db`)}` }
  const env = { ...outbox, PARTNER_SYNC_OUTBOX_SCHEDULE: '1h' }
  return withApp(appDir, { env }, async ({ server, mock, restartPartner }) => {
    await check(
      `${bundler}: partner down, then the next paid invoice -> its answer is quick and the kept sync goes out after it (${pooler ? 'PgBouncer' : 'SQLite'} outbox, no cron)`,
      async () => {
        await mock.close()
        const kept = invoiceCallback(randomUUID())
        const down = await postCallback(server.baseUrl, kept)
        assert.deepEqual(down.json, { received: true, synced: false })
        await waitFor(
          '"kept in the outbox" in next\'s log',
          () =>
            server.output.includes(`Failed for booking ${kept.external_id}`) &&
            server.output.includes('kept in the outbox'),
          3000,
        )

        const partnerBack = await restartPartner()
        const next = invoiceCallback(randomUUID())
        const sent = performance.now() + performance.timeOrigin
        const answer = await postCallback(server.baseUrl, next)
        assert.deepEqual(answer.json, { received: true, synced: true })
        assert.ok(answer.elapsedMs < QUICK_MS, `route took ${Math.round(answer.elapsedMs)} ms, want < ${QUICK_MS}`)
        await waitFor(
          'the catch-up to deliver the kept sync',
          () => partnerBack.requests.some((r) => r.bookingId === kept.external_id),
          5000,
        )
        assertPartnerGot(partnerBack, kept)
        assertPartnerGot(partnerBack, next)
        const redelivered = partnerBack.requests.find((r) => r.bookingId === kept.external_id)
        assert.ok(redelivered.receivedAt > sent, 'the kept sync went out before the next invoice arrived')
      },
    )
  })
}

// The long-running-server pattern: instrumentation.ts starts the outbox worker, which delivers
// a sync kept while the partner was down without any cron call.
async function proveOutboxWorker(bundler, appDir, workDir) {
  const env = {
    PARTNER_SYNC_OUTBOX: `sqlite:${path.join(workDir, `outbox-worker-${bundler}.db`)}`,
    PARTNER_SYNC_OUTBOX_SCHEDULE: '100ms',
    OUTBOX_WORKER_INTERVAL_MS: '200',
  }
  return withApp(appDir, { env }, async ({ server, mock, restartPartner }) => {
    await check(`${bundler}: partner down, then back -> the outbox worker delivers it, no cron call`, async () => {
      await waitFor(
        '"outbox worker started" in next\'s log',
        () => server.output.includes('[Partner Sync] outbox worker started'),
        5000,
      )
      await mock.close()
      const callback = invoiceCallback(randomUUID())
      const answer = await postCallback(server.baseUrl, callback)
      assert.deepEqual(answer.json, { received: true, synced: false })
      const partnerBack = await restartPartner()
      await waitFor(
        'the worker to deliver the kept sync',
        () => partnerBack.requests.some((r) => r.bookingId === callback.external_id),
        5000,
      )
      assertPartnerGot(partnerBack, callback)
    })
  })
}

// The outbox page mounted in the app (app/admin/partner-sync/[[...path]]/route.ts), in Chromium:
// refused without the admin cookie, then a dead entry found, retried and redriven to delivered.
async function proveDashboard(bundler, appDir, workDir) {
  const env = { PARTNER_SYNC_OUTBOX: `sqlite:${path.join(workDir, `outbox-dashboard-${bundler}.db`)}` }
  // The partner refuses the first body (400: dead at once), then accepts.
  return withApp(appDir, { partner: { fail: [400] }, env }, async ({ server, mock }) => {
    const browser = await launchChromium('partner-sync-e2e-chromium-')
    const shots = path.join(workDir, 'screenshots')
    await mkdir(shots, { recursive: true })
    try {
      await check(
        `${bundler}: outbox page in Chromium: 403 without admin auth; a dead entry retried and redriven to delivered`,
        async () => {
          const dead = invoiceCallback(`dead-${randomUUID()}`)
          assert.deepEqual((await postCallback(server.baseUrl, dead)).json, { received: true, synced: false })
          const hostile = invoiceCallback('<script>alert(1)</script>')
          assert.deepEqual((await postCallback(server.baseUrl, hostile)).json, { received: true, synced: true })

          const refused = await request(`${server.baseUrl}/admin/partner-sync`)
          assert.equal(refused.status, 403, refused.text)
          const page = await browser.context.newPage()
          const dialogs = []
          page.on('dialog', async (dialog) => {
            dialogs.push(dialog.type())
            await dialog.accept()
          })
          await page.goto(`${server.baseUrl}/admin/login?token=${ADMIN_TOKEN}`)
          assert.equal(new URL(page.url()).pathname, '/admin/partner-sync')
          assert.equal(await page.textContent('[data-count="dead"]'), '1')
          assert.equal(await page.textContent('[data-count="delivered"]'), '1')
          await page.click('header >> text=Entries')
          assert.ok(
            (await page.textContent('tbody')).includes('<script>alert(1)</script>'),
            'the hostile booking id is not shown as text',
          )
          await page.screenshot({ path: path.join(shots, `${bundler}-list.png`), fullPage: true })
          await page.fill('input[name="q"]', dead.external_id)
          await page.click('button:has-text("Filter")')
          await page.locator('tr[data-entry] a').first().click()
          assert.equal(await page.textContent('[data-state]'), 'dead')
          await page.screenshot({ path: path.join(shots, `${bundler}-entry.png`), fullPage: true })
          await page.click('button:has-text("Retry now")')
          await page.waitForSelector('.notice')
          assert.match(await page.textContent('.notice'), /is due now \(retried by admin/)
          await page.click('button:has-text("Redrive what is due now")')
          await page.waitForSelector('.notice >> text=Redrive by')
          assert.match(await page.textContent('.notice'), /1 delivered/)
          assert.equal(await page.textContent('[data-state]'), 'delivered')
          assert.equal(mock.requests.filter((r) => r.bookingId === dead.external_id).at(-1).status, 200)
          assert.deepEqual(dialogs, ['confirm', 'confirm'], 'only the two confirmations may open a dialog')
        },
      )
    } finally {
      await browser.close()
    }
  })
}

async function main() {
  const started = performance.now()
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'partner-sync-e2e-'))
  const logs = []
  let appDir
  await check('npm pack + npm install <tarball> into a copy of the example', async () => {
    appDir = await packAndInstall(workDir)
  })

  if (appDir) {
    // Next 16 builds with Turbopack by default and still offers webpack: prove both.
    for (const bundler of ['webpack', 'turbopack']) {
      let built = false
      await check(`${bundler}: next build --${bundler}`, async () => {
        await run(`next build --${bundler}`, process.execPath, [nextBin(appDir), 'build', `--${bundler}`], {
          cwd: appDir,
          env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' },
          timeoutMs: 6 * MINUTE,
        })
        built = true
      })
      if (!built) continue
      const proofs = [
        ['no outbox', proveWithoutOutbox],
        ['outbox', proveOutbox],
        ['catch-up', proveCatchUp],
        ['outbox worker', proveOutboxWorker],
      ]
      if (existsSync(CHROMIUM)) proofs.push(['outbox page', proveDashboard])
      else if (process.env.PARTNER_SYNC_REQUIRE_CHROMIUM === '1') {
        failed++
        console.log(
          `FAIL ${bundler}: PARTNER_SYNC_REQUIRE_CHROMIUM=1 but there is no browser at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`,
        )
      } else
        console.log(
          `SKIP ${bundler}: the outbox page in a browser (no Chromium at ${CHROMIUM}; apt-get install chromium, or set CHROMIUM_PATH)`,
        )
      for (const [setup, prove] of proofs) {
        try {
          logs.push(`--- next start (${bundler}, ${setup}) ---\n${await prove(bundler, appDir, workDir)}`)
        } catch (error) {
          // Only setup (next start, the mock) throws here; the checks report their own failures.
          failed++
          console.log(`FAIL ${bundler} (${setup}): ${error.message}`)
        }
      }
    }
  }

  const seconds = ((performance.now() - started) / 1000).toFixed(1)
  console.log(`e2e: ${passed} passed, ${failed} failed in ${seconds} s`)
  if (failed > 0) {
    console.log(`${logs.map((log) => tail(log, 30)).join('\n')}\nKept for inspection: ${workDir}`)
    process.exit(1)
  }
  console.log(`Screenshots of the outbox page: ${path.join(workDir, 'screenshots')} (kept with KEEP_E2E_DIR=1)`)
  if (process.env.KEEP_E2E_DIR) console.log(`Kept: ${workDir}`)
  else await rm(workDir, { recursive: true, force: true })
}

await main()
