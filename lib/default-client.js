'use strict'

// The integration guide's function and the module-level outbox calls (redrive, catch-up, worker):
// one shared client, configured by process.env alone, made on the first call. Until then the
// client's modules stay unloaded, so `require` costs little (docs/platforms.md, load time).

const { PREFIX } = require('./log.js')

let defaultClient
function shared() {
  if (!defaultClient) defaultClient = require('./client.js').createPartnerSync()
  return defaultClient
}

/**
 * The integration guide's function, with retries, validation and an optional outbox.
 * Resolves true when the partner answered 2xx; never rejects.
 */
async function syncBookingToPartner(data, options) {
  try {
    return (await shared().sync(data, options && typeof options === 'object' ? options : undefined)).ok === true
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
  redrivePending: (options) => shared().redrivePending(options),
  catchUp: (options) => shared().catchUp(options),
  startOutboxWorker: (options) => shared().startOutboxWorker(options),
}
