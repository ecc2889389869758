/// <reference types="node" />
import type {
  AttemptInfo,
  ErrorKind,
  EntryState,
  OutboxCounts,
  OutboxEntry,
  OutboxHour,
  OutboxPage,
  RawSettings,
} from '../binding'

// The core's types, as they are.
export type { AttemptInfo, ErrorKind, EntryState, OutboxCounts, OutboxEntry, OutboxHour, OutboxPage, RawSettings }
export type { SyncErrorInfo, OutboxAttempt, OutboxAuditNote } from '../binding'

/** The two events the partner understands. */
export type SyncEvent = 'booking.paid' | 'booking.updated'

/** `payment_details` as the guide describes it; any other keys pass through. */
export interface PaymentDetails {
  invoice_id?: string
  payment_id?: string
  [key: string]: unknown
}

/**
 * What the app hands to `syncBookingToPartner`: the guide's `Omit<SyncPayload, 'timestamp'>`.
 * Extra top-level fields (`venue_id`, `total_amount`, `customer_name`, ...) are sent as they are.
 */
export interface SyncData {
  event: SyncEvent
  /** The booking's UUID, the same in both databases. */
  booking_id: string
  /** `'LUNAS'` (paid in full), `'DP'` (down payment), ... */
  status: string
  paid_amount: number
  /** `'QRIS'`, `'VA'`, ... */
  payment_method?: string
  payment_details?: PaymentDetails
  [extra: string]: unknown
}

/** The body that is signed and sent: the data plus an ISO 8601 `timestamp`, last. */
export type SyncPayload = SyncData & { timestamp: string }

/**
 * Where log lines go: `console` (filtered by `PARTNER_SYNC_LOG`) by default, `false` for silence,
 * or a pino or winston logger. Each call gets one self-contained line, booking and entry ids inside.
 */
export interface PartnerSyncLogger {
  info(line: string): void
  warn(line: string): void
  error(line: string): void
}

/**
 * Every setting option (`url`, `secret`, `maxAttempts`, ... as `RawSettings` documents them, from the
 * Rust core's declarations) falls back to its environment variable, read at each call.
 * Numbers may be given as numbers or strings.
 */
export interface PartnerSyncOptions extends Omit<RawSettings, 'outbox'> {
  /** `PARTNER_SYNC_OUTBOX`: `sqlite:<path>` or `postgres://...`; `false` turns it off. */
  outbox?: string | false
  /**
   * Default: `console`, filtered by `PARTNER_SYNC_LOG` (`silent`, `error`, `warn`, `info`) read at each call.
   * `false` for silence; or your own `{ info, warn, error }` (pino, winston), which `PARTNER_SYNC_LOG` does not filter.
   */
  logger?: PartnerSyncLogger | false
  /**
   * Alert hooks, each called once per event, from `sync` and from redrives (`redrivePending`,
   * the worker). Called without being awaited: a hook that throws, rejects or does not settle
   * within 1 s is logged (`[Partner Sync] hook 'dead' failed: ...`) and changes nothing.
   */
  on?: PartnerSyncHooks
  /**
   * OpenTelemetry spans and W3C trace context on every attempt, through `@opentelemetry/api`
   * when it is installed and a tracer provider is registered. Default true; `false` turns it off.
   */
  tracing?: boolean
  /** OpenTelemetry metrics (`partner_sync.deliveries`, `partner_sync.attempt.duration`). Default true. */
  metrics?: boolean
}

/** What a hook is given. Never the secret, nor the body. */
export interface DeliveryEvent {
  bookingId: string
  /** The outbox entry, when there is an outbox. */
  entryId?: string
  /** HTTP attempts so far (an outbox entry's attempts include earlier requests and redrives). */
  attempts?: number
  /** The partner's last HTTP status, when it answered. */
  status?: number
  errorKind?: SyncErrorKind
  message?: string
}

export type DeliveryHook = (event: DeliveryEvent) => void | Promise<void>

export interface PartnerSyncHooks {
  /** The partner accepted a body (2xx). */
  delivered?: DeliveryHook
  /** A sync or redrive attempt failed, and the entry is neither dead nor superseded. */
  failed?: DeliveryHook
  /** An outbox entry went dead: a person must act (fix the cause, then `outbox retry`). */
  dead?: DeliveryHook
  /** A sync or an outbox entry was replaced by a newer body of its booking: not sent (again). */
  superseded?: DeliveryHook
  /**
   * A paid booking was neither accepted by the partner nor kept in the configured outbox (both
   * down for the whole deadline): nothing will send it again by itself. Alert on this one.
   */
  lost?: DeliveryHook
}

/**
 * What went wrong, in `SyncResult.error.kind` and as the `code` of a rejection: `superseded` when
 * a newer sync of the same booking took over, `aborted` when the caller's `signal` fired, `outbox`
 * when the outbox's database failed, `internal` for a bug. Defined once, in the Rust core.
 */
export type SyncErrorKind = ErrorKind

/**
 * How the `outbox` calls reject: `message` says what went wrong and what to do, `code` is the
 * kind (`config` without a usable outbox, `validation` for a wrong argument or a refused retry,
 * `outbox` when its database failed).
 */
export interface PartnerSyncError extends Error {
  code: SyncErrorKind
}

/** Per-call options, after the guide's `data`. */
export interface SyncCallOptions {
  /**
   * Stops waiting and retrying when it aborts, such as a Next.js route handler's
   * `request.signal`. A request already on the wire is abandoned, but the partner may have
   * received it: the booking then stays quiet for `quietPeriod`, and with an outbox the entry
   * stays pending and is redriven. Resolves (never rejects) with `error.kind === 'aborted'`.
   */
  signal?: AbortSignal
}

/** An outbox entry's state; `delivered`, `dead` and `superseded` are final until a manual retry. */
export type OutboxState = EntryState

export interface OutboxNote {
  /** The entry's stable delivery id. */
  id?: string
  state?: OutboxState
  /** ISO 8601, when the entry is pending. */
  nextAttemptAt?: string
  /** The newer entry of the same booking that replaced this one, when superseded. */
  supersededBy?: string
  /** Why the outbox could not keep the sync (the live delivery was still tried). */
  error?: string
  /** Older pending entries of the booking that this delivered sync superseded (their ids). */
  supersededOlder?: string[]
}

/**
 * Per booking, the partner ends with the newest body it was given, and never processes two of
 * our requests of one booking at once. A sync that a newer sync of its booking replaced
 * resolves `ok: false` with `error.kind === 'superseded'`: `ok` always means "the partner
 * accepted exactly this body".
 */
export interface SyncResult {
  /** True when the partner answered 2xx to this very body. */
  ok: boolean
  bookingId: string
  /** The partner's last HTTP status, when it answered. */
  status?: number
  /** How many HTTP attempts were made. */
  attempts: number
  elapsedMs: number
  /** The partner's last answer: parsed JSON when it was JSON, else text. */
  response?: unknown
  /** `status`: the partner's HTTP status, when the failure is its answer. */
  error?: { kind: SyncErrorKind; message: string; status?: number }
  attemptLog: AttemptInfo[]
  /** The exact bytes that were signed and sent. */
  body?: string
  /** What the outbox did with this sync, when one is configured. */
  outbox?: OutboxNote
  /** Neither accepted by the partner nor kept in the configured outbox (see the `lost` hook). */
  lost?: boolean
}

export interface RedriveResult {
  delivered: number
  failed: number
  dead: number
  /** Entries older than a body of their booking the partner already accepted: not sent. */
  superseded: number
  /** Entries still due after this run (more than `limit`, say). */
  remaining: number
  /** Set when there is no outbox to redrive. */
  message?: string
  /** Set when the outbox could not be used. */
  error?: string
}

export interface OutboxWorker {
  /** Stops the timer and waits for a redrive in progress. */
  stop(): Promise<void>
}

export interface PartnerSyncClient {
  sync(data: SyncData, options?: SyncCallOptions): Promise<SyncResult>
  /** `by`: the operator who asked, kept as an audit note in each entry handled. */
  redrivePending(options?: { limit?: number; by?: string }): Promise<RedriveResult>
  /** See the top-level `catchUp`. */
  catchUp(options?: { limit?: number }): Promise<RedriveResult>
  startOutboxWorker(options?: { intervalMs?: number; limit?: number }): OutboxWorker
  /** Inspect and repair; each call rejects with a `PartnerSyncError` (`code` set) when it cannot run. */
  outbox: {
    list(options?: { state?: OutboxState; limit?: number }): Promise<OutboxEntry[]>
    /**
     * One page of entries, newest first (creation time, then id), keyset-paginated: pass the
     * page's `nextCursor` as `cursor` for the next one. `bookingId` matches exactly,
     * `bookingPrefix` the start of the id (case-sensitive, no wildcards). `limit`: 1 to 1000, default 50.
     */
    page(options?: {
      state?: OutboxState
      bookingId?: string
      bookingPrefix?: string
      cursor?: string
      limit?: number
    }): Promise<OutboxPage>
    /** Entries in each state. */
    counts(): Promise<OutboxCounts>
    /** The last 24 hours, oldest first: deliveries, failed attempts of pending entries, and entries gone dead, per hour. */
    hourly(): Promise<OutboxHour[]>
    show(id: string): Promise<OutboxEntry | null>
    /**
     * Makes a dead or pending entry due now. Resolves false when no such entry exists; rejects
     * for a superseded entry or one older than another entry of its booking (sending it would
     * put an older state back on the partner). `by` is kept in the entry's history as an audit note.
     */
    retry(id: string, options?: { by?: string }): Promise<boolean>
    /**
     * Deletes delivered and superseded entries older than a duration such as `30d`, and the
     * booking rows nothing needs any more; resolves with the count. With `by`, logs an audit
     * line per entry deleted.
     */
    purge(options?: { olderThan?: string; by?: string }): Promise<number>
    /** The `x-pwa-signature` this client sends with `body` (from its secret); null when no secret is configured. */
    signatureOf(body: string): string | null
  }
}

/**
 * Sends one booking sync. Resolves true on a 2xx answer to this body, false otherwise
 * (superseded by a newer sync of the booking included); never rejects.
 */
export declare function syncBookingToPartner(data: SyncData, options?: SyncCallOptions): Promise<boolean>
export declare function createPartnerSync(options?: PartnerSyncOptions): PartnerSyncClient
/** Delivers what is due in the configured outbox (env as for `syncBookingToPartner`). Never rejects. */
export declare function redrivePending(options?: { limit?: number }): Promise<RedriveResult>
/**
 * A short redrive for after a request's answer (Next.js `after()`), where no frequent cron runs:
 * up to `limit` (default 10) due entries, and once the partner has just accepted a body in this
 * process, the entries that failed on its side (5xx, 429, no connection, no answer) without
 * waiting out their schedule. No retention work. Never rejects; one request per booking still holds.
 */
export declare function catchUp(options?: { limit?: number }): Promise<RedriveResult>
/** Runs `redrivePending` every `intervalMs` (default 30000) without keeping the process alive. */
export declare function startOutboxWorker(options?: { intervalMs?: number; limit?: number }): OutboxWorker
/** Lowercase hex HMAC-SHA256 of the payload: the `x-pwa-signature` header. */
export declare function generateSignature(payload: string | Buffer, secret: string): string
/** Constant-time check of an `x-pwa-signature`; false (never throws) on malformed input. */
export declare function verifySignature(payload: string | Buffer, signature: string, secret: string): boolean
/** Hex SHA-256 of the exact bytes, to compare bodies without sharing the secret. */
export declare function bodySha256(payload: string | Buffer): string
export declare const SIGNATURE_HEADER: 'x-pwa-signature'
export declare const DEFAULT_URL: string
export { startMockPartner } from './mock-partner'
export { createOutboxDashboard } from './dashboard/index'
export type { OutboxDashboard, OutboxDashboardOptions, DashboardIdentity } from './dashboard/index'
export type { MockPartner, MockPartnerOptions, MockRequest, MockBooking, MockTransaction } from './mock-partner'
