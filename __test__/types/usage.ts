// Compiled by `tsc --noEmit --strict` in process.test.mjs: what must compile, and what must not.
import {
  createOutboxDashboard,
  createPartnerSync,
  generateSignature,
  syncBookingToPartner,
  verifySignature,
  type DeliveryEvent,
  type OutboxState,
  type PartnerSyncError,
  type SyncData,
  type SyncErrorKind,
  type SyncPayload,
  type SyncResult,
} from '@smashcourts/partner-sync'
import { pino } from 'pino'
import winston from 'winston'

declare const bookingId: string
declare const paidAmount: number
declare const paymentMethod: string
declare const xenditInvoiceId: string
declare const customerPhone: string | undefined

export async function guideStepThree(): Promise<boolean> {
  // The guide's step-3 call, unchanged.
  return await syncBookingToPartner({
    event: 'booking.paid',
    booking_id: bookingId, // UUID booking
    status: 'LUNAS', // atau 'DP' jika bayar sebagian
    paid_amount: paidAmount, // Jumlah yang dibayar
    payment_method: paymentMethod, // 'QRIS', 'VA', dll
    payment_details: {
      invoice_id: xenditInvoiceId,
    },
  })
}

export async function realAppCall(): Promise<void> {
  // The real app sends extra top-level fields, some possibly undefined.
  await syncBookingToPartner({
    event: 'booking.paid',
    booking_id: bookingId,
    status: 'LUNAS',
    paid_amount: paidAmount,
    payment_method: paymentMethod,
    payment_details: { invoice_id: xenditInvoiceId, payment_id: 'pay-1', channel: 'QRIS' },
    venue_id: 'venue-1',
    payment_status: 'PAID',
    total_amount: 64000,
    customer_name: 'Budi',
    customer_phone: customerPhone,
  })
}

export async function clientCall(): Promise<string | undefined> {
  const client = createPartnerSync({ maxAttempts: 3, deadlineMs: '8000', logger: false, outbox: 'sqlite:./outbox.db' })
  const result: SyncResult = await client.sync({
    event: 'booking.updated',
    booking_id: bookingId,
    status: 'DP',
    paid_amount: 1,
  })
  if (!result.ok && result.error?.kind === 'unauthorized') return result.error.message
  const counts = await client.redrivePending({ limit: 10 })
  const worker = client.startOutboxWorker({ intervalMs: 1000 })
  await worker.stop()
  return String(counts.remaining)
}

export function signatures(payload: SyncPayload): boolean {
  const body = JSON.stringify(payload)
  return verifySignature(body, generateSignature(body, 'secret'), 'secret')
}

export function mistakes(data: SyncData): void {
  // @ts-expect-error booking_id is required
  void syncBookingToPartner({ event: 'booking.paid', status: 'LUNAS', paid_amount: 1 })
  // @ts-expect-error only the two events exist
  void syncBookingToPartner({ event: 'booking.refunded', booking_id: 'b', status: 'LUNAS', paid_amount: 1 })
  // @ts-expect-error paid_amount is a number
  void syncBookingToPartner({ event: 'booking.paid', booking_id: 'b', status: 'LUNAS', paid_amount: '32000' })
  // @ts-expect-error payment_details is an object
  void syncBookingToPartner({ ...data, payment_details: 'INV-1' })
  // @ts-expect-error the timestamp is added by the library, it is not the caller's to pass as a number
  void syncBookingToPartner({ ...data, timestamp: 1 } satisfies SyncPayload)
  // @ts-expect-error the result is a Promise<boolean>
  const notAString: Promise<string> = syncBookingToPartner(data)
  void notAString
}

export function loggers(): void {
  // The loggers people use fit PartnerSyncLogger as they are.
  createPartnerSync({ logger: pino() })
  createPartnerSync({ logger: winston.createLogger() })
  createPartnerSync({ logger: console })
  // @ts-expect-error a logger needs info, warn and error
  createPartnerSync({ logger: { info: (line: string) => void line } })
}

export function observe(): void {
  // Alert hooks, sync or async; tracing and metrics switches.
  createPartnerSync({
    tracing: false,
    metrics: true,
    on: {
      dead: async (e: DeliveryEvent) => {
        await fetch('https://hooks.slack.com/x', {
          method: 'POST',
          body: `${e.bookingId} ${e.entryId ?? ''} ${e.attempts ?? 0} ${e.status ?? ''} ${e.errorKind ?? ''} ${e.message ?? ''}`,
        })
      },
      delivered: (e) => void e.bookingId,
    },
  })
  // @ts-expect-error a hook receives a DeliveryEvent, not a string
  createPartnerSync({ on: { failed: (e: string) => void e } })
  // @ts-expect-error no such hook
  createPartnerSync({ on: { gone: () => {} } })
}

// app/admin/partner-sync/[[...path]]/route.ts, as the README mounts it.
export const { GET, POST } = createOutboxDashboard({
  authorize: async (request: Request) => (request.headers.get('x-admin') ? { name: 'rina' } : null),
  basePath: '/admin/partner-sync',
  outbox: 'sqlite:./outbox.db',
})

export async function dashboard(): Promise<void> {
  const response: Response = await GET(new Request('http://localhost/admin/partner-sync'))
  void response
  // @ts-expect-error authorize is required: there is no open default
  createOutboxDashboard({ basePath: '/admin' })
  const { outbox } = createPartnerSync()
  const page = await outbox.page({ state: 'dead', bookingPrefix: 'SC-', limit: 50 })
  const next: string | undefined = page.nextCursor
  void next
  const counts: number = (await outbox.counts()).superseded
  void counts
  await outbox.retry('id', { by: 'rina' })
  // @ts-expect-error not a state
  await outbox.page({ state: 'lost' })
}

export async function kindsAndStates(result: SyncResult): Promise<string | undefined> {
  // Kinds and states are string unions generated from the Rust enums: literals compare and assign.
  const kind: SyncErrorKind = 'outbox'
  const state: OutboxState = 'superseded'
  if (result.error?.kind === 'http' && result.error.status === 422) return `${kind} ${state}`
  const { outbox } = createPartnerSync()
  const entry = await outbox.show('id')
  if (entry?.state === 'dead' && entry.lastError?.kind === 'not_found') return entry.id
  try {
    await outbox.purge({ olderThan: '30d' })
  } catch (error) {
    if ((error as PartnerSyncError).code === 'validation') return (error as PartnerSyncError).message
  }
  // @ts-expect-error not a kind
  const notAKind: SyncErrorKind = 'oops'
  // @ts-expect-error not a state
  const notAState: OutboxState = 'gone'
  return `${notAKind} ${notAState}`
}
