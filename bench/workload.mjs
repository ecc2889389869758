// Drives a sync function: one at a time with per-call latency, or with N in flight.
// Shared by every bench child so both implementations are driven by the same code.
import { seededBookings } from './stats.mjs'

const BOOKINGS = seededBookings(1024)
export const bookingAt = (i) => BOOKINGS[i % BOOKINGS.length]

// Sequential calls; returns latencies (ms), CPU microseconds per call and failures.
export async function runSequential(sync, count) {
  const latencies = new Float64Array(count)
  let failures = 0
  const cpuBefore = process.cpuUsage()
  for (let i = 0; i < count; i++) {
    const started = performance.now()
    const ok = await sync(bookingAt(i))
    latencies[i] = performance.now() - started
    if (!ok) failures++
  }
  const cpu = process.cpuUsage(cpuBefore)
  return { latencies, failures, cpuMicrosPerSync: (cpu.user + cpu.system) / count }
}

// `concurrency` workers call `sync` until `count` calls started or `untilMs` passed,
// whichever comes first. `onProgress(done)` is called every `progressEvery` completions.
export async function runConcurrent(
  sync,
  { concurrency, count = Infinity, untilMs = Infinity, onProgress, progressEvery = 10_000 },
) {
  let started = 0
  let done = 0
  let failures = 0
  const cpuBefore = process.cpuUsage()
  const begin = performance.now()
  const deadline = begin + untilMs
  async function worker() {
    while (started < count && performance.now() < deadline) {
      const ok = await sync(bookingAt(started++))
      done++
      if (!ok) failures++
      if (onProgress && done % progressEvery === 0) onProgress(done)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const elapsedMs = performance.now() - begin
  const cpu = process.cpuUsage(cpuBefore)
  return {
    done,
    failures,
    elapsedMs,
    perSecond: (done * 1000) / elapsedMs,
    cpuMicrosPerSync: (cpu.user + cpu.system) / Math.max(1, done),
  }
}
