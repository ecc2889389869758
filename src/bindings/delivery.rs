//! What the HTTP client noticed when the first delivery started it.

use napi_derive::napi;

/// Why the HTTP client verifies TLS with the bundled Mozilla roots instead of the platform's
/// verifier (which could not start), once a delivery started it: to be logged once as a
/// warning. Empty before the first delivery and when the platform's verifier started.
#[napi]
pub fn http_client_warnings() -> Vec<String> {
    crate::delivery::startup_warnings()
}
