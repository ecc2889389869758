import { after } from 'next/server'
import { catchUp, syncBookingToPartner } from '@smashcourts/partner-sync'
import { recordPayment } from '@/lib/bookings'
import { secretMatches } from '@/lib/secrets'

// The package is a native addon: it needs the Node.js runtime, never the Edge runtime.
export const runtime = 'nodejs'

/** The fields of Xendit's invoice callback that this app uses. */
interface XenditInvoiceCallback {
  id: string
  external_id: string
  status: string
  paid_amount?: number
  payment_method?: string
  payment_channel?: string
}

// Xendit says QR_CODE / BANK_TRANSFER / EWALLET...; the partner expects 'QRIS', 'VA', ...
function partnerPaymentMethod(invoice: XenditInvoiceCallback): string {
  if (invoice.payment_method === 'QR_CODE') return 'QRIS'
  if (invoice.payment_method === 'BANK_TRANSFER') return 'VA'
  return invoice.payment_channel || invoice.payment_method || 'UNKNOWN'
}

export async function POST(request: Request) {
  if (!secretMatches(request.headers.get('x-callback-token'), process.env.XENDIT_CALLBACK_TOKEN)) {
    return Response.json({ error: 'Invalid callback token' }, { status: 401 })
  }

  let invoice: XenditInvoiceCallback
  try {
    invoice = await request.json()
  } catch {
    return Response.json({ error: 'Body is not JSON' }, { status: 400 })
  }
  if (!invoice?.external_id || !invoice.id) {
    return Response.json({ error: 'Missing id or external_id' }, { status: 400 })
  }

  // EXPIRED and the like change nothing the partner needs to know.
  if (invoice.status !== 'PAID' && invoice.status !== 'SETTLED') {
    return Response.json({ received: true, synced: false })
  }

  const bookingId = invoice.external_id
  const paidAmount = Number(invoice.paid_amount ?? 0)
  const paymentMethod = partnerPaymentMethod(invoice)
  await recordPayment(bookingId, {
    status: 'LUNAS',
    paidAmount,
    paymentMethod,
    invoiceId: invoice.id,
    paidAt: new Date().toISOString(),
  })

  // Bounded by PARTNER_SYNC_DEADLINE_MS and never throws: a partner outage must not make
  // Xendit retry a payment that is already recorded here (the outbox keeps the sync instead).
  const synced = await syncBookingToPartner({
    event: 'booking.paid',
    booking_id: bookingId,
    status: 'LUNAS',
    paid_amount: paidAmount,
    payment_method: paymentMethod,
    payment_details: { invoice_id: invoice.id },
  })

  // After the answer is sent (it never waits for this, nor fails with it): deliver a few syncs
  // the outbox kept while the partner was down. On Vercel's Hobby plan, where a cron runs once a
  // day, the next paid invoice is what brings them out; the daily cron is the safety net.
  after(() => catchUp())

  return Response.json({ received: true, synced })
}
