//! The napi surface: conversions between JS values and the core, nothing else.
//! Never rejects for delivery problems: they are reported in the result.

use napi::bindgen_prelude::{Buffer, Either};
use napi_derive::napi;

use crate::config::{resolve, RawSettings};
use crate::delivery::{deliver, AttemptRecord, DeliveryOutcome};
use crate::errors::SyncError;
use crate::payload::SyncRequest;
use crate::signing;

/// Why a sync failed.
#[napi(object)]
pub struct SyncErrorInfo {
    /// One of `validation`, `config`, `unauthorized`, `bad_request`, `not_found`,
    /// `http`, `network`, `timeout`, `deadline`.
    pub kind: String,
    /// What went wrong and what to do about it. Never contains the secret.
    pub message: String,
}

impl From<&SyncError> for SyncErrorInfo {
    fn from(e: &SyncError) -> Self {
        SyncErrorInfo {
            kind: e.kind.as_str().to_string(),
            message: e.message.clone(),
        }
    }
}

/// One HTTP attempt of a delivery.
#[napi(object)]
pub struct AttemptInfo {
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The HTTP status, when the partner answered.
    pub status: Option<u32>,
    pub error: Option<SyncErrorInfo>,
    /// Milliseconds from the start of the delivery to the start of this attempt.
    pub started_ms: f64,
    pub duration_ms: f64,
    /// The backoff that followed this attempt, when another one came.
    pub wait_ms: Option<f64>,
}

impl From<&AttemptRecord> for AttemptInfo {
    fn from(a: &AttemptRecord) -> Self {
        AttemptInfo {
            attempt: a.attempt,
            status: a.status.map(u32::from),
            error: a.error.as_ref().map(SyncErrorInfo::from),
            started_ms: a.started_ms,
            duration_ms: a.duration_ms,
            wait_ms: a.wait_ms,
        }
    }
}

/// What `sendSync` did, for the JS layer to log and shape into a `SyncResult`.
#[napi(object)]
pub struct NativeSyncReport {
    pub ok: bool,
    pub status: Option<u32>,
    pub attempts: Vec<AttemptInfo>,
    pub elapsed_ms: f64,
    /// The partner's last answer, at most 64 KiB of it.
    pub response_text: Option<String>,
    pub response_is_json: bool,
    pub error: Option<SyncErrorInfo>,
    /// Settings that fell back to their defaults, to be logged as warnings.
    pub warnings: Vec<String>,
}

fn report(outcome: &DeliveryOutcome, warnings: Vec<String>) -> NativeSyncReport {
    NativeSyncReport {
        ok: outcome.ok(),
        status: outcome.status.map(u32::from),
        attempts: outcome.attempts.iter().map(AttemptInfo::from).collect(),
        elapsed_ms: outcome.elapsed_ms,
        response_text: outcome.response_text.clone(),
        response_is_json: outcome.response_is_json,
        error: outcome.error.as_ref().map(SyncErrorInfo::from),
        warnings,
    }
}

/// Signs `body` (exactly as given: the caller's `JSON.stringify` output) and delivers it
/// with retries. Resolves with a report whatever happens on the wire.
#[napi]
pub async fn send_sync(
    body: String,
    booking_id: String,
    event: String,
    settings: RawSettings,
) -> NativeSyncReport {
    let _request = SyncRequest {
        body: body.clone(),
        booking_id,
        event,
    };
    let (settings, warnings) = match resolve(&settings) {
        Ok(resolved) => resolved,
        Err(e) => return report(&DeliveryOutcome::refused(e), Vec::new()),
    };
    let outcome = match settings.require_secret() {
        Ok(secret) => deliver(&settings.url, &body, secret, &settings.retry).await,
        Err(e) => DeliveryOutcome::refused(e),
    };
    report(&outcome, warnings)
}

fn bytes_of(payload: &Either<String, Buffer>) -> &[u8] {
    match payload {
        Either::A(text) => text.as_bytes(),
        Either::B(buffer) => buffer.as_ref(),
    }
}

/// Lowercase hex HMAC-SHA256 of `payload` (UTF-8 for strings) keyed with `secret`:
/// the `x-pwa-signature` the partner expects.
#[napi]
pub fn generate_signature(payload: Either<String, Buffer>, secret: String) -> String {
    signing::sign(bytes_of(&payload), secret.as_bytes())
}

/// Checks an `x-pwa-signature` in constant time; false for any malformed signature.
#[napi]
pub fn verify_signature(
    payload: Either<String, Buffer>,
    signature: String,
    secret: String,
) -> bool {
    signing::verify(bytes_of(&payload), &signature, secret.as_bytes())
}

/// Hex SHA-256 of the exact bytes, to compare bodies between two sides without the secret.
#[napi]
pub fn body_sha256(payload: Either<String, Buffer>) -> String {
    signing::sha256_hex(bytes_of(&payload))
}
