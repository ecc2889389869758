// The same package seen from an ES module under nodenext: the `import` condition's types.
import partnerSync, {
  syncBookingToPartner,
  createPartnerSync,
  type SyncData,
  type MockTransaction,
} from '@smashcourts/partner-sync'

declare const bookingId: string
declare const paidAmount: number

export async function fromEsm(): Promise<boolean> {
  // `satisfies` keeps `event` the literal 'booking.paid' that SyncData needs.
  const data = {
    event: 'booking.paid',
    booking_id: bookingId,
    status: 'LUNAS',
    paid_amount: paidAmount,
  } satisfies SyncData
  const viaDefault: boolean = await partnerSync.syncBookingToPartner(data)
  const result = await createPartnerSync({ logger: false }).sync(data)
  return viaDefault && result.ok && (await syncBookingToPartner(data))
}

export function widened(): void {
  const data = { event: 'booking.paid', booking_id: bookingId, status: 'LUNAS', paid_amount: paidAmount }
  // @ts-expect-error without `satisfies SyncData` (or a SyncData annotation) `event` widens to string
  void syncBookingToPartner(data)
}

export function transactionsOnce(transactions: MockTransaction[]): boolean {
  return transactions.length === 1
}
