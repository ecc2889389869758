/// <reference types="node" />

export interface MockPartnerOptions {
  /** 0 (the default) picks a free port. */
  port?: number
  /** Default `'127.0.0.1'`. */
  host?: string
  /** The shared secret; default `process.env.PWA_WEBHOOK_SECRET`. Required one way or the other. */
  secret?: string
  /** When given, other booking ids get 404 `{"error":"Booking not found"}`; when not, every booking is accepted. */
  knownBookings?: Iterable<string>
  /**
   * Statuses for the first correctly signed POSTs, in order (e.g. `[503, 503]`), then normal answers.
   * A 2xx in the list means "answer normally". Signature checks always come first.
   */
  fail?: number[]
  /** 0..1: the share of correctly signed POSTs answered 503 at random (after `fail` is used up). */
  failRate?: number
  /** Seed of the PRNG behind `failRate`, so runs repeat; default 1. */
  seed?: number
  /** Wait this long before each answer. */
  delayMs?: number
  /**
   * Answer every signed POST of a known booking with 500 `{"error": databaseError}` and store nothing, as the
   * partner does when its database fails (e.g. `'connection terminated unexpectedly'`). Can be changed
   * later through `partner.databaseError`.
   */
  databaseError?: string
  /**
   * Wait this long between the partner's check for an existing transaction of the booking and the insert of
   * a new one, so that two overlapping requests of one booking both insert, as on the real partner. Default 0.
   */
  transactionDelayMs?: number
  /** One line per request; default `console.log`, `false` for silence. */
  log?: ((line: string) => void) | false
  /** Called with each request once it has been answered. */
  onRequest?: (request: MockRequest) => void
}

export interface MockRequest {
  /** ISO 8601, when the request arrived. */
  at: string
  /** When the request arrived: milliseconds since the epoch, sub-millisecond and monotonic within the process. */
  receivedAt: number
  /** When the answer was sent, on the same clock as `receivedAt`. */
  answeredAt: number
  method: string
  path: string
  headers: Record<string, string | string[] | undefined>
  /** The raw body bytes as UTF-8. */
  body: string
  signature?: string
  verified: boolean
  bookingId?: string
  /** What the mock answered. */
  status: number
  response: unknown
  /** For an accepted paid booking: whether this request created its transaction or found one already. */
  transaction?: 'created' | 'existed'
}

/** The partner's bookings row as the accepted syncs left it. */
export interface MockBooking {
  /** The last `status` given (a sync without one keeps the previous). */
  status?: string
  /** The last `paid_amount` given. */
  paidAmount?: unknown
  /** The raw body of the last accepted sync of this booking. */
  body: string
  /** When it was stored, on the `receivedAt` clock. */
  updatedAt: number
}

/**
 * A transaction the partner created for a paid booking (status `LUNAS` or `PAID`, `payment_status` `PAID`
 * or event `booking.paid`, with `paid_amount` > 0).
 */
export interface MockTransaction {
  bookingId: string
  paidAmount: number
  /** `total_amount` when given (and not 0), else `paid_amount`, as the partner stores it. */
  totalAmount: unknown
  /** When it was inserted, on the `receivedAt` clock. */
  at: number
}

export interface MockPartner {
  /** The full endpoint URL, `http://127.0.0.1:PORT/api/webhooks/pwa-sync`. */
  url: string
  port: number
  /** Every request answered so far, oldest first. */
  requests: MockRequest[]
  /** Booking id -> what the accepted syncs stored, the last one winning. */
  bookings: Map<string, MockBooking>
  /** Every transaction created, oldest first. A booking paid once must have exactly one. */
  transactions: MockTransaction[]
  /** The transactions of one booking. */
  transactionsFor(bookingId: string): MockTransaction[]
  /** The database error answered as a 500 (see the option); set `undefined` to heal the database. */
  databaseError: string | undefined
  /** Stops the server and drops keep-alive connections. */
  close(): Promise<void>
  /** Forgets requests, bookings and transactions, restarts `fail` and the `failRate` PRNG, restores `databaseError`. */
  reset(): void
}

/**
 * Starts a local smashpartner-compatible endpoint that answers as the integration guide's table says and
 * records bookings and transactions as the partner's handler does.
 */
export declare function startMockPartner(options?: MockPartnerOptions): Promise<MockPartner>

/** `/api/webhooks/pwa-sync` */
export declare const ENDPOINT_PATH: string
/** The guide's health-check JSON, answered to `GET`. */
export declare const HEALTH_RESPONSE: {
  readonly endpoint: string
  readonly description: string
  readonly methods: readonly string[]
  readonly headers: { readonly required: readonly string[]; readonly description: string }
}
