'use strict'

// The package's log lines: one self-contained string each, to the console (filtered by
// PARTNER_SYNC_LOG) or to the user's logger.

const PREFIX = '[Partner Sync]'

// Each level shows itself and those before it; PARTNER_SYNC_LOG picks one for the console.
const LOG_LEVELS = ['silent', 'error', 'warn', 'info']

// The one setting the JS layer owns; listed with the core's settings in the README.
const LOG_SETTING = {
  env: 'PARTNER_SYNC_LOG',
  option: 'logger',
  default: 'info',
  summary: `what the console logger prints: ${LOG_LEVELS.map((level) => `\`${level}\``).join(', ')}`,
  details:
    '`error` is failures only, `warn` adds setting warnings, `info` every success. For `syncBookingToPartner` and every client without a `logger` option; a `logger` given as an option is never filtered.',
}
const consoleLogger = {
  info: (line) => console.log(line),
  warn: (line) => console.warn(line),
  error: (line) => console.error(line),
}

// PARTNER_SYNC_LOG, read at every call, so a test setup can silence syncBookingToPartner.
function consoleLevel() {
  const raw = process.env[LOG_SETTING.env]
  const index = LOG_LEVELS.indexOf((raw || '').trim().toLowerCase() || 'info')
  if (index >= 0) return { index }
  return {
    index: LOG_LEVELS.indexOf('info'),
    problem: `${LOG_SETTING.env} = ${JSON.stringify(raw)} is not one of ${LOG_LEVELS.join(', ')}; using info`,
  }
}

// Every line is one self-contained string (booking and entry ids inside), passed as the only
// argument: pino and winston treat further arguments as format values and drop them.
// `logger`: false for silence, an object of the user's, or absent for the console filtered by
// PARTNER_SYNC_LOG. The log can never throw into our callers.
function createLog(logger) {
  const warned = new Set()
  const byEnvironment = !logger && logger !== false
  const target = logger === false ? {} : logger
  function write(level, line) {
    let out = target
    if (byEnvironment) {
      const { index, problem } = consoleLevel()
      if (problem) warnOnce([problem])
      if (LOG_LEVELS.indexOf(level) > index) return
      out = consoleLogger
    }
    try {
      if (typeof out[level] === 'function') out[level](line)
    } catch {
      // A broken logger must not turn a delivered sync into a failure.
    }
  }
  function warnOnce(warnings) {
    for (const warning of warnings || []) {
      if (warned.has(warning)) continue
      warned.add(warning)
      write('warn', `${PREFIX} ${warning}`)
    }
  }
  return {
    info: (line) => write('info', line),
    warn: (line) => write('warn', line),
    error: (line) => write('error', line),
    warnOnce,
  }
}

module.exports = { PREFIX, LOG_SETTING, createLog }
