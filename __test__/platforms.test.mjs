// Each Linux binary built by `npm run build:target`, on its own platform here: the glibc ones need
// nothing newer than glibc 2.17, and each passes the focused acceptance run
// (__test__/fixtures/platform-acceptance.mjs) on its own Node: x64 musl on a musl Node, arm64 on an
// arm64 Node under qemu-aarch64. `npm run test:platforms` builds them and installs the tools.

import { spawn } from 'node:child_process'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { GLIBC_FLOOR, LINUX_TARGETS, REQUIRED, glibcVersionsNeeded, missing, newerThan, sharedLibrariesNeeded, warnSkipped } from './helpers/platforms.mjs'

const ACCEPTANCE = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', 'platform-acceptance.mjs')
// qemu runs the arm64 Node some ten times slower than a native one; the crash test also waits out a lease.
const ACCEPTANCE_TIMEOUT_MS = 300_000

/** Runs the acceptance script under `node`; resolves with its exit code and output. */
function runAcceptance(target) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, PARTNER_SYNC_TEST_NODE: target.node, PARTNER_SYNC_TEST_EXPECT: path.basename(target.binary) }
    const child = spawn(target.node, [ACCEPTANCE], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk) => (output += chunk))
    child.stderr.on('data', (chunk) => (output += chunk))
    const timer = setTimeout(() => child.kill('SIGKILL'), ACCEPTANCE_TIMEOUT_MS - 5_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, output })
    })
  })
}

it('the glibc check sees a newer version when there is one (this Node needs more than 2.17)', () => {
  const needed = glibcVersionsNeeded(process.execPath)
  expect(needed.some((version) => newerThan(version, GLIBC_FLOOR))).toBe(true)
})

for (const target of LINUX_TARGETS) {
  const why = missing(target)
  if (why && REQUIRED.has(target.triple)) {
    it(`${target.triple} must be tested here`, () => {
      throw new Error(`PARTNER_SYNC_REQUIRE_PLATFORMS names ${target.triple}, but ${why}`)
    })
    continue
  }
  if (why) warnSkipped(`the ${target.triple} platform tests`, why)

  describe.skipIf(why)(`${target.triple}`, () => {
    if (target.triple.endsWith('-gnu')) {
      // The host's own `npm run build` links against this machine's glibc; only a build:target binary is held to the floor.
      it.skipIf(!REQUIRED.has(target.triple))(`needs no GLIBC symbol newer than ${GLIBC_FLOOR}`, () => {
        const needed = glibcVersionsNeeded(target.binary)
        expect(needed.length).toBeGreaterThan(0)
        expect(needed.filter((version) => newerThan(version, GLIBC_FLOOR))).toEqual([])
      })
    } else {
      it('is linked against musl alone: no glibc version, no glibc library', () => {
        expect(glibcVersionsNeeded(target.binary)).toEqual([])
        expect(sharedLibrariesNeeded(target.binary).filter((lib) => /^(libc|libm|libpthread|libdl|librt)\.so\.\d/.test(lib))).toEqual([])
      })
    }

    it(`passes the acceptance run on its own Node (${path.basename(target.node)})`, { timeout: ACCEPTANCE_TIMEOUT_MS }, async () => {
      const started = Date.now()
      const { code, signal, output } = await runAcceptance(target)
      console.log(`${target.triple}: acceptance run took ${Math.round((Date.now() - started) / 1000)} s\n${output.split('\n').filter((line) => /^(not )?ok |^# (v\d|pass|fail|skipped)/.test(line)).join('\n')}`)
      expect({ code, signal, output }).toMatchObject({ code: 0, signal: null })
      expect(output).toMatch(/^# fail 0$/m)
      // Only the PostgreSQL test may skip, and only where the PostgreSQL tests may (PARTNER_SYNC_REQUIRE_POSTGRES).
      expect(output).toMatch(process.env.PARTNER_SYNC_REQUIRE_POSTGRES === '1' ? /^# pass 6$/m : /^# pass [56]$/m)
    })
  })
}
