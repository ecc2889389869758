//! Settings resolved from what the JS side read from `process.env` or the client options:
//! parsed once per distinct set of raw values, with each setting's name, default and range
//! taken from its declaration in `settings.rs`.

use std::time::Duration;

use crate::errors::SyncError;
use crate::settings::{self, Kind, Setting, DEFAULT_URL};

/// The settings as given, by declaration (the bindings fill it from JS, numbers as their text).
/// A setting not given takes its default.
#[derive(Default)]
pub struct RawSettings(Vec<(&'static str, String)>);

impl RawSettings {
    pub fn new(values: impl IntoIterator<Item = (&'static Setting, Option<String>)>) -> Self {
        let given = values
            .into_iter()
            .filter_map(|(setting, value)| Some((setting.option, value?)));
        RawSettings(given.collect())
    }

    /// The value given for `setting`, if any.
    fn get(&self, setting: &Setting) -> Option<&str> {
        self.0
            .iter()
            .find(|(option, _)| *option == setting.option)
            .map(|(_, value)| value.as_str())
    }

    /// The value given for `setting` unless it is blank: a blank value means the default.
    fn given(&self, setting: &Setting) -> Option<&str> {
        self.get(setting).filter(|v| !v.trim().is_empty())
    }
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
    /// The bound on each outbox step of a sync, before the deadline's share (`step_budget`).
    pub timeout: Duration,
    pub schedule: Vec<Duration>,
    pub max_age: Duration,
    /// `Err`: why the prefix is refused. Other tables than the configured ones would keep
    /// entries that redrives and the outbox page never see, so it has no fallback.
    pub table_prefix: Result<String, String>,
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

fn parse_whole_number(text: &str, (min, max): (u64, u64)) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("is not a whole number from {min} to {max}")),
    }
}

/// The longest table prefix: PostgreSQL names stop at 63 bytes, and the outbox's own names
/// (its tables and indexes) take the rest.
const TABLE_PREFIX_MAX: usize = 40;

fn parse_table_prefix(text: &str) -> Result<String, String> {
    let prefix = text.trim();
    let length = prefix.chars().count();
    if length > TABLE_PREFIX_MAX {
        return Err(format!(
            "is {length} characters long: at most {TABLE_PREFIX_MAX} fit"
        ));
    }
    let safe = prefix.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if safe {
        Ok(prefix.to_string())
    } else {
        Err(format!(
            "must be lowercase letters, digits and underscores (at most {TABLE_PREFIX_MAX})"
        ))
    }
}

/// The outbox's table prefix, or why it is refused (with what to do): unlike a tuning knob, a
/// bad one never falls back to the default, which would put entries in other tables.
fn table_prefix(raw: &RawSettings) -> Result<String, String> {
    let setting = &settings::OUTBOX_TABLE_PREFIX;
    let default = setting.default.expect("the table prefix has a default");
    match raw.given(setting) {
        None => Ok(default.to_string()),
        Some(text) => parse_table_prefix(text).map_err(|why| {
            format!(
                "{}: the outbox is not used with it, so that no entry goes to other tables than the \
                 configured ones; correct it to the prefix your outbox uses, or unset it for the default {default}",
                described(setting, text, &why)
            )
        }),
    }
}

fn parse_url(text: &str) -> Result<reqwest::Url, SyncError> {
    let url = reqwest::Url::parse(text.trim()).map_err(|e| {
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

/// Why `text` is not a valid value of `setting`, or `None` when it is: the CLI refuses
/// exactly what the library would fall back from.
pub fn problem_with(setting: &Setting, text: &str) -> Option<String> {
    let problem = match setting.kind {
        Kind::Count { .. } | Kind::Millis { .. } => {
            parse_whole_number(text, setting.kind.range()?).err()
        }
        Kind::Duration => parse_duration(text).err(),
        Kind::Durations => parse_schedule(text).err(),
        Kind::Retention => parse_retention(text).err(),
        Kind::TablePrefix => parse_table_prefix(text).err(),
        Kind::Url => return parse_url(text).err().map(|e| e.message),
        Kind::Secret | Kind::Location => None,
    }?;
    Some(described(setting, text, &problem))
}

/// A problem with a setting's value, naming the variable and the option.
fn described(setting: &Setting, text: &str, problem: &str) -> String {
    format!(
        "{} / {} = {:?} {problem}",
        setting.env,
        setting.option,
        text.trim()
    )
}

/// Reads one setting's raw value, falling back to its default with a warning when unusable.
struct Reader<'a> {
    raw: &'a RawSettings,
    warnings: Vec<String>,
}

impl Reader<'_> {
    fn text<T>(&mut self, setting: &Setting, parse: impl Fn(&str) -> Result<T, String>) -> T {
        let default = setting
            .default
            .expect("a setting read with a default has one");
        if let Some(text) = self.raw.given(setting) {
            match parse(text) {
                Ok(value) => return value,
                Err(why) => self.warnings.push(format!(
                    "{}; using the default {default}",
                    described(setting, text, &why)
                )),
            }
        }
        parse(default).expect("defaults parse")
    }

    fn whole_number(&mut self, setting: &Setting) -> u64 {
        let range = setting.kind.range().expect("a numeric setting has a range");
        self.text(setting, |t| parse_whole_number(t, range))
    }

    fn millis(&mut self, setting: &Setting) -> Duration {
        Duration::from_millis(self.whole_number(setting))
    }
}

/// The partner endpoint as configured: the `url` setting, or the production endpoint.
pub fn endpoint(raw: &RawSettings) -> &str {
    raw.given(&settings::URL).unwrap_or(DEFAULT_URL)
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

/// Turns raw values into settings. Never fails: a bad URL or a missing secret is reported
/// when sending, a bad table prefix when opening the outbox; every other bad value falls back
/// to its default with a warning to log.
pub fn resolve(raw: &RawSettings) -> (Settings, Vec<String>) {
    let mut read = Reader {
        raw,
        warnings: Vec::new(),
    };
    let retry = RetryPolicy {
        max_attempts: read.whole_number(&settings::MAX_ATTEMPTS) as u32,
        attempt_timeout: read.millis(&settings::ATTEMPT_TIMEOUT_MS),
        deadline: read.millis(&settings::DEADLINE_MS),
        backoff_base: read.millis(&settings::BACKOFF_BASE_MS),
        backoff_max: read.millis(&settings::BACKOFF_MAX_MS),
    };
    let outbox = raw
        .given(&settings::OUTBOX)
        .map(str::trim)
        .map(|location| OutboxSettings {
            location: location.to_string(),
            timeout: read.millis(&settings::OUTBOX_TIMEOUT_MS),
            schedule: read.text(&settings::OUTBOX_SCHEDULE, parse_schedule),
            max_age: read.text(&settings::OUTBOX_MAX_AGE, parse_duration),
            table_prefix: table_prefix(raw),
            retention: read.text(&settings::OUTBOX_RETENTION, parse_retention),
        });
    let quiet_period = read.text(&settings::QUIET_PERIOD, parse_duration);
    let url = parse_url(endpoint(raw));
    if let Ok(url) = &url {
        if url.scheme() == "http" && !is_local_host(url) {
            read.warnings.push(format!(
                "SMASHPARTNER_SYNC_URL = {:?} uses plain http:// to a host that is not local: the booking's payment \
                 data would travel unencrypted and could be read or replayed on the way; use https:// (http:// is for a local partner)",
                url.as_str()
            ));
        }
    }
    let settings = Settings {
        url,
        secret: raw
            .get(&settings::SECRET)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        retry,
        quiet_period,
        outbox,
    };
    (settings, read.warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(values: &[(&'static Setting, &str)]) -> RawSettings {
        RawSettings::new(
            values
                .iter()
                .map(|(setting, value)| (*setting, Some(value.to_string()))),
        )
    }

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
        let raw = given(&[
            (&settings::MAX_ATTEMPTS, "lots"),
            (&settings::DEADLINE_MS, "-3"),
            (&settings::OUTBOX, "sqlite:/tmp/x.db"),
            (&settings::OUTBOX_SCHEDULE, "1m,soon"),
        ]);
        let (settings, warnings) = resolve(&raw);
        assert_eq!(settings.retry.max_attempts, 5);
        assert_eq!(settings.retry.deadline, Duration::from_secs(10));
        let outbox = settings.outbox.unwrap();
        assert_eq!(outbox.schedule.len(), 6);
        assert_eq!(outbox.table_prefix.as_deref(), Ok("partner_sync_"));
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings[0].contains("PARTNER_SYNC_MAX_ATTEMPTS"));
    }

    #[test]
    fn a_bad_table_prefix_is_refused_not_replaced() {
        let with_prefix = |prefix: &str| {
            let raw = given(&[
                (&settings::OUTBOX, "sqlite:/tmp/x.db"),
                (&settings::OUTBOX_TABLE_PREFIX, prefix),
            ]);
            let (settings, warnings) = resolve(&raw);
            assert!(warnings.is_empty(), "{warnings:?}");
            settings.outbox.unwrap().table_prefix
        };
        let long = "a".repeat(41);
        let refused = with_prefix(&long).unwrap_err();
        assert!(refused.starts_with(&format!(
            "PARTNER_SYNC_OUTBOX_TABLE_PREFIX / outboxTablePrefix = \"{long}\" is 41 characters long: at most 40 fit: \
             the outbox is not used with it"
        )));
        assert!(refused.ends_with("or unset it for the default partner_sync_"));
        assert!(with_prefix("x; drop table")
            .unwrap_err()
            .contains("must be lowercase letters"));
        assert_eq!(with_prefix(&"a".repeat(40)), Ok("a".repeat(40)));
        assert_eq!(with_prefix(" shop_ ").as_deref(), Ok("shop_"));
        assert_eq!(with_prefix("  ").as_deref(), Ok("partner_sync_"));
    }

    #[test]
    fn waits_may_be_zero_but_bounds_may_not() {
        let raw = given(&[
            (&settings::BACKOFF_BASE_MS, "0"),
            (&settings::DEADLINE_MS, "0"),
        ]);
        let (settings, warnings) = resolve(&raw);
        assert_eq!(settings.retry.backoff_base, Duration::ZERO);
        assert_eq!(settings.retry.deadline, Duration::from_secs(10));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
    }

    #[test]
    fn empty_secret_counts_as_missing_and_url_keeps_its_query() {
        let raw = given(&[
            (&settings::SECRET, ""),
            (&settings::URL, "http://127.0.0.1:9/hook?tenant=a"),
        ]);
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
            let raw = given(&[(&settings::URL, url)]);
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
            let raw = given(&[(&settings::URL, url)]);
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

    #[test]
    fn whole_numbers_only() {
        let raw = given(&[
            (&settings::MAX_ATTEMPTS, "3"),
            (&settings::ATTEMPT_TIMEOUT_MS, "2.5"),
        ]);
        let (settings, warnings) = resolve(&raw);
        assert_eq!(settings.retry.max_attempts, 3);
        assert_eq!(settings.retry.attempt_timeout, Duration::from_secs(5));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0]
            .contains(r#"attemptTimeoutMs = "2.5" is not a whole number from 1 to 86400000"#));
    }

    #[test]
    fn every_default_is_a_valid_value_and_problems_name_the_setting() {
        for setting in crate::settings::ALL {
            if let Some(default) = setting.default {
                assert_eq!(problem_with(setting, default), None, "{}", setting.env);
            }
        }
        let problem = problem_with(&crate::settings::DEADLINE_MS, "100000000").unwrap();
        assert!(problem.starts_with("PARTNER_SYNC_DEADLINE_MS / deadlineMs = \"100000000\" is not"));
        assert!(problem_with(&crate::settings::OUTBOX_SCHEDULE, "1m,soon").is_some());
        assert!(problem_with(&crate::settings::URL, "ftp://x").is_some());
        assert_eq!(problem_with(&crate::settings::OUTBOX, "anything"), None);
    }
}
