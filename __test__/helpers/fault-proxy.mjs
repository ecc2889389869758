// A TCP proxy on 127.0.0.1 that misbehaves as networks do, between the package and its database
// (this kernel has no netem). Every switch also hits the connections already open:
//   latencyMs        each chunk is held this long, in each direction (order kept)
//   resetRate        each new connection and each chunk is reset with this probability (seeded)
//   blackhole        connections stay open but nothing passes either way; what is sent is held
//   refuse           open connections are reset, and new ones at once (a database that went down)
// and when a blackhole ends, the connections it held are released (their held bytes delivered),
// reset, or frozen (silent for ever, as after a NAT forgot the flow): `heal('release' | 'reset' | 'freeze')`.

import net from 'node:net'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { seededRandom } = require('../../lib/mock-partner.js')

/** Starts a proxy to `target` (`host:port`, or a postgres:// URL whose host it replaces). */
export async function startFaultProxy(target, { seed = 1 } = {}) {
  const [host, port] = targetOf(target)
  const random = seededRandom(seed)
  const mode = { latencyMs: 0, resetRate: 0, blackhole: false, refuse: false }
  const pairs = new Set()
  const stats = { connections: 0, resets: 0, refused: 0 }

  function reset(pair) {
    if (pair.closed) return
    pair.closed = true
    stats.resets += 1
    pair.client.resetAndDestroy()
    pair.upstream.resetAndDestroy()
    pairs.delete(pair)
  }

  function end(pair) {
    if (pair.closed) return
    pair.closed = true
    pair.client.destroy()
    pair.upstream.destroy()
    pairs.delete(pair)
  }

  // Chunks go out in order: each waits for the one before it and for its own latency.
  function forward(pair, to, chunk) {
    if (pair.closed || pair.frozen) return
    if (mode.blackhole) {
      pair.held.push([to, chunk])
      return
    }
    if (mode.resetRate > 0 && random() < mode.resetRate) return reset(pair)
    const due = Date.now() + mode.latencyMs
    const previous = pair.queues.get(to) ?? Promise.resolve()
    const next = previous.then(async () => {
      const wait = due - Date.now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
      if (!pair.closed && !pair.frozen && !to.destroyed) to.write(chunk)
    })
    pair.queues.set(to, next)
  }

  const server = net.createServer((client) => {
    stats.connections += 1
    if (mode.refuse || (mode.resetRate > 0 && random() < mode.resetRate)) {
      stats.refused += 1
      client.resetAndDestroy()
      return
    }
    const upstream = net.connect(port, host)
    const pair = { client, upstream, held: [], queues: new Map(), closed: false, frozen: false }
    pairs.add(pair)
    client.on('data', (chunk) => forward(pair, upstream, chunk))
    upstream.on('data', (chunk) => forward(pair, client, chunk))
    for (const socket of [client, upstream]) {
      socket.on('error', () => end(pair))
      socket.on('close', () => {
        // A frozen connection stays silent even when one end goes away: nothing tells the other.
        if (!pair.frozen) end(pair)
      })
    }
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const proxyPort = server.address().port

  return {
    port: proxyPort,
    stats,
    /** `target` with its host and port replaced by the proxy's, when it is a URL. */
    url(through = target) {
      const url = new URL(through)
      url.host = `127.0.0.1:${proxyPort}`
      return url.toString()
    },
    /** Changes the mode; what is not named stays as it is. Refusing resets the open connections too. */
    set(changes) {
      Object.assign(mode, changes)
      if (changes.refuse) for (const pair of pairs) reset(pair)
    },
    /** Ends a blackhole: the connections it held are released, reset or frozen. */
    heal(held = 'release') {
      mode.blackhole = false
      for (const pair of pairs) {
        const chunks = pair.held.splice(0)
        if (held === 'reset') reset(pair)
        else if (held === 'freeze') pair.frozen = true
        else for (const [to, chunk] of chunks) forward(pair, to, chunk)
      }
    },
    /** Connections open through the proxy now (frozen ones included). */
    openConnections: () => pairs.size,
    async close() {
      for (const pair of pairs) end(pair)
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

function targetOf(target) {
  if (target.includes('://')) {
    const url = new URL(target)
    return [url.hostname, Number(url.port || 5432)]
  }
  const [host, port] = target.split(':')
  return [host, Number(port)]
}
