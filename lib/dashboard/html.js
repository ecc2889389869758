'use strict'

// Text into HTML, and customer data shown just enough to recognise a row.

function escapeHtml(value) {
  const entities = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }
  return String(value ?? '').replace(/[&<>"']/g, (c) => entities[c])
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

module.exports = { escapeHtml, parseBody, summary }
