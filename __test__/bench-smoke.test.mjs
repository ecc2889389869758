// Keeps `npm run bench` from rotting: runs it with tiny counts and checks every row of the
// results. The real benchmark never runs in `npm test`; these numbers mean nothing.
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, expect, test } from 'vitest'
import { CONCURRENCY_LEVELS, LIMIT_ROWS, OTEL_ROWS, OUTBOX_ROWS, SPEED_ROWS } from '../bench/report.mjs'
import { wrkAvailable } from '../bench/wrk.mjs'
import { POSTGRES_TARGETS } from './helpers/outbox-harness.mjs'

const run = promisify(execFile)
const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-smoke-'))
afterAll(() => fs.rmSync(outDir, { recursive: true, force: true }))

test('node bench/run.mjs --smoke writes every row, the chart and the JSON', async () => {
  const script = new URL('../bench/run.mjs', import.meta.url).pathname
  await run(process.execPath, [script, '--smoke', '--out', outDir], { timeout: 60_000 })

  const markdown = fs.readFileSync(path.join(outDir, 'results.md'), 'utf8')
  for (const row of [...SPEED_ROWS, ...LIMIT_ROWS, ...OTEL_ROWS, ...OUTBOX_ROWS])
    expect(markdown).toContain(`| ${row} |`)
  expect(markdown).toMatch(/Machine: .+, \d+ cores, Node v\d+/)
  expect(markdown).toContain('0 bad signatures')

  const results = JSON.parse(fs.readFileSync(path.join(outDir, 'results.json'), 'utf8'))
  for (const impl of ['package', 'baseline']) {
    expect(results.speed[impl].failures).toBe(0)
    for (const c of CONCURRENCY_LEVELS) expect(results.speed[impl].throughput[c]).toBeGreaterThan(0)
    expect(results.memory[impl].syncs).toBeGreaterThan(0)
  }
  expect(results.outbox.redrive.sqlite.delivered).toBe(results.knobs.outbox.redriveCount)
  // Through the pooler too, where .ci/run started one: the bench must not rot there either.
  for (const [, url, tag] of POSTGRES_TARGETS) {
    const name = tag === 'pg' ? 'postgres' : 'pgbouncer'
    expect({
      url,
      redrive: results.outbox.redrive[name]?.delivered,
      cold: results.outbox.coldStart[name]?.runs,
    }).toEqual({ url, redrive: results.knobs.outbox.redriveCount, cold: 1 })
  }
  for (const mode of ['absent', 'noop', 'sdk'])
    expect(results.otel[mode]).toMatchObject({ failures: 0, perSecond64: expect.any(Number) })

  const svg = fs.readFileSync(path.join(outDir, 'throughput.svg'), 'utf8')
  expect(svg).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/)
  // The package, the guide, and wrk's limit when wrk is installed.
  expect(svg.match(/<polyline /g)).toHaveLength(wrkAvailable() ? 3 : 2)
  if (wrkAvailable()) for (const c of CONCURRENCY_LEVELS) expect(results.wrk.throughput[c]).toBeGreaterThan(0)
}, 90_000)
