// Shared by the platform tests: the Linux targets and the Windows one this workspace builds and runs, each
// platform's Node (wrappers made by scripts/platform-tools.sh), and which targets a run must not skip.

import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
export const TOOLS =
  process.env.PARTNER_SYNC_PLATFORM_TOOLS || path.join(os.homedir(), '.cache', 'partner-sync-platforms')

const wrapper = (name) => path.join(TOOLS, 'bin', `node-${name}`)

/** The Linux targets of package.json, with the Node that runs each one's binary here. */
export const LINUX_TARGETS = [
  { triple: 'x86_64-unknown-linux-gnu', suffix: 'linux-x64-gnu', node: process.execPath, npmFlags: [] },
  {
    triple: 'x86_64-unknown-linux-musl',
    suffix: 'linux-x64-musl',
    node: wrapper('x64-musl'),
    npmFlags: ['--libc=musl'],
  },
  {
    triple: 'aarch64-unknown-linux-gnu',
    suffix: 'linux-arm64-gnu',
    node: wrapper('arm64-gnu'),
    npmFlags: ['--cpu=arm64'],
  },
].map((target) => ({ ...target, binary: path.join(ROOT, `${pkg.napi.binaryName}.${target.suffix}.node`) }))

/**
 * Windows x64: the x86_64-pc-windows-gnu build (Debian's mingw-w64) on Windows Node 22 under Wine. Loaded
 * by the package's own loader under the name of the published msvc binary, from a staged copy of the package.
 */
export const WINDOWS_TARGET = {
  triple: 'x86_64-pc-windows-gnu',
  binary: path.join(ROOT, `${pkg.napi.binaryName}.win32-x64-gnu.node`),
  loadedAs: `${pkg.napi.binaryName}.win32-x64-msvc.node`,
  node: wrapper('win32-x64'),
}

/** A platform we publish no package for (Alpine on arm64): its Node, and the npm flags that select it. */
export const UNSUPPORTED = {
  suffix: 'linux-arm64-musl',
  node: wrapper('arm64-musl'),
  npmFlags: ['--cpu=arm64', '--libc=musl'],
}

/** Targets that must be tested in this run (`PARTNER_SYNC_REQUIRE_PLATFORMS=triple,...`): a missing binary or tool fails. */
export const REQUIRED = new Set((process.env.PARTNER_SYNC_REQUIRE_PLATFORMS || '').split(',').filter(Boolean))
for (const triple of REQUIRED) {
  if (!LINUX_TARGETS.some((target) => target.triple === triple) && triple !== WINDOWS_TARGET.triple)
    throw new Error(
      `PARTNER_SYNC_REQUIRE_PLATFORMS names ${triple}, which is neither a Linux target of package.json nor ${WINDOWS_TARGET.triple}`,
    )
}

export const HOW =
  'Run `npm run test:platforms` (it installs the tools and builds each target with `npm run build:target`)'

/** Why `target` cannot be tested here, or undefined when its binary and its Node are both present. */
export function missing(target) {
  if (!fs.existsSync(target.binary)) return `${path.basename(target.binary)} is not built`
  if (!fs.existsSync(target.node)) return `${target.node} is missing`
  return undefined
}

/** Prints why a platform's tests are skipped, loud enough to notice (CI requires them instead). */
export function warnSkipped(what, why) {
  console.warn(
    `\n${'!'.repeat(78)}\n!!! SKIPPING ${what}: ${why}.\n!!! ${HOW}. CI sets PARTNER_SYNC_REQUIRE_PLATFORMS, where this is a failure.\n${'!'.repeat(78)}\n`,
  )
}

// Three parts, so that 2.2.5 sorts below 2.17.
const versionKey = (version) =>
  [...version.split('.').map(Number), 0, 0].slice(0, 3).reduce((key, part) => key * 1000 + part, 0)
export const newerThan = (version, floor) => versionKey(version) > versionKey(floor)

/** The GLIBC_x.y versions an ELF file's dynamic symbols need (readelf reads any architecture). */
export function glibcVersionsNeeded(file) {
  const text = execFileSync('readelf', ['--version-info', '--wide', file], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
  const needs = text.slice(text.indexOf("Version needs section '.gnu.version_r'"))
  return [...new Set([...needs.matchAll(/Name: GLIBC_([\d.]+)/g)].map((m) => m[1]))].sort(
    (a, b) => versionKey(a) - versionKey(b),
  )
}

/** The shared libraries an ELF file names as NEEDED. */
export function sharedLibrariesNeeded(file) {
  const text = execFileSync('readelf', ['--dynamic', '--wide', file], { encoding: 'utf8' })
  return [...text.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1])
}
