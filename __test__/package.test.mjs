// What users get from npm: the tarball holds only what they need, installs without Rust, loads
// from CommonJS and ESM, and says what to do when no binary fits the platform.

import { execFile } from 'node:child_process'
import { createHmac } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'

const run = promisify(execFile)
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'
// npm.cmd cannot be spawned without a shell on Windows.
const npm = (args, cwd) => run(NPM, args, { cwd, shell: process.platform === 'win32', timeout: 40_000 })

// The binaries built or downloaded for this host; the tarball must carry them.
const hostBinaries = fs
  .readdirSync(ROOT)
  .filter((name) => name.startsWith(`${pkg.napi.binaryName}.`) && name.endsWith('.node'))
const USER_FILES = [
  /^binding\.js$/,
  /^binding\.d\.ts$/,
  /^package\.json$/,
  /^README\.md$/,
  /^docs\//,
  /^LICENSE$/,
  /^lib\//,
  /^bin\//,
  /^[\w-]+\.[\w-]+\.node$/,
]

let workDir
let packedFiles
let installedDir
let installOutput
let manifestBeforePack
let tarball

/** The targets of a Markdown page's links and images, code left out (inline, reference-style and HTML). */
function linkTargets(markdown) {
  const prose = markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '')
  const inline = [...prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)]
  const references = [...prose.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)]
  const html = [...prose.matchAll(/\s(?:href|src)="([^"]+)"/g)]
  return [...inline, ...references, ...html].map((match) => match[1])
}

/** The anchors of a page's headings, as GitHub and npm make them. */
function headingAnchors(markdown) {
  const seen = new Map()
  const anchors = new Set()
  for (const [, heading] of markdown.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm)) {
    const base = heading
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-')
    const count = seen.get(base) || 0
    seen.set(base, count + 1)
    anchors.add(count === 0 ? base : `${base}-${count}`)
  }
  return anchors
}

/** Runs a script in a fresh Node process from `cwd`; resolves with what it printed as JSON. */
async function nodeJson(cwd, args, env = {}) {
  const { stdout } = await run(process.execPath, args, { cwd, env: { ...process.env, ...env }, timeout: 20_000 })
  return JSON.parse(stdout)
}

beforeAll(async () => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'partner-sync-package-'))
  manifestBeforePack = fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')
  // With its lifecycle scripts, as `npm publish` packs: prepack (clean-package) takes `prepare` out of
  // package.json before npm would run it, so nothing is built, and postpack puts it back.
  const { stdout } = await npm(['pack', '--json', '--pack-destination', workDir], ROOT)
  const [packed] = JSON.parse(stdout)
  packedFiles = packed.files.map((file) => file.path)
  tarball = path.join(workDir, packed.filename)

  const consumer = path.join(workDir, 'consumer')
  fs.mkdirSync(consumer)
  fs.writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true }))
  // Scripts allowed, as a user installs: npm would warn about any it finds. --prefer-offline takes the
  // dependencies from npm's cache.
  const installed = await npm(['install', tarball, '--no-audit', '--no-fund', '--prefer-offline'], consumer)
  installOutput = installed.stdout + installed.stderr
  installedDir = path.join(consumer, 'node_modules', ...pkg.name.split('/'))
}, 60_000)

afterAll(() => {
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true })
})

describe('the npm tarball', () => {
  test('holds only what users need', () => {
    expect(packedFiles.filter((file) => !USER_FILES.some((pattern) => pattern.test(file)))).toEqual([])
    for (const needed of [
      'binding.js',
      'binding.d.ts',
      'lib/index.js',
      'lib/index.d.ts',
      'lib/index.mjs',
      'lib/index.d.mts',
      'lib/load-native.js',
      'package.json',
      'README.md',
      'LICENSE',
      ...Object.values(pkg.bin),
    ]) {
      expect(packedFiles).toContain(needed)
    }
    expect(hostBinaries.length).toBeGreaterThan(0)
    for (const binary of hostBinaries) expect(packedFiles).toContain(binary)
  })

  test('every relative link of its README and docs resolves inside it, anchors included', () => {
    const pages = packedFiles.filter((file) => file.endsWith('.md'))
    expect(pages).toEqual(expect.arrayContaining(['README.md', 'docs/settings.md', 'docs/outbox.md']))
    const read = (page) => fs.readFileSync(path.join(installedDir, page), 'utf8')
    const broken = []
    let relative = 0
    for (const page of pages) {
      for (const target of linkTargets(read(page))) {
        // Absolute: https:, mailto: and the like.
        if (/^[a-z][a-z\d+.-]*:/i.test(target)) continue
        relative++
        const [file, anchor] = target.split('#')
        const resolved = file ? path.posix.normalize(path.posix.join(path.posix.dirname(page), file)) : page
        const exists = packedFiles.includes(resolved) || packedFiles.some((packed) => packed.startsWith(`${resolved}/`))
        if (!exists) broken.push(`${page}: ${target} (no ${resolved} in the tarball)`)
        else if (anchor && resolved.endsWith('.md') && !headingAnchors(read(resolved)).has(anchor))
          broken.push(`${page}: ${target} (no heading #${anchor} in ${resolved})`)
      }
    }
    expect(broken).toEqual([])
    // The README alone links a dozen reference pages: a parser that found nothing would prove nothing.
    expect(relative).toBeGreaterThan(40)
  })

  test('says where it comes from: repository, homepage and issues', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(installedDir, 'package.json'), 'utf8'))
    expect(manifest.repository).toEqual({ type: 'git', url: 'git+https://github.com/smashcourts/partner-sync.git' })
    expect(manifest.homepage).toBe('https://github.com/smashcourts/partner-sync#readme')
    expect(manifest.bugs).toEqual({ url: 'https://github.com/smashcourts/partner-sync/issues' })
  })

  test('declares no script that runs on install, and packing leaves the repository as it was', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(installedDir, 'package.json'), 'utf8'))
    for (const script of ['preinstall', 'install', 'postinstall', 'prepare', 'prepack'])
      expect(manifest.scripts || {}).not.toHaveProperty(script)
    expect(manifest).not.toHaveProperty('clean-package')
    // The types need Node's; an optional peer uses the app's own @types/node and installs none for JavaScript users.
    // OpenTelemetry's API is used only when the app has it (lib/observe.js loads it lazily).
    expect(manifest.peerDependencies).toEqual({ '@types/node': '>=18', '@opentelemetry/api': '^1.3.0' })
    expect(manifest.peerDependenciesMeta).toEqual({
      '@types/node': { optional: true },
      '@opentelemetry/api': { optional: true },
    })
    expect(installOutput).not.toMatch(/install-scripts|prepare/)
    expect(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).toBe(manifestBeforePack)
    // The repository itself still builds on `npm install`.
    expect(pkg.scripts.prepare).toBe('npm run build && npm run test:rust -- --no-run')
  })

  test('its types resolve right in every TypeScript module mode (arethetypeswrong, offline)', async () => {
    const attw = path.join(ROOT, 'node_modules', '@arethetypeswrong', 'cli', 'dist', 'index.js')
    // attw exits 1 when it finds problems; its JSON report is on stdout either way.
    const { stdout } = await run(process.execPath, [attw, tarball, '--format', 'json'], { timeout: 60_000 }).catch(
      (error) => error,
    )
    const { analysis } = JSON.parse(stdout)
    expect(analysis.problems).toEqual([])
    expect(Object.keys(analysis.entrypoints['.'].resolutions)).toEqual([
      'node10',
      'node16-cjs',
      'node16-esm',
      'bundler',
    ])
  }, 60_000)

  test('installs without a build and loads with require()', async () => {
    const loaded = await nodeJson(path.dirname(path.dirname(installedDir)), [
      '-e',
      `const m = require(${JSON.stringify(pkg.name)});
       console.log(JSON.stringify({ from: require.resolve(${JSON.stringify(pkg.name)}), sync: typeof m.syncBookingToPartner, signature: m.generateSignature('{}', 'secret') }))`,
    ])
    expect(loaded.from.startsWith(installedDir)).toBe(true)
    expect(loaded.sync).toBe('function')
    // The native core signs as the guide's crypto code does.
    expect(loaded.signature).toBe(createHmac('sha256', 'secret').update('{}').digest('hex'))
  })

  test('loads with import() from ESM', async () => {
    const loaded = await nodeJson(path.dirname(path.dirname(installedDir)), [
      '--input-type=module',
      '-e',
      `const m = await import(${JSON.stringify(pkg.name)});
       console.log(JSON.stringify({ sync: typeof m.syncBookingToPartner, redrive: typeof m.redrivePending, header: m.SIGNATURE_HEADER }))`,
    ])
    expect(loaded).toEqual({ sync: 'function', redrive: 'function', header: 'x-pwa-signature' })
  })
})

describe('what require loads', () => {
  // Relative to the package, every CommonJS module loaded so far (ES modules are not listed).
  const LOADED = `(() => {
      const path = require('path')
      return Object.keys(require.cache).map((file) => path.relative(process.argv[1], file)).sort()
    })()`
  const AT_LOAD = [
    'binding.js',
    'lib/default-client.js',
    'lib/index.js',
    'lib/load-native.js',
    'lib/log.js',
    'lib/signing.js',
  ]
  const expectLoadedAtLoad = (loaded) => {
    // The addon at load, so that a missing binary fails at the app's start.
    expect(loaded.filter((file) => file.endsWith('.node'))).toHaveLength(1)
    expect(loaded.filter((file) => !file.endsWith('.node'))).toEqual(AT_LOAD)
  }

  test('the addon and the facade; the client at its first use; @opentelemetry/api never unasked', async () => {
    const script = `
      const partnerSync = require(process.argv[1])
      const atRequire = ${LOADED}
      partnerSync.createPartnerSync({ logger: false })
      console.log(JSON.stringify({ atRequire, atFirstClient: ${LOADED} }))`
    const { atRequire, atFirstClient } = await nodeJson(ROOT, ['-e', script, ROOT])
    expectLoadedAtLoad(atRequire)
    expect(atFirstClient).toEqual(
      expect.arrayContaining(['lib/client.js', 'lib/observe.js', 'lib/settings.js', 'lib/validate.js']),
    )
    expect(atFirstClient.filter((file) => file.includes('@opentelemetry'))).toEqual([])
  })

  test('import loads the same: its named exports do not load the mock partner or the outbox page', async () => {
    const script = `
      import { createRequire } from 'node:module'
      import { startMockPartner, createOutboxDashboard } from '@smashcourts/partner-sync'
      const require = createRequire(import.meta.url)
      console.log(JSON.stringify(${LOADED}))`
    expectLoadedAtLoad(await nodeJson(ROOT, ['--input-type=module', '-e', script, ROOT]))
  })
})

describe('when no native binary fits', () => {
  const reportLoadError = `try { require(process.argv[1]); console.log('{}') } catch (e) {
    console.log(JSON.stringify({ message: e.message, code: e.code, cause: e.cause && e.cause.message })) }`

  function expectHelpfulError(error) {
    expect(error.code).toBe('ERR_PARTNER_SYNC_NO_BINDING')
    expect(error.message).toContain(`(${process.platform} ${process.arch}`)
    if (process.platform === 'linux') expect(error.message).toMatch(/glibc|musl libc/)
    expect(error.message).toContain('git clone')
    expect(error.message).toContain('https://rustup.rs')
    expect(error.message).toContain('npm run build')
    // The generated loader's own error stays reachable.
    expect(error.cause).toContain('Cannot find native binding')
  }

  // Runs after the load tests above (vitest keeps file order): it removes the installed binary.
  test('an installed package without its binary names the platform package it looked for', async () => {
    for (const binary of hostBinaries) fs.rmSync(path.join(installedDir, binary))
    const error = await nodeJson(installedDir, [
      '-e',
      reportLoadError,
      path.join(installedDir, 'lib', 'load-native.js'),
    ])
    expectHelpfulError(error)
    expect(error.message).toContain(`${pkg.name}-${process.platform}-${process.arch}`)
  })

  test('NAPI_RS_NATIVE_LIBRARY_PATH to a missing file is reported as such, by the package itself', async () => {
    const missing = path.join(workDir, 'missing.node')
    const error = await nodeJson(ROOT, ['-e', reportLoadError, ROOT], {
      NAPI_RS_NATIVE_LIBRARY_PATH: missing,
    })
    expectHelpfulError(error)
    expect(error.message).toContain(`NAPI_RS_NATIVE_LIBRARY_PATH=${missing}`)
  })
})
