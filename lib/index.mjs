// ESM entry: the same module as the CommonJS one, so both share one native addon.
import cjs from './index.js'

export const {
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
} = cjs
export default cjs
