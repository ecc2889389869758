'use strict'

// Checks the caller's data before anything is stored or sent. Done in JS because only here
// can we see the JS value itself (NaN, BigInt, a Date, a class instance) and name it.

const EVENTS = ['booking.paid', 'booking.updated']

// The partner stores amounts in numeric(10,2) columns: anything outside 0 .. 99,999,999.99 gets
// 500 "numeric field overflow" (or is a negative payment), which no retry can ever fix.
const MAX_AMOUNT = 99_999_999.99
const AMOUNT_RANGE = 'from 0 to 99,999,999.99 (the partner stores amounts as numeric(10,2))'
const fitsAmountColumn = (value) => value >= 0 && value <= MAX_AMOUNT

function describe(value) {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value)
  if (typeof value === 'string')
    return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value)
  if (typeof value === 'bigint') return `a BigInt (${value}n)`
  if (value instanceof Date) return 'a Date'
  if (typeof value === 'object') return `an object (${Object.prototype.toString.call(value)})`
  return typeof value
}

function isPlainObject(value) {
  if (value === null || typeof value !== 'object') return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

function nonEmptyString(value) {
  return typeof value === 'string' && value.trim() !== ''
}

// Returns the problems found, empty when the data can be sent.
function problemsWith(data) {
  if (!isPlainObject(data)) return [`the data must be a plain object, got ${describe(data)}`]
  if (typeof data.toJSON === 'function')
    return ['the data must not have a toJSON method: the signed body would differ from the data']
  const problems = []
  if (!nonEmptyString(data.booking_id))
    problems.push(`booking_id must be a non-empty string (the booking's UUID), got ${describe(data.booking_id)}`)
  if (!EVENTS.includes(data.event))
    problems.push(`event must be 'booking.paid' or 'booking.updated', got ${describe(data.event)}`)
  if (!nonEmptyString(data.status))
    problems.push(`status must be a non-empty string such as 'LUNAS' or 'DP', got ${describe(data.status)}`)
  if (typeof data.paid_amount !== 'number' || !Number.isFinite(data.paid_amount))
    problems.push(`paid_amount must be a finite number, got ${describe(data.paid_amount)}`)
  else if (!fitsAmountColumn(data.paid_amount))
    problems.push(`paid_amount must be ${AMOUNT_RANGE}, got ${describe(data.paid_amount)}`)
  // An extra field, but the partner stores it in a transaction when it is a number.
  if (typeof data.total_amount === 'number' && !fitsAmountColumn(data.total_amount))
    problems.push(`total_amount must be ${AMOUNT_RANGE} when it is a number, got ${describe(data.total_amount)}`)
  // null counts as absent for the optional fields: JSON carries it and the partner ignores it.
  if (data.payment_method != null && typeof data.payment_method !== 'string')
    problems.push(`payment_method must be a string when present, got ${describe(data.payment_method)}`)
  if (data.payment_details != null && !isPlainObject(data.payment_details))
    problems.push(`payment_details must be a plain object when present, got ${describe(data.payment_details)}`)
  return problems
}

// Builds the exact body: the caller's fields in their order, then the timestamp, as
// JSON.stringify writes them. Returns { body, timestampMs } or { problem }.
function buildBody(data, now = new Date()) {
  let payload
  try {
    const problems = problemsWith(data)
    if (problems.length > 0) return { problem: problems.join('; ') }
    payload = { ...data, timestamp: now.toISOString() }
  } catch (error) {
    return { problem: `reading the data failed: ${error && error.message}` }
  }
  try {
    return { body: JSON.stringify(payload), timestampMs: now.getTime() }
  } catch (error) {
    return {
      problem: `JSON.stringify cannot encode the data (${error && error.message}); remove BigInt values and cycles`,
    }
  }
}

module.exports = { buildBody, problemsWith, EVENTS }
