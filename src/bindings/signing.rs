//! Signatures and hashes of exact bytes.

use napi::bindgen_prelude::{Buffer, Either};
use napi_derive::napi;

use crate::delivery;
use crate::signing::{sha256_hex, sign, verify};

/// The header that carries the lowercase hex HMAC-SHA256 of the raw body.
#[napi]
pub const SIGNATURE_HEADER: &str = delivery::SIGNATURE_HEADER;

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
    sign(bytes_of(&payload), secret.as_bytes())
}

/// Checks an `x-pwa-signature` in constant time; false for any malformed signature.
#[napi]
pub fn verify_signature(
    payload: Either<String, Buffer>,
    signature: String,
    secret: String,
) -> bool {
    verify(bytes_of(&payload), &signature, secret.as_bytes())
}

/// Hex SHA-256 of the exact bytes, to compare bodies between two sides without the secret.
#[napi]
pub fn body_sha256(payload: Either<String, Buffer>) -> String {
    sha256_hex(bytes_of(&payload))
}
