'use strict'

// Reads every setting from the client options or process.env, by the names the Rust core
// declares (src/settings.rs), and keeps the resolved settings per distinct set of raw values:
// the environment is read at every call (Next.js loads it late, tests change it), but the
// same values are never parsed twice.

const native = require('./load-native.js')

const SCHEMA = native.settingsSchema()
const NUMERIC_KINDS = new Set(['count', 'millis'])
// Numbers may be given as numbers; the core reads them either way.
const isNumeric = (setting) => NUMERIC_KINDS.has(setting.kind)
// Enough for any real set of configurations; a test that changes the environment on every
// call only rebuilds its settings.
const CACHE_LIMIT = 32

const hasOwn = (object, key) => Object.prototype.hasOwnProperty.call(object, key)

// `onResolved(resolved)` runs once per distinct set of values, to log its warnings.
function createSettingsReader(options, onResolved) {
  const cache = new Map()
  const values = SCHEMA.map(() => undefined)
  let last
  let lastValues = []
  return function currentSettings() {
    let same = last !== undefined
    for (let i = 0; i < SCHEMA.length; i++) {
      const { option, env } = SCHEMA[i]
      let value = hasOwn(options, option) ? options[option] : process.env[env]
      // outbox: false switches the outbox off even when the environment sets one.
      if (value === undefined || value === null || value === false) value = undefined
      else if (typeof value !== 'number' || !isNumeric(SCHEMA[i])) value = String(value)
      values[i] = value
      if (same && value !== lastValues[i]) same = false
    }
    // Almost every call sees the values of the call before: no key to build then.
    if (same) return last
    let key = ''
    for (const value of values) {
      // Length-prefixed, so that no two different sets of values make the same key.
      key += value === undefined ? '-' : typeof value === 'number' ? `n${value};` : `${value.length}:${value}`
    }
    let settings = cache.get(key)
    if (settings === undefined) {
      settings = resolve(values)
      if (cache.size >= CACHE_LIMIT) cache.clear()
      cache.set(key, settings)
      onResolved(settings)
    }
    last = settings
    lastValues = values.slice()
    return settings
  }
}

function resolve(values) {
  const raw = {}
  SCHEMA.forEach(({ option }, i) => {
    if (values[i] !== undefined) raw[option] = values[i]
  })
  const core = new native.ResolvedSettings(raw)
  // Read once here: the core decides what the raw values mean.
  return { core, url: core.url, secret: raw.secret, hasOutbox: core.hasOutbox }
}

module.exports = { SCHEMA, createSettingsReader, isNumeric, settingProblem: native.settingProblem }
