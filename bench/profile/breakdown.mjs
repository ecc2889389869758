// Groups a `perf record -g` profile of bench/profile/drive.mjs into the stages of a sync:
//   node bench/profile/breakdown.mjs perf.data   -> a markdown table, share of the client's CPU
import { execFileSync } from 'node:child_process'

const STAGES = [
  [(s) => s.kind === 'k', 'kernel (TCP, epoll, futex, scheduling)'],
  [(s) => /napi|_c_callback/.test(s.sym), 'napi crossing (argument and result conversion)'],
  [(s) => /hyper|reqwest|httparse|\bhttp::|h2::|tower|idna|url::/.test(s.sym), 'HTTP client (reqwest, hyper)'],
  [(s) => /tokio|mio::|futures_util|core::pin::Pin/.test(s.sym), 'tokio runtime (tasks, wakeups, IO driver)'],
  [(s) => s.sym.includes('smashcourts_partner_sync'), 'partner-sync core (signing, lanes, delivery loop)'],
  [(s) => s.dso.startsWith('libc'), 'libc (malloc, free, memmove)'],
  [(s) => /\buv_|uv__/.test(s.sym), 'libuv (wakeups into the JS thread)'],
  [(s) => s.dso === 'node' || s.dso.startsWith('[JIT]'), 'V8: JS code, JSON.stringify, objects'],
]

const report = execFileSync(
  'perf',
  ['report', '-i', process.argv[2], '--no-children', '--sort', 'comm,dso,sym', '--stdio', '-g', 'none'],
  { encoding: 'utf8', maxBuffer: 1 << 28 },
)
const shares = new Map()
let total = 0
const threads = new Map()
for (const line of report.split('\n')) {
  const m = /^\s+([\d.]+)%\s+(\S+)\s+(\S+(?: tid \d+)?)\s+\[(.)\]\s+(.*)$/.exec(line)
  if (!m) continue
  const sample = { pct: Number(m[1]), comm: m[2], dso: m[3], kind: m[4], sym: m[5] }
  const thread = sample.comm === 'node' ? 'JS thread' : 'tokio threads'
  const stage = (STAGES.find(([test]) => test(sample)) || [null, 'other'])[1]
  const key = `${thread} | ${stage}`
  shares.set(key, (shares.get(key) || 0) + sample.pct)
  threads.set(key, thread)
  total += sample.pct
}
console.log('| Thread | Stage | Share of client CPU |\n| --- | --- | --- |')
for (const [key, pct] of [...shares].sort((a, b) => threads.get(a[0]).localeCompare(threads.get(b[0])) || b[1] - a[1]))
  console.log(`| ${key} | ${((pct / total) * 100).toFixed(1)} % |`)
