// The package as a user's process sees it: CommonJS and ESM imports, the types under
// `tsc --strict`, and a process that exits by itself once its syncs are done.
import { execFile, execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import https from 'node:https'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { expect, it } from 'vitest'

const run = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))

// A child that syncs once to its own receiver, once to a refused port, and once through a
// SQLite outbox, then just returns: nothing of ours may keep it alive.
const CHILD = `
const http = require('node:http')
const { createPartnerSync } = require('@smashcourts/partner-sync')
const server = http.createServer((req, res) => { req.resume(); req.on('end', () => res.end('{"success":true}')) })
server.listen(0, '127.0.0.1', async () => {
  const url = 'http://127.0.0.1:' + server.address().port + '/x'
  const options = { secret: 'exit-test-secret', logger: false, maxAttempts: 2, backoffBaseMs: 10 }
  const delivered = await createPartnerSync({ ...options, url }).sync({ event: 'booking.paid', booking_id: 'b1', status: 'LUNAS', paid_amount: 1 })
  const kept = await createPartnerSync({ ...options, url, outbox: 'sqlite:' + process.argv[1] }).sync({ event: 'booking.paid', booking_id: 'b2', status: 'LUNAS', paid_amount: 1 })
  server.close()
  const refused = await createPartnerSync({ ...options, url }).sync({ event: 'booking.paid', booking_id: 'b3', status: 'LUNAS', paid_amount: 1 })
  console.log(JSON.stringify([delivered.ok, kept.ok, kept.outbox.state, refused.error.kind]))
  globalThis.doneAt = Date.now()
  process.on('exit', () => process.stderr.write(String(Date.now() - globalThis.doneAt)))
})
`

it('exits promptly once the work is done', async () => {
  const outbox = path.join(mkdtempSync(path.join(tmpdir(), 'partner-sync-exit-')), 'outbox.db')
  const { stdout, stderr } = await run(process.execPath, ['-e', CHILD, outbox], { cwd: root, timeout: 10_000 })
  expect(JSON.parse(stdout)).toEqual([true, true, 'delivered', 'network'])
  expect(Number(stderr)).toBeLessThan(500)
})

it('loads with require and with import, the same module', async () => {
  const esm = `
    import * as esm from '@smashcourts/partner-sync'
    import { createRequire } from 'node:module'
    const cjs = createRequire(import.meta.url)('@smashcourts/partner-sync')
    const names = ['syncBookingToPartner', 'createPartnerSync', 'generateSignature', 'verifySignature', 'redrivePending', 'startOutboxWorker', 'startMockPartner']
    console.log(JSON.stringify(names.map((n) => typeof esm[n] === 'function' && esm[n] === cjs[n])))
  `
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', esm], { cwd: root, timeout: 10_000 })
  expect(JSON.parse(stdout)).toEqual([true, true, true, true, true, true, true])
})

it('types: the guide call and the real app call compile under tsc --strict; mistakes do not', async () => {
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  const result = await run(process.execPath, [tsc, '-p', path.join(root, '__test__', 'types', 'tsconfig.json')], {
    cwd: root,
    timeout: 60_000,
  }).catch((e) => e)
  expect(result.stdout + (result.stderr ?? '')).toBe('')
})

// A machine with no CA store at all (node:20-slim has none): the client still has Mozilla's
// roots, as Node's fetch does, so it gets as far as judging the server's certificate.
it('verifies HTTPS without a system CA store', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'partner-sync-tls-'))
  const [key, cert] = [path.join(dir, 'key.pem'), path.join(dir, 'cert.pem')]
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-addext',
      'basicConstraints=critical,CA:FALSE',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  )
  const server = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => res.end('{}'))
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  try {
    const child = `
      const { createPartnerSync } = require('@smashcourts/partner-sync')
      createPartnerSync({ url: process.argv[1], secret: 'tls-test-secret', logger: false, maxAttempts: 1 })
        .sync({ event: 'booking.paid', booking_id: 'b1', status: 'LUNAS', paid_amount: 1 })
        .then((r) => console.log(JSON.stringify(r.error)))
    `
    const url = `https://127.0.0.1:${server.address().port}/api/webhooks/pwa-sync`
    const env = { ...process.env, SSL_CERT_FILE: path.join(dir, 'none.pem'), SSL_CERT_DIR: path.join(dir, 'none') }
    const { stdout } = await run(process.execPath, ['-e', child, url], { cwd: root, env, timeout: 10_000 })
    const error = JSON.parse(stdout)
    expect(error.kind).toBe('network')
    expect(error.message).toMatch(/^TLS failed .*UnknownIssuer/)
    expect(error.message).not.toMatch(/No CA certificates/)
  } finally {
    server.close()
  }
})
