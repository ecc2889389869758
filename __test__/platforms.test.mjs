// Each Linux binary built by `npm run build:target`, on its own platform here: the glibc ones need
// nothing newer than glibc 2.17, and each passes the focused acceptance run
// (__test__/fixtures/platform-acceptance.mjs) on its own Node: x64 musl on a musl Node, arm64 on an
// arm64 Node under qemu-aarch64. The Windows build (x86_64-pc-windows-gnu) passes the same run on
// Windows Node 22 under Wine. `npm run test:platforms` builds them and installs the tools.

import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { GLIBC_FLOOR, WINDOWS_NODE } from '../scripts/build-target.mjs'
import {
  LINUX_TARGETS,
  REQUIRED,
  ROOT,
  TOOLS,
  WINDOWS_TARGET,
  glibcVersionsNeeded,
  missing,
  newerThan,
  pkg,
  sharedLibrariesNeeded,
  warnSkipped,
} from './helpers/platforms.mjs'

const ACCEPTANCE = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', 'platform-acceptance.mjs')
// qemu runs the arm64 Node some ten times slower than a native one; the crash test also waits out a lease.
const ACCEPTANCE_TIMEOUT_MS = 300_000

/**
 * Runs the acceptance script (`script`, by default the checkout's) under the target's Node, with `env`
 * added; resolves with its exit code and output.
 */
function runAcceptance(target, { script = ACCEPTANCE, env = {} } = {}) {
  return new Promise((resolve, reject) => {
    const childEnv = {
      ...process.env,
      PARTNER_SYNC_TEST_NODE: target.node,
      PARTNER_SYNC_TEST_EXPECT: path.basename(target.binary),
      ...env,
    }
    const child = spawn(target.node, [script], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
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

// Beside the floor checks, which run only for targets built in this run (readelf and a glibc Node are there then).
const floorChecked = LINUX_TARGETS.some((target) => target.triple.endsWith('-gnu') && REQUIRED.has(target.triple))
it.skipIf(!floorChecked)(
  'the glibc check sees a newer version when there is one (this Node needs more than 2.17)',
  () => {
    const needed = glibcVersionsNeeded(process.execPath)
    expect(needed.some((version) => newerThan(version, GLIBC_FLOOR))).toBe(true)
  },
)

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
        expect(
          sharedLibrariesNeeded(target.binary).filter((lib) => /^(libc|libm|libpthread|libdl|librt)\.so\.\d/.test(lib)),
        ).toEqual([])
      })
    }

    it(
      `passes the acceptance run on its own Node (${path.basename(target.node)})`,
      { timeout: ACCEPTANCE_TIMEOUT_MS },
      () => passesAcceptance(target),
    )
  })
}

/** Runs the acceptance script on `target`'s Node and checks that every test passed. */
async function passesAcceptance(target, options) {
  const started = Date.now()
  const { code, signal, output } = await runAcceptance(target, options)
  console.log(
    `${target.triple}: acceptance run took ${Math.round((Date.now() - started) / 1000)} s\n${output
      .split('\n')
      .filter((line) => /^(not )?ok |^# (v\d|pass|fail|skipped|warn)/.test(line))
      .join('\n')}`,
  )
  expect({ code, signal, output }).toMatchObject({ code: 0, signal: null })
  expect(output).toMatch(/^# fail 0$/m)
  // A failed hook is a `not ok` line of its own, which node:test counts in neither `# fail` nor the exit code.
  expect(output.split('\n').filter((line) => line.startsWith('not ok '))).toEqual([])
  // Only the PostgreSQL test may skip, and only where the PostgreSQL tests may (PARTNER_SYNC_REQUIRE_POSTGRES).
  expect(output).toMatch(process.env.PARTNER_SYNC_REQUIRE_POSTGRES === '1' ? /^# pass 9$/m : /^# pass (8|9)$/m)
}

// What Windows 10 itself has (api-ms-win-core-synch is the API set Rust's std waits with); never a mingw
// runtime such as libgcc_s_seh-1.dll or libwinpthread-1.dll.
const WINDOWS_SYSTEM_DLLS = [
  'advapi32.dll',
  'api-ms-win-core-synch-l1-2-0.dll',
  'bcrypt.dll',
  'bcryptprimitives.dll',
  'crypt32.dll',
  'kernel32.dll',
  'msvcrt.dll',
  'ntdll.dll',
  'secur32.dll',
  'userenv.dll',
  'ws2_32.dll',
]

/** The Windows DLLs a PE file imports, lowercase (objdump reads any architecture's). */
function dllsImported(file) {
  const text = execFileSync('x86_64-w64-mingw32-objdump', ['-p', file], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
  return [...new Set([...text.matchAll(/^\s*DLL Name: (\S+)$/gm)].map((m) => m[1].toLowerCase()))].sort()
}

/**
 * A copy of the package for Windows Node, with the gnu build under the published msvc binary's name, so the
 * package's own loader picks it as on a Windows machine; node_modules is the checkout's (a link).
 */
function stageForWindows() {
  const stage = path.join(ROOT, 'target', 'wine-package')
  fs.rmSync(stage, { recursive: true, force: true })
  for (const entry of [
    'package.json',
    'binding.js',
    'lib',
    'bin',
    '__test__/fixtures',
    '__test__/helpers',
    'scripts/free-port.mjs',
  ])
    fs.cpSync(path.join(ROOT, entry), path.join(stage, entry), { recursive: true })
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(stage, 'node_modules'))
  fs.copyFileSync(WINDOWS_TARGET.binary, path.join(stage, WINDOWS_TARGET.loadedAs))
  return stage
}

{
  const target = WINDOWS_TARGET
  const why = missing(target)
  if (why && REQUIRED.has(target.triple)) {
    it(`${target.triple} must be tested here`, () => {
      throw new Error(`PARTNER_SYNC_REQUIRE_PLATFORMS names ${target.triple}, but ${why}`)
    })
  } else if (why) warnSkipped(`the ${target.triple} platform tests`, why)

  describe.skipIf(why)(`${target.triple}, run on Windows Node 22 under Wine`, () => {
    it('imports node.exe and Windows system DLLs only: no mingw runtime DLL, which a Windows machine lacks', () => {
      const dlls = dllsImported(target.binary)
      expect(dlls).toContain('node.exe')
      expect(dlls.filter((dll) => !WINDOWS_SYSTEM_DLLS.includes(dll) && dll !== 'node.exe')).toEqual([])
    })

    it(
      `passes the acceptance run on Windows Node, loaded as ${target.loadedAs}`,
      { timeout: ACCEPTANCE_TIMEOUT_MS },
      async () => {
        const stage = stageForWindows()
        onTestFinished(() => {
          // What the acceptance run could not delete on Windows (its folders in the prefix's Temp).
          const temp = path.join(TOOLS, 'wine-prefix', 'drive_c', 'users', os.userInfo().username, 'Temp')
          for (const dir of fs.existsSync(temp) ? fs.readdirSync(temp) : [])
            if (dir.startsWith('partner-sync-')) fs.rmSync(path.join(temp, dir), { recursive: true, force: true })
        })
        await passesAcceptance(target, {
          script: path.join(stage, '__test__', 'fixtures', 'platform-acceptance.mjs'),
          env: {
            PARTNER_SYNC_TEST_EXPECT: target.loadedAs,
            // Child processes are Windows Node itself (Wine maps / to Z:).
            PARTNER_SYNC_TEST_NODE: `Z:${WINDOWS_NODE.replaceAll('/', '\\')}`,
            // Under Wine the platform's verifier cannot take extra roots ("Invalid parameter"): the client falls back.
            PARTNER_SYNC_TEST_TLS_FALLBACK: '1',
          },
        })
      },
    )
  })
}

// macOS and Windows are built only by the workflow, on GitHub's runners, which have Xcode's clang and MSVC
// but no CMake-for-aws-lc, NASM, libclang or system SQLite. The C in our tree must need nothing else.
// Reads the locked tree with `cargo tree --offline`: scripts/platform-tools.sh fetched every target's crates.
const fetched = fs.existsSync(path.join(TOOLS, 'bin'))
describe.skipIf(!fetched && REQUIRED.size === 0)(
  'the macOS and Windows builds need only the runner’s C compiler',
  () => {
    const cargoTree = (triple, crate) =>
      execFileSync(
        'cargo',
        ['tree', '--offline', '--locked', '--target', triple, '-e', 'features', '--prefix', 'none', '-i', crate],
        { cwd: ROOT, encoding: 'utf8' },
      )
    const features = (triple, crate) =>
      new Set([...cargoTree(triple, crate).matchAll(new RegExp(`^${crate} feature "([^"]+)"`, 'gm'))].map((m) => m[1]))
    const metadata = JSON.parse(
      execFileSync('cargo', ['metadata', '--offline', '--locked', '--format-version', '1'], {
        cwd: ROOT,
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      }),
    )
    const awsLcSys = path.dirname(metadata.packages.find((p) => p.name === 'aws-lc-sys').manifest_path)

    for (const triple of pkg.napi.targets.filter((t) => !t.includes('-linux-'))) {
      it(triple, () => {
        // aws-lc-sys takes its cc build (no CMake, no bindgen and libclang) only with the bindings it ships for the target, and without FIPS.
        const awsLc = features(triple, 'aws-lc-sys')
        expect([...awsLc].filter((feature) => ['bindgen', 'fips'].includes(feature))).toEqual([])
        expect(fs.existsSync(path.join(awsLcSys, 'src', `${triple.replaceAll('-', '_')}_crypto.rs`))).toBe(true)
        // On Windows it assembles with NASM unless it may use the objects it ships.
        if (triple.includes('windows')) expect(awsLc.has('prebuilt-nasm')).toBe(true)
        // SQLite compiled from its bundled source, not found through pkg-config or vcpkg.
        expect(features(triple, 'libsqlite3-sys').has('bundled')).toBe(true)
      })
    }
  },
)
