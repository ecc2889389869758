//! The outbox's tables: creating them, migrating older versions, and refusing tables that
//! are not ours. Each backend runs these statements its own way (see `prepare_schema`).

use super::{Dialect, Statements};

/// The schema version this build writes. Older versions are migrated, newer refused.
pub const SCHEMA_VERSION: i64 = 2;

/// What the tables found under a prefix call for.
pub enum SchemaState {
    /// Nothing there yet: create the schema.
    Missing,
    /// Our version table is there: check the version it records.
    Ours,
}

/// The statements that create, migrate and complete the schema under one prefix.
pub struct Schema {
    pub create: Vec<String>,
    pub migrate_from_v1: Vec<String>,
    /// Indexes of the operator's queries, created when missing at every open (older outboxes).
    pub ensure_indexes: Vec<String>,
    /// The names of `ensure_indexes`, which `current_check` looks for.
    pub index_names: Vec<String>,
}

/// The entries table as this version creates it; `name` may be a temporary name (migration).
fn entries_table(name: &str) -> String {
    format!(
        "CREATE TABLE {name} (
            id TEXT PRIMARY KEY,
            booking_id TEXT NOT NULL,
            event TEXT NOT NULL,
            body TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead', 'superseded')),
            attempts BIGINT NOT NULL DEFAULT 0,
            schedule_step BIGINT NOT NULL DEFAULT 0,
            not_found_count BIGINT NOT NULL DEFAULT 0,
            created_at_ms BIGINT NOT NULL,
            updated_at_ms BIGINT NOT NULL,
            schedule_started_at_ms BIGINT NOT NULL,
            next_attempt_at_ms BIGINT,
            delivered_at_ms BIGINT,
            lease_until_ms BIGINT,
            lease_owner TEXT,
            last_status BIGINT,
            last_error_kind TEXT,
            last_error TEXT,
            history TEXT NOT NULL DEFAULT '[]',
            version_ms BIGINT NOT NULL DEFAULT 0,
            seq BIGINT NOT NULL DEFAULT 0,
            superseded_by TEXT
        )"
    )
}

/// Columns of version 1, the ones a migration copies.
const V1_COLUMNS: &str = "id, booking_id, event, body, state, attempts, schedule_step, \
     not_found_count, created_at_ms, updated_at_ms, schedule_started_at_ms, next_attempt_at_ms, \
     delivered_at_ms, lease_until_ms, lease_owner, last_status, last_error_kind, last_error, history";

/// Message for a table that exists but is not ours (or not as we left it).
pub fn foreign_table_message(table: &str, why: &str) -> String {
    format!(
        "the outbox table {table} exists but {why}; it was left untouched. \
         Point PARTNER_SYNC_OUTBOX elsewhere or set PARTNER_SYNC_OUTBOX_TABLE_PREFIX to a free prefix"
    )
}

impl Statements {
    /// Decides from which tables exist; an entries table without our version table is foreign.
    pub fn schema_state(
        &self,
        has_version: bool,
        has_entries: bool,
    ) -> Result<SchemaState, String> {
        match (has_version, has_entries) {
            (false, false) => Ok(SchemaState::Missing),
            (false, true) => Err(foreign_table_message(
                &self.entries,
                &format!(
                    "has no {} table beside it, so partner-sync did not create it",
                    self.version_table
                ),
            )),
            (true, _) => Ok(SchemaState::Ours),
        }
    }

    /// Checks `MAX(version)` of the version table, or the error reading it.
    /// Checks `MAX(version)` of the version table; returns the migrations it calls for.
    pub fn check_version(
        &self,
        version: Result<Option<i64>, String>,
    ) -> Result<Vec<String>, String> {
        match version {
            Err(why) => Err(foreign_table_message(&self.version_table, &format!("cannot be read ({why})"))),
            Ok(None) => Err(foreign_table_message(&self.version_table, "is empty")),
            Ok(Some(v)) if v > SCHEMA_VERSION => Err(format!(
                "the outbox schema is version {v}, newer than this partner-sync understands ({SCHEMA_VERSION}); upgrade @smashcourts/partner-sync"
            )),
            Ok(Some(1)) => Ok(self.migrate_from_v1.clone()),
            Ok(Some(_)) => Ok(Vec::new()),
        }
    }

    /// For a probe of the entries table's columns that failed.
    pub fn missing_columns(&self, why: &str) -> String {
        foreign_table_message(
            &self.entries,
            &format!("does not have the columns partner-sync expects ({why})"),
        )
    }

    /// One statement, true when the schema is this version's with every column and index it
    /// needs (PostgreSQL): a fresh process checks that, and nothing more, before its first
    /// write. It fails when a table is missing; then the whole check runs, under its lock.
    pub fn current_check(&self) -> String {
        let indexes: Vec<String> = self
            .index_names
            .iter()
            .map(|name| format!("AND to_regclass('{name}') IS NOT NULL"))
            .collect();
        format!(
            "SELECT COALESCE((SELECT MAX(version) FROM {version}) = {SCHEMA_VERSION}, false)
                AND (SELECT COUNT(*) FROM ({probe}) p) = 0 {indexes}",
            version = self.version_table,
            probe = self.probe,
            indexes = indexes.join(" "),
        )
    }

    pub fn read_version(&self) -> String {
        format!(
            "SELECT CAST(MAX(version) AS BIGINT) FROM {}",
            self.version_table
        )
    }
}

/// The schema's statements for these table names.
pub fn schema(entries: &str, bookings: &str, version_table: &str, dialect: Dialect) -> Schema {
    let indexes = [
        format!("CREATE INDEX {entries}_due ON {entries} (state, next_attempt_at_ms)"),
        format!("CREATE INDEX {entries}_booking ON {entries} (booking_id, version_ms, seq)"),
    ];
    let bookings_table = format!(
        "CREATE TABLE {bookings} (
                booking_id TEXT PRIMARY KEY,
                last_seq BIGINT NOT NULL DEFAULT 0,
                lease_owner TEXT,
                lease_until_ms BIGINT,
                quiet_until_ms BIGINT,
                delivered_version_ms BIGINT,
                delivered_seq BIGINT,
                delivered_entry_id TEXT
            )"
    );
    // Newest first, all or in one state; the last 24 hours by update time (covering the
    // chart's query: it never reads the table). Their names, then their columns.
    let mut extra_indexes = vec![
        (format!("{entries}_created"), "(created_at_ms, id)"),
        (
            format!("{entries}_state_created"),
            "(state, created_at_ms, id)",
        ),
        (
            format!("{entries}_recent"),
            "(updated_at_ms, state, delivered_at_ms, last_error_kind)",
        ),
    ];
    // Booking id prefixes in byte order; SQLite's booking index already compares bytes.
    if dialect == Dialect::Postgres {
        extra_indexes.push((
            format!("{entries}_booking_bytes"),
            "(booking_id COLLATE \"C\")",
        ));
    }
    let ensure_indexes = extra_indexes
        .iter()
        .map(|(name, columns)| format!("CREATE INDEX IF NOT EXISTS {name} ON {entries} {columns}"))
        .collect();
    let index_names = extra_indexes.into_iter().map(|(name, _)| name).collect();
    let mut create = vec![entries_table(entries)];
    create.extend(indexes.iter().cloned());
    create.push(bookings_table.clone());
    create.push(format!(
        "CREATE TABLE {version_table} (version BIGINT NOT NULL)"
    ));
    create.push(format!(
        "INSERT INTO {version_table} (version) VALUES ({SCHEMA_VERSION})"
    ));

    // Version 1 had no order within a booking, no bookings table and no superseded state.
    let mut migrate_from_v1 = match dialect {
        // SQLite cannot change a CHECK constraint: rebuild the table.
        Dialect::Sqlite => vec![
            format!("DROP INDEX {entries}_due"),
            format!("DROP INDEX {entries}_booking"),
            format!("ALTER TABLE {entries} RENAME TO {entries}_v1"),
            entries_table(entries),
            format!("INSERT INTO {entries} ({V1_COLUMNS}) SELECT {V1_COLUMNS} FROM {entries}_v1"),
            format!("DROP TABLE {entries}_v1"),
        ],
        Dialect::Postgres => vec![
            format!(
                "ALTER TABLE {entries} ADD COLUMN version_ms BIGINT NOT NULL DEFAULT 0,
                        ADD COLUMN seq BIGINT NOT NULL DEFAULT 0, ADD COLUMN superseded_by TEXT"
            ),
            format!("ALTER TABLE {entries} DROP CONSTRAINT IF EXISTS {entries}_state_check"),
            format!(
                "ALTER TABLE {entries} ADD CONSTRAINT {entries}_state_check
                        CHECK (state IN ('pending', 'delivered', 'dead', 'superseded'))"
            ),
            format!("DROP INDEX {entries}_booking"),
            indexes[1].clone(),
        ],
    };
    if dialect == Dialect::Sqlite {
        migrate_from_v1.extend(indexes.iter().cloned());
    }
    migrate_from_v1.extend([
            // Version 1 bodies are ordered by when they were written.
            format!("UPDATE {entries} SET version_ms = created_at_ms"),
            format!(
                "UPDATE {entries} SET seq = (SELECT COUNT(*) FROM {entries} o
                    WHERE o.booking_id = {entries}.booking_id AND (o.created_at_ms < {entries}.created_at_ms
                      OR (o.created_at_ms = {entries}.created_at_ms AND o.id <= {entries}.id)))"
            ),
            bookings_table,
            format!(
                "INSERT INTO {bookings} (booking_id, last_seq)
                 SELECT booking_id, MAX(seq) FROM {entries} GROUP BY booking_id"
            ),
            format!(
                "UPDATE {bookings} SET delivered_entry_id = (SELECT id FROM {entries} e
                    WHERE e.booking_id = {bookings}.booking_id AND e.state = 'delivered'
                    ORDER BY e.version_ms DESC, e.seq DESC LIMIT 1)"
            ),
            format!(
                "UPDATE {bookings} SET
                    delivered_version_ms = (SELECT version_ms FROM {entries} WHERE id = delivered_entry_id),
                    delivered_seq = (SELECT seq FROM {entries} WHERE id = delivered_entry_id)"
            ),
            // What an older schema would still send after a newer body was accepted.
            format!(
                "UPDATE {entries} SET state = 'superseded', next_attempt_at_ms = NULL,
                    superseded_by = (SELECT delivered_entry_id FROM {bookings} b WHERE b.booking_id = {entries}.booking_id)
                 WHERE state = 'pending' AND EXISTS (SELECT 1 FROM {bookings} b
                    WHERE b.booking_id = {entries}.booking_id AND (b.delivered_version_ms > {entries}.version_ms
                      OR (b.delivered_version_ms = {entries}.version_ms AND b.delivered_seq > {entries}.seq)))"
            ),
            format!("INSERT INTO {version_table} (version) VALUES ({SCHEMA_VERSION})"),
        ]);
    Schema {
        create,
        migrate_from_v1,
        ensure_indexes,
        index_names,
    }
}
