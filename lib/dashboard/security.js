'use strict'

// What keeps the outbox page safe to expose: signed CSRF tokens and notices, the same-origin
// check for actions, and the headers (CSP with a nonce, no framing, no caching) on every answer.

const crypto = require('node:crypto')

const timingSafeEqualText = (a, b) => {
  const x = Buffer.from(String(a))
  const y = Buffer.from(String(b))
  return x.length === y.length && crypto.timingSafeEqual(x, y)
}

// Signs CSRF tokens and notices. Random per dashboard unless csrfSecret is given (several
// server instances behind one URL need the same one).
function createSigner(csrfSecret) {
  const key = csrfSecret ? crypto.createHash('sha256').update(String(csrfSecret)).digest() : crypto.randomBytes(32)
  const mac = (purpose, text) => crypto.createHmac('sha256', key).update(`${purpose}\0${text}`).digest('base64url')
  const csrfToken = (who) => mac('csrf', who)
  return {
    csrfToken,
    isCsrfToken: (value, who) => timingSafeEqualText(value || '', csrfToken(who)),
    // A notice travels in the redirect signed, so a link cannot make the page say anything else.
    notice(kind, text) {
      const payload = Buffer.from(JSON.stringify({ kind, text })).toString('base64url')
      return `${payload}.${mac('notice', payload)}`
    },
    readNotice(value) {
      const [payload, signature] = String(value || '').split('.')
      if (!payload || !signature || !timingSafeEqualText(signature, mac('notice', payload))) return undefined
      try {
        return JSON.parse(Buffer.from(payload, 'base64url').toString())
      } catch {
        return undefined
      }
    },
  }
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

const newNonce = () => crypto.randomBytes(16).toString('base64')

// `extra`: the script nonce, a content type other than HTML, a redirect's location.
function respond(status, body, extra = {}) {
  const nonce = extra.nonce || ''
  const script = nonce ? `'nonce-${nonce}'` : "'none'"
  const policy =
    `default-src 'none'; style-src 'unsafe-inline'; script-src ${script}; img-src 'self'; ` +
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
  return new Response(body, {
    status,
    headers: {
      'content-type': extra.type || 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'same-origin',
      'content-security-policy': policy,
      ...(extra.location ? { location: extra.location } : {}),
    },
  })
}

module.exports = { createSigner, sameOrigin, newNonce, respond }
