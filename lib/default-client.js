'use strict'

// The integration guide's function and the module-level outbox calls (redrive, catch-up, worker):
// one shared client, configured by process.env alone.

const { createPartnerSync } = require('./client.js')
const { PREFIX } = require('./log.js')

const defaultClient = createPartnerSync()

/**
 * The integration guide's function, with retries, validation and an optional outbox.
 * Resolves true when the partner answered 2xx; never rejects.
 */
async function syncBookingToPartner(data, options) {
  try {
    return (await defaultClient.sync(data, options && typeof options === 'object' ? options : undefined)).ok === true
  } catch (error) {
    try {
      console.error(`${PREFIX} Error: ${error && error.message}`)
    } catch {
      // Nothing left to report to.
    }
    return false
  }
}

module.exports = {
  syncBookingToPartner,
  redrivePending: (options) => defaultClient.redrivePending(options),
  catchUp: (options) => defaultClient.catchUp(options),
  startOutboxWorker: (options) => defaultClient.startOutboxWorker(options),
}
