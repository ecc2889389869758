//! What a failed attempt ran into below HTTP (refused, DNS, TLS, reset, closed, timed out),
//! classified on the error types first and on the text only where they say nothing, and named
//! in the words people search for with what to check.

use crate::errors::{error_chain, ErrorKind};

/// What a failed attempt ran into below HTTP, as the message names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NetworkCause {
    TimedOut,
    Refused,
    Dns,
    Tls,
    Reset,
    Closed,
    Other,
}

/// Classifies on the error types of the chain (reqwest, hyper, `io::ErrorKind`, rustls) first.
fn typed_cause(error: &reqwest::Error) -> Option<NetworkCause> {
    if error.is_timeout() {
        return Some(NetworkCause::TimedOut);
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<rustls::Error>() {
            return Some(NetworkCause::Tls);
        }
        if let Some(hyper) = e.downcast_ref::<hyper::Error>() {
            if hyper.is_incomplete_message() {
                return Some(NetworkCause::Closed);
            }
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            // rustls reports through io::Error (InvalidData) with its own error inside.
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
            {
                return Some(NetworkCause::Tls);
            }
            match io.kind() {
                std::io::ErrorKind::TimedOut => return Some(NetworkCause::TimedOut),
                std::io::ErrorKind::ConnectionRefused => return Some(NetworkCause::Refused),
                std::io::ErrorKind::ConnectionReset => return Some(NetworkCause::Reset),
                std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::UnexpectedEof => return Some(NetworkCause::Closed),
                _ => {}
            }
        }
        source = e.source();
    }
    None
}

/// Text, only where the types say nothing: a failed DNS lookup, for one, reaches us as an
/// uncategorized `io::Error` inside hyper-util's private connect error.
fn cause_in_text(text: &str) -> NetworkCause {
    let text = text.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|word| text.contains(word));
    if has(&["timed out"]) {
        NetworkCause::TimedOut
    } else if has(&["refused"]) {
        NetworkCause::Refused
    } else if has(&["dns", "lookup address", "name or service"]) {
        NetworkCause::Dns
    } else if has(&[
        "certificate",
        "tls",
        "handshake",
        "corrupt message",
        "alert",
    ]) {
        NetworkCause::Tls
    } else if has(&["reset"]) {
        NetworkCause::Reset
    } else if has(&["closed", "incomplete", "eof"]) {
        NetworkCause::Closed
    } else {
        NetworkCause::Other
    }
}

/// Names the network cause in words people search for, then gives the whole chain.
pub fn describe_network_error(error: &reqwest::Error) -> (ErrorKind, String) {
    let chain = error_chain(error);
    let cause = typed_cause(error).unwrap_or_else(|| cause_in_text(&chain));
    // What happened, in words people search for, and what to check.
    let (cause, check) = match cause {
        NetworkCause::TimedOut => return (ErrorKind::Timeout, "the attempt timed out".into()),
        NetworkCause::Refused => (
            "connection refused",
            "is the partner up, and are the host and port in SMASHPARTNER_SYNC_URL right?",
        ),
        NetworkCause::Dns => (
            "DNS lookup failed",
            "check the host name in SMASHPARTNER_SYNC_URL and this machine's DNS",
        ),
        NetworkCause::Tls => ("TLS failed", "check that SMASHPARTNER_SYNC_URL is the partner's https:// endpoint and that its certificate is valid"),
        NetworkCause::Reset => (
            "connection reset",
            "the partner or a proxy dropped the connection",
        ),
        NetworkCause::Closed => (
            "connection closed before a full response",
            "the partner or a proxy dropped the connection",
        ),
        NetworkCause::Other => (
            "network error",
            "check the network between this server and the partner",
        ),
    };
    (ErrorKind::Network, format!("{cause} ({chain}); {check}"))
}

#[cfg(test)]
mod tests {
    use super::super::client;
    use super::*;

    async fn failure_at(address: std::net::SocketAddr) -> reqwest::Error {
        let url = format!("http://{address}/api/webhooks/pwa-sync");
        let sent = client()
            .expect("the client starts")
            .post(url)
            .body("{}")
            .send()
            .await;
        sent.expect_err("nothing answers there")
    }

    #[tokio::test]
    async fn a_refused_connection_is_known_by_its_type_and_sent_nothing() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let error = failure_at(address).await;
        assert_eq!(typed_cause(&error), Some(NetworkCause::Refused));
        assert!(error.is_connect());
        let (kind, message) = describe_network_error(&error);
        assert_eq!(kind, ErrorKind::Network);
        assert!(message.starts_with("connection refused ("), "{message}");
    }

    #[tokio::test]
    async fn a_connection_dropped_after_the_body_is_known_by_its_type() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        // Reads the request, then hangs up without an answer.
        let partner = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let _ = std::io::Read::read(&mut socket, &mut [0; 4096]);
        });
        let error = failure_at(address).await;
        partner.join().unwrap();
        let cause = typed_cause(&error);
        assert!(
            matches!(cause, Some(NetworkCause::Closed | NetworkCause::Reset)),
            "{cause:?}: {error:?}"
        );
        assert!(!error.is_connect(), "the partner may have received it");
    }
}
