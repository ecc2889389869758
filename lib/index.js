'use strict'

// The package's public surface, re-exported from the modules that implement it: the guide's
// function and the shared client, clients of one's own, signing, the mock partner and the
// outbox page. Each module requires only those below it, never this one.
//
// `require` loads the native addon, so a missing binary fails here, at the app's start, not at a
// paid booking. The client's modules load on the first call that needs them.

const { DEFAULT_URL } = require('./load-native.js')
const { syncBookingToPartner, redrivePending, catchUp, startOutboxWorker } = require('./default-client.js')
const { generateSignature, verifySignature, bodySha256, SIGNATURE_HEADER } = require('./signing.js')

function createPartnerSync(options) {
  return require('./client.js').createPartnerSync(options)
}

// Most apps never start a mock or mount the outbox page: node:http and the page's views wait.
function startMockPartner(options) {
  return require('./mock-partner.js').startMockPartner(options)
}

function createOutboxDashboard(options) {
  return require('./dashboard/index.js').createOutboxDashboard(options)
}

module.exports = {
  // The integration guide's function, and the redrives of the client it shares.
  syncBookingToPartner,
  redrivePending,
  catchUp,
  startOutboxWorker,
  // A client of one's own: its own settings, logger and hooks, and the whole result of a sync.
  createPartnerSync,
  DEFAULT_URL,
  // The x-pwa-signature.
  generateSignature,
  verifySignature,
  bodySha256,
  SIGNATURE_HEADER,
  startMockPartner,
  createOutboxDashboard,
}
