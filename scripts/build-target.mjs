#!/usr/bin/env node
// `npm run build:target -- <rust triple>`: the one way a release binary is built, by the workflow and
// by a developer. Writes partner-sync.<platform suffix>.node into the checkout, as `napi build --platform`
// names it. Linux binaries are linked by zig (cargo-zigbuild) against glibc 2.17, so they load on every
// distribution the README lists (RHEL 7, Amazon Linux 2); musl keeps its ABI, so the musl one needs no floor.

import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
export const GLIBC_FLOOR = '2.17'

/** How `napi build` is told to build `triple` on this host: its extra flags, or why it cannot here. */
function buildPlan(triple) {
  if (triple.includes('-linux-')) {
    // zig links against the glibc version given after the dot (cargo-zigbuild splits it off for Cargo).
    const target = triple.endsWith('-gnu') ? `${triple}.${GLIBC_FLOOR}` : triple
    return { args: ['--target', target, '--cross-compile'], needsZig: true }
  }
  if (triple.includes('-apple-darwin')) {
    if (process.platform === 'darwin') return { args: ['--target', triple], needsZig: false }
    // zig compiles the C parts for macOS and links `-undefined dynamic_lookup`, but not Apple's frameworks.
    throw new Error(
      `${triple} builds on macOS only: the binary links Apple's Security and CoreFoundation frameworks ` +
        '(rustls-platform-verifier, through reqwest) and SystemConfiguration (whoami, through tokio-postgres), ' +
        'and zig can link those only against a macOS SDK, which no registry here has and Apple does not let us ship. ' +
        'The workflow builds it on a macOS runner.',
    )
  }
  if (triple.includes('-windows-msvc')) {
    if (process.platform === 'win32') return { args: ['--target', triple], needsZig: false }
    throw new Error(
      `${triple} builds on Windows only: from elsewhere it needs cargo-xwin, which downloads Microsoft's CRT and Windows SDK (from no registry reachable here). The workflow builds it on a Windows runner.`,
    )
  }
  throw new Error(`no build plan for ${triple}`)
}

function fail(message) {
  process.stderr.write(`build:target: ${message}\n`)
  process.exit(1)
}

function main(argv) {
  const triple = argv[0]
  if (!triple || argv.length > 1)
    fail(`usage: npm run build:target -- <triple>, one of: ${pkg.napi.targets.join(', ')}`)
  if (!pkg.napi.targets.includes(triple))
    fail(`${triple} is not in package.json napi.targets (${pkg.napi.targets.join(', ')})`)
  let plan
  try {
    plan = buildPlan(triple)
  } catch (error) {
    fail(error.message)
  }
  const installed = spawnSync('rustup', ['target', 'list', '--installed'], { encoding: 'utf8' })
  if (installed.status === 0 && !installed.stdout.split('\n').includes(triple))
    fail(`Rust's standard library for ${triple} is missing: \`rustup target add ${triple}\``)
  if (plan.needsZig && spawnSync('cargo-zigbuild', ['--version']).status !== 0) {
    fail(
      'cargo-zigbuild is missing: `pip install ziglang==0.14.1 cargo-zigbuild` (keep zig at 0.14: a newer zig breaks ring and aws-lc-sys builds)',
    )
  }
  // The loader and the declarations do not depend on the target: napi writes them as `npm run build` does,
  // so they come out the same (a difference in git means the committed ones are stale).
  const napi = path.join(ROOT, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js')
  const args = [napi, 'build', '--platform', '--release', '--js', 'binding.js', '--dts', 'binding.d.ts', ...plan.args]
  process.stderr.write(`build:target: napi ${args.slice(1).join(' ')}\n`)
  const started = Date.now()
  const result = spawnSync(process.execPath, args, { cwd: ROOT, stdio: 'inherit' })
  if (result.status !== 0) fail(`napi build for ${triple} failed (exit ${result.status ?? result.signal})`)
  process.stderr.write(`build:target: ${triple} built in ${Math.round((Date.now() - started) / 1000)} s\n`)
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2))
