// The physical limit: wrk (a C load generator whose own cost is close to nothing) POSTs the same
// kind of signed body to the same receiver. What the package and the guide reach is reported as
// a share of wrk's rate, and the time a sync adds over wrk's time per request.
import { spawnSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { bookingAt } from './workload.mjs'

export const WRK_MISSING =
  'wrk is not installed, so the rows against the physical limit are skipped: on Debian or Ubuntu, apt-get install wrk'

export function wrkAvailable() {
  return !spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error
}

// A Lua long string that no JSON body can close early.
const luaString = (text) => `[==[${text}]==]`

/** Runs wrk with `connections` in flight (one thread) for `durationMs`; returns requests/s. */
export function runWrk({ url, secret, connections, durationMs }) {
  const body = JSON.stringify({ ...bookingAt(0), timestamp: new Date().toISOString() })
  const signature = crypto.createHmac('sha256', secret).update(body).digest('hex')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'partner-sync-wrk-'))
  const script = path.join(dir, 'post.lua')
  fs.writeFileSync(
    script,
    [
      `wrk.method = "POST"`,
      `wrk.body = ${luaString(body)}`,
      `wrk.headers["Content-Type"] = "application/json"`,
      `wrk.headers["x-pwa-signature"] = "${signature}"`,
    ].join('\n'),
  )
  try {
    const seconds = Math.max(1, Math.round(durationMs / 1000))
    const run = spawnSync('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '-s', script, url], {
      encoding: 'utf8',
      timeout: (seconds + 30) * 1000,
    })
    const rate = /Requests\/sec:\s+([\d.]+)/.exec(run.stdout || '')
    if (!rate) throw new Error(`wrk gave no rate: ${run.stderr || run.stdout || run.error}`)
    const errors = /Non-2xx or 3xx responses:\s+(\d+)/.exec(run.stdout)
    return { rate: Number(rate[1]), non2xx: errors ? Number(errors[1]) : 0 }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
