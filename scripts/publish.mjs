#!/usr/bin/env node
// Publishes the platform packages and the main package, napi-rs package-template style, from a staged
// copy of the package (the checkout stays as it is): `napi artifacts` moves each binary into
// npm/<platform>/, `napi prepublish` publishes those packages and lists them in optionalDependencies,
// then the main package is published without any binary and without its development `prepare`.
// The workflow's publish job runs it; so does the local-registry test, against Verdaccio.
//
//   node scripts/publish.mjs <dir with partner-sync.*.node, searched recursively> [--only <triple,...>]
//
// --only publishes a subset of napi.targets (the local registry test has only the Linux binaries).
// The registry, token and dist-tag come from npm's own environment (npm_config_*, NODE_AUTH_TOKEN).

import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'

export function publish(artifactsDir, only) {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
  const targets = only ?? pkg.napi.targets
  const unknown = targets.filter((triple) => !pkg.napi.targets.includes(triple))
  if (unknown.length) throw new Error(`not in package.json napi.targets: ${unknown.join(', ')}`)

  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'partner-sync-publish-'))
  try {
    // What the main package ships (package.json `files`, but no binary), and the platform packages' folders.
    for (const entry of [...pkg.files.filter((file) => !file.endsWith('.node')), 'npm']) {
      fs.cpSync(path.join(ROOT, entry), path.join(stage, entry), { recursive: true })
    }
    fs.writeFileSync(
      path.join(stage, 'package.json'),
      `${JSON.stringify({ ...pkg, napi: { ...pkg.napi, targets } }, null, 2)}\n`,
    )
    const bin = (...parts) => path.join(ROOT, 'node_modules', ...parts)
    const run = (command, args) =>
      execFileSync(command, args, { cwd: stage, stdio: 'inherit', shell: process.platform === 'win32' })
    const napi = (...args) => run(process.execPath, [bin('@napi-rs', 'cli', 'dist', 'cli.js'), ...args])
    napi('artifacts', '--output-dir', path.resolve(artifactsDir))
    // napi artifacts also copies each binary to the package root, where `files` would pack them into the main package.
    for (const file of fs.readdirSync(stage)) if (file.endsWith('.node')) fs.rmSync(path.join(stage, file))
    // No GitHub release: it would need the git checkout and a token, and npm is where users install from.
    napi('prepublish', '--tag-style', 'npm', '--no-gh-release')
    // clean-package takes the development `prepare` (which builds) out of the published manifest.
    run(process.execPath, [bin('clean-package', 'bin', 'main.js')])
    run(NPM, ['publish', '--ignore-scripts'])
    return JSON.parse(fs.readFileSync(path.join(stage, 'package.json'), 'utf8'))
  } finally {
    fs.rmSync(stage, { recursive: true, force: true })
  }
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [artifactsDir, flag, list] = process.argv.slice(2)
  if (!artifactsDir || (flag && flag !== '--only') || (flag && !list)) {
    process.stderr.write('usage: node scripts/publish.mjs <artifacts dir> [--only <triple,...>]\n')
    process.exit(1)
  }
  publish(artifactsDir, list?.split(','))
}
