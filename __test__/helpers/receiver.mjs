// A real HTTP receiver on 127.0.0.1 whose answers a test scripts, one action per request.
import http from 'node:http'

const ENDPOINT = '/api/webhooks/pwa-sync'

/**
 * `answer(request, index)` returns one of:
 *   { status, json?, headers?, delayMs? }   answer after an optional delay
 *   'reset'                                 destroy the socket without answering
 *   'hang'                                  never answer
 */
export async function startReceiver(answer = () => ({ status: 200 })) {
  const requests = []
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (chunk) => chunks.push(chunk))
    req.on('end', () => {
      const raw = Buffer.concat(chunks)
      const request = {
        method: req.method,
        url: req.url,
        headers: req.headers,
        raw,
        body: raw.toString('utf8'),
        at: Date.now(),
      }
      requests.push(request)
      const action = answer(request, requests.length - 1)
      if (action === 'hang') return
      if (action === 'reset') return req.socket.destroy()
      const respond = () => {
        const json = action.json ?? { success: true, message: 'Booking synced successfully' }
        res.writeHead(action.status, { 'content-type': 'application/json', ...action.headers })
        res.end(JSON.stringify(json))
      }
      if (action.delayMs) setTimeout(respond, action.delayMs)
      else respond()
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  return {
    url: `http://127.0.0.1:${port}${ENDPOINT}`,
    port,
    requests,
    async close() {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

/** Answers from a list, in order; the last one repeats. */
export function inOrder(...actions) {
  return (_request, index) => actions[Math.min(index, actions.length - 1)]
}

/** A port nothing listens on: bound, then released. */
export async function refusedPort() {
  const server = http.createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Captures what a client logs, to check messages and that the secret never shows. */
export function capturingLogger() {
  const lines = []
  const record =
    (level) =>
    (...args) =>
      lines.push({ level, text: args.map(String).join(' ') })
  return {
    lines,
    logger: { info: record('info'), warn: record('warn'), error: record('error') },
    text: () => lines.map((l) => l.text).join('\n'),
  }
}
