//! Error kinds shared by delivery, the outbox and the JS surface.

/// What went wrong, as the JS `SyncResult.error.kind` and a rejection's `code` name it.
#[cfg_attr(feature = "napi", napi_derive::napi(string_enum = "snake_case"))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The data was refused before anything was stored or sent.
    Validation,
    /// A setting is missing or unusable (the secret, the URL, the outbox location).
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
    /// The outbox's database failed or did not answer.
    Outbox,
    /// A bug or a crashed task inside the library.
    Internal,
}

impl ErrorKind {
    const ALL: [ErrorKind; 13] = [
        ErrorKind::Validation,
        ErrorKind::Config,
        ErrorKind::Unauthorized,
        ErrorKind::BadRequest,
        ErrorKind::NotFound,
        ErrorKind::Http,
        ErrorKind::Network,
        ErrorKind::Timeout,
        ErrorKind::Deadline,
        ErrorKind::Superseded,
        ErrorKind::Aborted,
        ErrorKind::Outbox,
        ErrorKind::Internal,
    ];

    /// The name stored in the outbox and seen by JS (napi's `snake_case` of the variant).
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
            ErrorKind::Outbox => "outbox",
            ErrorKind::Internal => "internal",
        }
    }

    /// The kind a stored name stands for; `None` for a name this version does not know.
    pub fn parse(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

/// A failure with a message that says what happened and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", kind.as_str())]
pub struct SyncError {
    pub kind: ErrorKind,
    pub message: String,
    /// The partner's HTTP status, when the failure is its answer.
    pub status: Option<u16>,
}

impl SyncError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        SyncError {
            kind,
            message: message.into(),
            status: None,
        }
    }

    pub fn config(message: impl Into<String>) -> Self {
        SyncError::new(ErrorKind::Config, message)
    }

    /// The same failure with another message (the status and kind kept).
    pub fn with_message(self, message: String) -> Self {
        SyncError { message, ..self }
    }
}

/// An error and each of its sources, joined by ": " (the drivers' own messages name none of them).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut chain = Vec::new();
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = source {
        chain.push(e.to_string());
        source = e.source();
    }
    chain.join(": ")
}

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

    #[test]
    fn every_kind_reads_back_from_its_stored_name() {
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ErrorKind::parse("Network"), None);
    }
}
