//! SQL shared by both backends. Parameters are written `$1..$N` in order of first use,
//! which SQLite and PostgreSQL both bind positionally; every number is a BIGINT.

/// The schema version this build writes. Older versions are migrated, newer refused.
pub const SCHEMA_VERSION: i64 = 1;

pub const ENTRY_COLUMNS: &str = "id, booking_id, event, body, state, attempts, schedule_step, \
     not_found_count, created_at_ms, updated_at_ms, schedule_started_at_ms, next_attempt_at_ms, \
     delivered_at_ms, last_status, last_error_kind, last_error, history";

/// What the tables found under a prefix call for.
pub enum SchemaState {
    /// Nothing there yet: create the schema.
    Missing,
    /// Our version table is there: check the version it records.
    Ours,
}

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
    pub fn check_version(&self, version: Result<Option<i64>, String>) -> Result<(), String> {
        match version {
            Err(why) => Err(foreign_table_message(&self.version_table, &format!("cannot be read ({why})"))),
            Ok(None) => Err(foreign_table_message(&self.version_table, "is empty")),
            Ok(Some(v)) if v > SCHEMA_VERSION => Err(format!(
                "the outbox schema is version {v}, newer than this partner-sync understands ({SCHEMA_VERSION}); upgrade @smashcourts/partner-sync"
            )),
            Ok(Some(_)) => Ok(()),
        }
    }

    /// For a probe of the entries table's columns that failed.
    pub fn missing_columns(&self, why: &str) -> String {
        foreign_table_message(
            &self.entries,
            &format!("does not have the columns partner-sync expects ({why})"),
        )
    }

    pub fn read_version(&self) -> String {
        format!(
            "SELECT CAST(MAX(version) AS BIGINT) FROM {}",
            self.version_table
        )
    }
}

/// Statements for one table prefix, built once when the outbox opens.
#[derive(Debug)]
pub struct Statements {
    pub entries: String,
    pub version_table: String,
    pub create: Vec<String>,
    pub insert: String,
    pub finish: String,
    pub claim_due: String,
    pub count_due: String,
    pub list_all: String,
    pub list_by_state: String,
    pub get: String,
    pub retry: String,
    pub purge: String,
    pub probe: String,
}

impl Statements {
    pub fn new(prefix: &str, skip_locked: bool) -> Self {
        let entries = format!("{prefix}entries");
        let version_table = format!("{prefix}schema_version");
        let lock = if skip_locked {
            "FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        Statements {
            create: vec![
                format!(
                    "CREATE TABLE {entries} (
                        id TEXT PRIMARY KEY,
                        booking_id TEXT NOT NULL,
                        event TEXT NOT NULL,
                        body TEXT NOT NULL,
                        state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
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
                        history TEXT NOT NULL DEFAULT '[]'
                    )"
                ),
                format!("CREATE INDEX {entries}_due ON {entries} (state, next_attempt_at_ms)"),
                format!("CREATE INDEX {entries}_booking ON {entries} (booking_id)"),
                format!("CREATE TABLE {version_table} (version BIGINT NOT NULL)"),
                format!("INSERT INTO {version_table} (version) VALUES ({SCHEMA_VERSION})"),
            ],
            insert: format!(
                "INSERT INTO {entries} (id, booking_id, event, body, state, created_at_ms, updated_at_ms,
                    schedule_started_at_ms, next_attempt_at_ms, lease_until_ms, lease_owner)
                 VALUES ($1, $2, $3, $4, 'pending', $5, $5, $5, $5, $6, $7)"
            ),
            // Only the lease holder may finish an entry: a claimer whose lease expired loses.
            finish: format!(
                "UPDATE {entries} SET state = $1, attempts = attempts + $2, schedule_step = $3,
                    not_found_count = $4, next_attempt_at_ms = $5, delivered_at_ms = $6,
                    last_status = $7, last_error_kind = $8, last_error = $9, history = $10,
                    updated_at_ms = $11, lease_until_ms = NULL, lease_owner = NULL
                 WHERE id = $12 AND lease_owner = $13"
            ),
            claim_due: format!(
                "UPDATE {entries} SET lease_until_ms = $1, lease_owner = $2
                 WHERE id IN (
                    SELECT id FROM {entries}
                    WHERE state = 'pending' AND next_attempt_at_ms <= $3
                      AND (lease_until_ms IS NULL OR lease_until_ms < $3)
                    ORDER BY next_attempt_at_ms LIMIT $4 {lock})
                 RETURNING {ENTRY_COLUMNS}"
            ),
            count_due: format!(
                "SELECT COUNT(*) FROM {entries}
                 WHERE state = 'pending' AND next_attempt_at_ms <= $1
                   AND (lease_until_ms IS NULL OR lease_until_ms < $1)"
            ),
            list_all: format!(
                "SELECT {ENTRY_COLUMNS} FROM {entries} ORDER BY created_at_ms DESC, id LIMIT $1"
            ),
            list_by_state: format!(
                "SELECT {ENTRY_COLUMNS} FROM {entries} WHERE state = $1
                 ORDER BY created_at_ms DESC, id LIMIT $2"
            ),
            get: format!("SELECT {ENTRY_COLUMNS} FROM {entries} WHERE id = $1"),
            retry: format!(
                "UPDATE {entries} SET state = 'pending', next_attempt_at_ms = $1, schedule_step = 0,
                    not_found_count = 0, schedule_started_at_ms = $1, updated_at_ms = $1,
                    lease_until_ms = NULL, lease_owner = NULL
                 WHERE id = $2 AND state <> 'delivered'"
            ),
            purge: format!(
                "DELETE FROM {entries} WHERE state = 'delivered' AND delivered_at_ms < $1"
            ),
            probe: format!("SELECT {ENTRY_COLUMNS}, lease_until_ms, lease_owner FROM {entries} LIMIT 0"),
            entries,
            version_table,
        }
    }
}
