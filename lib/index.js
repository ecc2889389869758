'use strict'

// The package's public surface, re-exported from the modules that implement it: the guide's
// function and the shared client, clients of one's own, signing, the mock partner and the
// outbox page. Each module requires only those below it, never this one.

const { syncBookingToPartner, redrivePending, catchUp, startOutboxWorker } = require('./default-client.js')
const { createPartnerSync } = require('./client.js')
const { generateSignature, verifySignature, bodySha256, SIGNATURE_HEADER } = require('./signing.js')
const { startMockPartner } = require('./mock-partner.js')
const { createOutboxDashboard } = require('./dashboard/index.js')
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
  startMockPartner,
  createOutboxDashboard,
}
