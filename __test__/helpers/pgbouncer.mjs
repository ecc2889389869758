// Debian's PgBouncer in transaction mode in front of a test PostgreSQL server, as Supabase's
// pooler on port 6543: a server connection is a client's only for one transaction, so nothing a
// session keeps (named prepared statements, SET, session advisory locks) survives between them.
// .ci/run starts one for the whole run (`write-config`); a test that restarts its pooler starts
// its own with `startPgBouncer`.

import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort } from '../../scripts/free-port.mjs'

const BINARY = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find((file) => fs.existsSync(file)) ?? 'pgbouncer'

/** Writes `pgbouncer.ini` and its user list into `dir`, for a pooler on `port` in front of `serverUrl`. */
export function writeConfig(dir, port, serverUrl) {
  const server = new URL(serverUrl)
  const database = server.pathname.slice(1)
  const user = decodeURIComponent(server.username || 'postgres')
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, 'userlist.txt'), `"${user}" ""\n`)
  const ini = [
    '[databases]',
    `${database} = host=${server.hostname} port=${server.port || 5432} dbname=${database}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'auth_type = trust',
    `auth_file = ${path.join(dir, 'userlist.txt')}`,
    'pool_mode = transaction',
    'default_pool_size = 2',
    'max_client_conn = 200',
    `pidfile = ${path.join(dir, 'pgbouncer.pid')}`,
    `logfile = ${path.join(dir, 'pgbouncer.log')}`,
  ]
  fs.writeFileSync(path.join(dir, 'pgbouncer.ini'), `${ini.join('\n')}\n`)
  return path.join(dir, 'pgbouncer.ini')
}

const asServiceUser =
  process.getuid?.() === 0
    ? (command) => ['runuser', ['-u', 'postgres', '--', ...command]]
    : (command) => [command[0], command.slice(1)]

async function untilListening(port, timeoutMs) {
  const until = Date.now() + timeoutMs
  for (;;) {
    const open = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(socket.end() && true))
      socket.once('error', () => resolve(false))
    })
    if (open) return
    if (Date.now() > until) throw new Error(`PgBouncer did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`)
    await sleep(20)
  }
}

/** A pooler of the test's own: `{ url, restart(), stop() }`. `restart` stops it at once (clients lose their connections) and starts it again on the same port. */
export async function startPgBouncer(serverUrl) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'partner-sync-pgbouncer-'))
  const port = await freePort()
  const ini = writeConfig(dir, port, serverUrl)
  if (process.getuid?.() === 0) spawnSync('chown', ['-R', 'postgres', dir])
  let child
  const start = async () => {
    const [command, args] = asServiceUser([BINARY, ini])
    child = spawn(command, args, { stdio: 'ignore' })
    child.exited = new Promise((resolve) => child.once('exit', resolve))
    await untilListening(port, 5000)
  }
  const stop = async () => {
    // SIGTERM is PgBouncer's immediate shutdown: every client connection is closed.
    const pid = Number(fs.readFileSync(path.join(dir, 'pgbouncer.pid'), 'utf8'))
    process.kill(pid, 'SIGTERM')
    await child.exited
  }
  await start()
  const url = new URL(serverUrl)
  url.port = String(port)
  url.hostname = '127.0.0.1'
  return {
    url: url.toString(),
    async restart() {
      await stop()
      await start()
    },
    async stop() {
      await stop()
      fs.rmSync(dir, { recursive: true, force: true })
    },
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === 'write-config') {
  const [dir, port, serverUrl] = process.argv.slice(3)
  writeConfig(dir, Number(port), serverUrl)
}
