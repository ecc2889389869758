'use strict'

// partner-sync outbox ui: the outbox page on loopback, behind a token printed in its URL.

const crypto = require('node:crypto')
const http = require('node:http')
const { createOutboxDashboard } = require('../../..')
const { addSettingOptions, DELIVERY_GROUPS, wholeNumber, jsonOption } = require('../../options.js')
const cli = require('../../context.js')

const UI_COOKIE = 'partner_sync_ui'
const UI_BODY_LIMIT = 64 * 1024
const OPERATOR = 'local operator (partner-sync outbox ui)'

function cookieValue(header, name) {
  for (const part of String(header || '').split(';')) {
    const [key, ...value] = part.trim().split('=')
    if (key === name) return value.join('=')
  }
  return undefined
}

// node:http in, Request out: the dashboard speaks the Web-standard API, as in Next.js.
async function toRequest(req, origin) {
  const chunks = []
  let size = 0
  for await (const chunk of req) {
    size += chunk.length
    if (size > UI_BODY_LIMIT) throw new cli.InputError('request body too large')
    chunks.push(chunk)
  }
  const headers = new Headers()
  for (const [name, value] of Object.entries(req.headers)) {
    headers.set(name, Array.isArray(value) ? value.join(', ') : value)
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
  const body = hasBody ? Buffer.concat(chunks) : undefined
  return new Request(new URL(req.url, origin), { method: req.method, headers, body })
}

async function sendResponse(res, response, extraHeaders = {}) {
  res.writeHead(response.status, { ...Object.fromEntries(response.headers), ...extraHeaders })
  res.end(Buffer.from(await response.arrayBuffer()))
}

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', (error) => {
      const why = `${error.message}; pick another --port (0 for a free one)`
      reject(new cli.CommandFailure(`outbox ui cannot listen on 127.0.0.1:${port}: ${why}`))
    })
    server.listen(port, '127.0.0.1', resolve)
  })
}

async function uiCommand(opts) {
  cli.requireOutbox(opts)
  const token = crypto.randomBytes(24).toString('base64url')
  const sameToken = (value) =>
    typeof value === 'string' &&
    value.length === token.length &&
    crypto.timingSafeEqual(Buffer.from(value), Buffer.from(token))
  const dashboard = createOutboxDashboard({
    ...cli.clientOptions(opts),
    basePath: '/',
    authorize: (request) => {
      const fromUrl = new URL(request.url).searchParams.get('token')
      return sameToken(fromUrl) || sameToken(cookieValue(request.headers.get('cookie'), UI_COOKIE)) ? OPERATOR : null
    },
  })
  const server = http.createServer(async (req, res) => {
    const origin = `http://${req.headers.host || '127.0.0.1'}`
    try {
      const url = new URL(req.url, origin)
      // The token from the printed URL becomes a cookie, and leaves the address bar.
      if (req.method === 'GET' && sameToken(url.searchParams.get('token'))) {
        url.searchParams.delete('token')
        res.writeHead(303, {
          location: `${url.pathname}${url.search}`,
          'set-cookie': `${UI_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict`,
          'cache-control': 'no-store',
        })
        return res.end()
      }
      const request = await toRequest(req, origin)
      await sendResponse(res, await (req.method === 'POST' ? dashboard.POST(request) : dashboard.GET(request)))
    } catch (error) {
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
      res.end(`partner-sync outbox ui: ${error.message}\n`)
    }
  })
  await listen(server, opts.port)
  const url = `http://127.0.0.1:${server.address().port}/?token=${token}`
  if (opts.json) cli.printJson({ url })
  else {
    console.log(
      `Outbox page at ${url}\n(only this machine can reach it; the token in the URL is the key. Ctrl-C stops it.)`,
    )
  }
  await cli.untilStopped()
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
  return cli.EXIT_OK
}

function register(outbox) {
  addSettingOptions(outbox.command('ui'), ...DELIVERY_GROUPS)
    .description(
      'Serve the outbox page (counts, chart, search, entries, retry, redrive, purge) on 127.0.0.1, behind a random ' +
        'token printed in its URL',
    )
    .option('--port <port>', 'port on 127.0.0.1, 0 for a free one', wholeNumber(0, 65535), 0)
    .addOption(jsonOption('{"url": ...} once listening'))
    .action(cli.withExitCode(uiCommand))
}

module.exports = { register }
