// A free TCP port on 127.0.0.1, for a server a test or the e2e starts there: the kernel picks one,
// and it is released at once for that server to take.

import net from 'node:net'

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}
