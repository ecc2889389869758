// Turns the collected numbers into bench/results: results.json, results.md and throughput.svg.
import fs from 'node:fs'
import path from 'node:path'

export const CONCURRENCY_LEVELS = [1, 16, 64, 256]
const PER_100K = 100_000
const MB = 1024 * 1024

// Every row of the main table, in order. The smoke test checks each one is present.
export const SPEED_ROWS = [
  'Sequential sync p50 (ms)',
  'Sequential sync p99 (ms)',
  ...CONCURRENCY_LEVELS.map((c) => `Throughput at concurrency ${c} (syncs/s)`),
  'Client CPU per sync, sequential (µs)',
  'Client CPU per sync, concurrency 64 (µs)',
  'RSS growth per 100k syncs (MB)',
  'RSS − heapTotal growth per 100k syncs (MB)',
  'RSS growth over the second half only (MB)',
  'require / import time (ms)',
  'First sync of a fresh process, loading included (ms)',
  'Signing ~300 B payload (signatures/s)',
  'Signing 1 MB payload (MB/s)',
  'Signing 1 MB payload passed as a Buffer (MB/s)',
  'RSS growth per 100k syncs, 8 MB young generation (MB)',
]
// Against the physical limit: wrk driving the same receiver in the same rounds.
export const LIMIT_ROWS = [
  ...CONCURRENCY_LEVELS.map((c) => `Share of wrk's rate at concurrency ${c}`),
  'Time added per sequential sync over wrk (µs)',
]
// OpenTelemetry's cost: the same syncs without the API, with it but no provider, with the SDKs.
export const OTEL_ROWS = [
  'Throughput at concurrency 64 (syncs/s)',
  'Client CPU per sync, concurrency 64 (µs)',
  'Sequential syncs per second',
  'Client CPU per sync, sequential (µs)',
]
export const OUTBOX_ROWS = [
  'Sync latency, no outbox',
  'Sync latency, SQLite outbox',
  'Sync latency, PostgreSQL outbox',
  'Sync latency, PostgreSQL with prepared_statements=on',
  'Sync latency, PostgreSQL through PgBouncer',
  'Added by the SQLite outbox',
  'Added by the PostgreSQL outbox',
  'Added by the PostgreSQL outbox with prepared_statements=on',
  'Added by the PostgreSQL outbox through PgBouncer',
  'Redrive throughput, SQLite (entries/s)',
  'Redrive throughput, PostgreSQL (entries/s)',
  'Redrive throughput, PostgreSQL with prepared_statements=on (entries/s)',
  'Redrive throughput, PostgreSQL through PgBouncer (entries/s)',
  "Cold start: a fresh process's first sync, PostgreSQL (ms)",
  "Cold start: a fresh process's first sync, through PgBouncer (ms)",
]
// The backends of the PostgreSQL rows, in their order.
const POSTGRES_KINDS = ['postgres', 'prepared', 'pgbouncer']

// Three significant digits, no exponent: 0.312, 31.2, 3120.
function num(value) {
  if (value === undefined || value === null || Number.isNaN(value)) return 'n/a'
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US')
  return Number(value.toPrecision(3)).toString()
}
const ratioOf = (pkg, base) => (Number.isFinite(pkg) && Number.isFinite(base) && base !== 0 ? pkg / base : NaN)
const verdict = (met) => (met === undefined ? '' : met ? 'met' : '**missed**')

function memoryGrowth(memory, field) {
  if (!memory || !memory.syncs) return NaN
  return ((memory.after[field] - memory.before[field]) / MB) * (PER_100K / memory.syncs)
}

// One row per metric: [label, package, baseline, ratio, target, verdict].
export function speedTable(results) {
  const { speed, memory, require: requireTimes, signing } = results
  const pkg = speed.package
  const base = speed.baseline
  const row = (label, p, b, target, met) => [label, num(p), num(b), num(ratioOf(p, b)) + '×', target, verdict(met)]
  const rows = [
    row(SPEED_ROWS[0], pkg.p50Ms, base.p50Ms, '≤ 0.8×', ratioOf(pkg.p50Ms, base.p50Ms) <= 0.8),
    row(SPEED_ROWS[1], pkg.p99Ms, base.p99Ms, '', undefined),
    ...CONCURRENCY_LEVELS.map((c, i) => {
      const target = c === 64 ? '≥ 1.5×' : ''
      return row(
        SPEED_ROWS[2 + i],
        pkg.throughput[c],
        base.throughput[c],
        target,
        c === 64 ? ratioOf(pkg.throughput[c], base.throughput[c]) >= 1.5 : undefined,
      )
    }),
    row(
      SPEED_ROWS[6],
      pkg.cpuMicrosPerSync,
      base.cpuMicrosPerSync,
      '≤ 0.7×',
      ratioOf(pkg.cpuMicrosPerSync, base.cpuMicrosPerSync) <= 0.7,
    ),
    row(SPEED_ROWS[7], pkg.cpuMicrosPerSyncByConcurrency[64], base.cpuMicrosPerSyncByConcurrency[64], '', undefined),
  ]
  const rss = { p: memoryGrowth(memory.package, 'rss'), b: memoryGrowth(memory.baseline, 'rss') }
  const native = {
    p: memoryGrowth(memory.package, 'nativeAndOther'),
    b: memoryGrowth(memory.baseline, 'nativeAndOther'),
  }
  rows.push(row(SPEED_ROWS[8], rss.p, rss.b, '< 10 MB', rss.p < 10))
  rows.push(row(SPEED_ROWS[9], native.p, native.b, '', undefined))
  const secondHalf = (m) => (m && m.middle ? (m.after.rss - m.middle.rss) / MB : NaN)
  rows.push(row(SPEED_ROWS[10], secondHalf(memory.package), secondHalf(memory.baseline), '', undefined))
  rows.push(row(SPEED_ROWS[11], requireTimes.package, requireTimes.baseline, '≤ 10 ms', requireTimes.package <= 10))
  const firstSync = requireTimes.firstSync
  rows.push(row(SPEED_ROWS[12], firstSync.package, firstSync.baseline, '', undefined))
  const typical = signing.typical
  const large = signing['1 MB']
  rows.push([
    SPEED_ROWS[13],
    num(typical.packageOps),
    num(typical.nodeCryptoOps),
    num(ratioOf(typical.packageOps, typical.nodeCryptoOps)) + '×',
    '',
    '',
  ])
  const mbps = (s) => (s.packageOps * s.bytes) / MB
  const nodeMbps = (s) => (s.nodeCryptoOps * s.bytes) / MB
  rows.push([
    SPEED_ROWS[14],
    num(mbps(large)),
    num(nodeMbps(large)),
    num(ratioOf(mbps(large), nodeMbps(large))) + '×',
    '',
    '',
  ])
  const bufferMbps = (large.packageBufferOps * large.bytes) / MB
  rows.push([
    SPEED_ROWS[15],
    num(bufferMbps),
    num(nodeMbps(large)),
    num(ratioOf(bufferMbps, nodeMbps(large))) + '×',
    '',
    '',
  ])
  const small = results.memorySmallYoung
  const smallRss = { p: memoryGrowth(small.package, 'rss'), b: memoryGrowth(small.baseline, 'rss') }
  rows.push(row(SPEED_ROWS[16], smallRss.p, smallRss.b, '< 10 MB', smallRss.p < 10))
  return rows
}

// One row per metric: [label, package, baseline, wrk, target, verdict].
export function limitTable(results) {
  const { speed, wrk } = results
  if (wrk.skipped) return LIMIT_ROWS.map((label) => [label, 'skipped', 'skipped', 'skipped', '', ''])
  const share = (impl, c) => speed[impl].throughput[c] / wrk.throughput[c]
  const percent = (value) => (Number.isFinite(value) ? `${num(value * 100)} %` : 'n/a')
  const rows = CONCURRENCY_LEVELS.map((c, i) => {
    const target = c === 64 ? '≥ 70 %' : ''
    return [
      LIMIT_ROWS[i],
      percent(share('package', c)),
      percent(share('baseline', c)),
      `${num(wrk.throughput[c])}/s`,
      target,
      c === 64 ? verdict(share('package', c) >= 0.7) : '',
    ]
  })
  // Time per request at one in flight: 1 / rate. What a sync adds is ours; wrk's is the wire's.
  const added = (impl) => 1e6 / speed[impl].throughput[1] - 1e6 / wrk.throughput[1]
  rows.push([
    LIMIT_ROWS.at(-1),
    num(added('package')),
    num(added('baseline')),
    `${num(1e6 / wrk.throughput[1])} µs/request`,
    '≤ 75 µs',
    verdict(added('package') <= 75),
  ])
  return rows
}

// One row per metric: [label, absent, API without provider, SDK, SDK / absent, target, verdict].
export function otelTable(results) {
  const { absent, noop, sdk } = results.otel
  const fields = ['perSecond64', 'cpuMicrosPerSync64', 'perSecond1', 'cpuMicrosPerSync1']
  return OTEL_ROWS.map((label, i) => {
    const f = fields[i]
    const ratio = ratioOf(sdk[f], absent[f])
    const target = i === 0 ? '≥ 0.9× (under 10 % cost)' : ''
    return [
      label,
      num(absent[f]),
      num(noop[f]),
      num(sdk[f]),
      num(ratioOf(noop[f], absent[f])) + '×',
      num(ratio) + '×',
      target,
      i === 0 ? verdict(ratio >= 0.9) : '',
    ]
  })
}

export function outboxTable(results) {
  const { outbox } = results
  const skipped = Object.values(outbox.skipped).join('\n\n')
  const latency = (name) =>
    outbox.latency[name] ? [num(outbox.latency[name].p50Ms), num(outbox.latency[name].p99Ms)] : ['skipped', 'skipped']
  const added = (name) => {
    const with_ = outbox.latency[name]
    const none = outbox.latency.none
    return with_ && none ? [num(with_.p50Ms - none.p50Ms), num(with_.p99Ms - none.p99Ms)] : ['skipped', 'skipped']
  }
  const redrive = (name) => (outbox.redrive[name] ? num(outbox.redrive[name].perSecond) : 'skipped')
  // The p50 column holds the median first sync; the next column the same processes' second sync.
  const cold = (name) => {
    const run = outbox.coldStart?.[name]
    return run ? [num(run.firstMs), `second sync ${num(run.secondMs)} ms`] : ['skipped', '']
  }
  const sqliteAdded = added('sqlite')
  return {
    skipped,
    rows: [
      ...['none', 'sqlite', ...POSTGRES_KINDS].map((name, i) => [OUTBOX_ROWS[i], ...latency(name), '', '']),
      [
        OUTBOX_ROWS[5],
        ...sqliteAdded,
        '< 2 ms p50',
        verdict(outbox.latency.sqlite.p50Ms - outbox.latency.none.p50Ms < 2),
      ],
      ...POSTGRES_KINDS.map((name, i) => [OUTBOX_ROWS[6 + i], ...added(name), '', '']),
      ...['sqlite', ...POSTGRES_KINDS].map((name, i) => [OUTBOX_ROWS[9 + i], redrive(name), '', '', '']),
      [OUTBOX_ROWS[13], cold('postgres')[0], '', cold('postgres')[1], ''],
      [OUTBOX_ROWS[14], cold('pgbouncer')[0], '', cold('pgbouncer')[1], ''],
    ],
  }
}

const markdownTable = (header, rows) =>
  [header, header.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n')

export function machineLine(machine) {
  return `${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${machine.date}; load average ${machine.loadStart} at start, ${machine.loadEnd} at end`
}

export function markdown(results) {
  const { machine, knobs } = results
  const outbox = outboxTable(results)
  const memoryNote = ['package', 'baseline']
    .map(
      (impl) =>
        `${impl} ${results.memory[impl].syncs.toLocaleString('en-US')} syncs in ${num(results.memory[impl].seconds)} s`,
    )
    .join(', ')
  return `# partner-sync benchmark${machine.smoke ? ' (smoke run: tiny counts, numbers are meaningless)' : ''}

Machine: ${machineLine(machine)}.

Package = \`syncBookingToPartner\` from this package (default knobs); baseline = the integration guide's
TypeScript as plain JS (\`fetch\` + \`node:crypto\`, one attempt). Both log through a silenced \`console\`,
each runs in its own process against one local receiver process (keep-alive, verifies every signature).
Medians of ${knobs.rounds} alternating rounds (package, baseline, package, ...); ratio = package / baseline.

${markdownTable(['Metric', 'package', 'baseline', 'ratio', 'target', ''], speedTable(results))}

## Against the physical limit (wrk)

wrk, a C load generator whose own cost is close to nothing, POSTs a correctly signed body of the same
size to the same receiver with as many connections in flight, in the same rounds as the two clients;
${results.wrk.skipped ? results.wrk.skipped : `medians of its rates. ${results.wrk.non2xx} non-2xx answers to wrk.`}

${markdownTable(['Metric', 'package', 'baseline', 'wrk', 'target', ''], limitTable(results))}

Memory: ${memoryNote} at concurrency ${knobs.memory.concurrency}, after ${knobs.memory.warmupCount.toLocaleString('en-US')} warm-up syncs; growth scaled to 100k syncs, measured after two GCs;
"second half" is the growth between the middle and the end of the run (a leak keeps growing there).
\`rss − heapTotal\` is only a proxy for native memory: heapTotal counts V8 pages that are committed whether or not they are resident, so V8 young-generation pages that the OS paged out after warm-up and the run touched again show up in it.
V8 young generation after the run: package ${num(results.memory.package.after.newSpace / MB)} MB, baseline ${num(results.memory.baseline.after.newSpace / MB)} MB.
require / import time: median of ${knobs.requireProcesses} fresh processes (\`require('lib/index.js')\` vs \`import('bench/baseline.mjs')\`), alternating; the first sync's row is the time from the start of the same processes (\`bench/cold-start.cjs\`) to the answer of one sync to the receiver, a new connection included.
Signing: \`generateSignature\` vs \`crypto.createHmac\` in one process; the baseline column is node:crypto on the same string (the Buffer row too).

## OpenTelemetry's cost (package only)

The same syncs from a copy of the package where \`@opentelemetry/api\` cannot be resolved (absent), with
the API installed but no provider registered (the default for most apps), and with the real SDKs
registered (traces with a batch processor, metrics with a periodic reader), exporting to nowhere.
Medians of ${knobs.otel.rounds} rounds, the three alternating.

${markdownTable(['Metric', 'absent', 'API, no provider', 'SDK', 'no provider / absent', 'SDK / absent', 'target', ''], otelTable(results))}

## Outbox (package only)

${markdownTable(['Metric', 'p50 (ms)', 'p99 (ms)', 'target', ''], outbox.rows)}
${outbox.skipped ? `\n${outbox.skipped}\n` : ''}
Latency: ${knobs.outbox.rounds} rounds of ${knobs.outbox.latencyCount} sequential syncs per backend, backends rotating within a round.
Redrive: ${knobs.outbox.redriveCount} pending entries (written while the partner was unreachable) redriven to the local receiver; the "p50" column holds entries/s.
Cold start: median of ${knobs.outbox.coldStarts ?? 'n/a'} fresh processes' first sync (it opens the outbox: connect, schema check), and their second sync.
PgBouncer: Debian's, \`pool_mode = transaction\`, \`default_pool_size = 2\`, in front of the same server, as Supabase's pooler on port 6543.

Receiver: ${results.receiver.requests.toLocaleString('en-US')} requests, ${results.receiver.badSignatures} bad signatures, ${results.receiver.badBodies} bad bodies. Bench took ${num(results.durationSeconds)} s.

![throughput vs concurrency](throughput.svg)
`
}

// Throughput vs concurrency, one line per implementation, written by hand (no dependency).
export function throughputSvg(results) {
  const width = 600
  const height = 320
  const margin = { left: 70, right: 170, top: 40, bottom: 50 }
  const plotW = width - margin.left - margin.right
  const plotH = height - margin.top - margin.bottom
  const series = [
    { name: 'package', color: '#d9480f', values: CONCURRENCY_LEVELS.map((c) => results.speed.package.throughput[c]) },
    {
      name: 'baseline (guide)',
      color: '#1c7ed6',
      values: CONCURRENCY_LEVELS.map((c) => results.speed.baseline.throughput[c]),
    },
    ...(results.wrk.skipped
      ? []
      : [
          {
            name: 'wrk (the limit)',
            color: '#868e96',
            values: CONCURRENCY_LEVELS.map((c) => results.wrk.throughput[c]),
          },
        ]),
  ]
  const top = Math.max(1, ...series.flatMap((s) => s.values.filter(Number.isFinite))) * 1.1
  // Evenly spaced levels: the concurrencies grow geometrically, so this is a log axis.
  const x = (i) => margin.left + (plotW * i) / (CONCURRENCY_LEVELS.length - 1)
  const y = (v) => margin.top + plotH - (plotH * v) / top
  const ticks = Array.from({ length: 5 }, (_, i) => (top * i) / 4)
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${margin.left}" y="22" font-size="14" font-weight="bold">Throughput vs concurrency (syncs/s, higher is better)</text>`,
    ...ticks.map(
      (t) =>
        `<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#e9ecef"/><text x="${margin.left - 8}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${Math.round(t)}</text>`,
    ),
    ...CONCURRENCY_LEVELS.map(
      (c, i) => `<text x="${x(i).toFixed(1)}" y="${margin.top + plotH + 18}" text-anchor="middle">${c}</text>`,
    ),
    `<text x="${margin.left + plotW / 2}" y="${height - 10}" text-anchor="middle">requests in flight</text>`,
    `<line x1="${margin.left}" x2="${margin.left}" y1="${margin.top}" y2="${margin.top + plotH}" stroke="#495057"/>`,
    `<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${margin.top + plotH}" y2="${margin.top + plotH}" stroke="#495057"/>`,
  ]
  series.forEach((s, k) => {
    const points = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v || 0).toFixed(1)}`)
    parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2.5" points="${points.join(' ')}"/>`)
    points.forEach((p) => {
      const [cx, cy] = p.split(',')
      parts.push(`<circle cx="${cx}" cy="${cy}" r="3.5" fill="${s.color}"/>`)
    })
    const legendY = margin.top + 10 + k * 20
    parts.push(
      `<line x1="${width - margin.right + 15}" x2="${width - margin.right + 35}" y1="${legendY}" y2="${legendY}" stroke="${s.color}" stroke-width="2.5"/><text x="${width - margin.right + 40}" y="${legendY + 4}">${s.name}</text>`,
    )
  })
  parts.push('</svg>')
  return parts.join('\n') + '\n'
}

export function writeResults(results, directory) {
  fs.mkdirSync(directory, { recursive: true })
  fs.writeFileSync(path.join(directory, 'results.json'), JSON.stringify(results, null, 2) + '\n')
  fs.writeFileSync(path.join(directory, 'results.md'), markdown(results))
  fs.writeFileSync(path.join(directory, 'throughput.svg'), throughputSvg(results))
}
