//! Settings: what the JS side read from `process.env` or the client options, parsed here
//! once so the library, the CLI and the outbox agree on every default and every unit.

use std::time::Duration;

use napi_derive::napi;

use crate::errors::SyncError;

/// The partner's production endpoint, used when `SMASHPARTNER_SYNC_URL` is unset.
#[napi]
pub const DEFAULT_URL: &str = "https://smashpartner.online/api/webhooks/pwa-sync";
pub const DEFAULT_TABLE_PREFIX: &str = "partner_sync_";
const DEFAULT_SCHEDULE: &str = "1m,5m,30m,2h,6h,12h";
const DEFAULT_MAX_AGE: &str = "3d";
/// Personal data (customer name and phone) should not outlive its use (UU PDP, GDPR).
const DEFAULT_RETENTION: &str = "30d";
/// Vercel's default maximum function duration (300 s), which is where the partner runs:
/// a request that got no answer may still be running there until then.
const DEFAULT_QUIET_PERIOD: &str = "5m";

/// Raw settings as strings, exactly as found in `process.env` or the client options.
/// Unset fields take their defaults; unparsable ones fall back with a warning.
#[napi(object)]
#[derive(Clone, Debug, Default)]
pub struct RawSettings {
    /// `SMASHPARTNER_SYNC_URL`, default the partner's production endpoint.
    pub url: Option<String>,
    /// `PWA_WEBHOOK_SECRET`, the shared HMAC secret. Required to send.
    pub secret: Option<String>,
    /// `PARTNER_SYNC_MAX_ATTEMPTS`, default 5 (first attempt included).
    pub max_attempts: Option<String>,
    /// `PARTNER_SYNC_ATTEMPT_TIMEOUT_MS`, default 5000.
    pub attempt_timeout_ms: Option<String>,
    /// `PARTNER_SYNC_DEADLINE_MS`, default 10000: the bound on all in-request attempts.
    pub deadline_ms: Option<String>,
    /// `PARTNER_SYNC_BACKOFF_BASE_MS`, default 250.
    pub backoff_base_ms: Option<String>,
    /// `PARTNER_SYNC_BACKOFF_MAX_MS`, default 4000.
    pub backoff_max_ms: Option<String>,
    /// `PARTNER_SYNC_QUIET_PERIOD`, default `5m`: after an attempt that got no answer (a
    /// timeout, a connection lost after sending), nothing more of that booking is sent for
    /// this long, since the partner may still be processing it.
    pub quiet_period: Option<String>,
    /// `PARTNER_SYNC_OUTBOX`: `sqlite:<path>` or `postgres://...`. Unset means no outbox.
    pub outbox: Option<String>,
    /// `PARTNER_SYNC_OUTBOX_SCHEDULE`, default `1m,5m,30m,2h,6h,12h` (the last one repeats).
    pub outbox_schedule: Option<String>,
    /// `PARTNER_SYNC_OUTBOX_MAX_AGE`, default `3d`: after that a pending entry goes dead.
    pub outbox_max_age: Option<String>,
    /// `PARTNER_SYNC_OUTBOX_TABLE_PREFIX`, default `partner_sync_`.
    pub outbox_table_prefix: Option<String>,
    /// `PARTNER_SYNC_OUTBOX_RETENTION`, default `30d`: delivered and superseded entries older than
    /// this are deleted by redrives (and the worker); `0` keeps everything.
    pub outbox_retention: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub attempt_timeout: Duration,
    pub deadline: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OutboxSettings {
    /// The location as given; opening it may still fail, which must not stop live delivery.
    pub location: String,
    pub schedule: Vec<Duration>,
    pub max_age: Duration,
    pub table_prefix: String,
    /// `None`: keep delivered and superseded entries forever.
    pub retention: Option<Duration>,
}

#[derive(Clone, Debug)]
pub struct Settings {
    /// Checked when sending, so a bad URL still lets the outbox keep the sync.
    pub url: Result<reqwest::Url, SyncError>,
    /// `None` when unset or empty: nothing may be sent then.
    pub secret: Option<String>,
    pub retry: RetryPolicy,
    /// How long a booking stays untouched after an attempt that got no answer.
    pub quiet_period: Duration,
    pub outbox: Option<OutboxSettings>,
}

impl Settings {
    pub fn require_url(&self) -> Result<&reqwest::Url, SyncError> {
        self.url.as_ref().map_err(Clone::clone)
    }

    pub fn require_secret(&self) -> Result<&str, SyncError> {
        self.secret.as_deref().ok_or_else(|| {
            SyncError::config(
                "PWA_WEBHOOK_SECRET is not set: set it (or the `secret` option) to the shared secret \
                 the partner gave you, exactly as smashpartner.online has it; nothing was sent",
            )
        })
    }
}

/// One knob: its env name, its option name, and how to read it.
struct Knob<'a> {
    env: &'a str,
    option: &'a str,
    value: Option<&'a str>,
}

impl Knob<'_> {
    fn fallback<T: std::fmt::Display>(
        &self,
        default: T,
        why: &str,
        warnings: &mut Vec<String>,
    ) -> T {
        warnings.push(format!(
            "{} / {} = {:?} {why}; using the default {default}",
            self.env,
            self.option,
            self.value.unwrap_or_default()
        ));
        default
    }

    fn whole_number(&self, default: u64, min: u64, max: u64, warnings: &mut Vec<String>) -> u64 {
        match self.value.map(str::trim).filter(|v| !v.is_empty()) {
            None => default,
            Some(text) => match text.parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => n,
                _ => self.fallback(
                    default,
                    &format!("is not a whole number from {min} to {max}"),
                    warnings,
                ),
            },
        }
    }

    /// Milliseconds from `min` (0 for waits, 1 for bounds) up to a day.
    fn millis(&self, default: u64, min: u64, warnings: &mut Vec<String>) -> Duration {
        Duration::from_millis(self.whole_number(default, min, 24 * 3_600_000, warnings))
    }

    /// A value parsed by `parse`, or `default` (parsed the same way) when unset or unparsable.
    fn parsed<T>(
        &self,
        default: &str,
        parse: fn(&str) -> Result<T, String>,
        warnings: &mut Vec<String>,
    ) -> T {
        let given = self.value.filter(|v| !v.trim().is_empty()).map(parse);
        match given {
            Some(Ok(value)) => value,
            Some(Err(why)) => {
                self.fallback(default, &why, warnings);
                parse(default).expect("defaults parse")
            }
            None => parse(default).expect("defaults parse"),
        }
    }
}

/// Parses `500ms`, `30s`, `5m`, `2h`, `3d` (humantime's syntax; a unit is required).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        format!(
            "{:?} is not a duration such as 500ms, 30s, 5m, 2h or 3d ({e})",
            text.trim()
        )
    })
}

/// A retention: a duration, or `0` to keep everything.
fn parse_retention(text: &str) -> Result<Option<Duration>, String> {
    if text.trim() == "0" {
        return Ok(None);
    }
    parse_duration(text).map(Some)
}

/// Parses a comma-separated list of durations, such as `1m,5m,30m,2h`.
pub fn parse_schedule(text: &str) -> Result<Vec<Duration>, String> {
    text.split(',').map(parse_duration).collect()
}

fn table_prefix(value: Option<&str>, warnings: &mut Vec<String>) -> String {
    let Some(prefix) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return DEFAULT_TABLE_PREFIX.to_string();
    };
    let safe = prefix.len() <= 40
        && prefix.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if safe {
        prefix.to_string()
    } else {
        warnings.push(format!(
            "PARTNER_SYNC_OUTBOX_TABLE_PREFIX / outboxTablePrefix = {prefix:?} must be lowercase letters, \
             digits and underscores (at most 40); using the default {DEFAULT_TABLE_PREFIX}"
        ));
        DEFAULT_TABLE_PREFIX.to_string()
    }
}

fn parse_url(value: Option<&str>) -> Result<reqwest::Url, SyncError> {
    let text = value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .unwrap_or(DEFAULT_URL);
    let url = reqwest::Url::parse(text).map_err(|e| {
        SyncError::config(format!(
            "SMASHPARTNER_SYNC_URL is not a valid URL ({e}): set it to the partner endpoint, \
             such as {DEFAULT_URL}; nothing was sent"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(SyncError::config(format!(
            "SMASHPARTNER_SYNC_URL must start with https:// (or http:// for a local partner), \
             not {}:; nothing was sent",
            url.scheme()
        )));
    }
    Ok(url)
}

/// Loopback, private networks and `localhost`: where a plain-http partner is a local one.
fn is_local_host(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    match host
        .trim_matches(|c| c == '[' || c == ']')
        .parse::<std::net::IpAddr>()
    {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private() || ip.is_link_local(),
        Ok(std::net::IpAddr::V6(ip)) => ip.is_loopback() || (ip.segments()[0] & 0xfe00) == 0xfc00,
        Err(_) => host == "localhost" || host.ends_with(".localhost"),
    }
}

/// Turns raw strings into settings. Never fails: a bad URL or a missing secret is reported
/// when sending; every other bad value falls back to its default with a warning to log.
pub fn resolve(raw: &RawSettings) -> (Settings, Vec<String>) {
    let mut warnings = Vec::new();
    fn knob<'a>(env: &'a str, option: &'a str, value: &'a Option<String>) -> Knob<'a> {
        Knob {
            env,
            option,
            value: value.as_deref(),
        }
    }
    let max_attempts = knob(
        "PARTNER_SYNC_MAX_ATTEMPTS",
        "maxAttempts",
        &raw.max_attempts,
    )
    .whole_number(5, 1, 100, &mut warnings) as u32;
    let retry = RetryPolicy {
        max_attempts,
        attempt_timeout: knob(
            "PARTNER_SYNC_ATTEMPT_TIMEOUT_MS",
            "attemptTimeoutMs",
            &raw.attempt_timeout_ms,
        )
        .millis(5_000, 1, &mut warnings),
        deadline: knob("PARTNER_SYNC_DEADLINE_MS", "deadlineMs", &raw.deadline_ms).millis(
            10_000,
            1,
            &mut warnings,
        ),
        backoff_base: knob(
            "PARTNER_SYNC_BACKOFF_BASE_MS",
            "backoffBaseMs",
            &raw.backoff_base_ms,
        )
        .millis(250, 0, &mut warnings),
        backoff_max: knob(
            "PARTNER_SYNC_BACKOFF_MAX_MS",
            "backoffMaxMs",
            &raw.backoff_max_ms,
        )
        .millis(4_000, 0, &mut warnings),
    };
    let outbox = raw
        .outbox
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|location| OutboxSettings {
            location: location.to_string(),
            schedule: knob(
                "PARTNER_SYNC_OUTBOX_SCHEDULE",
                "outboxSchedule",
                &raw.outbox_schedule,
            )
            .parsed(DEFAULT_SCHEDULE, parse_schedule, &mut warnings),
            max_age: knob(
                "PARTNER_SYNC_OUTBOX_MAX_AGE",
                "outboxMaxAge",
                &raw.outbox_max_age,
            )
            .parsed(DEFAULT_MAX_AGE, parse_duration, &mut warnings),
            table_prefix: table_prefix(raw.outbox_table_prefix.as_deref(), &mut warnings),
            retention: knob(
                "PARTNER_SYNC_OUTBOX_RETENTION",
                "outboxRetention",
                &raw.outbox_retention,
            )
            .parsed(DEFAULT_RETENTION, parse_retention, &mut warnings),
        });
    let quiet_period = knob(
        "PARTNER_SYNC_QUIET_PERIOD",
        "quietPeriod",
        &raw.quiet_period,
    )
    .parsed(DEFAULT_QUIET_PERIOD, parse_duration, &mut warnings);
    let url = parse_url(raw.url.as_deref());
    if let Ok(url) = &url {
        if url.scheme() == "http" && !is_local_host(url) {
            warnings.push(format!(
                "SMASHPARTNER_SYNC_URL = {:?} uses plain http:// to a host that is not local: the booking's payment \
                 data would travel unencrypted and could be read or replayed on the way; use https:// (http:// is for a local partner)",
                url.as_str()
            ));
        }
    }
    let settings = Settings {
        url,
        secret: raw.secret.clone().filter(|s| !s.is_empty()),
        retry,
        quiet_period,
        outbox,
    };
    (settings, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_documented_values() {
        let (settings, warnings) = resolve(&RawSettings::default());
        assert!(warnings.is_empty());
        assert_eq!(settings.url.as_ref().unwrap().as_str(), DEFAULT_URL);
        assert_eq!(settings.secret, None);
        assert_eq!(settings.retry.max_attempts, 5);
        assert_eq!(settings.retry.attempt_timeout, Duration::from_secs(5));
        assert_eq!(settings.retry.deadline, Duration::from_secs(10));
        assert_eq!(settings.retry.backoff_base, Duration::from_millis(250));
        assert_eq!(settings.retry.backoff_max, Duration::from_secs(4));
        assert_eq!(settings.quiet_period, Duration::from_secs(300));
        assert!(settings.outbox.is_none());
    }

    #[test]
    fn bad_knobs_fall_back_with_a_warning() {
        let raw = RawSettings {
            max_attempts: Some("lots".into()),
            deadline_ms: Some("-3".into()),
            outbox: Some("sqlite:/tmp/x.db".into()),
            outbox_schedule: Some("1m,soon".into()),
            outbox_table_prefix: Some("x; drop table".into()),
            ..Default::default()
        };
        let (settings, warnings) = resolve(&raw);
        assert_eq!(settings.retry.max_attempts, 5);
        assert_eq!(settings.retry.deadline, Duration::from_secs(10));
        let outbox = settings.outbox.unwrap();
        assert_eq!(outbox.schedule.len(), 6);
        assert_eq!(outbox.table_prefix, DEFAULT_TABLE_PREFIX);
        assert_eq!(warnings.len(), 4, "{warnings:?}");
        assert!(warnings[0].contains("PARTNER_SYNC_MAX_ATTEMPTS"));
    }

    #[test]
    fn waits_may_be_zero_but_bounds_may_not() {
        let raw = RawSettings {
            backoff_base_ms: Some("0".into()),
            deadline_ms: Some("0".into()),
            ..Default::default()
        };
        let (settings, warnings) = resolve(&raw);
        assert_eq!(settings.retry.backoff_base, Duration::ZERO);
        assert_eq!(settings.retry.deadline, Duration::from_secs(10));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
    }

    #[test]
    fn empty_secret_counts_as_missing_and_url_keeps_its_query() {
        let raw = RawSettings {
            secret: Some(String::new()),
            url: Some("http://127.0.0.1:9/hook?tenant=a".into()),
            ..Default::default()
        };
        let (settings, _) = resolve(&raw);
        let err = settings.require_secret().unwrap_err();
        assert!(err.message.starts_with("PWA_WEBHOOK_SECRET is not set"));
        assert_eq!(
            settings.url.as_ref().unwrap().as_str(),
            "http://127.0.0.1:9/hook?tenant=a"
        );
    }

    #[test]
    fn plain_http_warns_unless_the_partner_is_local() {
        let warns = |url: &str| {
            let raw = RawSettings {
                url: Some(url.into()),
                ..Default::default()
            };
            !resolve(&raw).1.is_empty()
        };
        assert!(warns("http://example.invalid/x"));
        assert!(warns("http://203.0.113.9/hook"));
        for local in [
            "http://127.0.0.1:3000/x",
            "http://localhost/x",
            "http://10.0.0.5/x",
            "http://[::1]:80/x",
            "https://smashpartner.online/api/webhooks/pwa-sync",
        ] {
            assert!(!warns(local), "{local}");
        }
    }

    #[test]
    fn unusable_urls_are_config_errors() {
        for url in ["not a url", "ftp://example.com/x"] {
            let raw = RawSettings {
                url: Some(url.into()),
                ..Default::default()
            };
            let (settings, _) = resolve(&raw);
            let error = settings.require_url().unwrap_err();
            assert!(error.message.contains("SMASHPARTNER_SYNC_URL"));
        }
    }

    #[test]
    fn durations_and_schedules() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("3d"), Ok(Duration::from_secs(3 * 86400)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(
            parse_schedule("1m, 5m").unwrap(),
            vec![Duration::from_secs(60), Duration::from_secs(300)]
        );
    }
}
