// Outbox child (issue 3): the latency a sync adds with a SQLite or PostgreSQL outbox versus
// none, directly and through PgBouncer in transaction mode (as Supabase's pooler), how fast
// redrive drains pending entries, and what a cold start costs the first sync. Package only: the
// guide has no outbox.
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'
import { PACKAGE_ENTRY } from './implementations.mjs'
import { median, percentile } from './stats.mjs'
import { bookingAt, runConcurrent, runSequential } from './workload.mjs'

const job = JSON.parse(process.argv[2])
const { createPartnerSync } = createRequire(import.meta.url)(PACKAGE_ENTRY)
const progress = (line) => process.stderr.write(`    ${line}\n`)
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'partner-sync-bench-'))
// Per-run table prefixes so a shared dev database never mixes runs; dropped at the end.
const runTag = `bench${process.pid}_`

// A port nothing listens on, so the filling syncs fail fast and stay pending.
async function refusedUrl() {
  const server = net.createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return `http://127.0.0.1:${port}/api/webhooks/pwa-sync`
}

function clientFor(outbox, overrides = {}) {
  const client = createPartnerSync({
    url: job.target.url,
    secret: job.target.secret,
    outbox,
    logger: false,
    ...overrides,
  })
  return { client, sync: (data) => client.sync(data).then((r) => r.ok) }
}

// Returns why this outbox cannot be measured, or null when one sync kept it.
async function unusable(client) {
  const result = await client.sync({ event: 'booking.paid', booking_id: 'probe', status: 'LUNAS', paid_amount: 1 })
  if (!result.ok) return `the probe sync failed: ${result.error && result.error.message}`
  if (!result.outbox || result.outbox.error || result.outbox.state !== 'delivered')
    return `the outbox did not keep the probe: ${JSON.stringify(result.outbox)}`
  return null
}

// Sequential latency for each backend, rotating backends within each round to share drift.
async function latency(backends) {
  const perRound = Object.fromEntries(Object.keys(backends).map((name) => [name, []]))
  for (let round = 0; round < job.rounds; round++) {
    for (const [name, { sync }] of Object.entries(backends)) {
      const run = await runSequential(sync, job.latencyCount)
      if (run.failures) throw new Error(`${name}: ${run.failures} syncs failed`)
      perRound[name].push({ p50Ms: percentile(run.latencies, 50), p99Ms: percentile(run.latencies, 99) })
    }
  }
  return Object.fromEntries(
    Object.entries(perRound).map(([name, rounds]) => [
      name,
      { p50Ms: median(rounds.map((r) => r.p50Ms)), p99Ms: median(rounds.map((r) => r.p99Ms)) },
    ]),
  )
}

// Fills `redriveCount` pending entries (partner unreachable), then times redrive to the receiver.
async function redrive(location, tablePrefix) {
  const settings = { outboxTablePrefix: tablePrefix, outboxSchedule: '1ms' }
  const filler = clientFor(location, { ...settings, url: await refusedUrl(), maxAttempts: 1 }).client
  const keptPending = (data) => filler.sync(data).then((r) => r.outbox && r.outbox.state === 'pending')
  // One sync alone first: concurrent first syncs race to open the store, and a loser is
  // not kept ("database is locked" on open; see the report). Later ones share the open store.
  // Its own booking: a second body of one booking would supersede the first, not add to it.
  const first = await keptPending({ ...bookingAt(0), booking_id: 'redrive-first' })
  const rest = await runConcurrent(keptPending, { concurrency: 16, count: job.redriveCount - 1 })
  const notKept = (first ? 0 : 1) + rest.failures
  if (notKept) throw new Error(`${notKept} of ${job.redriveCount} entries did not stay pending`)
  await new Promise((resolve) => setTimeout(resolve, 20))
  const { client } = clientFor(location, settings)
  let delivered = 0
  const begin = performance.now()
  // Bounded: one call should take them all (limit = count); a few more cover stragglers.
  for (let call = 0; call < 5 && delivered < job.redriveCount; call++) {
    const summary = await client.redrivePending({ limit: job.redriveCount })
    if (summary.error) throw new Error(summary.error)
    delivered += summary.delivered
  }
  const seconds = (performance.now() - begin) / 1000
  return { entries: job.redriveCount, delivered, seconds, perSecond: delivered / seconds }
}

function dropPostgresTables(url, prefixes) {
  const tables = prefixes.flatMap((prefix) => [`${prefix}entries`, `${prefix}bookings`, `${prefix}schema_version`])
  const dropped = spawnSync('psql', [url, '-q', '-c', `DROP TABLE IF EXISTS ${tables.join(', ')}`], {
    stdio: 'ignore',
    timeout: 10_000,
  })
  if (dropped.status !== 0)
    progress(`could not drop the bench tables ${tables.join(', ')} (psql missing or failed); drop them by hand`)
}

// A fresh process's first sync and its second, `times` times: the first opens the outbox (connect,
// TLS if any, schema check), as a serverless function's first request after a cold start does.
function coldStarts(location, tablePrefix) {
  const script = `
    const { createPartnerSync } = require(${JSON.stringify(PACKAGE_ENTRY)})
    const client = createPartnerSync(${JSON.stringify({ url: job.target.url, secret: job.target.secret, outbox: location, outboxTablePrefix: tablePrefix, logger: false })})
    const timed = async (id) => { const begin = performance.now(); const r = await client.sync({ event: 'booking.paid', booking_id: id, status: 'LUNAS', paid_amount: 1 }); if (!r.ok || r.outbox.state !== 'delivered') throw new Error(JSON.stringify(r.outbox)); return performance.now() - begin }
    ;(async () => { const first = await timed('cold-1'); const second = await timed('cold-2'); process.stdout.write(JSON.stringify({ first, second })) })()`
  const runs = Array.from({ length: job.coldStarts }, () =>
    JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 })),
  )
  return { runs: runs.length, firstMs: median(runs.map((r) => r.first)), secondMs: median(runs.map((r) => r.second)) }
}

// The PostgreSQL outboxes measured: the server itself, and PgBouncer in transaction mode in front of it.
// With `prepared_statements=on`, the direct connection's named statements: what that option saves.
const withPrepared = (url) => url && `${url}${url.includes('?') ? '&' : '?'}prepared_statements=on`
const POSTGRES_BACKENDS = [
  ['postgres', job.postgresUrl, 'PARTNER_SYNC_BENCH_POSTGRES or PARTNER_SYNC_TEST_POSTGRES'],
  ['prepared', withPrepared(job.postgresUrl), 'PARTNER_SYNC_BENCH_POSTGRES or PARTNER_SYNC_TEST_POSTGRES'],
  ['pgbouncer', job.poolerUrl, 'PARTNER_SYNC_BENCH_PGBOUNCER or PARTNER_SYNC_TEST_PGBOUNCER'],
]
const prefixesOf = (name) => [`${runTag}${name}_lat_`, `${runTag}${name}_redrive_`, `${runTag}${name}_cold_`]

const result = { latency: {}, redrive: {}, coldStart: {}, skipped: {} }
try {
  const backends = { none: clientFor(false), sqlite: clientFor(`sqlite:${path.join(tmp, 'latency.db')}`) }
  for (const [name, url, variables] of POSTGRES_BACKENDS) {
    if (!url) {
      result.skipped[name] = `${name} outbox skipped: set ${variables} to a postgres:// URL`
      continue
    }
    const client = clientFor(url, { outboxTablePrefix: prefixesOf(name)[0] })
    const why = await unusable(client.client)
    if (why) result.skipped[name] = `${name} outbox skipped: ${why}`
    else backends[name] = client
  }
  const sqliteProblem = await unusable(backends.sqlite.client)
  if (sqliteProblem) throw new Error(`SQLite outbox: ${sqliteProblem}`)
  progress(
    `outbox latency: ${Object.keys(backends).join(', ')}, ${job.rounds} rounds of ${job.latencyCount} sequential syncs`,
  )
  result.latency = await latency(backends)
  progress(`outbox redrive: sqlite, ${job.redriveCount} entries`)
  result.redrive.sqlite = await redrive(`sqlite:${path.join(tmp, 'redrive.db')}`, undefined)
  for (const [name, url] of POSTGRES_BACKENDS.filter(([name]) => backends[name])) {
    progress(`outbox redrive: ${name}, ${job.redriveCount} entries`)
    result.redrive[name] = await redrive(url, prefixesOf(name)[1])
    if (name === 'prepared') continue // a cold start is the connection's, whatever the statements
    progress(`outbox cold start: ${name}, ${job.coldStarts} fresh processes`)
    result.coldStart[name] = coldStarts(url, prefixesOf(name)[2])
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true })
  for (const [name, url] of POSTGRES_BACKENDS) if (url) dropPostgresTables(job.postgresUrl || url, prefixesOf(name))
}
process.send({ result }, () => process.exit(0))
