'use strict'

// Option parsers and the setting flags: a bad value is a usage error (exit 2) before anything runs.

const { Option, InvalidArgumentError } = require('commander')
const { SCHEMA, isNumeric, settingProblem } = require('./internal.js')

function wholeNumber(min, max = Number.MAX_SAFE_INTEGER) {
  return (text) => {
    const value = Number(text)
    if (!/^\s*\d+\s*$/.test(text) || value < min || value > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}.`)
    }
    return value
  }
}

function finiteNumber(text) {
  const value = Number(text)
  if (text.trim() === '' || !Number.isFinite(value)) throw new InvalidArgumentError('expected a number such as 32000.')
  return value
}

function rate(text) {
  const value = Number(text)
  if (text.trim() === '' || !(value >= 0 && value <= 1)) {
    throw new InvalidArgumentError('expected a number from 0 to 1, such as 0.3.')
  }
  return value
}

function statusList(text) {
  return text.split(',').map((part) => {
    const status = Number(part.trim())
    if (!Number.isInteger(status) || status < 200 || status > 599) {
      throw new InvalidArgumentError(
        `expected HTTP statuses from 200 to 599 separated by commas, such as 503,503,200; got ${JSON.stringify(part)}.`,
      )
    }
    return status
  })
}

// Every library setting is a flag of the same name (--max-attempts for maxAttempts), with the
// help, default and check the core declares: a value the library would fall back from is a
// usage error here.
function settingOption(name) {
  const setting = SCHEMA.find((candidate) => candidate.option === name)
  const flag = setting.option.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)
  const parse = (text) => {
    const problem = settingProblem(setting.option, text)
    if (problem) throw new InvalidArgumentError(`${problem}.`)
    return isNumeric(setting) ? Number(text) : text
  }
  const origin = setting.default ? `env ${setting.env}; default ${setting.default}` : `env ${setting.env}`
  return new Option(`--${flag} <${setting.placeholder}>`, `${setting.summary} (${origin})`).argParser(parse)
}

// groups: which of the schema's groups (connection, retry, outbox, outboxDelivery) the command takes.
function addSettingOptions(command, ...groups) {
  for (const setting of SCHEMA) if (groups.includes(setting.group)) command.addOption(settingOption(setting.option))
  return command
}

// The groups of a command that delivers: where, how patiently, and with which outbox.
const DELIVERY_GROUPS = ['connection', 'retry', 'outbox', 'outboxDelivery']

const jsonOption = (what) => new Option('--json', `print ${what} as JSON on stdout`)

module.exports = {
  wholeNumber,
  finiteNumber,
  rate,
  statusList,
  settingOption,
  addSettingOptions,
  DELIVERY_GROUPS,
  jsonOption,
}
