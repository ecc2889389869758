// Drives the package at a given concurrency against the bench's receiver, for `perf record`:
//   node --perf-basic-prof bench/profile/drive.mjs <concurrency> <seconds>
// prints `ready <pid>` after a one-second warm-up, then `done ...` with the rate and CPU per sync.
// LIB points at another copy of lib/index.js (one loading a build with symbols, say).
import { fork } from 'node:child_process'
import { createRequire } from 'node:module'

const LIB = process.env.LIB || new URL('../../lib/index.js', import.meta.url).pathname
const { createPartnerSync } = createRequire(import.meta.url)(LIB)
const RECEIVER = new URL('../receiver.mjs', import.meta.url).pathname
const concurrency = Number(process.argv[2] || 64)
const seconds = Number(process.argv[3] || 6)
const secret = 'bench-shared-secret-0123456789abcdef'
const receiver = fork(RECEIVER, [], {
  env: { ...process.env, PWA_WEBHOOK_SECRET: secret },
  stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
})
const port = await new Promise((r) => receiver.once('message', ({ port }) => r(port)))
const client = createPartnerSync({ url: `http://127.0.0.1:${port}/api/webhooks/pwa-sync`, secret, logger: false })
const data = (i) => ({
  event: 'booking.paid',
  booking_id: `b-${i}`,
  status: 'LUNAS',
  paid_amount: 150000,
  payment_method: 'QRIS',
  payment_details: { invoice_id: `INV-${i}` },
})
let n = 0
const warm = Date.now() + 1000
async function worker() {
  while (Date.now() < warm) await client.sync(data(n++))
}
await Promise.all(Array.from({ length: concurrency }, worker))
process.stdout.write(`ready ${process.pid}\n`)
const until = Date.now() + seconds * 1000
let done = 0
const cpu = process.cpuUsage()
async function measured() {
  while (Date.now() < until) {
    await client.sync(data(n++))
    done++
  }
}
await Promise.all(Array.from({ length: concurrency }, measured))
const used = process.cpuUsage(cpu)
console.log(
  `done ${done} syncs, ${(done / seconds).toFixed(0)}/s, cpu/sync ${((used.user + used.system) / done).toFixed(1)} µs`,
)
receiver.kill()
