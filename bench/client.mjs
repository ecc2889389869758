// One bench child: runs one job for one implementation and sends its numbers to the
// orchestrator over IPC. Each job runs in a fresh process so neither implementation
// inherits the other's heap, connections or JIT state.
import crypto from 'node:crypto'
import { createRequire } from 'node:module'
import v8 from 'node:v8'
import { loadSync, PACKAGE_ENTRY, silenceConsole } from './implementations.mjs'
import { median, percentile } from './stats.mjs'
import { runConcurrent, runSequential } from './workload.mjs'

const job = JSON.parse(process.argv[2])
const progress = (line) => process.stderr.write(`    ${line}\n`)

// Sequential latency and CPU, then throughput at each concurrency level.
async function speed({ impl, target, warmupCount, sequentialCount, levels, levelMs }) {
  const sync = await loadSync(impl, target)
  await runSequential(sync, warmupCount)
  await runConcurrent(sync, { concurrency: 64, count: warmupCount * 4 })
  const sequential = await runSequential(sync, sequentialCount)
  const throughput = {}
  for (const concurrency of levels) {
    // A short unmeasured run first opens the connections this level needs.
    await runConcurrent(sync, { concurrency, untilMs: levelMs / 5 })
    throughput[concurrency] = await runConcurrent(sync, { concurrency, untilMs: levelMs })
  }
  const failures = sequential.failures + Object.values(throughput).reduce((sum, t) => sum + t.failures, 0)
  return {
    p50Ms: percentile(sequential.latencies, 50),
    p99Ms: percentile(sequential.latencies, 99),
    cpuMicrosPerSync: sequential.cpuMicrosPerSync,
    throughput: Object.fromEntries(Object.entries(throughput).map(([c, t]) => [c, t.perSecond])),
    cpuMicrosPerSyncByConcurrency: Object.fromEntries(
      Object.entries(throughput).map(([c, t]) => [c, t.cpuMicrosPerSync]),
    ),
    failures,
  }
}

async function settledMemory() {
  // Two collections and a pause: what remains is held, not garbage waiting for the GC.
  for (let i = 0; i < 2; i++) {
    globalThis.gc()
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  const { rss, heapTotal, heapUsed, external } = process.memoryUsage()
  const newSpace = v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')
  return {
    rss,
    heapTotal,
    heapUsed,
    external,
    nativeAndOther: rss - heapTotal,
    newSpace: newSpace ? newSpace.space_size : NaN,
  }
}

// RSS after `count` syncs minus RSS after warm-up: a leak shows as growth that keeps going,
// so memory is also sampled halfway and the second half's growth is reported on its own.
// The warm-up must be long: V8 grows its young generation (16 -> 32 MB) under this
// allocation rate, a one-off step that is not a leak (see the report).
async function memory({ impl, target, warmupCount, count, concurrency, timeLimitMs }) {
  const sync = await loadSync(impl, target)
  await runConcurrent(sync, { concurrency, count: warmupCount })
  const before = await settledMemory()
  const started = performance.now()
  const half = (n) =>
    runConcurrent(sync, {
      concurrency,
      count: n,
      untilMs: timeLimitMs / 2,
      progressEvery: Math.max(1, Math.floor(count / 10)),
      onProgress: (done) =>
        progress(
          `memory ${impl}: ${done}/${n} syncs of this half, ${((performance.now() - started) / 1000).toFixed(1)} s`,
        ),
    })
  const first = await half(Math.floor(count / 2))
  const middle = await settledMemory()
  const second = await half(count - first.done)
  const after = await settledMemory()
  return {
    syncs: first.done + second.done,
    secondHalfSyncs: second.done,
    failures: first.failures + second.failures,
    seconds: (first.elapsedMs + second.elapsedMs) / 1000,
    before,
    middle,
    after,
  }
}

// Time-boxed operations per second of `fn`.
function opsPerSecond(fn, durationMs) {
  let ops = 0
  const begin = performance.now()
  const end = begin + durationMs
  while (performance.now() < end) {
    fn()
    ops++
  }
  return (ops * 1000) / (performance.now() - begin)
}

// generateSignature (native) against node:crypto on the same payloads, alternating.
function signing({ secret, payloadSizes, durationMs, rounds }) {
  silenceConsole()
  const { generateSignature } = createRequire(import.meta.url)(PACKAGE_ENTRY)
  const withNodeCrypto = (payload) => crypto.createHmac('sha256', secret).update(payload).digest('hex')
  const results = {}
  for (const [label, bytes] of Object.entries(payloadSizes)) {
    // ASCII JSON-like text: the size in characters is the size in bytes.
    const unit = '{"booking_id":"b24a8a76-edb7-4b0c-950b-3144cc4d7ec6","paid_amount":32000},'
    const payload = unit.repeat(Math.ceil(bytes / unit.length)).slice(0, bytes)
    if (generateSignature(payload, secret) !== withNodeCrypto(payload)) throw new Error('signatures differ')
    const native = []
    const node = []
    for (let round = 0; round < rounds; round++) {
      native.push(opsPerSecond(() => generateSignature(payload, secret), durationMs))
      node.push(opsPerSecond(() => withNodeCrypto(payload), durationMs))
    }
    // The same bytes as a Buffer: separates hashing from the string's trip across napi.
    const buffer = Buffer.from(payload)
    const nativeBuffer = []
    for (let round = 0; round < rounds; round++)
      nativeBuffer.push(opsPerSecond(() => generateSignature(buffer, secret), durationMs))
    results[label] = {
      bytes,
      packageOps: median(native),
      nodeCryptoOps: median(node),
      packageBufferOps: median(nativeBuffer),
    }
  }
  return results
}

const jobs = { speed, memory, signing }
const result = await jobs[job.kind](job)
process.send({ result }, () => process.exit(0))
