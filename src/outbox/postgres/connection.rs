//! The PostgreSQL connections: opening them (TLS by rustls), running each step of the outbox on
//! a connection of its own, and closing any connection that failed or was cut short.
//!
//! By default every statement goes unnamed with its parameters' types given (`query_typed`):
//! one round trip, and nothing kept on the server between transactions, so a transaction-mode
//! pooler (Supabase's on port 6543, Neon's, PgBouncer) works as well as a direct connection.
//! `prepared_statements=on` in the URL prepares each statement once by name instead: cheaper on a
//! direct connection or a session pooler, broken behind a transaction pooler.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{
    ClientWrapper, Manager, ManagerConfig, Object, PoolError, RecyclingMethod, Runtime,
};
use rustls::pki_types::{pem::PemObject, CertificateDer};
use tokio_postgres::config::SslMode;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Config, NoTls, Row, Statement};

use super::super::budget;
use super::super::error::describe_postgres;
use super::super::values::Param;
use super::super::{safe_location, OutboxError};

/// A connection unused for longer is replaced before its next statement: poolers and NATs drop
/// idle connections, often without a word, and a serverless function may have been frozen.
const IDLE_REPLACE: Duration = Duration::from_secs(60);

/// The URL parameter that turns named prepared statements on.
const PREPARED_PARAM: &str = "prepared_statements";

/// A parameter as tokio-postgres binds it, with the type PostgreSQL is told it has: every
/// number a BIGINT, every string TEXT.
pub fn typed(param: &Param) -> (&(dyn ToSql + Sync), Type) {
    match param {
        Param::Int(n) => (n, Type::INT8),
        Param::Text(text) => (text, Type::TEXT),
    }
}

/// Takes `key=<value>` out of the URL's query (the last one wins): libpq's `sslrootcert` and our
/// `prepared_statements` are not tokio-postgres options.
fn take_param(location: &str, key: &str) -> (String, Option<String>) {
    let Ok(mut url) = reqwest::Url::parse(location) else {
        return (location.to_string(), None);
    };
    let (taken, kept): (Vec<_>, Vec<_>) = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .partition(|(k, _)| k == key);
    let Some((_, value)) = taken.into_iter().last() else {
        return (location.to_string(), None);
    };
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    (url.to_string(), Some(value))
}

/// TLS by rustls, trusting the public web roots plus `sslrootcert`: no OpenSSL anywhere.
fn tls(root_cert: Option<&str>) -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = root_cert {
        let unreadable =
            |e: &dyn std::fmt::Display| format!("cannot use sslrootcert {path:?}: {e}");
        let certs = CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))?;
        for cert in certs {
            roots
                .add(cert.map_err(|e| unreadable(&e))?)
                .map_err(|e| unreadable(&e))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS cannot start: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// How long opening a connection may take at most (a step's budget may cut it shorter).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections kept per process. Each carries one statement at a time: pipelining several
/// over one connection through a transaction pooler corrupts the protocol under load
/// (PgBouncer issue #759, Supavisor issue #1164), so concurrency comes from connections.
const MAX_CONNECTIONS: usize = 4;

/// How many times a step without a budget (a redrive's query, an operator's call) is tried when
/// its connection was lost or could not be opened. A step with a budget is tried until it ends.
const MAX_TRIES: u32 = 4;
/// The first wait before trying again on a fresh connection; doubles per try, up to the most.
const RETRY_BASE: Duration = Duration::from_millis(5);
const RETRY_MAX: Duration = Duration::from_millis(50);

/// TCP keepalive, unless the URL sets its own: a peer gone silent (a NAT or pooler that forgot
/// the flow) is noticed within about a minute even on an idle connection.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_RETRIES: u32 = 3;
/// Sent data unacknowledged this long ends the connection (Linux), instead of the kernel's
/// default of about 15 minutes of retransmissions.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);

/// How to reach the server: the parsed URL, the TLS it needs, the statement mode.
pub struct Connector {
    config: Config,
    root_cert: Option<String>,
    prepared: bool,
    /// The URL with its password hidden, for messages.
    pub shown: String,
}

impl Connector {
    pub fn new(location: &str) -> Result<Self, OutboxError> {
        let shown = safe_location(location);
        let (location, root_cert) = take_param(location, "sslrootcert");
        let (location, prepared) = take_param(&location, PREPARED_PARAM);
        let prepared = match prepared.as_deref() {
            None | Some("off" | "false" | "0") => false,
            Some("on" | "true" | "1") => true,
            Some(other) => {
                return Err(OutboxError::Location(format!(
                    "PARTNER_SYNC_OUTBOX = {shown:?}: {PREPARED_PARAM}={other:?} is neither on nor off; leave it out (the default, off) unless the URL is a direct connection or a session pooler"
                )))
            }
        };
        let mut config: Config = location.parse().map_err(|e| {
            OutboxError::Location(format!(
                "PARTNER_SYNC_OUTBOX = {shown:?} is not a valid PostgreSQL URL: {e}"
            ))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if !location.contains("keepalives") {
            config
                .keepalives(true)
                .keepalives_idle(KEEPALIVE_IDLE)
                .keepalives_interval(KEEPALIVE_INTERVAL)
                .keepalives_retries(KEEPALIVE_RETRIES);
        }
        if !location.contains("tcp_user_timeout") {
            config.tcp_user_timeout(TCP_USER_TIMEOUT);
        }
        Ok(Connector {
            config,
            root_cert,
            prepared,
            shown,
        })
    }

    /// A pool of connections to the server, none opened yet.
    pub fn pool(self) -> Result<Pool, OutboxError> {
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = if self.config.get_ssl_mode() == SslMode::Disable {
            Manager::from_config(self.config.clone(), NoTls, manager_config)
        } else {
            let tls = tls(self.root_cert.as_deref()).map_err(|why| self.unreachable(why))?;
            Manager::from_config(self.config.clone(), tls, manager_config)
        };
        let connections = deadpool_postgres::Pool::builder(manager)
            .max_size(MAX_CONNECTIONS)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| {
                OutboxError::Location(format!("PARTNER_SYNC_OUTBOX = {:?}: {e}", self.shown))
            })?;
        Ok(Pool {
            connections,
            connector: self,
        })
    }

    fn unreachable(&self, why: String) -> OutboxError {
        let what_to_do = if why.contains("certificate") || why.contains("sslrootcert") {
            "if the server's certificate comes from your provider's own CA (Supabase's does), add sslrootcert=<path to that CA file> to the URL"
        } else {
            "check the host, port, user, password and database"
        };
        OutboxError::PostgresConnect {
            location: self.shown.clone(),
            why,
            what_to_do,
        }
    }
}

/// One connection, checked out of the pool for one step. Dropped without `keep`, because its
/// statement failed on the way or was cut short by a budget, it is closed and never reused:
/// whatever it was waiting for may never come.
pub struct Connection {
    object: Option<Object>,
    prepared: bool,
    /// Used before, and idle in the pool since.
    reused: bool,
    healthy: AtomicBool,
}

impl Drop for Connection {
    fn drop(&mut self) {
        if !self.healthy.load(Ordering::Relaxed) {
            if let Some(object) = self.object.take() {
                drop(Object::take(object));
            }
        }
    }
}

impl Connection {
    fn client(&self) -> &ClientWrapper {
        self.object.as_deref().expect("present until dropped")
    }

    /// The connection goes back to the pool when dropped.
    fn keep(&self) {
        self.healthy.store(true, Ordering::Relaxed);
    }

    /// The statement prepared by name for `text` when that mode is on (once per connection);
    /// `None` when statements go unnamed.
    async fn named(
        &self,
        text: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Option<Statement>, tokio_postgres::Error> {
        if !self.prepared {
            return Ok(None);
        }
        let types: Vec<Type> = params.iter().map(|(_, ty)| ty.clone()).collect();
        Ok(Some(
            self.client().prepare_typed_cached(text, &types).await?,
        ))
    }

    pub async fn query(
        &self,
        text: &str,
        params: &[Param],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        let params: Vec<_> = params.iter().map(typed).collect();
        match self.named(text, &params).await? {
            None => self.client().query_typed(text, &params).await,
            Some(statement) => self.client().query(&statement, &values(&params)).await,
        }
    }

    pub async fn execute(
        &self,
        text: &str,
        params: &[Param],
    ) -> Result<u64, tokio_postgres::Error> {
        let params: Vec<_> = params.iter().map(typed).collect();
        match self.named(text, &params).await? {
            None => self.client().execute_typed(text, &params).await,
            Some(statement) => self.client().execute(&statement, &values(&params)).await,
        }
    }

    /// Statements without parameters, as one message (DDL, ANALYZE).
    pub async fn batch(&self, text: &str) -> Result<(), tokio_postgres::Error> {
        self.client().batch_execute(text).await
    }
}

/// The values alone, for a prepared statement (the server already knows their types).
fn values<'a>(params: &[(&'a (dyn ToSql + Sync), Type)]) -> Vec<&'a (dyn ToSql + Sync)> {
    params.iter().map(|(value, _)| *value).collect()
}

/// What a failed statement says about its connection.
fn connection_lost(e: &tokio_postgres::Error) -> bool {
    match e.code() {
        // The server answered: the connection is fine, unless the answer says it is ending
        // (class 08, connection exception; 57P01-03, the server or pooler shutting down).
        Some(code) => {
            let code = code.code();
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
        }
        // No answer from the server: closed, an I/O error, or a message that made no sense.
        None => true,
    }
}

/// Whether opening a connection may work if tried again: not when the server refused the
/// login or the database (a wrong password stays wrong).
fn worth_reconnecting(e: &PoolError) -> bool {
    match e {
        PoolError::Backend(e) => e.code().is_none_or(|code| {
            let code = code.code();
            !(code.starts_with("28") || code == "3D000")
        }),
        PoolError::Timeout(_) => true,
        _ => false,
    }
}

/// The connections of one outbox, each carrying one statement at a time.
pub struct Pool {
    connections: deadpool_postgres::Pool,
    connector: Connector,
}

impl Pool {
    pub fn shown(&self) -> &str {
        &self.connector.shown
    }

    /// A connection for one step; one idle for too long is replaced first (a frozen function
    /// or a NAT may have dropped it without a word).
    async fn checkout(&self) -> Result<Connection, Failed> {
        self.connections
            .retain(|_, metrics| metrics.last_used() < IDLE_REPLACE);
        let wait = budget::capped(CONNECT_TIMEOUT);
        let mut timeouts = self.connections.timeouts();
        timeouts.wait = Some(wait);
        timeouts.create = Some(wait);
        match self.connections.timeout_get(&timeouts).await {
            Ok(object) => Ok(Connection {
                reused: Object::metrics(&object).recycle_count > 0,
                object: Some(object),
                prepared: self.connector.prepared,
                healthy: AtomicBool::new(false),
            }),
            Err(e) => {
                let again = worth_reconnecting(&e);
                let ran_out = matches!(e, PoolError::Timeout(_));
                let why = match e {
                    PoolError::Backend(e) => describe_postgres(&e),
                    PoolError::Timeout(_) => format!("no answer within {} ms", wait.as_millis()),
                    other => other.to_string(),
                };
                Err(Failed {
                    error: self.connector.unreachable(why),
                    again,
                    sent: false,
                    ran_out,
                })
            }
        }
    }

    /// One try of a step on a connection of its own: `Ok` with the step's result when it ran
    /// (the server's own error included, its connection kept), `Err` when the connection failed
    /// on the way or could not be opened, the connection then closed.
    async fn try_once<T, Work, Fut>(
        &self,
        work: &Work,
        tries: u32,
        sending: &AtomicBool,
    ) -> Result<Result<T, OutboxError>, Failed>
    where
        Work: Fn(Arc<Connection>, u32) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let connection = self.checkout().await?;
        sending.store(true, Ordering::Relaxed);
        // A connection that sat in the pool may have died without a word: it gets half of what
        // is left, so that a fresh one still has time after it.
        let limit = budget::left()
            .filter(|_| connection.reused)
            .map(|left| left / 2);
        let connection = Arc::new(connection);
        let working = work(connection.clone(), tries);
        let done = match limit {
            Some(limit) => tokio::time::timeout(limit, working).await,
            None => Ok(working.await),
        };
        let (error, ran_out) = match done {
            Ok(Err(e)) if connection_lost(&e) => (OutboxError::from(e), false),
            Ok(answered) => {
                connection.keep();
                return Ok(answered.map_err(OutboxError::from));
            }
            Err(_) => {
                // The idle ones most likely went the same way (one NAT, one path).
                self.connections.retain(|_, _| false);
                (OutboxError::Timeout(limit.unwrap_or_default()), true)
            }
        };
        Err(Failed {
            error,
            again: true,
            sent: true,
            ran_out,
        })
    }

    /// Runs one step (`work`, given the connection and which try this is) on a connection of
    /// its own. A connection that failed on the way is closed, and the step tried again on a
    /// fresh one after a short backoff, while its budget lasts: every step checks what it
    /// changes (a lease, a state), and a write-ahead looks for its own entry first, so running
    /// one again is safe. An error the server answered with is returned as it is.
    pub async fn run<T, Work, Fut>(&self, work: Work) -> Result<T, OutboxError>
    where
        Work: Fn(Arc<Connection>, u32) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let mut tries = 0;
        // A try that sent its statement and got no answer may still take effect.
        let mut unconfirmed = false;
        // Why the last try failed. When time runs out after a try that failed for a reason (a
        // refused connection, say), that reason is worth reporting, not the clock.
        let mut cause: Option<OutboxError> = None;
        let started = tokio::time::Instant::now();
        loop {
            tries += 1;
            let sending = AtomicBool::new(false);
            let attempt = self.try_once(&work, tries, &sending);
            // After a failure, a try that the budget cuts short reports that failure. The same
            // instant as the step's own limit, and polled inside it, so this one fires first.
            let outcome = match budget::until().filter(|_| cause.is_some()) {
                Some(until) => tokio::time::timeout_at(until, attempt).await.ok(),
                None => Some(attempt.await),
            };
            let failed = match outcome {
                Some(Ok(done)) => return done,
                Some(Err(failed)) => failed,
                None => Failed {
                    error: OutboxError::Timeout(started.elapsed()),
                    again: false,
                    sent: sending.load(Ordering::Relaxed),
                    ran_out: true,
                },
            };
            unconfirmed |= failed.sent;
            let error = match cause.take() {
                Some(earlier) if failed.ran_out && !matches!(earlier, OutboxError::Timeout(_)) => {
                    earlier
                }
                _ => failed.error,
            };
            let wait = RETRY_BASE
                .saturating_mul(2u32.saturating_pow(tries - 1))
                .min(RETRY_MAX);
            let tries_left = match budget::left() {
                Some(left) => left > wait,
                None => tries < MAX_TRIES,
            };
            if !failed.again || !tries_left {
                return Err(match error {
                    timeout @ OutboxError::Timeout(_) => timeout,
                    error if unconfirmed => OutboxError::Unconfirmed(Box::new(error)),
                    error => error,
                });
            }
            cause = Some(error);
            tokio::time::sleep(wait).await;
        }
    }
}

/// A try of a step that did not get to run it: why, whether trying again may help, whether its
/// statement was sent (it may then still take effect), and whether it only ran out of time.
struct Failed {
    error: OutboxError,
    again: bool,
    sent: bool,
    ran_out: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslrootcert_is_taken_out_of_the_url() {
        assert_eq!(
            take_param("postgres://u:p%40ss@db.example.com:6543/postgres?sslmode=require&sslrootcert=/etc/ca.crt", "sslrootcert"),
            (
                "postgres://u:p%40ss@db.example.com:6543/postgres?sslmode=require".to_string(),
                Some("/etc/ca.crt".to_string())
            )
        );
        assert_eq!(
            take_param("postgres://u@h/db?sslrootcert=ca.pem", "sslrootcert"),
            ("postgres://u@h/db".to_string(), Some("ca.pem".to_string()))
        );
        let plain = "postgres://u@h/db?sslmode=disable";
        assert_eq!(take_param(plain, "sslrootcert"), (plain.to_string(), None));
    }

    #[test]
    fn prepared_statements_are_off_unless_asked_for() {
        let mode = |url: &str| Connector::new(url).map(|c| c.prepared);
        assert!(!mode("postgres://u@h/db").unwrap());
        assert!(!mode("postgres://u@h/db?prepared_statements=off").unwrap());
        assert!(mode("postgres://u@h/db?sslmode=disable&prepared_statements=on").unwrap());
        let refused = mode("postgres://u:secret@h/db?prepared_statements=sometimes")
            .unwrap_err()
            .to_string();
        assert!(refused.contains("is neither on nor off"), "{refused}");
        assert!(!refused.contains("secret"), "{refused}");
    }

    /// A connection that fails is tried again until the budget ends, and then reported by why
    /// it failed, not as the clock running out, wherever in a try the end falls.
    #[tokio::test]
    async fn when_the_budget_ends_the_failure_is_reported_not_the_clock() {
        // Each connection is closed 30 ms after it was accepted, before any answer.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    drop(stream);
                });
            }
        });
        let pool = Connector::new(&format!("postgres://app@127.0.0.1:{port}/app"))
            .and_then(Connector::pool)
            .unwrap();
        for budget in (100..=200).step_by(10) {
            let step =
                pool.run(|connection, _| async move { connection.execute("SELECT 1", &[]).await });
            let error = budget::within(Duration::from_millis(budget), step)
                .await
                .unwrap_err()
                .to_string();
            assert!(
                error.starts_with("cannot connect to the PostgreSQL outbox")
                    && !error.contains("no answer within"),
                "{budget} ms: {error}"
            );
        }
    }

    #[test]
    fn an_unreadable_root_certificate_is_explained() {
        let error = tls(Some("/nonexistent/ca.pem")).err().unwrap();
        assert!(
            error.starts_with("cannot use sslrootcert \"/nonexistent/ca.pem\""),
            "{error}"
        );
    }
}
