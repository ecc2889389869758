// One fresh process: load one implementation, then make its first sync. Prints the time to load
// it and the time to its first sync's answer, both from the start of this file, as JSON.
// CommonJS, so that the package's row is a plain `require`, as in an app's server bundle.
const started = performance.now()
const nothing = () => {}
console.log = console.info = console.warn = console.error = nothing

async function main(impl) {
  const entry = impl === 'package' ? require('../lib/index.js') : await import('./baseline.mjs')
  const loadedMs = performance.now() - started
  const ok = await entry.syncBookingToPartner({
    event: 'booking.paid',
    booking_id: '7b0c3a52-3d0e-4b6c-9a51-5f2f3c8d9e10',
    status: 'LUNAS',
    paid_amount: 150000,
    payment_method: 'xendit',
    payment_details: { invoice_id: 'inv-cold-start', payment_id: 'pay-cold-start' },
    timestamp: new Date().toISOString(),
  })
  const firstSyncMs = performance.now() - started
  process.stdout.write(JSON.stringify({ loadedMs, firstSyncMs, ok }))
}

main(process.argv[2])
