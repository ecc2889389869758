import type { PartnerSyncOptions } from '../index'

/** Who the operator is: a name, or an object with a `name` (else `email`, else `id`). */
export type DashboardIdentity = string | { name?: string; email?: string; id?: string | number }

export interface OutboxDashboardOptions extends PartnerSyncOptions {
  /**
   * Required. Returns the operator for an allowed request, or a falsy value to refuse it (403).
   * Use the app's own admin auth here. Without it, every request is refused.
   */
  authorize: (
    request: Request,
  ) => DashboardIdentity | null | undefined | false | Promise<DashboardIdentity | null | undefined | false>
  /** Where the route is mounted. Default `'/admin/partner-sync'`. */
  basePath?: string
  /**
   * Key of the forms' CSRF tokens. Default: random per dashboard, which is right for one
   * server process; several instances behind one URL (serverless) need the same value.
   */
  csrfSecret?: string
  /** Entries per list page, default 50. */
  pageSize?: number
}

/** Web-standard route handlers, as Next.js App Router routes export them. */
export interface OutboxDashboard {
  GET(request: Request): Promise<Response>
  POST(request: Request): Promise<Response>
}

/**
 * The outbox page: counts, a 24-hour chart, a searchable list, each entry with its attempts,
 * and retry / redrive / purge actions, guarded by `authorize` and CSRF checks.
 * Mount it at `app/admin/partner-sync/[[...path]]/route.ts`:
 * `export const { GET, POST } = createOutboxDashboard({ authorize, ... })`.
 */
export declare function createOutboxDashboard(options: OutboxDashboardOptions): OutboxDashboard
