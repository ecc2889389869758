//! Every setting, declared once: its option and environment names, its default, its range and
//! what it means. The resolver (`config.rs`), the JS layer's environment reading, the CLI's
//! flags and checks, and the README's table all come from these declarations.

/// The partner's production endpoint, used when `SMASHPARTNER_SYNC_URL` is unset.
pub const DEFAULT_URL: &str = "https://smashpartner.online/api/webhooks/pwa-sync";

/// What the outbox operations say when no outbox is configured.
pub const NO_OUTBOX_MESSAGE: &str =
    "No outbox is configured: set PARTNER_SYNC_OUTBOX to sqlite:<path> or \
     postgres://... (or the outbox option) to keep undelivered syncs";

/// Millisecond settings go up to a day: more would outlive any request or redrive.
const DAY_MS: u64 = 24 * 3_600_000;

/// How a setting's text is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Url,
    Secret,
    /// A whole number in a range.
    Count {
        min: u64,
        max: u64,
    },
    /// Whole milliseconds from `min` up to a day.
    Millis {
        min: u64,
    },
    /// `500ms`, `30s`, `5m`, `2h`, `3d`.
    Duration,
    /// Durations separated by commas.
    Durations,
    /// A duration, or `0` for "forever".
    Retention,
    /// `sqlite:<path>` or `postgres://...`, checked when the outbox opens.
    Location,
    /// Lowercase letters, digits and underscores, at most 40.
    TablePrefix,
}

/// Which commands of the CLI take a setting as a flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Connection,
    Retry,
    Outbox,
    OutboxDelivery,
}

impl Group {
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Connection => "connection",
            Group::Retry => "retry",
            Group::Outbox => "outbox",
            Group::OutboxDelivery => "outboxDelivery",
        }
    }
}

pub struct Setting {
    /// The `createPartnerSync` option, and (in kebab case) the CLI flag.
    pub option: &'static str,
    pub env: &'static str,
    pub kind: Kind,
    /// `None`: unset means "none" (no secret, no outbox).
    pub default: Option<&'static str>,
    pub group: Group,
    /// What the CLI's flag takes, as `<ms>`.
    pub placeholder: &'static str,
    /// One line, for the CLI's help.
    pub summary: &'static str,
    /// The README's explanation, when the summary is not all there is to say.
    pub details: &'static str,
}

pub const URL: Setting = Setting {
    option: "url",
    env: "SMASHPARTNER_SYNC_URL",
    kind: Kind::Url,
    default: Some(DEFAULT_URL),
    group: Group::Connection,
    placeholder: "url",
    summary: "the partner's endpoint",
    details: "A query string is kept. `http://` only for local partners: to any other host it is used, with one warning.",
};
pub const SECRET: Setting = Setting {
    option: "secret",
    env: "PWA_WEBHOOK_SECRET",
    kind: Kind::Secret,
    default: None,
    group: Group::Connection,
    placeholder: "secret",
    summary: "the shared HMAC secret, exactly as smashpartner.online has it; required to send; \
              prefer the variable to the flag, which shows up in ps and shell history",
    details: "Never logged.",
};
pub const MAX_ATTEMPTS: Setting = Setting {
    option: "maxAttempts",
    env: "PARTNER_SYNC_MAX_ATTEMPTS",
    kind: Kind::Count { min: 1, max: 100 },
    default: Some("5"),
    group: Group::Retry,
    placeholder: "n",
    summary: "attempts in the request, the first included",
    details: "",
};
pub const ATTEMPT_TIMEOUT_MS: Setting = Setting {
    option: "attemptTimeoutMs",
    env: "PARTNER_SYNC_ATTEMPT_TIMEOUT_MS",
    kind: Kind::Millis { min: 1 },
    default: Some("5000"),
    group: Group::Retry,
    placeholder: "ms",
    summary: "bound on one attempt: connect, send, read the answer",
    details: "",
};
pub const DEADLINE_MS: Setting = Setting {
    option: "deadlineMs",
    env: "PARTNER_SYNC_DEADLINE_MS",
    kind: Kind::Millis { min: 1 },
    default: Some("10000"),
    group: Group::Retry,
    placeholder: "ms",
    summary: "bound on all attempts of one call, waits included",
    details: "Xendit waits at most 30 s for the webhook handler: keep the sync well inside that.",
};
pub const BACKOFF_BASE_MS: Setting = Setting {
    option: "backoffBaseMs",
    env: "PARTNER_SYNC_BACKOFF_BASE_MS",
    kind: Kind::Millis { min: 0 },
    default: Some("250"),
    group: Group::Retry,
    placeholder: "ms",
    summary: "first backoff ceiling; doubles per retry",
    details: "",
};
pub const BACKOFF_MAX_MS: Setting = Setting {
    option: "backoffMaxMs",
    env: "PARTNER_SYNC_BACKOFF_MAX_MS",
    kind: Kind::Millis { min: 0 },
    default: Some("4000"),
    group: Group::Retry,
    placeholder: "ms",
    summary: "largest backoff ceiling",
    details: "",
};
pub const QUIET_PERIOD: Setting = Setting {
    option: "quietPeriod",
    env: "PARTNER_SYNC_QUIET_PERIOD",
    kind: Kind::Duration,
    // Vercel's maximum function duration, which is where the partner runs: a request that got
    // no answer may still be running there until then.
    default: Some("5m"),
    group: Group::Retry,
    placeholder: "duration",
    summary: "after an attempt that got no answer, nothing more of that booking is sent for this long",
    details: "A timeout, or a connection lost after sending: the partner may still be processing it, and two \
              requests of one booking at once count its payment twice there. Default: Vercel's maximum function \
              duration, where the partner runs. See [Ordering](ordering.md).",
};
pub const OUTBOX: Setting = Setting {
    option: "outbox",
    env: "PARTNER_SYNC_OUTBOX",
    kind: Kind::Location,
    default: None,
    group: Group::Outbox,
    placeholder: "location",
    summary: "the outbox: sqlite:<path> or postgres://user:pass@host/db; unset, no outbox",
    details: "`outbox: false` turns it off. A relative SQLite path is relative to the process's working directory \
              when the outbox is first opened; an empty path, `:memory:`, a `file:` URI or a directory is refused \
              (SQLite would keep the entries in a database that vanishes).",
};
pub const OUTBOX_TABLE_PREFIX: Setting = Setting {
    option: "outboxTablePrefix",
    env: "PARTNER_SYNC_OUTBOX_TABLE_PREFIX",
    kind: Kind::TablePrefix,
    default: Some("partner_sync_"),
    group: Group::Outbox,
    placeholder: "prefix",
    summary: "prefix of the outbox's tables: lowercase letters, digits and underscores, at most 40",
    details: "A bad one is refused, not replaced by the default: the sync is delivered live without the outbox and \
              the log says why, so that no entry lands in other tables than those redrives and the outbox page read.",
};
pub const OUTBOX_TIMEOUT_MS: Setting = Setting {
    option: "outboxTimeoutMs",
    env: "PARTNER_SYNC_OUTBOX_TIMEOUT_MS",
    kind: Kind::Millis { min: 1 },
    default: Some("3000"),
    group: Group::Outbox,
    placeholder: "ms",
    summary: "bound on each of a sync's two outbox steps (the write-ahead, the settle), within the deadline",
    details: "The deadline bounds the whole call, outbox included. Each step also takes at most 30% of \
              `PARTNER_SYNC_DEADLINE_MS`, so delivery always keeps at least 40% of it: with the default 10 s \
              deadline, up to 3 s to open the outbox and write the entry ahead (a cold start far from the database \
              included), at least 4 s for the partner, and 3 s kept back to settle. A step that runs out is not \
              waited for: a write-ahead that timed out may still appear in the outbox later (it is then redriven, \
              and the partner may see the booking twice, one request after the other).",
};
pub const OUTBOX_SCHEDULE: Setting = Setting {
    option: "outboxSchedule",
    env: "PARTNER_SYNC_OUTBOX_SCHEDULE",
    kind: Kind::Durations,
    default: Some("1m,5m,30m,2h,6h,12h"),
    group: Group::OutboxDelivery,
    placeholder: "durations",
    summary: "waits between outbox attempts; the last one repeats",
    details: "Units `ms s m h d`.",
};
pub const OUTBOX_MAX_AGE: Setting = Setting {
    option: "outboxMaxAge",
    env: "PARTNER_SYNC_OUTBOX_MAX_AGE",
    kind: Kind::Duration,
    default: Some("3d"),
    group: Group::OutboxDelivery,
    placeholder: "duration",
    summary: "after this, an undelivered entry goes dead",
    details: "",
};
pub const OUTBOX_RETENTION: Setting = Setting {
    option: "outboxRetention",
    env: "PARTNER_SYNC_OUTBOX_RETENTION",
    kind: Kind::Retention,
    // Personal data (customer name and phone) should not outlive its use (UU PDP, GDPR).
    default: Some("30d"),
    group: Group::OutboxDelivery,
    placeholder: "duration",
    summary: "delivered and superseded entries older than this are deleted by redrives; 0 keeps everything",
    details: "500 at a time and at most 2,000 per run, so a redrive never stalls on a large delete. Entries hold \
              the body, with the customer's name and phone: Indonesia's UU PDP (2022), like the GDPR, expects \
              personal data not to be kept longer than needed. **Dead entries are kept** until a person retries \
              or purges them.",
};

/// In the order the README and the CLI's help list them.
pub const ALL: [&Setting; 14] = [
    &SECRET,
    &URL,
    &MAX_ATTEMPTS,
    &ATTEMPT_TIMEOUT_MS,
    &DEADLINE_MS,
    &BACKOFF_BASE_MS,
    &BACKOFF_MAX_MS,
    &QUIET_PERIOD,
    &OUTBOX,
    &OUTBOX_TIMEOUT_MS,
    &OUTBOX_SCHEDULE,
    &OUTBOX_MAX_AGE,
    &OUTBOX_TABLE_PREFIX,
    &OUTBOX_RETENTION,
];

impl Kind {
    /// The range of a numeric setting.
    pub fn range(self) -> Option<(u64, u64)> {
        match self {
            Kind::Count { min, max } => Some((min, max)),
            Kind::Millis { min } => Some((min, DAY_MS)),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Url => "url",
            Kind::Secret => "secret",
            Kind::Count { .. } => "count",
            Kind::Millis { .. } => "millis",
            Kind::Duration => "duration",
            Kind::Durations => "durations",
            Kind::Retention => "retention",
            Kind::Location => "location",
            Kind::TablePrefix => "tablePrefix",
        }
    }
}
