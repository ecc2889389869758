//! SQL shared by both backends. Parameters are written `$1..$N` in order of first use,
//! which SQLite and PostgreSQL both bind positionally; every number is a BIGINT.
//! The tables themselves: `schema.rs`; the parameters of each statement: `params.rs`.

pub mod params;
mod schema;

pub use schema::SchemaState;

use self::schema::{schema, Schema};
use super::values::Param;

pub const ENTRY_COLUMNS: &str = "id, booking_id, event, body, state, attempts, schedule_step, \
     not_found_count, created_at_ms, updated_at_ms, schedule_started_at_ms, next_attempt_at_ms, \
     delivered_at_ms, last_status, last_error_kind, last_error, history, version_ms, seq, superseded_by";

/// `n` is newer than `e` (both aliases of the entries table): the body's timestamp, then
/// creation order within the booking.
const NEWER: &str =
    "(n.version_ms > e.version_ms OR (n.version_ms = e.version_ms AND n.seq > e.seq))";

/// Which backend the statements are for: the SQL is shared but for a few DDL details.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Statements for one table prefix, built once when the outbox opens.
#[derive(Debug)]
pub struct Statements {
    pub dialect: Dialect,
    pub entries: String,
    pub bookings: String,
    pub version_table: String,
    pub create: Vec<String>,
    pub migrate_from_v1: Vec<String>,
    pub book: String,
    pub insert: String,
    pub lease_booking: String,
    pub release_booking: String,
    pub settle_booking: String,
    pub supersede_older: String,
    pub newest_other: String,
    pub lease_entry: String,
    pub finish: String,
    pub due_candidates: String,
    pub count_due: String,
    pub get: String,
    pub retry: String,
    pub purge: String,
    /// A booking row ($1) no entry needs any more, deleted after its entries were purged
    /// before $2.
    pub forget_booking: String,
    pub expedite: String,
    pub probe: String,
    /// Indexes of the operator's queries, created when missing at every open (older outboxes).
    pub ensure_indexes: Vec<String>,
    pub index_names: Vec<String>,
    pub count_by_state: String,
    pub hourly: String,
    pub set_history: String,
    /// PostgreSQL plans the due query from table statistics; see `PgStore::refresh_statistics`.
    pub analyze: String,
    /// PostgreSQL runs each step of a sync or a redrive as one statement, its parts joined by
    /// data-modifying CTEs: one round trip, atomic. SQLite has no such CTEs; it runs the
    /// parts in one transaction (one fsync).
    pub write_ahead_cte: String,
    /// What `write_ahead_cte` returns, read back for an entry already written ($1 id, $2 owner).
    pub find_written: String,
    pub settle_cte: String,
    /// The entry $1 as a settle finished it: state $2 written at $3 (ms).
    pub settled: String,
    pub claim_cte: String,
    pub purge_cte: String,
}

/// Which entries of a booking a page holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BookingMatch {
    Exact(String),
    Prefix(String),
}

/// One page of entries, newest first: `after` is the (created_at_ms, id) of the last entry of
/// the previous page (keyset pagination: the cost of a page does not grow with its depth).
#[derive(Clone, Debug, Default)]
pub struct PageFilter {
    pub state: Option<String>,
    pub booking: Option<BookingMatch>,
    pub after: Option<(i64, String)>,
    pub limit: i64,
}

impl Statements {
    pub fn new(prefix: &str, dialect: Dialect) -> Self {
        let entries = format!("{prefix}entries");
        let bookings = format!("{prefix}bookings");
        let version_table = format!("{prefix}schema_version");
        let Schema {
            create,
            migrate_from_v1,
            ensure_indexes,
            index_names,
        } = schema(&entries, &bookings, &version_table, dialect);

        let mut sql = Statements {
            dialect,
            create,
            migrate_from_v1,
            // The booking row: the next creation order, and the booking's lease when it is free
            // (see `leasable`); SET reads the row as it was, so each CASE tests the same lease.
            book: format!(
                "INSERT INTO {bookings} (booking_id, last_seq, lease_owner, lease_until_ms) VALUES ($1, 1, $2, $3)
                 ON CONFLICT (booking_id) DO UPDATE SET last_seq = {bookings}.last_seq + 1,
                    lease_owner = CASE WHEN {free} THEN $2 ELSE {bookings}.lease_owner END,
                    lease_until_ms = CASE WHEN {free} THEN $3 ELSE {bookings}.lease_until_ms END
                 RETURNING last_seq, COALESCE(lease_owner = $2, false) AS leased, {DELIVERED_COLUMNS}",
                free = leasable(&format!("{bookings}."), "$2", "$4", "$5"),
            ),
            // `params::insert`, then the creation order `book` returned.
            insert: format!("INSERT INTO {entries} ({INSERT_COLUMNS}) VALUES ({INSERT_VALUES}, $9)"),
            // The booking's one sender. A lease that ran out is taken over only after the quiet
            // period ($4 = now - quiet): its holder may have died with a request on the wire.
            lease_booking: lease_booking(&bookings),
            release_booking: format!(
                "UPDATE {bookings} SET lease_owner = NULL, lease_until_ms = NULL,
                    quiet_until_ms = COALESCE($1, quiet_until_ms)
                 WHERE booking_id = $2 AND lease_owner = $3"
            ),
            // The end of a sender's turn: the body it delivered ($1, $2, $3; NULL when none)
            // becomes the booking's watermark if newer, and the lease is released.
            settle_booking: format!(
                "UPDATE {bookings} SET
                    delivered_version_ms = CASE WHEN {newer} THEN $1 ELSE delivered_version_ms END,
                    delivered_seq = CASE WHEN {newer} THEN $2 ELSE delivered_seq END,
                    delivered_entry_id = CASE WHEN {newer} THEN $3 ELSE delivered_entry_id END,
                    lease_owner = NULL, lease_until_ms = NULL, quiet_until_ms = COALESCE($4, quiet_until_ms)
                 WHERE booking_id = $5 AND lease_owner = $6",
                newer = "CAST($1 AS BIGINT) IS NOT NULL AND (delivered_version_ms IS NULL OR delivered_version_ms < $1
                    OR (delivered_version_ms = $1 AND delivered_seq < $2))"
            ),
            supersede_older: supersede_older(&entries, "$1", "$2", "$3", ("$4", "$5"), ""),
            newest_other: format!(
                "SELECT n.id, n.state FROM {entries} n JOIN {entries} e ON e.id = $1
                 WHERE n.booking_id = e.booking_id AND n.state <> 'superseded' AND {NEWER}
                 ORDER BY n.version_ms DESC, n.seq DESC LIMIT 1"
            ),
            lease_entry: lease_entry(&entries, ["$1", "$2", "$3", "$4"], ""),
            // Only the lease holder may finish a pending entry: a claimer whose lease expired loses.
            finish: format!(
                "UPDATE {entries} SET state = $1, attempts = attempts + $2, schedule_step = $3,
                    not_found_count = $4, next_attempt_at_ms = $5, delivered_at_ms = $6,
                    last_status = $7, last_error_kind = $8, last_error = $9, history = $10,
                    updated_at_ms = $11, superseded_by = $12, lease_until_ms = NULL, lease_owner = NULL
                 WHERE id = $13 AND lease_owner = $14 AND state = 'pending'"
            ),
            // Per booking, only its newest unfinished entry, and only while nobody sends to it.
            due_candidates: format!(
                "SELECT {ENTRY_COLUMNS} FROM {entries} e
                 WHERE {due} ORDER BY e.next_attempt_at_ms LIMIT $3",
                due = due_condition(&entries, &bookings)
            ),
            count_due: format!(
                "SELECT COUNT(*) FROM {entries} e WHERE {due}",
                due = due_condition(&entries, &bookings)
            ),
            get: format!("SELECT {ENTRY_COLUMNS} FROM {entries} WHERE id = $1"),
            retry: format!(
                "UPDATE {entries} SET state = 'pending', next_attempt_at_ms = $1, schedule_step = 0,
                    not_found_count = 0, schedule_started_at_ms = $1, updated_at_ms = $1,
                    lease_until_ms = NULL, lease_owner = NULL
                 WHERE id = $2 AND state IN ('pending', 'dead')"
            ),
            // In batches, so a large delete never holds the database (or a redrive) for long.
            purge: format!(
                "DELETE FROM {entries} WHERE id IN (SELECT id FROM {entries}
                    WHERE (state = 'delivered' AND delivered_at_ms < $1)
                       OR (state = 'superseded' AND updated_at_ms < $1)
                    LIMIT $2)
                 RETURNING id, booking_id"
            ),
            // Newest-wins needs a booking's row while any entry of it is left (its watermark
            // and creation order) or someone sends to it. A write-ahead always leaves the row
            // leased, so a row being written to is never forgotten.
            forget_booking: format!(
                "DELETE FROM {bookings} WHERE booking_id = $1 AND {forgettable}
                    AND NOT EXISTS (SELECT 1 FROM {entries} e WHERE e.booking_id = $1)",
                forgettable = forgettable_booking("$2"),
            ),
            // Entries that failed on the partner's side (5xx, 429, no connection, no answer)
            // due now, once the partner accepted a body again: it is back. Entries that are
            // quiet after an unanswered attempt still wait for their booking's quiet period.
            expedite: format!(
                "UPDATE {entries} SET next_attempt_at_ms = $1 WHERE id IN (SELECT id FROM {entries}
                    WHERE state = 'pending' AND next_attempt_at_ms > $1
                      AND last_error_kind IN ('http', 'network', 'timeout', 'deadline')
                    ORDER BY next_attempt_at_ms LIMIT $2)"
            ),
            probe: format!("SELECT {ENTRY_COLUMNS}, lease_until_ms, lease_owner FROM {entries} LIMIT 0"),
            ensure_indexes,
            index_names,
            count_by_state: format!("SELECT state, COUNT(*) FROM {entries} GROUP BY state"),
            // Per hour since $1 (before $2), in one pass over the updated_at_ms index: deliveries
            // (by delivery time, never later than the entry's last update), failed last attempts
            // of entries still pending, and entries gone dead (both by their last update). A CASE,
            // not ORs on state, so SQLite scans the covering index by time, not the state index.
            hourly: format!(
                "SELECT CASE state WHEN 'delivered' THEN 'delivered' WHEN 'dead' THEN 'dead' ELSE 'failed' END,
                    (COALESCE(delivered_at_ms, updated_at_ms) - $1) / 3600000, COUNT(*)
                 FROM {entries}
                 WHERE updated_at_ms >= $1 AND updated_at_ms < $2
                   AND CASE state WHEN 'delivered' THEN delivered_at_ms >= $1 WHEN 'dead' THEN true
                     WHEN 'pending' THEN last_error_kind IS NOT NULL ELSE false END
                 GROUP BY 1, 2"
            ),
            // Compare-and-set: a delivery that wrote the history meanwhile wins, the note is retried.
            set_history: format!("UPDATE {entries} SET history = $1 WHERE id = $2 AND history = $3"),
            analyze: format!("ANALYZE {entries}, {bookings}"),
            write_ahead_cte: String::new(),
            find_written: format!(
                "SELECT e.seq, COALESCE(b.lease_owner = $2, false), {delivered}
                 FROM {entries} e JOIN {bookings} b ON b.booking_id = e.booking_id WHERE e.id = $1",
                delivered = qualified("b.", DELIVERED_COLUMNS),
            ),
            settle_cte: String::new(),
            settled: format!(
                "SELECT 1 FROM {entries} WHERE id = $1 AND state = $2 AND updated_at_ms = $3 AND lease_owner IS NULL"
            ),
            claim_cte: String::new(),
            purge_cte: String::new(),
            entries,
            bookings: bookings.clone(),
            version_table,
        };
        sql.write_ahead_cte = sql.write_ahead_cte();
        sql.settle_cte = sql.settle_cte();
        sql.claim_cte = sql.claim_cte(&bookings);
        sql.purge_cte = sql.purge_cte();
        sql
    }

    /// `book` then `insert`, their parameters one after the other (5, 8): the entry takes the
    /// creation order `book` returns.
    fn write_ahead_cte(&self) -> String {
        format!(
            "WITH b AS ({book}),
                e AS (INSERT INTO {entries} ({INSERT_COLUMNS}) SELECT {values}, last_seq FROM b)
             SELECT last_seq, leased, {DELIVERED_COLUMNS} FROM b",
            book = self.book,
            entries = self.entries,
            values = shift_params(INSERT_VALUES, 5),
        )
    }

    /// `purge` and `forget_booking` in one statement ($1 before, $2 limit), for PostgreSQL: the
    /// deleted entries' ids and bookings. The CTE's deletions are not visible to the statement
    /// around it, so an entry deleted here is told apart by its id.
    fn purge_cte(&self) -> String {
        format!(
            "WITH gone AS ({purge}),
                forgotten AS (DELETE FROM {bookings} b WHERE b.booking_id IN (SELECT booking_id FROM gone)
                    AND {forgettable} AND NOT EXISTS (SELECT 1 FROM {entries} e
                        WHERE e.booking_id = b.booking_id AND e.id NOT IN (SELECT id FROM gone)))
             SELECT id, booking_id FROM gone",
            purge = self.purge,
            bookings = self.bookings,
            entries = self.entries,
            forgettable = forgettable_booking("$1"),
        )
    }

    /// `finish`, `supersede_older` and `settle_booking`, their parameters one after the other
    /// (14, 5, 6); returns whether the entry was finished and the ids superseded.
    fn settle_cte(&self) -> String {
        format!(
            "WITH f AS ({finish} RETURNING id), s AS ({supersede}), b AS ({booking})
             SELECT EXISTS (SELECT 1 FROM f), ARRAY(SELECT id FROM s)",
            finish = self.finish,
            supersede = shift_params(&self.supersede_older, 14),
            booking = shift_params(&self.settle_booking, 19),
        )
    }

    /// A redrive's claim of a candidate: `lease_booking` ($1..$5); then, when the booking holds
    /// a delivered body newer than the candidate ($6 id, $7 version, $8 seq), its older pending
    /// entries superseded, else `lease_entry`. Returns the leased entry's columns (NULL when
    /// none), whether the booking was leased, whether a newer body was found, the superseded ids.
    fn claim_cte(&self, bookings: &str) -> String {
        let newer = ("newer.delivered_version_ms", "newer.delivered_seq");
        format!(
            "WITH b AS ({lease}),
                newer AS (SELECT {DELIVERED_COLUMNS} FROM b WHERE delivered_version_ms > $7
                    OR (delivered_version_ms = $7 AND delivered_seq > $8)),
                s AS ({supersede}),
                e AS ({lease_entry})
             SELECT e.*, EXISTS (SELECT 1 FROM b), EXISTS (SELECT 1 FROM newer), ARRAY(SELECT id FROM s)
             FROM (SELECT 1) one LEFT JOIN e ON true",
            lease = lease_booking(bookings),
            supersede = supersede_older(
                &self.entries,
                "newer.delivered_entry_id",
                "$5",
                "$3",
                newer,
                "FROM newer"
            ),
            lease_entry = lease_entry(
                &self.entries,
                ["$1", "$2", "$6", "$5"],
                "AND EXISTS (SELECT 1 FROM b) AND NOT EXISTS (SELECT 1 FROM newer)"
            ),
        )
    }
}

/// The columns a new entry is written with.
const INSERT_COLUMNS: &str = "id, booking_id, event, body, state, created_at_ms, updated_at_ms, \
     schedule_started_at_ms, next_attempt_at_ms, lease_until_ms, lease_owner, version_ms, seq";
/// Their values but the last (`seq`), from `params::insert`. SQLite numbers `$k` in the order
/// they first appear, so they appear in order.
const INSERT_VALUES: &str = "$1, $2, $3, $4, 'pending', $5, $5, $5, $5, $6, $7, $8";

/// A booking row nobody sends to, quiet at most until `before` (its columns unqualified).
fn forgettable_booking(before: &str) -> String {
    format!("lease_owner IS NULL AND (quiet_until_ms IS NULL OR quiet_until_ms < {before})")
}

/// A booking's delivered watermark, as `delivered_of` reads it.
const DELIVERED_COLUMNS: &str = "delivered_version_ms, delivered_seq, delivered_entry_id";

/// `columns` (comma-separated) each prefixed by `table`.
fn qualified(table: &str, columns: &str) -> String {
    columns
        .split(", ")
        .map(|column| format!("{table}{column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The booking row (columns prefixed by `row`) may be leased by `owner`: nobody holds it, or
/// `owner` does, or its holder's lease ran out before `expired_before`; and it is not quiet at `now`.
fn leasable(row: &str, owner: &str, expired_before: &str, now: &str) -> String {
    format!(
        "({row}lease_owner IS NULL OR {row}lease_owner = {owner} OR {row}lease_until_ms < {expired_before})
         AND ({row}quiet_until_ms IS NULL OR {row}quiet_until_ms <= {now})"
    )
}

/// $1 owner, $2 until, $3 booking, $4 now - quiet period, $5 now.
fn lease_booking(bookings: &str) -> String {
    format!(
        "UPDATE {bookings} SET lease_owner = $1, lease_until_ms = $2
         WHERE booking_id = $3 AND {free}
         RETURNING {DELIVERED_COLUMNS}",
        free = leasable("", "$1", "$4", "$5")
    )
}

/// Pending entries of `booking` older than `newer` (version, seq) become superseded by `by`.
fn supersede_older(
    entries: &str,
    by: &str,
    now: &str,
    booking: &str,
    newer: (&str, &str),
    from: &str,
) -> String {
    let (ms, seq) = newer;
    format!(
        "UPDATE {entries} SET state = 'superseded', superseded_by = {by}, updated_at_ms = {now},
            next_attempt_at_ms = NULL, lease_until_ms = NULL, lease_owner = NULL
         {from}
         WHERE booking_id = {booking} AND state = 'pending'
           AND (version_ms < {ms} OR (version_ms = {ms} AND seq < {seq}))
         RETURNING id"
    )
}

/// Under the booking's lease: the entry is still the newest one that may be sent.
/// Parameters: owner, lease until, entry id, now; `and` adds conditions.
fn lease_entry(entries: &str, [owner, until, id, now]: [&str; 4], and: &str) -> String {
    format!(
        "UPDATE {entries} SET lease_owner = {owner}, lease_until_ms = {until}
         WHERE id = {id} AND state = 'pending' AND (lease_until_ms IS NULL OR lease_until_ms < {now})
           AND NOT EXISTS (SELECT 1 FROM {entries} n WHERE n.booking_id = {entries}.booking_id
             AND n.state IN ('pending', 'dead')
             AND (n.version_ms > {entries}.version_ms
               OR (n.version_ms = {entries}.version_ms AND n.seq > {entries}.seq)))
           {and}
         RETURNING {ENTRY_COLUMNS}"
    )
}

/// The statement with every `$k` written `$(k + by)`, to follow another's parameters.
fn shift_params(sql: &str, by: usize) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        match rest[..digits].parse::<usize>() {
            Ok(k) => out.push_str(&(k + by).to_string()),
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

impl Statements {
    /// The statement of one page and its parameters: only the filters asked for, so each
    /// combination uses its index (the state one, the booking one, or creation order).
    pub fn page(&self, filter: &PageFilter) -> (String, Vec<Param>) {
        let mut params = Vec::new();
        let mut next = |param: Param| {
            params.push(param);
            format!("${}", params.len())
        };
        let mut conditions = Vec::new();
        if let Some(state) = &filter.state {
            conditions.push(format!("state = {}", next(state.as_str().into())));
        }
        match &filter.booking {
            Some(BookingMatch::Exact(id)) => {
                conditions.push(format!("booking_id = {}", next(id.as_str().into())))
            }
            // A range in byte order, which an index serves: every id starting with the prefix
            // sorts between it and it followed by U+10FFFF (the last code point, a noncharacter
            // no booking id has). Not LIKE: SQLite's ignores case, and wildcards need escaping.
            Some(BookingMatch::Prefix(prefix)) => {
                let from = next(prefix.as_str().into());
                let until = next(format!("{prefix}\u{10FFFF}").as_str().into());
                let column = match self.dialect {
                    Dialect::Sqlite => "booking_id",
                    Dialect::Postgres => "booking_id COLLATE \"C\"",
                };
                conditions.push(format!("{column} >= {from} AND {column} < {until}"))
            }
            None => {}
        }
        if let Some((created_at_ms, id)) = &filter.after {
            let created = next((*created_at_ms).into());
            let id = next(id.as_str().into());
            // A row value, which both planners turn into one index range (an OR, PostgreSQL not).
            conditions.push(format!("(created_at_ms, id) < ({created}, {id})"));
        }
        let limit = next(filter.limit.into());
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM {entries} {filter}
             ORDER BY created_at_ms DESC, id DESC LIMIT {limit}",
            entries = self.entries
        );
        (sql, params)
    }
}

/// An entry `e` that a redrive may send now ($1 = now, $2 = now - quiet period).
fn due_condition(entries: &str, bookings: &str) -> String {
    format!(
        "e.state = 'pending' AND e.next_attempt_at_ms <= $1
         AND (e.lease_until_ms IS NULL OR e.lease_until_ms < $1)
         AND NOT EXISTS (SELECT 1 FROM {entries} n WHERE n.booking_id = e.booking_id
            AND n.state IN ('pending', 'dead') AND {NEWER})
         AND EXISTS (SELECT 1 FROM {bookings} b WHERE b.booking_id = e.booking_id
            AND (b.lease_owner IS NULL OR b.lease_until_ms < $2)
            AND (b.quiet_until_ms IS NULL OR b.quiet_until_ms <= $1))"
    )
}
