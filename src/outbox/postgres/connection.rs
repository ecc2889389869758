//! The PostgreSQL connection: opening it (TLS by rustls), running statements on it the way the
//! URL asks, and replacing it when it was lost or sat idle too long.
//!
//! By default every statement goes unnamed with its parameters' types given (`query_typed`):
//! one round trip, and nothing kept on the server between transactions, so a transaction-mode
//! pooler (Supabase's on port 6543, Neon's, PgBouncer) works as well as a direct connection.
//! `prepared_statements=on` in the URL prepares each statement once by name instead: cheaper on a
//! direct connection or a session pooler, broken behind a transaction pooler.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::{pem::PemObject, CertificateDer};
use tokio_postgres::config::SslMode;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Config, NoTls, Row, Statement};

use super::super::error::describe_postgres;
use super::super::values::Param;
use super::super::{now_ms, safe_location, OutboxError};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection unused for longer is replaced before its next statement: poolers and NATs drop
/// idle connections, often without a word, and a serverless function may have been frozen.
const IDLE_REPLACE_MS: i64 = 60_000;

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
    .expect("aws-lc-rs supports the default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

async fn connect_client(config: &Config, root_cert: Option<&str>) -> Result<Client, String> {
    // The connection task ends by itself when the client is dropped or the server goes away.
    if config.get_ssl_mode() == SslMode::Disable {
        let (client, connection) = config
            .connect(NoTls)
            .await
            .map_err(|e| describe_postgres(&e))?;
        tokio::spawn(connection);
        Ok(client)
    } else {
        let (client, connection) = config
            .connect(tls(root_cert)?)
            .await
            .map_err(|e| describe_postgres(&e))?;
        tokio::spawn(connection);
        Ok(client)
    }
}

/// How to open a connection again: the parsed URL, the extra CA it names, the statement mode.
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
        Ok(Connector {
            config,
            root_cert,
            prepared,
            shown,
        })
    }

    pub async fn connect(&self) -> Result<Client, OutboxError> {
        let unreachable = |why: String| {
            let what_to_do = if why.contains("certificate") {
                "if the server's certificate comes from your provider's own CA (Supabase's does), add sslrootcert=<path to that CA file> to the URL"
            } else {
                "check the host, port, user, password and database"
            };
            OutboxError::PostgresConnect {
                location: self.shown.clone(),
                why,
                what_to_do,
            }
        };
        let connecting = connect_client(&self.config, self.root_cert.as_deref());
        tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| unreachable(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())))?
            .map_err(unreachable)
    }
}

/// One open connection, with the statements it prepared by name when that mode is on.
pub struct Connection {
    client: Client,
    prepared: Option<Mutex<HashMap<String, Statement>>>,
}

impl Connection {
    fn new(client: Client, prepared: bool) -> Self {
        Connection {
            client,
            prepared: prepared.then(Default::default),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The statement prepared by name for `text` when that mode is on (once per connection);
    /// `None` when statements go unnamed.
    async fn named(&self, text: &str) -> Result<Option<Statement>, tokio_postgres::Error> {
        let Some(cache) = &self.prepared else {
            return Ok(None);
        };
        if let Some(statement) = cache.lock().expect("not poisoned").get(text) {
            return Ok(Some(statement.clone()));
        }
        let statement = self.client.prepare(text).await?;
        let mut cache = cache.lock().expect("not poisoned");
        cache.insert(text.to_string(), statement.clone());
        Ok(Some(statement))
    }

    pub async fn query(
        &self,
        text: &str,
        params: &[Param],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        let params: Vec<_> = params.iter().map(typed).collect();
        match self.named(text).await? {
            None => self.client.query_typed(text, &params).await,
            Some(statement) => self.client.query(&statement, &values(&params)).await,
        }
    }

    pub async fn execute(
        &self,
        text: &str,
        params: &[Param],
    ) -> Result<u64, tokio_postgres::Error> {
        let params: Vec<_> = params.iter().map(typed).collect();
        match self.named(text).await? {
            None => self.client.execute_typed(text, &params).await,
            Some(statement) => self.client.execute(&statement, &values(&params)).await,
        }
    }
}

/// The values alone, for a prepared statement (the server already knows their types).
fn values<'a>(params: &[(&'a (dyn ToSql + Sync), Type)]) -> Vec<&'a (dyn ToSql + Sync)> {
    params.iter().map(|(value, _)| *value).collect()
}

/// The connection in use, replaced when it was lost or sat idle too long.
pub struct Pool {
    connector: Connector,
    current: Mutex<Arc<Connection>>,
    /// Held while replacing the connection, so that statements failing together reconnect once.
    reconnecting: tokio::sync::Mutex<()>,
    last_used_ms: AtomicI64,
}

impl Pool {
    /// A pool whose first connection is `client` (the schema work done on it).
    pub fn new(connector: Connector, client: Client) -> Self {
        Pool {
            current: Mutex::new(Arc::new(Connection::new(client, connector.prepared))),
            connector,
            reconnecting: tokio::sync::Mutex::new(()),
            last_used_ms: AtomicI64::new(now_ms()),
        }
    }

    fn current(&self) -> Arc<Connection> {
        self.current.lock().expect("not poisoned").clone()
    }

    /// A new connection in place of `broken`, unless another statement already replaced it.
    async fn replace(&self, broken: &Arc<Connection>) -> Result<Arc<Connection>, OutboxError> {
        let _one_at_a_time = self.reconnecting.lock().await;
        let current = self.current();
        if !Arc::ptr_eq(&current, broken) {
            return Ok(current);
        }
        let client = self.connector.connect().await?;
        let fresh = Arc::new(Connection::new(client, self.connector.prepared));
        *self.current.lock().expect("not poisoned") = fresh.clone();
        Ok(fresh)
    }

    /// Runs `work` on the connection; a connection that sat idle too long is replaced first,
    /// and one found lost is replaced and `work` run once more. Every step is one statement
    /// that checks what it changes (a lease, a state), so running it again is safe.
    pub async fn run<T, Work, Fut>(&self, work: Work) -> Result<T, OutboxError>
    where
        Work: Fn(Arc<Connection>) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let now = now_ms();
        let idle_ms = now - self.last_used_ms.swap(now, Ordering::Relaxed);
        let mut connection = self.current();
        if connection.client.is_closed() || idle_ms > IDLE_REPLACE_MS {
            connection = self.replace(&connection).await?;
        }
        match work(connection.clone()).await {
            Err(e) if e.is_closed() || connection.client.is_closed() => {
                let fresh = self.replace(&connection).await?;
                Ok(work(fresh).await?)
            }
            done => Ok(done?),
        }
    }
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

    #[test]
    fn an_unreadable_root_certificate_is_explained() {
        let error = tls(Some("/nonexistent/ca.pem")).err().unwrap();
        assert!(
            error.starts_with("cannot use sslrootcert \"/nonexistent/ca.pem\""),
            "{error}"
        );
    }
}
