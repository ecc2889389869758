// Each setting is declared once, in src/settings.rs: the settings table of docs/settings.md, the CLI's
// flags, the generated and handwritten type declarations all follow that declaration, and the resolved
// settings are reused while the raw values stay the same but follow the environment at every call.

import fs from 'node:fs'
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { SETTINGS_PAGE, withSettingsTable } from '../scripts/settings-table.mjs'

const require = createRequire(import.meta.url)
const { SCHEMA, settingProblem } = require('../lib/settings.js')
const { createPartnerSync } = require('../lib/index.js')
const { startMockPartner } = require('../lib/mock-partner.js')

const read = (relative) => fs.readFileSync(fileURLToPath(new URL(relative, import.meta.url)), 'utf8')
const CLI = fileURLToPath(new URL('../bin/partner-sync.js', import.meta.url))
const kebab = (option) => option.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)

describe('one declaration per setting', () => {
  it('the table in docs/settings.md is the generated one (npm run docs:settings rewrites it)', () => {
    const page = fs.readFileSync(SETTINGS_PAGE, 'utf8')
    expect(withSettingsTable(page)).toBe(page)
  })

  it('the generated RawSettings has exactly the declared options', () => {
    const block = read('../binding.d.ts').match(/export interface RawSettings \{([^}]*)\}/)[1]
    const fields = [...block.matchAll(/^\s*(\w+)\?:/gm)].map((match) => match[1])
    expect(fields.sort()).toEqual(SCHEMA.map((setting) => setting.option).sort())
  })

  it('each documented option names its variable and its default, and PartnerSyncOptions takes them all', () => {
    const raw = read('../binding.d.ts').match(/export interface RawSettings \{([\s\S]*?)\n\}/)[1]
    for (const setting of SCHEMA) {
      const doc = raw.match(new RegExp(`/\\*\\*((?:(?!\\*/)[\\s\\S])*)\\*/\\s*${setting.option}\\?:`))
      expect(doc, setting.option).not.toBeNull()
      expect(doc[1], setting.option).toContain(setting.env)
      if (setting.default) expect(doc[1], setting.option).toContain(setting.default)
    }
    expect(read('../lib/index.d.ts')).toMatch(/export interface PartnerSyncOptions extends Omit<RawSettings, 'outbox'>/)
  })

  it('every setting is a flag of send, with its variable and default in the help', () => {
    const help = spawnSync(process.execPath, [CLI, 'send', '--help'], { encoding: 'utf8' }).stdout.replace(/\s+/g, ' ')
    for (const setting of SCHEMA) {
      expect(help).toContain(`--${kebab(setting.option)} <${setting.placeholder}>`)
      expect(help).toContain(`env ${setting.env}`)
      if (setting.default) expect(help).toContain(`default ${setting.default}`)
    }
  })

  it('defaults are valid values, and a problem names the variable and the option', () => {
    for (const setting of SCHEMA)
      if (setting.default) expect(settingProblem(setting.option, setting.default)).toBeNull()
    expect(settingProblem('maxAttempts', '0')).toBe(
      'PARTNER_SYNC_MAX_ATTEMPTS / maxAttempts = "0" is not a whole number from 1 to 100',
    )
    expect(() => settingProblem('maxAttemps', '1')).toThrow(/no setting named "maxAttemps"/)
  })
})

describe('resolved once per distinct set of values, read at every call', () => {
  let partner
  const saved = {}
  beforeAll(async () => {
    partner = await startMockPartner({ secret: 'settings-test-secret-1', fail: Array(100).fill(503) })
  })
  afterAll(() => partner.close())
  afterEach(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  })
  const setEnv = (name, value) => {
    if (!(name in saved)) saved[name] = process.env[name]
    process.env[name] = value
  }

  it('a change of the environment between calls applies to the next call, and changing back reuses the first', async () => {
    const warnings = []
    const client = createPartnerSync({
      url: partner.url,
      secret: 'settings-test-secret-1',
      backoffBaseMs: 0,
      logger: { info() {}, error() {}, warn: (line) => warnings.push(line) },
    })
    const data = {
      event: 'booking.paid',
      booking_id: 'f0e1d2c3-b4a5-4697-8899-aabbccddeeff',
      status: 'LUNAS',
      paid_amount: 1,
    }
    const attempts = []
    for (const value of ['1', '2', '1', 'lots', '2']) {
      setEnv('PARTNER_SYNC_MAX_ATTEMPTS', value)
      attempts.push((await client.sync(data)).attempts)
    }
    expect(attempts).toEqual([1, 2, 1, 5, 2])
    // The bad value's warning comes once, with the value and the default used instead.
    expect(warnings).toEqual([
      '[Partner Sync] PARTNER_SYNC_MAX_ATTEMPTS / maxAttempts = "lots" is not a whole number from 1 to 100; using the default 5',
    ])
  })

  it('numbers given as options cross as numbers, and a fraction falls back like bad text', async () => {
    const warnings = []
    const client = createPartnerSync({
      url: partner.url,
      secret: 'settings-test-secret-1',
      backoffBaseMs: 0,
      maxAttempts: 2.5,
      logger: { info() {}, error() {}, warn: (line) => warnings.push(line) },
    })
    const result = await client.sync({
      event: 'booking.paid',
      booking_id: 'f0e1d2c3-b4a5-4697-8899-aabbccddee00',
      status: 'LUNAS',
      paid_amount: 1,
    })
    expect(result.attempts).toBe(5)
    expect(warnings[0]).toContain('maxAttempts = "2.5" is not a whole number from 1 to 100; using the default 5')
  })
})
