//! The settings as JS gives and reads them: the raw values, each setting's declaration, a
//! value's problem (the CLI's checks), and the constants the JS layer shows.

use napi::bindgen_prelude::Either;
use napi_derive::napi;

use crate::config::{self, problem_with};
use crate::settings::{self, ALL};

/// The partner's production endpoint, used when `SMASHPARTNER_SYNC_URL` is unset.
#[napi]
pub const DEFAULT_URL: &str = settings::DEFAULT_URL;

/// What the outbox operations say when no outbox is configured.
#[napi]
pub const NO_OUTBOX_MESSAGE: &str = settings::NO_OUTBOX_MESSAGE;

/// The settings, exactly as found in `process.env` or the client options: each field is the
/// setting of the same name in `settingsSchema()` (a test checks that its doc names the same
/// variable and default). Numbers may be numbers (options) or text (environment variables).
/// Unset fields take their defaults; unparsable ones fall back with a warning.
#[napi(object)]
#[derive(Default)]
pub struct RawSettings {
    /// `SMASHPARTNER_SYNC_URL`; default `https://smashpartner.online/api/webhooks/pwa-sync`.
    pub url: Option<String>,
    /// `PWA_WEBHOOK_SECRET`; required to send. Never logged.
    pub secret: Option<String>,
    /// `PARTNER_SYNC_MAX_ATTEMPTS`; default 5, the first attempt included.
    pub max_attempts: Option<Either<f64, String>>,
    /// `PARTNER_SYNC_ATTEMPT_TIMEOUT_MS`; default 5000.
    pub attempt_timeout_ms: Option<Either<f64, String>>,
    /// `PARTNER_SYNC_DEADLINE_MS`; default 10000, the bound on all in-request attempts.
    pub deadline_ms: Option<Either<f64, String>>,
    /// `PARTNER_SYNC_BACKOFF_BASE_MS`; default 250.
    pub backoff_base_ms: Option<Either<f64, String>>,
    /// `PARTNER_SYNC_BACKOFF_MAX_MS`; default 4000.
    pub backoff_max_ms: Option<Either<f64, String>>,
    /// `PARTNER_SYNC_QUIET_PERIOD`; default `5m`. After an attempt that got no answer (a timeout,
    /// a connection lost after sending), nothing more of that booking is sent for this long: the
    /// partner may still be processing it, and two requests of one booking at once count its
    /// payment twice there.
    pub quiet_period: Option<String>,
    /// `PARTNER_SYNC_OUTBOX`: `sqlite:<path>` or `postgres://...`; unset, no outbox.
    pub outbox: Option<String>,
    /// `PARTNER_SYNC_OUTBOX_TIMEOUT_MS`; default 3000, and at most 30% of the deadline: the bound on
    /// each of a sync's two outbox steps.
    pub outbox_timeout_ms: Option<Either<f64, String>>,
    /// `PARTNER_SYNC_OUTBOX_SCHEDULE`; default `1m,5m,30m,2h,6h,12h`, the last one repeats.
    pub outbox_schedule: Option<String>,
    /// `PARTNER_SYNC_OUTBOX_MAX_AGE`; default `3d`.
    pub outbox_max_age: Option<String>,
    /// `PARTNER_SYNC_OUTBOX_TABLE_PREFIX`; default `partner_sync_`.
    pub outbox_table_prefix: Option<String>,
    /// `PARTNER_SYNC_OUTBOX_RETENTION`; default `30d`. Delivered and superseded entries (which hold
    /// the body, with the customer's name and phone) older than this are deleted by redrives and
    /// the worker, in small batches; `'0'` keeps everything. Dead entries are kept until a person acts.
    pub outbox_retention: Option<String>,
}

impl From<RawSettings> for config::RawSettings {
    fn from(raw: RawSettings) -> Self {
        // A number is read as its text: 2.5, -3 and NaN fail as "2.5", "-3" and "NaN" would.
        let text = |value: Option<Either<f64, String>>| {
            value.map(|value| match value {
                Either::A(number) => number.to_string(),
                Either::B(text) => text,
            })
        };
        config::RawSettings::new([
            (&settings::URL, raw.url),
            (&settings::SECRET, raw.secret),
            (&settings::MAX_ATTEMPTS, text(raw.max_attempts)),
            (&settings::ATTEMPT_TIMEOUT_MS, text(raw.attempt_timeout_ms)),
            (&settings::DEADLINE_MS, text(raw.deadline_ms)),
            (&settings::BACKOFF_BASE_MS, text(raw.backoff_base_ms)),
            (&settings::BACKOFF_MAX_MS, text(raw.backoff_max_ms)),
            (&settings::QUIET_PERIOD, raw.quiet_period),
            (&settings::OUTBOX, raw.outbox),
            (&settings::OUTBOX_TIMEOUT_MS, text(raw.outbox_timeout_ms)),
            (&settings::OUTBOX_SCHEDULE, raw.outbox_schedule),
            (&settings::OUTBOX_MAX_AGE, raw.outbox_max_age),
            (&settings::OUTBOX_TABLE_PREFIX, raw.outbox_table_prefix),
            (&settings::OUTBOX_RETENTION, raw.outbox_retention),
        ])
    }
}

/// One setting as the JS layer, the CLI and the README generator see it.
#[napi(object)]
pub struct SettingInfo {
    /// The `createPartnerSync` option.
    pub option: String,
    /// The environment variable read when the option is absent.
    pub env: String,
    /// `url`, `secret`, `count`, `millis` (numbers: these may be given as numbers), `duration`,
    /// `durations`, `retention`, `location` or `tablePrefix`.
    pub kind: String,
    pub default: Option<String>,
    /// The smallest and largest values of a numeric setting.
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// `connection`, `retry`, `outbox` or `outboxDelivery`: which CLI commands take it.
    pub group: String,
    pub placeholder: String,
    pub summary: String,
    pub details: String,
}

/// Every setting the library reads, declared once in Rust.
#[napi]
pub fn settings_schema() -> Vec<SettingInfo> {
    ALL.iter()
        .map(|setting| {
            let range = setting.kind.range();
            SettingInfo {
                option: setting.option.to_string(),
                env: setting.env.to_string(),
                kind: setting.kind.as_str().to_string(),
                default: setting.default.map(str::to_string),
                min: range.map(|(min, _)| min as f64),
                max: range.map(|(_, max)| max as f64),
                group: setting.group.as_str().to_string(),
                placeholder: setting.placeholder.to_string(),
                summary: setting.summary.to_string(),
                details: setting.details.to_string(),
            }
        })
        .collect()
}

/// Why `value` is not a valid value of the setting named `option`, in the words of the warning
/// the library would log; null when it is valid. The CLI refuses what the library would ignore.
#[napi]
pub fn setting_problem(option: String, value: String) -> napi::Result<Option<String>> {
    let setting = ALL
        .iter()
        .find(|setting| setting.option == option)
        .ok_or_else(|| napi::Error::from_reason(format!("there is no setting named {option:?}")))?;
    Ok(problem_with(setting, &value))
}
