'use strict'

// The outbox page for operators: Web-standard GET and POST handlers (Next.js App Router route
// handlers, or any server that speaks Request/Response), server-rendered HTML with inline CSS
// and one small nonce'd script for the confirmations. Nothing is fetched from anywhere else.

const crypto = require('node:crypto')
const { createPartnerSync } = require('./index.js')
const { entryStates } = require('./load-native.js')

const { PREFIX } = require('./log.js')
const STATES = entryStates()
const RETRYABLE = new Set(['pending', 'dead', 'superseded'])
const FORM_LIMIT_BYTES = 16 * 1024
const NO_AUTHORIZE =
  'createOutboxDashboard needs authorize(request): a function returning who the operator is (a name, or an object with a name) or a falsy value to refuse. It was not given, so every request is refused with 403. Check your app\'s admin session there.'

function escapeHtml(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c])
}

// Customer data in lists: enough to recognise a row, not to read it.
function maskName(name) {
  return String(name)
    .split(/\s+/)
    .filter(Boolean)
    .map((word) => `${word[0]}***`)
    .join(' ')
}
function maskPhone(phone) {
  const text = String(phone)
  return text.length <= 3 ? '***' : `***${text.slice(-3)}`
}

function parseBody(body) {
  try {
    const value = JSON.parse(body)
    return value && typeof value === 'object' ? value : undefined
  } catch {
    return undefined
  }
}

// The list's one-line view of a body: the payment and the masked customer.
function summary(body) {
  const data = parseBody(body)
  if (!data) return '(not JSON)'
  const parts = []
  if (data.status !== undefined) parts.push(String(data.status))
  if (data.paid_amount !== undefined) parts.push(`paid ${data.paid_amount}`)
  if (data.customer_name !== undefined) parts.push(maskName(data.customer_name))
  if (data.customer_phone !== undefined) parts.push(maskPhone(data.customer_phone))
  return parts.join(' · ')
}

function identityName(identity) {
  if (typeof identity === 'string') return identity
  if (identity && typeof identity === 'object') {
    for (const key of ['name', 'email', 'id']) if (identity[key]) return String(identity[key])
  }
  return 'authorized operator'
}

const timingSafeEqualText = (a, b) => {
  const x = Buffer.from(String(a))
  const y = Buffer.from(String(b))
  return x.length === y.length && crypto.timingSafeEqual(x, y)
}

function lastResult(entry) {
  if (entry.lastStatus !== undefined) return `HTTP ${entry.lastStatus}`
  return entry.lastError ? entry.lastError.kind : ''
}

const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:center}
header a{color:#fff;text-decoration:none}header .who{margin-left:auto;opacity:.75}
main{padding:16px 24px;max-width:1200px}h1{font-size:20px;margin:8px 0 16px}h2{font-size:16px;margin:24px 0 8px}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:10px 16px;min-width:120px;text-decoration:none;color:inherit}
.card b{display:block;font-size:24px}.pending b{color:#b26b00}.delivered b{color:#1a7f37}.dead b{color:#c62828}.superseded b{color:#6e7781}
table{border-collapse:collapse;background:#fff;width:100%}td,th{border-bottom:1px solid #e5e8ec;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#eef0f3;font-weight:600}code,pre{font:12px/1.4 ui-monospace,monospace}pre{background:#fff;border:1px solid #dde1e7;padding:10px;overflow:auto;white-space:pre-wrap;word-break:break-all}
.notice{padding:10px 14px;border-radius:6px;margin-bottom:16px;background:#e6f4ea;border:1px solid #1a7f37}.notice.error{background:#fdecea;border-color:#c62828}
form.inline{display:inline}button{font:inherit;padding:4px 12px;cursor:pointer}.muted{color:#6e7781}.state{font-weight:600}
.filters{display:flex;gap:8px;align-items:center;margin-bottom:12px;flex-wrap:wrap}dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px}dt{color:#6e7781}dd{margin:0}
.actions{display:flex;gap:24px;flex-wrap:wrap}.actions form{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:10px 14px}`

// Asks before every action: forms carry their question in data-confirm.
const CONFIRM_SCRIPT =
  "document.querySelectorAll('form[data-confirm]').forEach(function(f){f.addEventListener('submit',function(e){if(!confirm(f.getAttribute('data-confirm')))e.preventDefault()})})"

function chart(hours) {
  const width = 760
  const height = 180
  const top = 10
  const bottom = 24
  const left = 34
  const slot = (width - left) / hours.length
  const bar = Math.max(2, Math.floor((slot - 4) / 3))
  const max = Math.max(1, ...hours.flatMap((h) => [h.delivered, h.failed, h.dead]))
  const scale = (n) => ((height - top - bottom) * n) / max
  const series = [
    ['delivered', '#1a7f37'],
    ['failed', '#b26b00'],
    ['dead', '#c62828'],
  ]
  const parts = [`<line x1="${left}" y1="${height - bottom}" x2="${width}" y2="${height - bottom}" stroke="#9aa3ad"/>`, `<text x="${left - 4}" y="${top + 4}" text-anchor="end" font-size="10">${max}</text>`]
  hours.forEach((hour, i) => {
    const x = left + i * slot + 2
    series.forEach(([name, color], j) => {
      const h = scale(hour[name])
      parts.push(`<rect x="${x + j * bar}" y="${height - bottom - h}" width="${bar - 1}" height="${h}" fill="${color}"><title>${escapeHtml(hour.start)}: ${hour[name]} ${name}</title></rect>`)
    })
    if (i % 3 === 0) parts.push(`<text x="${x}" y="${height - 8}" font-size="10">${escapeHtml(hour.start.slice(11, 16))}</text>`)
  })
  const legend = series.map(([name, color]) => `<span style="color:${color}">■</span> ${name}`).join(' &nbsp; ')
  return `<svg role="img" aria-label="Last 24 hours" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" xmlns="http://www.w3.org/2000/svg">${parts.join('')}</svg><div class="muted">${legend} (per hour, UTC; failed = still pending after a failed attempt)</div>`
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
  // Signs CSRF tokens and notices. Random per dashboard unless csrfSecret is given (several
  // server instances behind one URL need the same one).
  const key = csrfSecret ? crypto.createHash('sha256').update(String(csrfSecret)).digest() : crypto.randomBytes(32)
  const mac = (purpose, text) => crypto.createHmac('sha256', key).update(`${purpose}\0${text}`).digest('base64url')
  const csrfToken = (who) => mac('csrf', who)
  const href = (path, query) => {
    const search = query ? new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== '')).toString() : ''
    return `${base}${path}${search ? `?${search}` : ''}`
  }
  // A notice travels in the redirect signed, so a link cannot make the page say anything else.
  const notice = (kind, text) => {
    const payload = Buffer.from(JSON.stringify({ kind, text })).toString('base64url')
    return `${payload}.${mac('notice', payload)}`
  }
  const readNotice = (value) => {
    const [payload, signature] = String(value || '').split('.')
    if (!payload || !signature || !timingSafeEqualText(signature, mac('notice', payload))) return undefined
    try {
      return JSON.parse(Buffer.from(payload, 'base64url').toString())
    } catch {
      return undefined
    }
  }

  function respond(status, body, extra = {}) {
    const nonce = extra.nonce || ''
    return new Response(body, {
      status,
      headers: {
        'content-type': extra.type || 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'x-frame-options': 'DENY',
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'same-origin',
        'content-security-policy': `default-src 'none'; style-src 'unsafe-inline'; script-src ${nonce ? `'nonce-${nonce}'` : "'none'"}; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
        ...(extra.location ? { location: extra.location } : {}),
      },
    })
  }

  function page(status, who, title, content, query) {
    const nonce = crypto.randomBytes(16).toString('base64')
    const shown = query && readNotice(query.get('notice'))
    const banner = shown ? `<div class="notice ${shown.kind === 'error' ? 'error' : ''}" role="status">${escapeHtml(shown.text)}</div>` : ''
    const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="referrer" content="same-origin"><title>${escapeHtml(title)} · partner-sync outbox</title><style>${STYLE}</style></head>
<body><header><a href="${escapeHtml(href('/'))}"><b>partner-sync outbox</b></a><a href="${escapeHtml(href('/entries'))}">Entries</a>${STATES.map((s) => `<a href="${escapeHtml(href('/entries', { state: s }))}">${s}</a>`).join('')}<span class="who">${who ? `signed in as ${escapeHtml(who)}` : ''}</span></header>
<main><h1>${escapeHtml(title)}</h1>${banner}${content}</main><script nonce="${nonce}">${CONFIRM_SCRIPT}</script></body></html>`
    return respond(status, html, { nonce })
  }

  const refuse = (status, title, message) => page(status, undefined, title, `<p>${escapeHtml(message)}</p>`)

  function actionForm(who, action, question, fields, label) {
    const hidden = Object.entries(fields)
      .filter(([, value]) => typeof value !== 'object')
      .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
      .join('')
    const inputs = Object.values(fields)
      .filter((value) => typeof value === 'object')
      .map((input) => input.html)
      .join(' ')
    return `<form method="post" action="${escapeHtml(href(`/actions/${action}`))}" data-confirm="${escapeHtml(question)}"><input type="hidden" name="csrf" value="${escapeHtml(csrfToken(who))}">${hidden}${inputs} <button type="submit">${escapeHtml(label)}</button></form>`
  }

  async function overview(who, query) {
    const [counts, hours] = await Promise.all([client.outbox.counts(), client.outbox.hourly()])
    const cards = STATES.map((state) => `<a class="card ${state}" href="${escapeHtml(href('/entries', { state }))}"><b data-count="${state}">${counts[state]}</b>${state}</a>`).join('')
    const search = `<form class="filters" method="get" action="${escapeHtml(href('/entries'))}"><input name="q" placeholder="booking id" aria-label="booking id"><select name="match" aria-label="match"><option value="prefix">starts with</option><option value="exact">is exactly</option></select><button type="submit">Search</button></form>`
    const actions = `<div class="actions">${actionForm(who, 'redrive', 'Send every entry that is due now?', {}, 'Redrive what is due now')}${actionForm(
      who,
      'purge',
      'Delete delivered and superseded entries older than this? This cannot be undone.',
      { olderThan: { html: '<label>older than <input name="olderThan" value="30d" size="5" aria-label="older than"></label>' } },
      'Purge',
    )}</div>`
    const content = `<div class="cards">${cards}</div><h2>Last 24 hours</h2>${chart(hours)}<h2>Find a booking</h2>${search}<h2>Actions</h2>${actions}`
    return page(200, who, 'Overview', content, query)
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
    const filters = `<form class="filters" method="get" action="${escapeHtml(href('/entries'))}"><select name="state" aria-label="state"><option value="">every state</option>${STATES.map((s) => `<option${s === state ? ' selected' : ''}>${s}</option>`).join('')}</select><input name="q" value="${escapeHtml(q)}" placeholder="booking id" aria-label="booking id"><select name="match" aria-label="match"><option value="prefix">starts with</option><option value="exact"${exact ? ' selected' : ''}>is exactly</option></select><button type="submit">Filter</button></form>`
    const rows = entries
      .map(
        (e) =>
          `<tr data-entry="${escapeHtml(e.id)}"><td><a href="${escapeHtml(href(`/entries/${encodeURIComponent(e.id)}`))}"><code>${escapeHtml(e.id.slice(0, 8))}</code></a></td><td>${escapeHtml(e.bookingId)}</td><td>${escapeHtml(e.event)}</td><td class="state ${escapeHtml(e.state)}">${escapeHtml(e.state)}</td><td>${e.attempts}</td><td>${escapeHtml(lastResult(e))}</td><td>${escapeHtml(summary(e.body))}</td><td>${escapeHtml(e.createdAt)}</td></tr>`,
      )
      .join('')
    const table = entries.length
      ? `<table><thead><tr><th>entry</th><th>booking</th><th>event</th><th>state</th><th>attempts</th><th>last</th><th>payment · customer</th><th>created (UTC)</th></tr></thead><tbody>${rows}</tbody></table>`
      : '<p>No entries match.</p>'
    const more = nextCursor ? `<p><a rel="next" href="${escapeHtml(href('/entries', { state, q, match: exact ? 'exact' : undefined, cursor: nextCursor }))}">Next page →</a></p>` : ''
    const first = cursor ? `<p><a href="${escapeHtml(href('/entries', { state, q, match: exact ? 'exact' : undefined }))}">← First page</a></p>` : ''
    return page(200, who, `Entries${state ? `: ${state}` : ''}${q ? ` of booking ${exact ? '' : 'starting with '}${q}` : ''}`, `${filters}${first}${table}${more}`, query)
  }

  async function entryPage(who, id, query) {
    const entry = await client.outbox.show(id)
    if (!entry) return page(404, who, 'No such entry', `<p>There is no outbox entry ${escapeHtml(id)}: it may have been purged. <a href="${escapeHtml(href('/entries'))}">See the entries</a>.</p>`)
    if (query.get('raw') === '1') return respond(200, entry.body, { type: 'text/plain; charset=utf-8' })
    const data = parseBody(entry.body)
    const signature = client.outbox.signatureOf(entry.body)
    const link = (other) => `<a href="${escapeHtml(href(`/entries/${encodeURIComponent(other)}`))}"><code>${escapeHtml(other)}</code></a>`
    const fields = [
      ['booking', escapeHtml(entry.bookingId)],
      ['event', escapeHtml(entry.event)],
      ['state', `<span class="state ${escapeHtml(entry.state)}" data-state>${escapeHtml(entry.state)}</span>`],
      ['attempts', String(entry.attempts)],
      ['created', escapeHtml(entry.createdAt)],
      ['updated', escapeHtml(entry.updatedAt)],
      entry.nextAttemptAt && ['next attempt', escapeHtml(entry.nextAttemptAt)],
      entry.deliveredAt && ['delivered', escapeHtml(entry.deliveredAt)],
      entry.supersededBy && ['superseded by', link(entry.supersededBy)],
      entry.lastError && ['last error', `${escapeHtml(entry.lastError.kind)}: ${escapeHtml(entry.lastError.message)}`],
      [
        'x-pwa-signature',
        signature
          ? `<code data-signature>${escapeHtml(signature)}</code> <span class="muted">(HMAC-SHA256 of the stored body with the secret configured here)</span>`
          : '<span class="muted">no secret is configured for this dashboard (PWA_WEBHOOK_SECRET or the secret option), so the signature cannot be computed</span>',
      ],
    ].filter(Boolean)
    const attempts = entry.history.length
      ? `<table><thead><tr><th>at (UTC)</th><th>status</th><th>took</th><th>error kind</th><th>message</th></tr></thead><tbody>${entry.history
          .map((a) => `<tr><td>${escapeHtml(a.at)}</td><td>${a.status ?? ''}</td><td>${Math.round(a.durationMs)} ms</td><td>${escapeHtml(a.errorKind ?? '')}</td><td>${escapeHtml(a.message ?? '')}</td></tr>`)
          .join('')}</tbody></table>`
      : '<p class="muted">No attempt yet.</p>'
    const audit = entry.audit.length ? `<h2>Operators</h2><ul>${entry.audit.map((n) => `<li>${escapeHtml(n.at)}: ${escapeHtml(n.action)} by ${escapeHtml(n.by)}</li>`).join('')}</ul>` : ''
    const retry = RETRYABLE.has(entry.state)
      ? `<h2>Repair</h2><div class="actions">${actionForm(who, 'retry', `Retry entry ${entry.id} of booking ${entry.bookingId} now? It becomes due at once and the next redrive sends it.`, { id: entry.id }, 'Retry now')}${actionForm(who, 'redrive', 'Send every entry that is due now?', { back: entry.id }, 'Redrive what is due now')}</div>`
      : ''
    const content = `<dl>${fields.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>${retry}<h2>Attempts</h2>${attempts}${audit}<h2>Body</h2><pre data-body>${escapeHtml(
      data ? JSON.stringify(data, null, 2) : entry.body,
    )}</pre><details><summary>Exact stored bytes (${Buffer.byteLength(entry.body)} bytes, as signed and sent)</summary><pre data-raw>${escapeHtml(entry.body)}</pre><p><a href="${escapeHtml(href(`/entries/${encodeURIComponent(entry.id)}`, { raw: 1 }))}">as plain text</a></p></details>`
    return page(200, who, `Entry ${entry.id}`, content, query)
  }

  // Same origin: the browser's Origin (or, without one, Referer) names this host.
  function sameOrigin(request, url) {
    const from = request.headers.get('origin') || request.headers.get('referer')
    if (!from || from === 'null') return false
    let host
    try {
      host = new URL(from).host
    } catch {
      return false
    }
    const hosts = [url.host, request.headers.get('host'), request.headers.get('x-forwarded-host')].filter(Boolean)
    return hosts.includes(host)
  }

  async function act(request, url, who, action) {
    const text = await request.text()
    if (Buffer.byteLength(text) > FORM_LIMIT_BYTES) return refuse(413, 'Refused', 'The form is too large.')
    const form = new URLSearchParams(text)
    if (!sameOrigin(request, url)) return refuse(403, 'Refused: not from this page', 'This action was not sent from this dashboard (its Origin or Referer header names another site, or none): nothing was done. Use the buttons on the page.')
    if (!timingSafeEqualText(form.get('csrf') || '', csrfToken(who))) {
      return refuse(403, 'Refused: stale or missing form token', 'The form token is missing or was not issued to you by this dashboard (a restart, another server instance, or another user): nothing was done. Reload the page and try again; with several server instances, give them one csrfSecret.')
    }
    const go = (path, kind, message) => respond(303, '', { location: href(path, { notice: notice(kind, message) }) })
    if (action === 'retry') {
      const id = form.get('id') || ''
      const back = `/entries/${encodeURIComponent(id)}`
      try {
        const found = await client.outbox.retry(id, { by: who })
        if (!found) return go(back, 'error', `Entry ${id} was not retried: it does not exist, or it is delivered (only pending and dead entries can be retried).`)
        return go(back, 'ok', `Entry ${id} is due now (retried by ${who}). The next redrive sends it: use "Redrive what is due now" to send it at once.`)
      } catch (error) {
        return go(back, 'error', `Not retried: ${error.message}`)
      }
    }
    if (action === 'redrive') {
      const back = form.get('back') ? `/entries/${encodeURIComponent(form.get('back'))}` : '/'
      const done = await client.redrivePending({ by: who })
      if (done.error || done.message) return go(back, 'error', done.error || done.message)
      return go(back, 'ok', `Redrive by ${who}: ${done.delivered} delivered, ${done.failed} failed (will be retried), ${done.dead} dead, ${done.superseded} superseded; ${done.remaining} still due.`)
    }
    if (action === 'purge') {
      const olderThan = (form.get('olderThan') || '').trim()
      try {
        const deleted = await client.outbox.purge({ olderThan, by: who })
        return go('/', 'ok', `Purge by ${who}: ${deleted} delivered or superseded ${deleted === 1 ? 'entry' : 'entries'} older than ${olderThan} deleted.`)
      } catch (error) {
        return go('/', 'error', `Nothing purged: ${error.message}`)
      }
    }
    return refuse(404, 'Not found', `There is no action ${action}.`)
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
      console.error(`${PREFIX} Dashboard: authorize(request) threw, so the request was refused: ${error && error.message}`)
      return refuse(403, 'Refused', 'Access could not be checked, so it was refused.')
    }
    if (!identity) return refuse(403, 'Refused', 'You are not allowed to see the partner-sync outbox. Sign in as an administrator.')
    const who = identityName(identity)
    if (url.pathname !== base && !url.pathname.startsWith(`${base}/`)) return refuse(404, 'Not found', `This dashboard lives under ${base || '/'}.`)
    const path = url.pathname.slice(base.length).replace(/\/+$/, '') || '/'
    try {
      if (request.method === 'POST') {
        const action = path.match(/^\/actions\/([a-z]+)$/)
        return action ? await act(request, url, who, action[1]) : refuse(404, 'Not found', 'There is nothing to post here.')
      }
      if (request.method !== 'GET' && request.method !== 'HEAD') return refuse(405, 'Method not allowed', 'Use GET or POST.')
      if (path === '/') return await overview(who, url.searchParams)
      if (path === '/entries') return await list(who, url.searchParams)
      const entry = path.match(/^\/entries\/([^/]+)$/)
      if (entry) return await entryPage(who, decodeURIComponent(entry[1]), url.searchParams)
      return refuse(404, 'Not found', 'There is no such page.')
    } catch (error) {
      return page(500, who, 'The outbox could not be read', `<p>${escapeHtml(error && error.message)}</p>`)
    }
  }

  return { GET: handle, POST: handle }
}

module.exports = { createOutboxDashboard }
