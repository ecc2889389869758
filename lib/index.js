'use strict'

// The package's public surface, re-exported from the modules that implement it: the guide's
// function and the shared client, clients of one's own, signing, the mock partner and the
// outbox page. Each module requires only those below it, never this one.

const { syncBookingToPartner, redrivePending, catchUp, startOutboxWorker } = require('./default-client.js')
const { createPartnerSync } = require('./client.js')
const { generateSignature, verifySignature, bodySha256, SIGNATURE_HEADER } = require('./signing.js')
const { DEFAULT_URL } = require('./load-native.js')

module.exports = {
  syncBookingToPartner,
  createPartnerSync,
  generateSignature,
  verifySignature,
  bodySha256,
  redrivePending,
  catchUp,
  startOutboxWorker,
  SIGNATURE_HEADER,
  DEFAULT_URL,
  // Loaded on first use, for load time alone (neither requires this module): an app that never
  // starts a mock or mounts the outbox page does not load node:http or the page's views.
  get startMockPartner() {
    return require('./mock-partner.js').startMockPartner
  },
  get createOutboxDashboard() {
    return require('./dashboard/index.js').createOutboxDashboard
  },
}
