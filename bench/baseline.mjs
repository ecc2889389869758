// The integration guide's "2. Buat Utility Function" (lib/partner-sync.ts), as plain JS:
// fetch + node:crypto, one attempt, env read once at module load. Kept line for line so
// the comparison is against what the partner told the app to write.
import crypto from 'node:crypto'

const SYNC_URL = process.env.SMASHPARTNER_SYNC_URL || 'https://smashpartner.online/api/webhooks/pwa-sync'
const SECRET = process.env.PWA_WEBHOOK_SECRET || ''

export function generateSignature(payload) {
  return crypto.createHmac('sha256', SECRET).update(payload).digest('hex')
}

export async function syncBookingToPartner(data) {
  try {
    const payload = {
      ...data,
      timestamp: new Date().toISOString(),
    }

    const payloadString = JSON.stringify(payload)
    const signature = generateSignature(payloadString)

    const response = await fetch(SYNC_URL, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'x-pwa-signature': signature,
      },
      body: payloadString,
    })

    if (!response.ok) {
      const error = await response.json()
      console.error('[Partner Sync] Failed:', error)
      return false
    }

    console.log('[Partner Sync] Success for booking:', data.booking_id)
    return true
  } catch (error) {
    console.error('[Partner Sync] Error:', error)
    return false
  }
}
