//! Connections to PostgreSQL: how the store connects (TLS as
//! `postgres_tls` decides), the pool, how a connection is driven (so a
//! commit the server could not replicate fails instead of succeeding),
//! and the few helpers every PostgreSQL operation shares (transactions
//! that end by commit or rollback, and the per-account, per-host and
//! per-number locks that stand in for SQLite's single writer).

use super::postgres_listen::Listener;
use super::postgres_schema::migrate;
use super::{PostgresStore, StoreError};
use deadpool_postgres::{
    Connect, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Transaction,
};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, Client, Config, Row};

/// How long an operation waits for a connection, and a new connection
/// for the server: a database that is down must show up as an error a
/// login can answer, not as a hung login.
pub(super) const WAIT: Duration = Duration::from_secs(3);

/// Connections per store: attempts on different accounts run side by
/// side, each holding one for a few milliseconds.
const POOL_SIZE: usize = 16;

/// The first key of every advisory lock this store takes, so its locks
/// cannot meet another application's in a shared database.
const LOCK_SPACE: i32 = 0x6d66_6164; // "mfad"

/// What a lock is about (the second key is a hash of the name).
#[derive(Clone, Copy)]
pub(super) enum Lock {
    /// Everything about one account, whether or not its row exists yet.
    User,
    /// The failures counted against one remote host.
    Host,
    /// The texts sent to one phone number, whoever asks.
    Number,
}

impl Lock {
    fn sql(self) -> &'static str {
        // One key space per kind: a user named like a number never
        // waits on that number's lock.
        match self {
            Lock::User => "SELECT pg_advisory_xact_lock($1, hashtext('u:' || $2))",
            Lock::Host => "SELECT pg_advisory_xact_lock($1, hashtext('h:' || $2))",
            Lock::Number => "SELECT pg_advisory_xact_lock($1, hashtext('n:' || $2))",
        }
    }
}

/// Take a transaction-scoped lock on `name`, held until commit or
/// rollback. Every transaction takes its locks in the order User, then
/// Host or Number, so two of them never wait on each other in a cycle.
pub(super) async fn lock(tx: &Transaction<'_>, kind: Lock, name: &str) -> Result<(), StoreError> {
    let st = tx.prepare_cached(kind.sql()).await?;
    tx.execute(&st, &[&LOCK_SPACE, &name]).await?;
    Ok(())
}

/// A cached statement's rows.
pub(super) async fn query(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, StoreError> {
    let st = tx.prepare_cached(sql).await?;
    Ok(tx.query(&st, params).await?)
}

/// A cached statement's row, if any (more than one is a bug in the SQL).
pub(super) async fn query_opt(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>, StoreError> {
    let st = tx.prepare_cached(sql).await?;
    Ok(tx.query_opt(&st, params).await?)
}

/// A cached statement's one row.
pub(super) async fn query_one(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Row, StoreError> {
    let st = tx.prepare_cached(sql).await?;
    Ok(tx.query_one(&st, params).await?)
}

/// A cached statement's count of rows changed.
pub(super) async fn execute(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, StoreError> {
    let st = tx.prepare_cached(sql).await?;
    Ok(tx.execute(&st, params).await?)
}

/// Commit when the work succeeded, roll back when it failed; the result
/// is answered only once the commit has returned (durable, with
/// `synchronous_commit` on).
pub(super) async fn finish<T>(
    tx: Transaction<'_>,
    result: Result<T, StoreError>,
) -> Result<T, StoreError> {
    match result {
        Ok(v) => {
            tx.commit().await?;
            Ok(v)
        }
        Err(e) => {
            // The error that made us stop is the one worth reporting; a
            // failed rollback closes the connection, which the pool drops.
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

pub(super) use super::postgres_tls::Tls;

/// The settings in `url` (a libpq key=value string or a postgresql://
/// URL), with this store's deadlines and name.
pub(super) fn parse(url: &str) -> Result<Config, StoreError> {
    let mut config: Config = url
        .parse()
        .map_err(|e| StoreError::BadValue(format!("PostgreSQL connection string: {e}")))?;
    config.connect_timeout(WAIT);
    config.application_name("mfad");
    Ok(config)
}

/// The pool of connections for `config`.
pub(super) fn pool(config: Config, tls: Tls) -> Result<Pool, StoreError> {
    let manager = Manager::from_connect(
        config,
        Strict(tls),
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(POOL_SIZE)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(WAIT))
        .create_timeout(Some(WAIT))
        .recycle_timeout(Some(WAIT))
        .build()
        .map_err(|e| StoreError::BadValue(format!("PostgreSQL pool: {e}")))
}

/// Connects (with TLS as `Tls` says) and drives each connection itself, to look at
/// the server's notices (a pooled connection otherwise only logs them).
struct Strict(Tls);

type Connected<'a> = Pin<
    Box<dyn Future<Output = Result<(Client, JoinHandle<()>), tokio_postgres::Error>> + Send + 'a>,
>;

impl Connect for Strict {
    fn connect(&self, config: &Config) -> Connected<'_> {
        let config = config.clone();
        Box::pin(async move {
            let (client, mut connection) = config.connect(self.0.clone()).await?;
            let task = tokio::spawn(async move {
                std::future::poll_fn(|cx| loop {
                    match connection.poll_message(cx) {
                        Poll::Ready(Some(Ok(AsyncMessage::Notice(n)))) if unreplicated(&n) => {
                            // The notice comes before the COMMIT's own
                            // answer. Dropping the connection here makes
                            // that COMMIT fail, so the caller is told
                            // "failed", never "done" for a commit a
                            // failover may undo (a spent code back).
                            eprintln!(
                                "mfad: PostgreSQL: {}: {} ({}); treating the commit as failed",
                                n.severity(),
                                n.message(),
                                n.detail().unwrap_or("")
                            );
                            return Poll::Ready(());
                        }
                        Poll::Ready(Some(Ok(_))) => continue,
                        Poll::Ready(Some(Err(_)) | None) => return Poll::Ready(()),
                        Poll::Pending => return Poll::Pending,
                    }
                })
                .await;
            });
            // Commits must wait for the disk: a server (or role) set to
            // `synchronous_commit = off` would answer before the step
            // spent is durable.
            let mode = client.query_one("SHOW synchronous_commit", &[]).await?;
            if mode.try_get::<_, String>(0)? == "off" {
                client.batch_execute("SET synchronous_commit = on").await?;
            }
            Ok((client, task))
        })
    }
}

/// PostgreSQL's warning when a commit's wait for a synchronous standby
/// was cancelled: committed here, maybe not on the standby.
fn unreplicated(n: &tokio_postgres::error::DbError) -> bool {
    n.detail()
        .is_some_and(|d| d.contains("committed locally, but might not have been replicated"))
}

impl super::PostgresStore {
    /// Connect to the database at `url` (libpq's `host=… port=… user=…
    /// dbname=…` or a `postgresql://` URL), bring its schema up to date
    /// and return the store. Fails within a few seconds when the database
    /// cannot be reached.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        PostgresStore::connect_with_ca(url, None).await
    }

    /// [`PostgresStore::connect`], with TLS verified against the PEM CA
    /// file `ca` (`[store] postgres_ca`) on every TCP connection. Without
    /// it, `sslmode` in `url` decides; a host that is not local needs
    /// `ca` or an explicit `sslmode` (see `postgres_tls`).
    pub async fn connect_with_ca(
        url: &str,
        ca: Option<&std::path::Path>,
    ) -> Result<PostgresStore, StoreError> {
        let mut config = parse(url)?;
        let tls = Tls::for_config(&mut config, ca)?;
        let pool = pool(config.clone(), tls.clone())?;
        let mut client = pool.get().await?;
        migrate(&mut client).await?;
        drop(client);
        let host = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(PostgresStore {
            pool,
            host,
            listener: Listener::new(config, tls),
        })
    }

    /// Name this mfad as its configuration does (`hostname`), which is what
    /// its pushes carry; the default is the machine's host name.
    pub fn with_host(mut self, host: impl Into<String>) -> PostgresStore {
        self.host = host.into();
        self
    }
}
