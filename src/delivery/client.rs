//! The one HTTP client of the process, started at the first delivery. It verifies the partner's
//! certificate with the platform's verifier, Mozilla's roots beside the system's; when that
//! verifier cannot start (Wine's Windows, for one, refuses the extra roots with "Invalid
//! parameter"), with Mozilla's roots alone, and says so once. It never panics: if no client
//! can start at all, every attempt fails with the reason.

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::ClientBuilder;

use crate::errors::error_chain;

/// One way of verifying TLS, tried in order until a client starts: what it is, in a warning's
/// words, and how the builder is set up for it.
struct Verifier {
    name: &'static str,
    setup: fn(ClientBuilder) -> ClientBuilder,
}

fn mozilla_roots() -> impl Iterator<Item = reqwest::Certificate> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .filter_map(|der| reqwest::Certificate::from_der(der.as_ref()).ok())
}

/// The platform's verifier with Mozilla's roots merged in, as Node's own fetch has them: slim
/// images (node:20-slim) ship no CA store, and without one every HTTPS attempt would fail.
const PLATFORM: Verifier = Verifier {
    name: "the platform's certificate verifier",
    setup: |builder| builder.tls_certs_merge(mozilla_roots()),
};

/// Mozilla's roots alone (webpki-root-certs, bundled in the binary), checked by rustls itself.
const MOZILLA_ROOTS: Verifier = Verifier {
    name: "the bundled Mozilla roots",
    setup: |builder| builder.tls_certs_only(mozilla_roots()),
};

/// A client that started, with the warning to log once when it is not the first choice.
struct Started {
    client: Result<reqwest::Client, String>,
    warning: Option<String>,
}

fn builder() -> ClientBuilder {
    reqwest::Client::builder()
        // A 3xx is reported, never followed: the signed POST must reach the configured URL.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!(
            "smashcourts-partner-sync/",
            env!("CARGO_PKG_VERSION")
        ))
        .pool_idle_timeout(Duration::from_secs(30))
}

/// Starts a client with the first of `verifiers` that can start.
fn start(verifiers: &[Verifier]) -> Started {
    let mut failures: Vec<String> = Vec::new();
    for verifier in verifiers {
        match (verifier.setup)(builder()).build() {
            Ok(client) => {
                let warning = (!failures.is_empty()).then(|| {
                    format!(
                        "{}; HTTPS to the partner is verified with {} instead, so a certificate from a \
                         private or corporate CA that only this machine trusts is not accepted \
                         (fix this machine's certificate store if the partner's certificate needs one)",
                        failures.join("; "),
                        verifier.name
                    )
                });
                return Started {
                    client: Ok(client),
                    warning,
                };
            }
            Err(error) => failures.push(format!(
                "{} could not start ({})",
                verifier.name,
                error_chain(&error)
            )),
        }
    }
    Started {
        client: Err(format!(
            "the HTTP client could not start, nothing was sent: {}; check this machine's TLS set-up \
             (its certificate store), then restart the process",
            failures.join("; ")
        )),
        warning: None,
    }
}

static STARTED: OnceLock<Started> = OnceLock::new();

fn started() -> &'static Started {
    STARTED.get_or_init(|| start(&[PLATFORM, MOZILLA_ROOTS]))
}

/// Starts the client ahead of the first delivery. Reading the system's CA store (hundreds of files
/// on Linux) takes milliseconds; done on a thread of its own while the app is still busy with its
/// own work (a cold start, the booking's own database write), the first sync does not wait for it.
pub fn start_early() {
    started();
}

/// The process's client, or why none could start.
pub(super) fn client() -> Result<&'static reqwest::Client, &'static str> {
    started().client.as_ref().map_err(String::as_str)
}

/// Once the first delivery started the client: why it is not verifying with the platform's
/// verifier, to be logged once as a warning. Empty before that and when nothing fell back.
pub fn startup_warnings() -> Vec<String> {
    STARTED
        .get()
        .and_then(|started| started.warning.clone())
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// The platform's verifier with no extra roots: it has only the system's CA store to trust.
    const PLATFORM_ALONE: Verifier = Verifier {
        name: "the platform's certificate verifier",
        setup: |builder| builder,
    };
    const CHILD: &str = "PARTNER_SYNC_TEST_NO_CA_STORE";

    /// Runs the test `name` again in a child process of this test binary that sees no CA store:
    /// rustls-native-certs reads only SSL_CERT_FILE when it is set, and /dev/null holds no
    /// certificate. A child process, so that no other test sees the changed environment.
    /// Returns false in that child, where the test goes on.
    fn rerun_without_a_ca_store(name: &str) -> bool {
        if std::env::var_os(CHILD).is_some() {
            return false;
        }
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .env("SSL_CERT_FILE", "/dev/null")
            .env_remove("SSL_CERT_DIR")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{text}");
        assert!(text.contains("1 passed"), "{text}");
        true
    }

    /// One POST through `client` to a partner on loopback that answers 204: the status it got.
    async fn post(client: &reqwest::Client) -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/api/webhooks/pwa-sync",
            listener.local_addr().unwrap()
        );
        let partner = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let _ = socket.read(&mut [0; 4096]);
            socket
                .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                .unwrap();
        });
        let status = client.post(url).body("{}").send().await.unwrap().status();
        partner.join().unwrap();
        status.as_u16()
    }

    #[tokio::test]
    #[cfg(unix)]
    async fn when_the_platform_verifier_cannot_start_mozilla_roots_take_over_with_one_warning() {
        if rerun_without_a_ca_store(
            "delivery::client::tests::when_the_platform_verifier_cannot_start_mozilla_roots_take_over_with_one_warning",
        ) {
            return;
        }
        // Here the platform's verifier alone really fails, as on a machine without a CA store.
        let started = start(&[PLATFORM_ALONE, MOZILLA_ROOTS]);
        let warning = started.warning.expect("a warning names the cause");
        assert!(
            warning.starts_with(
                "the platform's certificate verifier could not start (builder error: unexpected error: \
                 No CA certificates were loaded from the system); HTTPS to the partner is verified \
                 with the bundled Mozilla roots instead"
            ),
            "{warning}"
        );
        assert_eq!(post(&started.client.expect("a client starts")).await, 204);

        // The merged roots of production start there without a warning (a slim image has no CA store).
        let production = start(&[PLATFORM, MOZILLA_ROOTS]);
        assert_eq!(production.warning, None);
        assert_eq!(post(&production.client.unwrap()).await, 204);

        // With nothing to fall back to, no client and the reason, instead of a panic.
        let error = start(&[PLATFORM_ALONE]).client.expect_err("no client");
        assert!(
            error.starts_with(
                "the HTTP client could not start, nothing was sent: the platform's certificate verifier \
                 could not start (builder error: unexpected error: No CA certificates were loaded from the system)"
            ),
            "{error}"
        );
    }
}
