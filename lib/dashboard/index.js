'use strict'

// The outbox page for operators: Web-standard GET and POST handlers (Next.js App Router route
// handlers, or any server that speaks Request/Response). This file routes each request after
// checking who asks (authorize), and, for actions, where from (same origin) and with what
// token (CSRF); views.js renders the pages, security.js signs and sets the headers.

const { createPartnerSync } = require('../client.js')
const { entryStates } = require('../load-native.js')
const { PREFIX } = require('../log.js')
const { createSigner, sameOrigin, newNonce, respond } = require('./security.js')
const { createViews, paragraph } = require('./views.js')

const STATES = entryStates()
const FORM_LIMIT_BYTES = 16 * 1024
const NO_AUTHORIZE =
  'createOutboxDashboard needs authorize(request): a function returning who the operator is (a name, or an object ' +
  'with a name) or a falsy value to refuse. It was not given, so every request is refused with 403. ' +
  "Check your app's admin session there."
const NOT_FROM_THIS_PAGE =
  'This action was not sent from this dashboard (its Origin or Referer header names another site, or none): ' +
  'nothing was done. Use the buttons on the page.'
const STALE_TOKEN =
  'The form token is missing or was not issued to you by this dashboard (a restart, another server instance, ' +
  'or another user): nothing was done. Reload the page and try again; with several server instances, give them ' +
  'one csrfSecret.'

function identityName(identity) {
  if (typeof identity === 'string') return identity
  if (identity && typeof identity === 'object') {
    for (const key of ['name', 'email', 'id']) if (identity[key]) return String(identity[key])
  }
  return 'authorized operator'
}

/**
 * Route handlers for the outbox page. `authorize(request)` returns the operator (a string or
 * an object with a name) or a falsy value to refuse; without it every request gets 403.
 */
function createOutboxDashboard(options = {}) {
  const { authorize, basePath = '/admin/partner-sync', csrfSecret, pageSize = 50, ...clientOptions } = options || {}
  const base = String(basePath).replace(/\/+$/, '')
  if (typeof authorize !== 'function') console.error(`${PREFIX} ${NO_AUTHORIZE}`)
  const client = createPartnerSync(clientOptions)
  const signer = createSigner(csrfSecret)
  const href = (path, query) => {
    const pairs = query ? Object.entries(query).filter(([, v]) => v !== undefined && v !== '') : []
    const search = new URLSearchParams(pairs).toString()
    return `${base}${path}${search ? `?${search}` : ''}`
  }
  const views = createViews({ href, csrfToken: signer.csrfToken, states: STATES })

  function page(status, who, title, content, query) {
    const nonce = newNonce()
    const notice = query && signer.readNotice(query.get('notice'))
    return respond(status, views.layout({ who, title, content, notice, nonce }), { nonce })
  }

  const refuse = (status, title, message) => page(status, undefined, title, paragraph(message))

  async function overview(who, query) {
    const [counts, hours] = await Promise.all([client.outbox.counts(), client.outbox.hourly()])
    return page(200, who, 'Overview', views.overview(who, counts, hours), query)
  }

  async function list(who, query) {
    const state = STATES.includes(query.get('state')) ? query.get('state') : undefined
    const q = (query.get('q') || '').trim()
    const exact = query.get('match') === 'exact'
    const cursor = query.get('cursor') || undefined
    const { entries, nextCursor } = await client.outbox.page({
      state,
      bookingId: q && exact ? q : undefined,
      bookingPrefix: q && !exact ? q : undefined,
      cursor,
      limit: pageSize,
    })
    const { title, content } = views.list({ state, q, exact, cursor }, entries, nextCursor)
    return page(200, who, title, content, query)
  }

  async function entryPage(who, id, query) {
    const entry = await client.outbox.show(id)
    if (!entry) return page(404, who, 'No such entry', views.noSuchEntry(id))
    if (query.get('raw') === '1') return respond(200, entry.body, { type: 'text/plain; charset=utf-8' })
    const content = views.entry(who, entry, client.outbox.signatureOf(entry.body))
    return page(200, who, `Entry ${entry.id}`, content, query)
  }

  // Each action answers with a redirect carrying a signed notice of what was done.
  const actions = {
    async retry(form, who, go) {
      const id = form.get('id') || ''
      const back = `/entries/${encodeURIComponent(id)}`
      try {
        const found = await client.outbox.retry(id, { by: who })
        if (!found) {
          const why = 'it does not exist, or it is delivered (only pending and dead entries can be retried).'
          return go(back, 'error', `Entry ${id} was not retried: ${why}`)
        }
        const next = 'The next redrive sends it: use "Redrive what is due now" to send it at once.'
        return go(back, 'ok', `Entry ${id} is due now (retried by ${who}). ${next}`)
      } catch (error) {
        return go(back, 'error', `Not retried: ${error.message}`)
      }
    },
    async redrive(form, who, go) {
      const back = form.get('back') ? `/entries/${encodeURIComponent(form.get('back'))}` : '/'
      const done = await client.redrivePending({ by: who })
      if (done.error || done.message) return go(back, 'error', done.error || done.message)
      const counts =
        `${done.delivered} delivered, ${done.failed} failed (will be retried), ${done.dead} dead, ` +
        `${done.superseded} superseded; ${done.remaining} still due.`
      return go(back, 'ok', `Redrive by ${who}: ${counts}`)
    },
    async purge(form, who, go) {
      const olderThan = (form.get('olderThan') || '').trim()
      try {
        const deleted = await client.outbox.purge({ olderThan, by: who })
        const entries = `${deleted} delivered or superseded ${deleted === 1 ? 'entry' : 'entries'}`
        return go('/', 'ok', `Purge by ${who}: ${entries} older than ${olderThan} deleted.`)
      } catch (error) {
        return go('/', 'error', `Nothing purged: ${error.message}`)
      }
    },
  }

  async function act(request, url, who, action) {
    const text = await request.text()
    if (Buffer.byteLength(text) > FORM_LIMIT_BYTES) return refuse(413, 'Refused', 'The form is too large.')
    const form = new URLSearchParams(text)
    if (!sameOrigin(request, url)) return refuse(403, 'Refused: not from this page', NOT_FROM_THIS_PAGE)
    if (!signer.isCsrfToken(form.get('csrf'), who))
      return refuse(403, 'Refused: stale or missing form token', STALE_TOKEN)
    const go = (path, kind, message) =>
      respond(303, '', { location: href(path, { notice: signer.notice(kind, message) }) })
    if (!Object.hasOwn(actions, action)) return refuse(404, 'Not found', `There is no action ${action}.`)
    return actions[action](form, who, go)
  }

  async function handle(request) {
    if (typeof authorize !== 'function') return refuse(403, 'Refused', NO_AUTHORIZE)
    let url
    try {
      url = new URL(request.url)
    } catch {
      return refuse(400, 'Bad request', 'The request URL cannot be read.')
    }
    let identity
    try {
      identity = await authorize(request)
    } catch (error) {
      const message = error && error.message
      console.error(`${PREFIX} Dashboard: authorize(request) threw, so the request was refused: ${message}`)
      return refuse(403, 'Refused', 'Access could not be checked, so it was refused.')
    }
    if (!identity) {
      return refuse(403, 'Refused', 'You are not allowed to see the partner-sync outbox. Sign in as an administrator.')
    }
    const who = identityName(identity)
    if (url.pathname !== base && !url.pathname.startsWith(`${base}/`)) {
      return refuse(404, 'Not found', `This dashboard lives under ${base || '/'}.`)
    }
    const path = url.pathname.slice(base.length).replace(/\/+$/, '') || '/'
    try {
      if (request.method === 'POST') {
        const action = path.match(/^\/actions\/([a-z]+)$/)
        return action
          ? await act(request, url, who, action[1])
          : refuse(404, 'Not found', 'There is nothing to post here.')
      }
      if (request.method !== 'GET' && request.method !== 'HEAD')
        return refuse(405, 'Method not allowed', 'Use GET or POST.')
      if (path === '/') return await overview(who, url.searchParams)
      if (path === '/entries') return await list(who, url.searchParams)
      const entry = path.match(/^\/entries\/([^/]+)$/)
      if (entry) return await entryPage(who, decodeURIComponent(entry[1]), url.searchParams)
      return refuse(404, 'Not found', 'There is no such page.')
    } catch (error) {
      return page(500, who, 'The outbox could not be read', paragraph(error && error.message))
    }
  }

  return { GET: handle, POST: handle }
}

module.exports = { createOutboxDashboard }
