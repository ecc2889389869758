import crypto from 'node:crypto'

// Small statistics helpers shared by the bench processes and the report.

export function median(values) {
  return percentile(values, 50)
}

// Nearest-rank percentile; NaN for an empty list so a missing number shows as missing.
export function percentile(values, p) {
  if (values.length === 0) return NaN
  const sorted = Float64Array.from(values).sort()
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]
}

// Deterministic bookings: every field derives from a SHA-256 of (seed, index), so every run
// and both implementations send the same bodies. Shaped like the guide's example plus the
// extra fields the real app sends: ~300 bytes once the timestamp is added.
export function seededBookings(count, seed = 6) {
  return Array.from({ length: count }, (_, i) => {
    const h = crypto.createHash('sha256').update(`booking-${seed}-${i}`).digest('hex')
    const draw = (at) => parseInt(h.slice(at, at + 4), 16) / 0x10000
    return {
      event: i % 5 === 0 ? 'booking.updated' : 'booking.paid',
      booking_id: `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`,
      status: draw(32) < 0.8 ? 'LUNAS' : 'DP',
      paid_amount: 1000 * Math.floor(20 + draw(36) * 300),
      payment_method: draw(40) < 0.6 ? 'QRIS' : 'VA',
      payment_details: { invoice_id: `INV-${h.slice(44, 56)}`, payment_id: `pay_${h.slice(48, 64)}` },
      venue_id: `venue-${Math.floor(draw(52) * 40)}`,
      customer_name: `Pelanggan ${Math.floor(draw(56) * 10_000)}`,
    }
  })
}
