'use strict'

// The x-pwa-signature: HMAC-SHA256 of the exact body bytes, computed by the native core.

const native = require('./load-native.js')

function generateSignature(payload, secret) {
  if (typeof secret !== 'string') throw new TypeError('generateSignature(payload, secret): secret must be a string')
  if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) {
    throw new TypeError('generateSignature(payload, secret): payload must be a string or a Buffer')
  }
  return native.generateSignature(payload, secret)
}

// Never throws: a value of the wrong type is simply not a valid signature.
function verifySignature(payload, signature, secret) {
  if (typeof signature !== 'string' || typeof secret !== 'string') return false
  if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return false
  return native.verifySignature(payload, signature, secret)
}

module.exports = {
  generateSignature,
  verifySignature,
  bodySha256: native.bodySha256,
  SIGNATURE_HEADER: native.SIGNATURE_HEADER,
}
