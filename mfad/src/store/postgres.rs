//! The PostgreSQL backend, for several mfads (a fleet of lab machines)
//! sharing one database. Each operation is one transaction on a pooled
//! connection, run as its own tokio task: it goes on to its commit even
//! if the caller stops waiting, and a decision that panics fails alone
//! (`NotRun`), as with SQLite's writer. Serializing what SQLite's single
//! writer serialized is done with row and advisory locks (see
//! `postgres_conn::Lock`), never by checking in one statement and setting
//! in another without a lock.
//!
//! A push decided or ended here is announced with NOTIFY in the same
//! transaction; a connection of its own LISTENs for the other mfads'
//! announcements (`postgres_listen`), so a login waiting here hears of a
//! decision made through another mfad at once. TLS to the database is
//! `postgres_tls`. Not yet: wake-ups for the push and phone senders of
//! other hosts.

use super::postgres_accounts as accounts_pg;
use super::postgres_attempt::apply;
use super::postgres_conn::finish;
use super::postgres_listen::Listener;
use super::postgres_methods as methods_pg;
use super::postgres_phone as phone_pg;
use super::postgres_push as push_pg;
use super::*;
use deadpool_postgres::Pool;
use tokio_postgres::IsolationLevel;

pub struct PostgresStore {
    pub(super) pool: Pool,
    /// The mfad this store belongs to, as it names itself in the pushes it
    /// creates: at start it cancels only its own.
    pub(super) host: String,
    pub(super) listener: Listener,
}

/// Run `$body` in a transaction of `$iso` on a connection from `$pool`:
/// committed when it returns Ok, rolled back when it returns Err. Past
/// [`OP_TIMEOUT`] the work is dropped and so is its connection: a
/// connection cut off mid-statement may be inside a transaction nobody
/// will end, and must not go back to the pool.
macro_rules! in_tx {
    ($pool:expr, $iso:expr, |$tx:ident| $body:expr) => {{
        let mut client = $pool.get().await?;
        let work = async {
            let $tx = client
                .build_transaction()
                .isolation_level($iso)
                .start()
                .await?;
            let result = async { $body }.await;
            finish($tx, result).await
        };
        match tokio::time::timeout(OP_TIMEOUT, work).await {
            Ok(done) => done,
            Err(_) => {
                drop(deadpool_postgres::Object::take(client));
                Err(StoreError::TimedOut(OP_TIMEOUT.as_secs()))
            }
        }
    }};
}

/// The longest any operation may take, waits for locks included: a
/// server that hangs (rather than refusing connections) must not hang
/// logins with it.
const OP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A write (or a read that locks): READ COMMITTED, whose conditional
/// updates re-check their WHERE after a concurrent commit.
const WRITE: IsolationLevel = IsolationLevel::ReadCommitted;
/// Reads of several statements that must agree with each other.
const SNAPSHOT: IsolationLevel = IsolationLevel::RepeatableRead;

impl PostgresStore {
    /// The schema version the database is at.
    pub fn schema_version() -> i64 {
        super::postgres_schema::MIGRATIONS.len() as i64
    }

    /// Start `work` at once as its own task, or, outside a runtime, when
    /// first polled.
    fn run<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> impl Done<T> {
        let started = match tokio::runtime::Handle::try_current() {
            Ok(rt) => Ok(rt.spawn(work)),
            Err(_) => Err(work),
        };
        async move {
            let task = match started {
                Ok(task) => task,
                Err(work) => tokio::spawn(work),
            };
            // A task that panicked rolled back with its dropped
            // transaction.
            task.await.map_err(|_| StoreError::NotRun)?
        }
    }
}

impl Store for PostgresStore {
    fn attempt<R: Send + 'static>(
        &self,
        about: AttemptFor,
        decide: impl FnOnce(&AttemptState) -> (R, Vec<Effect>) + Send + 'static,
    ) -> impl Done<R> {
        let pool = self.pool.clone();
        self.run(async move {
            in_tx!(pool, WRITE, |tx| {
                let state = super::postgres_attempt::load_state(&tx, &about).await?;
                let (result, effects) = decide(&state);
                apply(&tx, &about.user, about.rhost.as_deref(), effects).await?;
                Ok(result)
            })
        })
    }

    fn ping(&self) -> impl Done<()> {
        let pool = self.pool.clone();
        self.run(async move {
            in_tx!(pool, WRITE, |tx| {
                tx.execute("SELECT 1", &[]).await?;
                Ok(())
            })
        })
    }

    fn summary(&self, user: &str) -> impl Done<Option<AccountSummary>> {
        let (pool, user) = (self.pool.clone(), user.to_string());
        self.run(async move { in_tx!(pool, SNAPSHOT, |tx| accounts_pg::summary(&tx, &user).await) })
    }

    fn list(&self, after: &str, limit: usize) -> impl Done<Vec<String>> {
        let (pool, after) = (self.pool.clone(), after.to_string());
        self.run(async move {
            in_tx!(pool, WRITE, |tx| accounts_pg::list(&tx, &after, limit)
                .await)
        })
    }

    fn put_pending(&self, user: &str, p: &Pending) -> impl Done<()> {
        let (pool, user, p) = (self.pool.clone(), user.to_string(), p.clone());
        self.run(async move {
            in_tx!(pool, WRITE, |tx| accounts_pg::put_pending(&tx, &user, &p)
                .await)
        })
    }

    fn pending(&self, user: &str) -> impl Done<Option<Pending>> {
        let (pool, user) = (self.pool.clone(), user.to_string());
        self.run(async move { in_tx!(pool, WRITE, |tx| accounts_pg::pending(&tx, &user).await) })
    }

    fn confirm(&self, user: &str, label: &str, e: &Enrollment, expect: &Expect) -> impl Done<()> {
        let pool = self.pool.clone();
        let (user, label, e, expect) = (
            user.to_string(),
            label.to_string(),
            e.clone(),
            expect.clone(),
        );
        self.run(async move {
            in_tx!(pool, WRITE, |tx| methods_pg::confirm(
                &tx, &user, &label, &e, &expect
            )
            .await)
        })
    }

    fn replace_recovery(
        &self,
        user: &str,
        recovery: &[[u8; 32]],
        expect: &[Vec<u8>],
    ) -> impl Done<()> {
        let pool = self.pool.clone();
        let (user, recovery, expect) = (user.to_string(), recovery.to_vec(), expect.to_vec());
        self.run(async move {
            in_tx!(pool, WRITE, |tx| methods_pg::replace_recovery(
                &tx, &user, &recovery, &expect
            )
            .await)
        })
    }

    fn remove_method(
        &self,
        user: &str,
        kind: MethodRef,
        label: &str,
        keep_one: bool,
    ) -> impl Done<Removal> {
        let (pool, user, label) = (self.pool.clone(), user.to_string(), label.to_string());
        self.run(async move {
            in_tx!(pool, WRITE, |tx| methods_pg::remove(
                &tx, &user, kind, &label, keep_one
            )
            .await)
        })
    }

    fn rename_method(
        &self,
        user: &str,
        kind: MethodRef,
        label: &str,
        new: &str,
    ) -> impl Done<Renamed> {
        let pool = self.pool.clone();
        let (user, label, new) = (user.to_string(), label.to_string(), new.to_string());
        self.run(async move {
            in_tx!(pool, WRITE, |tx| methods_pg::rename(
                &tx, &user, kind, &label, &new
            )
            .await)
        })
    }

    fn prefer_method(&self, user: &str, kind: MethodRef, label: &str) -> impl Done<bool> {
        let (pool, user, label) = (self.pool.clone(), user.to_string(), label.to_string());
        self.run(async move {
            in_tx!(pool, WRITE, |tx| methods_pg::prefer(
                &tx, &user, kind, &label
            )
            .await)
        })
    }

    fn add_bypass(&self, user: &str, hash: [u8; 32], expires_at: i64) -> impl Done<bool> {
        let (pool, user) = (self.pool.clone(), user.to_string());
        self.run(async move {
            in_tx!(pool, WRITE, |tx| accounts_pg::add_bypass(
                &tx, &user, &hash, expires_at
            )
            .await)
        })
    }

    fn remove(&self, user: &str) -> impl Done<bool> {
        let (pool, user) = (self.pool.clone(), user.to_string());
        self.run(async move { in_tx!(pool, WRITE, |tx| accounts_pg::remove(&tx, &user).await) })
    }

    fn unlock(&self, user: &str) -> impl Done<bool> {
        let (pool, user) = (self.pool.clone(), user.to_string());
        self.run(async move { in_tx!(pool, WRITE, |tx| accounts_pg::unlock(&tx, &user).await) })
    }

    fn key_check(&self) -> impl Done<Option<Vec<u8>>> {
        let pool = self.pool.clone();
        self.run(async move { in_tx!(pool, WRITE, |tx| accounts_pg::key_check(&tx).await) })
    }

    fn set_key_check(&self, check: &[u8]) -> impl Done<()> {
        let (pool, check) = (self.pool.clone(), check.to_vec());
        self.run(async move {
            in_tx!(pool, WRITE, |tx| accounts_pg::set_key_check(&tx, &check)
                .await)
        })
    }

    fn prune(&self, hosts_before: i64, pushes_before: i64, now: i64) -> impl Done<usize> {
        let pool = self.pool.clone();
        self.run(async move {
            in_tx!(pool, WRITE, |tx| accounts_pg::prune(
                &tx,
                hosts_before,
                pushes_before,
                now
            )
            .await)
        })
    }

    fn phones(&self, user: &str) -> impl Done<Vec<Phone>> {
        let (pool, user) = (self.pool.clone(), user.to_string());
        self.run(async move { in_tx!(pool, WRITE, |tx| phone_pg::phones(&tx, &user).await) })
    }

    fn open_phone_code(&self, code: PhoneCode, limits: SendLimits) -> impl Done<SendOpened> {
        let pool = self.pool.clone();
        self.run(async move { in_tx!(pool, WRITE, |tx| phone_pg::open(&tx, &code, limits).await) })
    }

    fn next_phone_delivery(&self, now: i64) -> impl Done<Option<PhoneCode>> {
        let pool = self.pool.clone();
        self.run(async move { in_tx!(pool, WRITE, |tx| phone_pg::next_delivery(&tx, now).await) })
    }

    fn phone_delivery_result(&self, id: &str, delivered: bool) -> impl Done<bool> {
        let (pool, id) = (self.pool.clone(), id.to_string());
        self.run(async move {
            in_tx!(pool, WRITE, |tx| phone_pg::delivery_result(
                &tx, &id, delivered
            )
            .await)
        })
    }

    fn confirm_phone(
        &self,
        user: &str,
        hash_of: impl Fn(&PhoneCode) -> [u8; 32] + Send + 'static,
        recovery: Vec<[u8; 32]>,
        now: i64,
    ) -> impl Done<Confirmed> {
        let (pool, user) = (self.pool.clone(), user.to_string());
        self.run(async move {
            in_tx!(pool, WRITE, |tx| phone_pg::confirm(
                &tx, &user, hash_of, &recovery, now
            )
            .await)
        })
    }

    fn push_targets(&self, user: &str) -> impl Done<Vec<PushTarget>> {
        let (pool, user) = (self.pool.clone(), user.to_string());
        self.run(async move { in_tx!(pool, WRITE, |tx| push_pg::targets(&tx, &user).await) })
    }

    fn open_push(&self, push: PushRecord, fatigue: Fatigue) -> impl Done<Opened> {
        let pool = self.pool.clone();
        self.run(async move { in_tx!(pool, WRITE, |tx| push_pg::open(&tx, &push, fatigue).await) })
    }

    fn next_delivery(&self, now: i64) -> impl Done<Option<PushRecord>> {
        let pool = self.pool.clone();
        self.run(async move { in_tx!(pool, WRITE, |tx| push_pg::next_delivery(&tx, now).await) })
    }

    fn delivery_result(&self, id: &str, delivered: bool) -> impl Done<bool> {
        let (pool, id) = (self.pool.clone(), id.to_string());
        self.run(async move {
            in_tx!(pool, WRITE, |tx| push_pg::delivery_result(
                &tx, &id, delivered
            )
            .await)
        })
    }

    fn push(&self, id: &str) -> impl Done<Option<PushRecord>> {
        let (pool, id) = (self.pool.clone(), id.to_string());
        self.run(async move { in_tx!(pool, WRITE, |tx| push_pg::by_id(&tx, &id).await) })
    }

    fn push_by_token(&self, token_hash: [u8; 32]) -> impl Done<Option<PushRecord>> {
        let pool = self.pool.clone();
        self.run(async move { in_tx!(pool, WRITE, |tx| push_pg::by_token(&tx, &token_hash).await) })
    }

    fn pending_pushes(&self, user: &str, now: i64) -> impl Done<Vec<PushRecord>> {
        let (pool, user) = (self.pool.clone(), user.to_string());
        self.run(
            async move { in_tx!(pool, WRITE, |tx| push_pg::pending_of(&tx, &user, now).await) },
        )
    }

    fn decide_push<R: Send + 'static>(
        &self,
        key: PushKey,
        decide: impl FnOnce(&PushRecord) -> (R, PushVerdict) + Send + 'static,
    ) -> impl Done<Option<R>> {
        let pool = self.pool.clone();
        self.run(async move { in_tx!(pool, WRITE, |tx| push_pg::decide(&tx, &key, decide).await) })
    }

    fn end_push(&self, id: &str, state: PushState) -> impl Done<bool> {
        let (pool, id) = (self.pool.clone(), id.to_string());
        self.run(async move { in_tx!(pool, WRITE, |tx| push_pg::end(&tx, &id, state).await) })
    }

    /// Only this mfad's own pending pushes (by its `host` name): in a
    /// shared database the others belong to logins still waiting on
    /// other hosts.
    fn import_account(
        &self,
        export: AccountExport,
        same: impl FnOnce(&Existing) -> Result<(), String> + Send + 'static,
    ) -> impl Done<Imported> {
        let pool = self.pool.clone();
        use super::postgres_transfer::import;
        self.run(async move { in_tx!(pool, WRITE, |tx| import(&tx, &export, same).await) })
    }

    fn cancel_pending_pushes(&self) -> impl Done<usize> {
        let (pool, host) = (self.pool.clone(), self.host.clone());
        self.run(async move {
            in_tx!(pool, WRITE, |tx| Ok(
                push_pg::cancel_pending(&tx, &host).await? as usize
            ))
        })
    }

    fn wakeups(&self) -> Option<tokio::sync::broadcast::Receiver<Wakeup>> {
        self.listener.subscribe()
    }
}
