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
  /** One line per request; default `console.log`, `false` for silence. */
  log?: ((line: string) => void) | false
  /** Called with each request once it has been answered. */
  onRequest?: (request: MockRequest) => void
}

export interface MockRequest {
  /** ISO 8601, when the request arrived. */
  at: string
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
}

export interface MockPartner {
  /** The full endpoint URL, `http://127.0.0.1:PORT/api/webhooks/pwa-sync`. */
  url: string
  port: number
  /** Every request answered so far, oldest first. */
  requests: MockRequest[]
  /** Stops the server and drops keep-alive connections. */
  close(): Promise<void>
  /** Forgets the requests and restarts the `fail` script and the `failRate` PRNG. */
  reset(): void
}

/** Starts a local smashpartner-compatible endpoint that answers as the integration guide's table says. */
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
