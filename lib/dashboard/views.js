'use strict'

// The outbox page's HTML, server-rendered from what the routes read: the layout, the overview,
// the entry list and one entry. Every value from the outbox or the request is escaped here.

const { escapeHtml, parseBody, summary } = require('./html.js')
const { chart } = require('./chart.js')
const { STYLE, CONFIRM_SCRIPT } = require('./style.js')

const RETRYABLE = new Set(['pending', 'dead', 'superseded'])

function lastResult(entry) {
  if (entry.lastStatus !== undefined) return `HTTP ${entry.lastStatus}`
  return entry.lastError ? entry.lastError.kind : ''
}

const paragraph = (text) => `<p>${escapeHtml(text)}</p>`

// `href(path, query)` makes the page's links; `csrfToken(who)` the forms' token; `states` the
// entry states in their order.
function createViews({ href, csrfToken, states }) {
  const link = (path, query) => escapeHtml(href(path, query))
  const entryLink = (id, query) => link(`/entries/${encodeURIComponent(id)}`, query)

  function layout({ who, title, content, notice, nonce }) {
    const kind = notice && notice.kind === 'error' ? 'error' : ''
    const banner = notice ? `<div class="notice ${kind}" role="status">${escapeHtml(notice.text)}</div>` : ''
    const stateLinks = states.map((s) => `<a href="${link('/entries', { state: s })}">${s}</a>`).join('')
    const head =
      '<!doctype html><html lang="en"><head><meta charset="utf-8">' +
      '<meta name="viewport" content="width=device-width,initial-scale=1">' +
      '<meta name="referrer" content="same-origin">' +
      `<title>${escapeHtml(title)} · partner-sync outbox</title><style>${STYLE}</style></head>`
    const header =
      `<header><a href="${link('/')}"><b>partner-sync outbox</b></a><a href="${link('/entries')}">Entries</a>` +
      `${stateLinks}<span class="who">${who ? `signed in as ${escapeHtml(who)}` : ''}</span></header>`
    const main = `<main><h1>${escapeHtml(title)}</h1>${banner}${content}</main>`
    return `${head}\n<body>${header}\n${main}<script nonce="${nonce}">${CONFIRM_SCRIPT}</script></body></html>`
  }

  // `fields`: hidden values by name, or { html } for a visible input.
  function actionForm(who, action, question, fields, label) {
    const hidden = Object.entries(fields)
      .filter(([, value]) => typeof value !== 'object')
      .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
      .join('')
    const inputs = Object.values(fields)
      .filter((value) => typeof value === 'object')
      .map((input) => input.html)
      .join(' ')
    const token = `<input type="hidden" name="csrf" value="${escapeHtml(csrfToken(who))}">`
    return (
      `<form method="post" action="${link(`/actions/${action}`)}" data-confirm="${escapeHtml(question)}">` +
      `${token}${hidden}${inputs} <button type="submit">${escapeHtml(label)}</button></form>`
    )
  }

  const redriveForm = (who, fields) =>
    actionForm(who, 'redrive', 'Send every entry that is due now?', fields, 'Redrive what is due now')

  const matchSelect = (exact) =>
    '<select name="match" aria-label="match"><option value="prefix">starts with</option>' +
    `<option value="exact"${exact ? ' selected' : ''}>is exactly</option></select>`

  function overview(who, counts, hours) {
    const cards = states
      .map((state) => {
        const count = `<b data-count="${state}">${counts[state]}</b>`
        return `<a class="card ${state}" href="${link('/entries', { state })}">${count}${state}</a>`
      })
      .join('')
    const search =
      `<form class="filters" method="get" action="${link('/entries')}">` +
      `<input name="q" placeholder="booking id" aria-label="booking id">${matchSelect(false)}` +
      '<button type="submit">Search</button></form>'
    const olderThan = '<label>older than <input name="olderThan" value="30d" size="5" aria-label="older than"></label>'
    const purge = actionForm(
      who,
      'purge',
      'Delete delivered and superseded entries older than this? This cannot be undone.',
      { olderThan: { html: olderThan } },
      'Purge',
    )
    const actions = `<div class="actions">${redriveForm(who, {})}${purge}</div>`
    return (
      `<div class="cards">${cards}</div><h2>Last 24 hours</h2>${chart(hours)}` +
      `<h2>Find a booking</h2>${search}<h2>Actions</h2>${actions}`
    )
  }

  function entryRow(e) {
    const cells = [
      `<a href="${entryLink(e.id)}"><code>${escapeHtml(e.id.slice(0, 8))}</code></a>`,
      escapeHtml(e.bookingId),
      escapeHtml(e.event),
      escapeHtml(lastResult(e)),
      escapeHtml(summary(e.body)),
      escapeHtml(e.createdAt),
    ]
    const state = `<td class="state ${escapeHtml(e.state)}">${escapeHtml(e.state)}</td><td>${e.attempts}</td>`
    const [id, booking, event, last, payment, created] = cells.map((cell) => `<td>${cell}</td>`)
    return `<tr data-entry="${escapeHtml(e.id)}">${id}${booking}${event}${state}${last}${payment}${created}</tr>`
  }

  // `filter`: { state, q, exact, cursor } as the request gave them.
  function list({ state, q, exact, cursor }, entries, nextCursor) {
    const stateOptions = states.map((s) => `<option${s === state ? ' selected' : ''}>${s}</option>`).join('')
    const filters =
      `<form class="filters" method="get" action="${link('/entries')}">` +
      `<select name="state" aria-label="state"><option value="">every state</option>${stateOptions}</select>` +
      `<input name="q" value="${escapeHtml(q)}" placeholder="booking id" aria-label="booking id">` +
      `${matchSelect(exact)}<button type="submit">Filter</button></form>`
    const headings = ['entry', 'booking', 'event', 'state', 'attempts', 'last', 'payment · customer', 'created (UTC)']
    const table = entries.length
      ? `<table><thead><tr>${headings.map((h) => `<th>${h}</th>`).join('')}</tr></thead>` +
        `<tbody>${entries.map(entryRow).join('')}</tbody></table>`
      : '<p>No entries match.</p>'
    const match = exact ? 'exact' : undefined
    const more = nextCursor
      ? `<p><a rel="next" href="${link('/entries', { state, q, match, cursor: nextCursor })}">Next page →</a></p>`
      : ''
    const first = cursor ? `<p><a href="${link('/entries', { state, q, match })}">← First page</a></p>` : ''
    const title = `Entries${state ? `: ${state}` : ''}${q ? ` of booking ${exact ? '' : 'starting with '}${q}` : ''}`
    return { title, content: `${filters}${first}${table}${more}` }
  }

  const noSuchEntry = (id) =>
    `<p>There is no outbox entry ${escapeHtml(id)}: it may have been purged. ` +
    `<a href="${link('/entries')}">See the entries</a>.</p>`

  function signatureField(signature) {
    if (!signature) {
      return (
        '<span class="muted">no secret is configured for this dashboard (PWA_WEBHOOK_SECRET or the secret option), ' +
        'so the signature cannot be computed</span>'
      )
    }
    return (
      `<code data-signature>${escapeHtml(signature)}</code> ` +
      '<span class="muted">(HMAC-SHA256 of the stored body with the secret configured here)</span>'
    )
  }

  function attemptsTable(history) {
    if (!history.length) return '<p class="muted">No attempt yet.</p>'
    const rows = history.map((a) => {
      const cells = [a.at, a.status ?? '', `${Math.round(a.durationMs)} ms`, a.errorKind ?? '', a.message ?? '']
      // The status is a number or nothing: the only cell not escaped.
      return `<tr>${cells.map((cell, i) => `<td>${i === 1 ? cell : escapeHtml(cell)}</td>`).join('')}</tr>`
    })
    const head = '<tr><th>at (UTC)</th><th>status</th><th>took</th><th>error kind</th><th>message</th></tr>'
    return `<table><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>`
  }

  function repairForms(who, entry) {
    if (!RETRYABLE.has(entry.state)) return ''
    const question =
      `Retry entry ${entry.id} of booking ${entry.bookingId} now? ` +
      'It becomes due at once and the next redrive sends it.'
    const retry = actionForm(who, 'retry', question, { id: entry.id }, 'Retry now')
    return `<h2>Repair</h2><div class="actions">${retry}${redriveForm(who, { back: entry.id })}</div>`
  }

  function entry(who, e, signature) {
    const data = parseBody(e.body)
    const link = (other) => `<a href="${entryLink(other)}"><code>${escapeHtml(other)}</code></a>`
    const fields = [
      ['booking', escapeHtml(e.bookingId)],
      ['event', escapeHtml(e.event)],
      ['state', `<span class="state ${escapeHtml(e.state)}" data-state>${escapeHtml(e.state)}</span>`],
      ['attempts', String(e.attempts)],
      ['created', escapeHtml(e.createdAt)],
      ['updated', escapeHtml(e.updatedAt)],
      e.nextAttemptAt && ['next attempt', escapeHtml(e.nextAttemptAt)],
      e.deliveredAt && ['delivered', escapeHtml(e.deliveredAt)],
      e.supersededBy && ['superseded by', link(e.supersededBy)],
      e.lastError && ['last error', `${escapeHtml(e.lastError.kind)}: ${escapeHtml(e.lastError.message)}`],
      ['x-pwa-signature', signatureField(signature)],
    ].filter(Boolean)
    const notes = e.audit.map((n) => `<li>${escapeHtml(n.at)}: ${escapeHtml(n.action)} by ${escapeHtml(n.by)}</li>`)
    const audit = e.audit.length ? `<h2>Operators</h2><ul>${notes.join('')}</ul>` : ''
    const pretty = escapeHtml(data ? JSON.stringify(data, null, 2) : e.body)
    const exact =
      `<details><summary>Exact stored bytes (${Buffer.byteLength(e.body)} bytes, as signed and sent)</summary>` +
      `<pre data-raw>${escapeHtml(e.body)}</pre>` +
      `<p><a href="${entryLink(e.id, { raw: 1 })}">as plain text</a></p></details>`
    return (
      `<dl>${fields.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>${repairForms(who, e)}` +
      `<h2>Attempts</h2>${attemptsTable(e.history)}${audit}<h2>Body</h2><pre data-body>${pretty}</pre>${exact}`
    )
  }

  return { layout, overview, list, noSuchEntry, entry }
}

module.exports = { createViews, paragraph }
