// npm run bench: the package against the integration guide's TypeScript, side by side.
//   node bench/run.mjs            full run (about 4 minutes on 2 cores), writes bench/results/
//   node bench/run.mjs --smoke    tiny counts (< 20 s) to keep the script from rotting
//   --out <dir>                   write the results elsewhere (the smoke test uses a temp dir)
// Postgres outbox numbers need PARTNER_SYNC_BENCH_POSTGRES or PARTNER_SYNC_TEST_POSTGRES, and through
// PgBouncer PARTNER_SYNC_BENCH_PGBOUNCER or PARTNER_SYNC_TEST_PGBOUNCER.
import { fork, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { IMPLEMENTATIONS, PACKAGE_ENTRY } from './implementations.mjs'
import { CONCURRENCY_LEVELS, writeResults } from './report.mjs'
import { median } from './stats.mjs'
import { runWrk, WRK_MISSING, wrkAvailable } from './wrk.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const smoke = args.includes('--smoke')
const outIndex = args.indexOf('--out')
const outDir = outIndex >= 0 ? path.resolve(args[outIndex + 1]) : path.join(here, 'results')
// A fixed secret: the receiver and both clients share it; nothing here is real.
const target = { secret: 'bench-shared-secret-0123456789abcdef', url: '' }

const FULL_KNOBS = {
  rounds: 7,
  speed: { warmupCount: 300, sequentialCount: 3000, levels: CONCURRENCY_LEVELS, levelMs: 2000 },
  memory: { warmupCount: 30_000, count: 100_000, concurrency: 16, timeLimitMs: 150_000 },
  requireProcesses: 15,
  signing: { payloadSizes: { typical: 300, '1 MB': 1 << 20 }, durationMs: 300, rounds: 5 },
  outbox: { rounds: 5, latencyCount: 300, redriveCount: 2000, coldStarts: 7 },
  otel: { rounds: 5, sequentialCount: 1000, levelMs: 2000 },
}
// The same run with tiny counts: exercises every path, measures nothing.
const SMOKE_KNOBS = {
  rounds: 1,
  speed: { ...FULL_KNOBS.speed, warmupCount: 20, sequentialCount: 50, levelMs: 150 },
  memory: { ...FULL_KNOBS.memory, warmupCount: 100, count: 500, timeLimitMs: 5_000 },
  requireProcesses: 2,
  signing: { ...FULL_KNOBS.signing, durationMs: 20, rounds: 1 },
  outbox: { rounds: 1, latencyCount: 20, redriveCount: 50, coldStarts: 1 },
  otel: { rounds: 1, sequentialCount: 20, levelMs: 150 },
}
const KNOBS = smoke ? SMOKE_KNOBS : FULL_KNOBS

const log = (line) => process.stderr.write(`${line}\n`)
const loadAverage = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')

// Runs one bench child to its single IPC result; kills it if it outlives `timeoutMs`.
function runChild(script, job, { execArgv = [], timeoutMs }) {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(here, script), [JSON.stringify(job)], {
      execArgv,
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    })
    let result
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${script} ${job.kind || ''} ${job.impl || ''} took over ${timeoutMs} ms`))
    }, timeoutMs)
    child.on('message', (message) => (result = message.result))
    child.on('exit', (code) => {
      clearTimeout(timer)
      if (result) resolve(result)
      else reject(new Error(`${script} ${job.kind || ''} ${job.impl || ''} exited with ${code} and no result`))
    })
  })
}

function startReceiver() {
  return new Promise((resolve, reject) => {
    const receiver = fork(path.join(here, 'receiver.mjs'), [], {
      env: { ...process.env, PWA_WEBHOOK_SECRET: target.secret },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    })
    receiver.once('message', ({ port }) => resolve({ receiver, url: `http://127.0.0.1:${port}/api/webhooks/pwa-sync` }))
    receiver.once('exit', (code) => reject(new Error(`the receiver exited with ${code}`)))
  })
}

const receiverCounts = (receiver) =>
  new Promise((resolve) => {
    receiver.once('message', ({ counts }) => resolve(counts))
    receiver.send('counts')
  })

// Load time and the first sync in fresh processes: nothing else loaded, nothing cached, no
// connection open, as in a serverless function's cold start.
function coldStarts() {
  const env = { ...process.env, SMASHPARTNER_SYNC_URL: target.url, PWA_WEBHOOK_SECRET: target.secret }
  const runs = { package: [], baseline: [] }
  for (let i = 0; i < KNOBS.requireProcesses; i++) {
    for (const impl of IMPLEMENTATIONS) {
      const run = spawnSync(process.execPath, [path.join(here, 'cold-start.cjs'), impl], {
        encoding: 'utf8',
        env,
        timeout: 10_000,
      })
      const result = run.status === 0 ? JSON.parse(run.stdout) : undefined
      if (!result || !result.ok) throw new Error(`a cold start of ${impl} failed: ${run.stderr || run.stdout}`)
      runs[impl].push(result)
    }
  }
  const pick = (impl, field) => median(runs[impl].map((r) => r[field]))
  return {
    package: pick('package', 'loadedMs'),
    baseline: pick('baseline', 'loadedMs'),
    firstSync: { package: pick('package', 'firstSyncMs'), baseline: pick('baseline', 'firstSyncMs') },
    samples: runs,
  }
}

// Medians across rounds of each number a speed child reports.
function medianOfRounds(rounds) {
  const pick = (f) => median(rounds.map(f))
  return {
    p50Ms: pick((r) => r.p50Ms),
    p99Ms: pick((r) => r.p99Ms),
    cpuMicrosPerSync: pick((r) => r.cpuMicrosPerSync),
    throughput: Object.fromEntries(CONCURRENCY_LEVELS.map((c) => [c, pick((r) => r.throughput[c])])),
    cpuMicrosPerSyncByConcurrency: Object.fromEntries(
      CONCURRENCY_LEVELS.map((c) => [c, pick((r) => r.cpuMicrosPerSyncByConcurrency[c])]),
    ),
    failures: rounds.reduce((sum, r) => sum + r.failures, 0),
  }
}

function machine() {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8')
  const model = /model name\s*:\s*(.+)/.exec(cpuinfo)
  return {
    cpu: model ? model[1].trim() : os.cpus()[0]?.model || 'unknown CPU',
    cores: os.cpus().length,
    node: process.version,
    date: new Date().toISOString().slice(0, 10),
    smoke,
    loadStart: loadAverage(),
  }
}

// A copy of the package where @opentelemetry/api cannot resolve: what an app without it runs.
function packageWithoutOtel() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'partner-sync-no-otel-'))
  const root = path.dirname(path.dirname(PACKAGE_ENTRY))
  const native = fs.readdirSync(root).filter((name) => name.endsWith('.node'))
  for (const name of ['package.json', 'binding.js', 'lib', ...native])
    fs.cpSync(path.join(root, name), path.join(dir, name), { recursive: true })
  return { dir, entry: path.join(dir, 'lib', 'index.js') }
}

async function otelCost() {
  const absent = packageWithoutOtel()
  const modes = { absent: absent.entry, noop: PACKAGE_ENTRY, sdk: PACKAGE_ENTRY }
  const rounds = Object.fromEntries(Object.keys(modes).map((mode) => [mode, []]))
  try {
    for (let round = 1; round <= KNOBS.otel.rounds; round++) {
      for (const [mode, entry] of Object.entries(modes))
        rounds[mode].push(await runChild('otel.mjs', { mode, entry, target, ...KNOBS.otel }, { timeoutMs: 120_000 }))
    }
  } finally {
    fs.rmSync(absent.dir, { recursive: true, force: true })
  }
  const pick = (mode, field) => median(rounds[mode].map((r) => r[field]))
  return Object.fromEntries(
    Object.keys(modes).map((mode) => [
      mode,
      Object.fromEntries(
        ['perSecond1', 'cpuMicrosPerSync1', 'perSecond64', 'cpuMicrosPerSync64']
          .map((f) => [f, pick(mode, f)])
          .concat([['failures', rounds[mode].reduce((n, r) => n + r.failures, 0)]]),
      ),
    ]),
  )
}

const began = performance.now()
const results = { machine: machine(), knobs: KNOBS }
log(`partner-sync bench${smoke ? ' (smoke)' : ''}: load average ${results.machine.loadStart}`)
const { receiver, url } = await startReceiver()
target.url = url
try {
  log('require time and first sync of a fresh process')
  results.require = coldStarts()

  const rounds = { package: [], baseline: [] }
  const withWrk = wrkAvailable()
  if (!withWrk) log(WRK_MISSING)
  const wrkRounds = []
  for (let round = 1; round <= KNOBS.rounds; round++) {
    for (const impl of IMPLEMENTATIONS) {
      log(`speed round ${round}/${KNOBS.rounds}: ${impl}`)
      rounds[impl].push(
        await runChild('client.mjs', { kind: 'speed', impl, target, ...KNOBS.speed }, { timeoutMs: 120_000 }),
      )
    }
    // In the same rounds, so the machine's load weighs on the limit as on the two clients.
    if (withWrk) {
      log(`speed round ${round}/${KNOBS.rounds}: wrk`)
      const levels = KNOBS.speed.levels.map((connections) => [
        connections,
        runWrk({ ...target, connections, durationMs: KNOBS.speed.levelMs }),
      ])
      wrkRounds.push(Object.fromEntries(levels))
    }
  }
  results.rounds = rounds
  results.speed = Object.fromEntries(IMPLEMENTATIONS.map((impl) => [impl, medianOfRounds(rounds[impl])]))
  results.wrk = withWrk
    ? {
        throughput: Object.fromEntries(KNOBS.speed.levels.map((c) => [c, median(wrkRounds.map((r) => r[c].rate))])),
        non2xx: wrkRounds.reduce((sum, r) => sum + Object.values(r).reduce((n, l) => n + l.non2xx, 0), 0),
      }
    : { skipped: WRK_MISSING }

  results.memory = {}
  for (const impl of IMPLEMENTATIONS) {
    log(`memory: ${impl}, ${KNOBS.memory.count} syncs (at most ${KNOBS.memory.timeLimitMs / 1000} s)`)
    results.memory[impl] = await runChild(
      'client.mjs',
      { kind: 'memory', impl, target, ...KNOBS.memory },
      { execArgv: ['--expose-gc'], timeoutMs: KNOBS.memory.timeLimitMs + 60_000 },
    )
  }
  // Again with V8's young generation held at 8 MB: growth that disappears here was V8's
  // 32 MB young generation being touched, not memory held by either implementation.
  results.memorySmallYoung = {}
  for (const impl of IMPLEMENTATIONS) {
    log(`memory with an 8 MB young generation: ${impl}`)
    results.memorySmallYoung[impl] = await runChild(
      'client.mjs',
      { kind: 'memory', impl, target, ...KNOBS.memory },
      { execArgv: ['--expose-gc', '--max-semi-space-size=4'], timeoutMs: KNOBS.memory.timeLimitMs + 60_000 },
    )
  }

  log('signing')
  results.signing = await runChild(
    'client.mjs',
    { kind: 'signing', secret: target.secret, ...KNOBS.signing },
    { timeoutMs: 120_000 },
  )

  log('outbox')
  const postgresUrl = process.env.PARTNER_SYNC_BENCH_POSTGRES || process.env.PARTNER_SYNC_TEST_POSTGRES || ''
  const poolerUrl = process.env.PARTNER_SYNC_BENCH_PGBOUNCER || process.env.PARTNER_SYNC_TEST_PGBOUNCER || ''
  results.outbox = await runChild(
    'outbox.mjs',
    { target, postgresUrl, poolerUrl, ...KNOBS.outbox },
    { timeoutMs: 400_000 },
  )
  for (const skipped of Object.values(results.outbox.skipped)) log(skipped)

  log('OpenTelemetry: absent, API without a provider, SDK exporting nowhere')
  results.otel = await otelCost()

  results.receiver = await receiverCounts(receiver)
} finally {
  receiver.kill()
}
results.machine.loadEnd = loadAverage()
results.durationSeconds = (performance.now() - began) / 1000
const failures =
  results.speed.package.failures +
  results.speed.baseline.failures +
  results.receiver.badSignatures +
  results.receiver.badBodies
writeResults(results, outDir)
log(
  `wrote ${path.relative(process.cwd(), outDir) || outDir}/results.md, throughput.svg, results.json in ${results.durationSeconds.toFixed(0)} s`,
)
if (failures) {
  log(`${failures} failed syncs or bad signatures: the numbers are not comparable`)
  process.exitCode = 1
}
