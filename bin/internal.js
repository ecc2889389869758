'use strict'

// The only package internals the CLI uses; everything else comes from the public surface
// (require('..')), so the CLI behaves as an app does. These are the library's own declarations
// the CLI must agree with to the letter, not API an app should build on (exporting them would
// freeze them under semver):
// - the settings schema, each setting's check and numeric kind: every setting becomes a flag;
// - the data checks, the exact body builder and the events: `send` refuses bad data with exit 2
//   before it reads the secret, and `sign --timestamp` signs the body the library would send;
// - the entry states: the choices of `outbox list --state`;
// - the mock partner's health answer: what `health` compares an endpoint's answer with;
// - plural: the same counting words as the library's log lines.

const { SCHEMA, isNumeric, settingProblem } = require('../lib/settings.js')
const { problemsWith, buildBody, EVENTS } = require('../lib/validate.js')
const { entryStates } = require('../lib/load-native.js')
const { HEALTH_RESPONSE } = require('../lib/mock-partner.js')
const { plural } = require('../lib/format.js')

module.exports = {
  SCHEMA,
  isNumeric,
  settingProblem,
  problemsWith,
  buildBody,
  EVENTS,
  ENTRY_STATES: entryStates(),
  HEALTH_RESPONSE,
  plural,
}
