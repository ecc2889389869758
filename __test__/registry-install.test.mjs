// Installed the way users install it: the platform packages and the main package are published by
// scripts/publish.mjs (the workflow's publish step) to Verdaccio on loopback, then fresh apps install
// @smashcourts/partner-sync with no cargo or rustc on PATH and an empty npm cache. npm must pick the one
// package for the machine (or for --cpu / --libc), the app must sync on that platform's Node, and a
// platform with no package must fail at require with ERR_PARTNER_SYNC_NO_BINDING.
// The dependencies (commander, cli-progress, ...) are published from npm's cache: nothing leaves loopback.

import { execFile, spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../scripts/free-port.mjs'
import { SECRET, startPartner, tempDir, waitFor } from './helpers/outbox-harness.mjs'
import { LINUX_TARGETS, REQUIRED, ROOT, TOOLS, UNSUPPORTED, missing, pkg, warnSkipped } from './helpers/platforms.mjs'

const run = promisify(execFile)
const VERDACCIO = path.join(TOOLS, 'verdaccio', 'node_modules', 'verdaccio', 'bin', 'verdaccio')
const SCOPE_DIR = pkg.name.split('/')[0]
const built = LINUX_TARGETS.filter((target) => !missing(target))
const needed = !fs.existsSync(VERDACCIO)
  ? `${VERDACCIO} is missing`
  : built.length === 0
    ? 'no Linux binary is built'
    : undefined

if (needed && REQUIRED.size > 0) {
  it('the registry install must be tested here', () => {
    throw new Error(`PARTNER_SYNC_REQUIRE_PLATFORMS is set, but ${needed}`)
  })
} else if (needed) {
  warnSkipped('the local-registry install tests', needed)
}

// PATH without any directory holding cargo or rustc: the install must not need Rust.
const PATH_WITHOUT_RUST = process.env.PATH.split(path.delimiter)
  .filter((dir) => !['cargo', 'rustc'].some((tool) => fs.existsSync(path.join(dir, tool))))
  .join(path.delimiter)

describe.skipIf(needed)('install from a local registry', () => {
  let work
  let registry
  let verdaccio
  let npmEnv
  let partner
  const npm = (args, cwd, env = npmEnv) => run('npm', args, { cwd, env, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 })

  beforeAll(async () => {
    work = tempDir('registry')
    partner = await startPartner()
    const port = await freePort()
    registry = `http://127.0.0.1:${port}/`
    fs.writeFileSync(
      work.file('verdaccio.yaml'),
      [
        `storage: ${work.file('storage')}`,
        'auth:',
        `  htpasswd: { file: ${work.file('htpasswd')} }`,
        // No uplinks: what is not published here does not exist.
        'uplinks: {}',
        'packages:',
        "  '**': { access: $all, publish: $authenticated }",
        'log: { type: stdout, format: pretty, level: warn }',
      ].join('\n'),
    )
    verdaccio = spawn(
      process.execPath,
      [VERDACCIO, '--config', work.file('verdaccio.yaml'), '--listen', `127.0.0.1:${port}`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let said = ''
    for (const stream of [verdaccio.stdout, verdaccio.stderr]) stream.on('data', (chunk) => (said += chunk))
    await waitFor(
      'Verdaccio to answer',
      () => {
        if (verdaccio.exitCode !== null) throw new Error(`Verdaccio exited (${verdaccio.exitCode}): ${said}`)
        return fetch(`${registry}-/ping`).then(
          (r) => r.ok,
          () => false,
        )
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    )
    const user = await fetch(`${registry}-/user/org.couchdb.user:ci`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'ci', password: 'ci-password' }),
    }).then((r) => r.json())
    const npmrc = work.file('npmrc')
    fs.writeFileSync(npmrc, `registry=${registry}\n//127.0.0.1:${port}/:_authToken=${user.token}\n`)
    // An empty cache: every package an app installs comes from this registry.
    npmEnv = {
      ...process.env,
      PATH: PATH_WITHOUT_RUST,
      npm_config_userconfig: npmrc,
      npm_config_registry: registry,
      npm_config_cache: work.file('cache'),
      npm_config_update_notifier: 'false',
    }

    // The dependencies, byte for byte as npm fetched them for this checkout, from the developer's npm cache.
    const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'))
    const dependencies = Object.entries(lock.packages).filter(
      ([where, entry]) => where && !entry.dev && !entry.devOptional,
    )
    fs.mkdirSync(work.file('deps'))
    for (const [where, entry] of dependencies) {
      const name = where.slice(where.lastIndexOf('node_modules/') + 'node_modules/'.length)
      await run('npm', ['pack', `${name}@${entry.version}`, '--offline', '--pack-destination', work.file('deps')], {
        cwd: work.dir,
        timeout: 60_000,
      })
    }
    for (const tarball of fs.readdirSync(work.file('deps')))
      await npm(['publish', work.file(`deps/${tarball}`), '--ignore-scripts'], work.dir)

    fs.mkdirSync(work.file('artifacts'))
    for (const target of built) fs.copyFileSync(target.binary, work.file(`artifacts/${path.basename(target.binary)}`))
    await run(
      process.execPath,
      [
        path.join(ROOT, 'scripts', 'publish.mjs'),
        work.file('artifacts'),
        '--only',
        built.map((t) => t.triple).join(','),
      ],
      {
        cwd: ROOT,
        env: npmEnv,
        timeout: 120_000,
        maxBuffer: 16 * 1024 * 1024,
      },
    )
  }, 300_000)

  afterAll(async () => {
    verdaccio?.kill()
    await partner?.close()
    work?.remove()
  })

  /** A fresh app that installs the package with `flags`; returns its directory and the @smashcourts packages npm put there. */
  async function installApp(name, flags) {
    const app = work.file(`app-${name}`)
    fs.mkdirSync(app)
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: `app-${name}`, private: true }))
    await npm(['install', pkg.name, '--no-audit', '--no-fund', ...flags], app)
    return { app, installed: fs.readdirSync(path.join(app, 'node_modules', SCOPE_DIR)).sort() }
  }

  /** Runs a sync from `app` on `node`; resolves with what the script printed as JSON. */
  async function syncFrom(app, node, id) {
    const script = `const { createPartnerSync } = require(${JSON.stringify(pkg.name)})
      createPartnerSync({ url: ${JSON.stringify(partner.url)}, secret: ${JSON.stringify(SECRET)}, logger: false })
        .sync({ event: 'booking.paid', booking_id: ${JSON.stringify(id)}, status: 'LUNAS', paid_amount: 150000 })
        .then((result) => console.log(JSON.stringify({ ok: result.ok, loaded: Object.keys(require.cache).filter((f) => f.endsWith('.node')) })))`
    const { stdout } = await run(node, ['-e', script], {
      cwd: app,
      env: { ...process.env, PATH: PATH_WITHOUT_RUST },
      timeout: 120_000,
    })
    return JSON.parse(stdout)
  }

  it('no cargo or rustc is on the PATH the installs run with', async () => {
    for (const tool of ['cargo', 'rustc'])
      await expect(run('sh', ['-c', `command -v ${tool}`], { env: npmEnv })).rejects.toThrow()
  })

  it('reports the size of each published package', () => {
    const sizes = []
    const storage = work.file('storage')
    for (const dir of fs.readdirSync(path.join(storage, SCOPE_DIR))) {
      for (const file of fs.readdirSync(path.join(storage, SCOPE_DIR, dir)).filter((f) => f.endsWith('.tgz'))) {
        sizes.push(
          `${SCOPE_DIR}/${dir}: ${(fs.statSync(path.join(storage, SCOPE_DIR, dir, file)).size / 1024 / 1024).toFixed(2)} MiB gzipped`,
        )
      }
    }
    console.log(`published packages:\n  ${sizes.join('\n  ')}`)
    expect(sizes).toHaveLength(built.length + 1)
  })

  it('the published main package ships no binary and no install-time script, and lists each platform package', async () => {
    const { app } = await installApp('manifest', [])
    const installedDir = path.join(app, 'node_modules', pkg.name)
    const manifest = JSON.parse(fs.readFileSync(path.join(installedDir, 'package.json'), 'utf8'))
    expect(manifest.optionalDependencies).toEqual(
      Object.fromEntries(built.map((target) => [`${pkg.name}-${target.suffix}`, pkg.version])),
    )
    for (const script of ['preinstall', 'install', 'postinstall', 'prepare'])
      expect(manifest.scripts || {}).not.toHaveProperty(script)
    expect(fs.readdirSync(installedDir).filter((file) => file.endsWith('.node'))).toEqual([])
  })

  for (const target of LINUX_TARGETS) {
    const skip = !built.includes(target)
    if (skip && REQUIRED.has(target.triple)) {
      it(`${target.triple} must be published here`, () => {
        throw new Error(`PARTNER_SYNC_REQUIRE_PLATFORMS names ${target.triple}, but ${missing(target)}`)
      })
      continue
    }
    const how = target.npmFlags.length ? `npm install ${target.npmFlags.join(' ')}` : 'a plain npm install'
    it.skipIf(skip)(
      `${how} takes exactly ${pkg.name}-${target.suffix}, and a sync works on that platform's Node`,
      { timeout: 240_000 },
      async () => {
        const { app, installed } = await installApp(target.suffix, target.npmFlags)
        expect(installed).toEqual([pkg.name.split('/')[1], `${pkg.name.split('/')[1]}-${target.suffix}`])
        const result = await syncFrom(app, target.node, `registry-${target.suffix}`)
        expect(result.ok).toBe(true)
        expect(result.loaded).toEqual([
          path.join(
            app,
            'node_modules',
            `${pkg.name}-${target.suffix}`,
            `${pkg.napi.binaryName}.${target.suffix}.node`,
          ),
        ])
        expect(partner.forBooking(`registry-${target.suffix}`).map((r) => r.verified)).toEqual([true])
      },
    )
  }

  it(
    `a platform with no package (Alpine on arm64) fails at require with ERR_PARTNER_SYNC_NO_BINDING, naming what it looked for`,
    { timeout: 240_000 },
    async () => {
      const { app, installed } = await installApp(UNSUPPORTED.suffix, UNSUPPORTED.npmFlags)
      expect(installed).toEqual([pkg.name.split('/')[1]])
      const script = `try { require(${JSON.stringify(pkg.name)}); console.log('{}') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }`
      const { stdout } = await run(UNSUPPORTED.node, ['-e', script], { cwd: app, timeout: 120_000 })
      const error = JSON.parse(stdout)
      console.log(`On ${UNSUPPORTED.suffix}, require says:\n${error.message}`)
      expect(error.code).toBe('ERR_PARTNER_SYNC_NO_BINDING')
      expect(error.message).toContain('(linux arm64 musl libc)')
      expect(error.message).toContain(`${pkg.napi.binaryName}.${UNSUPPORTED.suffix}.node`)
      expect(error.message).toContain(`the package ${pkg.name}-${UNSUPPORTED.suffix}`)
    },
  )
})
