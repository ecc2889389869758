//! Error kinds shared by delivery, the outbox and the JS surface.

use std::fmt;

/// What went wrong, as the JS `SyncResult.error.kind` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    Validation,
    Config,
    Unauthorized,
    BadRequest,
    NotFound,
    Http,
    Network,
    Timeout,
    Deadline,
    /// A newer sync of the same booking took over: this older body is not sent (again).
    Superseded,
    /// The caller's `AbortSignal` fired: no further attempts.
    Aborted,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Validation => "validation",
            ErrorKind::Config => "config",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Http => "http",
            ErrorKind::Network => "network",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Deadline => "deadline",
            ErrorKind::Superseded => "superseded",
            ErrorKind::Aborted => "aborted",
        }
    }
}

/// A failure with a message that says what happened and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncError {
    pub kind: ErrorKind,
    pub message: String,
}

impl SyncError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        SyncError {
            kind,
            message: message.into(),
        }
    }

    pub fn config(message: impl Into<String>) -> Self {
        SyncError::new(ErrorKind::Config, message)
    }
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

impl std::error::Error for SyncError {}

/// Secrets shorter than this are not searched for: they would match ordinary words.
const REDACT_MIN_LEN: usize = 6;

/// Replaces every occurrence of the secret, so that no text we hand back can leak it
/// (a partner or proxy that echoes what it got, a URL with the secret pasted into it).
/// Takes the text by value: the common case, no secret in it, costs no copy.
pub fn redact(text: String, secret: &str) -> String {
    if secret.len() < REDACT_MIN_LEN || !text.contains(secret) {
        return text;
    }
    text.replace(secret, "[redacted]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_the_secret_everywhere() {
        assert_eq!(
            redact("a s3cr3t b s3cr3t".to_string(), "s3cr3t"),
            "a [redacted] b [redacted]"
        );
        assert_eq!(redact("nothing here".to_string(), "s3cr3t"), "nothing here");
        assert_eq!(redact("empty secret".to_string(), ""), "empty secret");
        assert_eq!(redact("server error".to_string(), "s"), "server error");
    }
}
