//! Storage, expressed in the domain's operations rather than in SQL, so a
//! second backend (PostgreSQL for a fleet of lab machines) can be added
//! without touching the verification logic.
//!
//! The heart is [`Store::attempt`]: it loads everything one login attempt
//! needs, lets the caller decide, and applies the decision's effects, all as
//! one atomic and durable transaction. That is what makes replay protection
//! and rate limits hold when many logins race.

pub mod backup;
mod checkpointer;
pub mod methods;
pub mod phone;
mod postgres;
mod postgres_accounts;
mod postgres_attempt;
mod postgres_conn;
mod postgres_listen;
mod postgres_methods;
mod postgres_phone;
mod postgres_push;
mod postgres_schema;
mod postgres_tls;
mod postgres_transfer;
pub mod push;
mod sqlite;
mod sqlite_attempt;
mod sqlite_methods;
mod sqlite_phone;
mod sqlite_push;
mod sqlite_schema;
mod sqlite_transfer;
pub mod transfer;
mod writer;

pub use methods::{Authenticator, Confirm, MethodRef, Removal, Renamed};
pub use phone::{CodeState, Confirmed, Phone, PhoneCode, SendLimits, SendOpened};
pub use postgres::PostgresStore;
pub use push::{Fatigue, Opened, PushKey, PushRecord, PushState, PushTarget, PushVerdict, Wakeup};
pub use sqlite::SqliteStore;
pub use sqlite_methods::FIRST_LABEL;
pub use transfer::*;

use mfa_proto::Algorithm;
use std::future::Future;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database integrity check failed: {0}")]
    Integrity(String),
    #[error("database schema version {0} is newer than this mfad understands")]
    FutureSchema(i64),
    #[error("a conditional update lost a race; the operation was rolled back")]
    Conflict,
    #[error("state directory {path}: {source}")]
    StateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("another mfad is already using {0}")]
    Busy(String),
    #[error("the commit failed: {0}")]
    Commit(String),
    /// The operation was dropped unrun: its group transaction failed to
    /// begin or was rolled back for another job's fault, or the writer
    /// thread is gone. The log says which.
    #[error("the store did not run the operation (see mfad's log)")]
    NotRun,
    /// The thread that runs every store operation has died: nothing will
    /// be run again until mfad is restarted.
    #[error("the store's writer thread has died")]
    WriterGone,
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// No connection to PostgreSQL could be had in time (the database is
    /// down or unreachable, or every connection is busy).
    #[error("PostgreSQL connection pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// A stored value this build cannot read (written by a newer mfad, or
    /// damage): an error, never a guess.
    #[error("database error: {0}")]
    BadValue(String),
    /// The database took longer than this (seconds) to answer: it hangs,
    /// or the network to it does. The operation is abandoned.
    #[error("PostgreSQL did not answer within {0} s")]
    TimedOut(u64),
}

impl StoreError {
    /// The database could not be reached or refused the work (PostgreSQL
    /// down, restarting, or out of connections): mfad itself is fine and
    /// answers every login with a refusal until the database is back.
    pub fn is_database_down(&self) -> bool {
        matches!(self, StoreError::Pool(_) | StoreError::Postgres(_))
    }

    /// Down, or too slow to answer: a login cannot be decided now.
    pub fn is_unavailable(&self) -> bool {
        self.is_database_down() || matches!(self, StoreError::TimedOut(_))
    }
}

/// A confirmed TOTP enrollment (one authenticator's secret and state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrollment {
    /// The secret, sealed by [`crate::crypto::Keys::seal`].
    pub sealed_secret: Vec<u8>,
    pub algorithm: Algorithm,
    pub digits: u8,
    pub period: u64,
    /// Highest TOTP time step accepted so far; nothing at or below it is
    /// accepted again.
    pub last_step: Option<u64>,
    pub created_at: i64,
}

/// An enrollment waiting for its first correct code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub sealed_secret: Vec<u8>,
    pub algorithm: Algorithm,
    pub digits: u8,
    pub period: u64,
    pub expires_at: i64,
}

/// What a confirmation was decided on: the pending enrollment it checked
/// the code against (named by its sealed secret, which is unique: random
/// nonce) and how it changes the account. A confirmation that raced with
/// another enrollment or a removal must not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    pub pending: Vec<u8>,
    pub change: Confirm,
}

/// Failure counters of an account or a remote host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub failures: u32,
    pub last_failure: i64,
    pub locked: bool,
}

/// An unused recovery code (only its keyed hash is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryCode {
    pub id: i64,
    pub hash: [u8; 32],
    /// Set for the help desk's temporary code (`mfa bypass`): it works
    /// once, until then (Unix time), and is not counted as a recovery code.
    pub expires_at: Option<i64>,
}

/// Failures from one remote host since a cutoff, counted by account: a
/// host is slowed down only when several accounts fail from it, so one
/// student behind a shared address (NAT, VPN exit, bastion) who fails on
/// their own account cannot delay everyone else behind it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostFailures {
    /// Distinct accounts that failed from the host since the cutoff.
    pub accounts: u32,
    pub last_failure: i64,
    /// Whether the attempt's own account is one of them.
    pub includes_user: bool,
}

/// What one attempt is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttemptFor {
    pub user: String,
    pub rhost: Option<String>,
    /// Load the unused recovery codes too.
    pub want_recovery: bool,
    /// The id of a phone code sent for this login, to check the code
    /// against (`phone_verify`).
    pub phone_code: Option<String>,
    /// Unix time now (a phone code past its time is not loaded).
    pub now: i64,
    /// Count the recovery codes left (a verify, whose success warns when
    /// few are left).
    pub count_recovery: bool,
    /// Host failures older than this (Unix time) no longer count.
    pub hosts_since: i64,
}

/// Everything one attempt may look at.
#[derive(Debug, Clone, Default)]
pub struct AttemptState {
    /// The account exists (it may log in by phone only).
    pub enrolled: bool,
    /// Its TOTP authenticators, the default first.
    pub authenticators: Vec<Authenticator>,
    pub user: Counters,
    /// Present when the attempt named a remote host.
    pub host: Option<HostFailures>,
    /// Unused recovery codes, loaded only when asked for.
    pub recovery: Vec<RecoveryCode>,
    /// The sealed recovery subkey of the mfad `mfad migrate` copied the
    /// codes from (they were hashed with it); loaded with the codes.
    pub recovery_key: Option<Vec<u8>>,
    /// How many ordinary recovery codes are left (loaded for a verify).
    pub recovery_left: u32,
    /// The live phone code the attempt named, if any.
    pub phone: Option<PhoneCode>,
}

/// A change an attempt makes; applied atomically with the read it was
/// decided on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Record a TOTP step of authenticator `id` as used (it must be above
    /// the stored one).
    AcceptStep {
        id: i64,
        step: u64,
    },
    /// Mark a recovery code used (it must still be unused).
    UseRecovery(i64),
    SetUserCounters(Counters),
    /// The account failed from the attempt's remote host at this time.
    HostFailure(i64),
    /// The account succeeded from the attempt's remote host: its failures
    /// there no longer count against the host.
    HostSuccess,
    /// A successful login at this time (`mfa list` shows the last one).
    LoggedIn(i64),
    /// Spend phone code `id` (it must still be live).
    UsePhoneCode(String),
    /// A wrong try at phone code `id` (burned after the last allowed).
    PhoneMiss(String),
}

/// What `status` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSummary {
    /// The TOTP authenticators, the default first (none for an account
    /// that logs in by phone).
    pub authenticators: Vec<Authenticator>,
    /// When the account was first set up.
    pub created_at: i64,
    pub counters: Counters,
    pub recovery_left: u32,
    /// Unix time of the last successful login, if any.
    pub last_login: Option<i64>,
}

/// What every store operation returns: a future that resolves once the
/// operation is durably committed (or has failed). It owns what it needs,
/// so it can be awaited after the store is borrowed elsewhere.
pub trait Done<T>: Future<Output = Result<T, StoreError>> + Send + 'static {}
impl<T, F: Future<Output = Result<T, StoreError>> + Send + 'static> Done<T> for F {}

/// The domain's storage operations, each one atomic and durable, each
/// answered asynchronously: one shape for the login path and everything
/// else, so callers never block a thread on the store.
pub trait Store: Send + Sync + 'static {
    /// Load the state an attempt is `about`, call `decide`, apply its
    /// effects and commit durably. Attempts are serialized: no other
    /// attempt sees the state between the load and the effects.
    fn attempt<R: Send + 'static>(
        &self,
        about: AttemptFor,
        decide: impl FnOnce(&AttemptState) -> (R, Vec<Effect>) + Send + 'static,
    ) -> impl Done<R>;

    /// A job that does nothing: proof that the store still works. If its
    /// worker is gone for good, [`StoreError::WriterGone`].
    fn ping(&self) -> impl Done<()>;

    fn summary(&self, user: &str) -> impl Done<Option<AccountSummary>>;

    /// Up to `limit` enrolled account names that sort after `after`.
    fn list(&self, after: &str, limit: usize) -> impl Done<Vec<String>>;

    /// Replace any pending enrollment of `user`.
    fn put_pending(&self, user: &str, pending: &Pending) -> impl Done<()>;
    /// The pending enrollment of `user`, if any (expired or not).
    fn pending(&self, user: &str) -> impl Done<Option<Pending>>;

    /// Make an enrollment live as authenticator `label`, as `expect.change`
    /// says, and drop the pending entry, in one transaction, but only if
    /// the account still is as `expect` says (else [`StoreError::Conflict`]
    /// and nothing changes).
    fn confirm(
        &self,
        user: &str,
        label: &str,
        enrollment: &Enrollment,
        expect: &Expect,
    ) -> impl Done<()>;

    /// Replace the recovery codes of `user` with `recovery`, but only if
    /// the account still exists with the authenticators `expect` (their
    /// sealed secrets, in id order; else [`StoreError::Conflict`] and
    /// nothing changes).
    fn replace_recovery(
        &self,
        user: &str,
        recovery: &[[u8; 32]],
        expect: &[Vec<u8>],
    ) -> impl Done<()>;

    /// Remove method `label` of `kind`; with `keep_one`, not when it is
    /// the account's last authenticator, push target or phone.
    fn remove_method(
        &self,
        user: &str,
        kind: MethodRef,
        label: &str,
        keep_one: bool,
    ) -> impl Done<Removal>;
    fn rename_method(
        &self,
        user: &str,
        kind: MethodRef,
        label: &str,
        new: &str,
    ) -> impl Done<Renamed>;
    /// Make method `label` the first of its kind (the one a push or a
    /// text goes to). False when there is none of that name.
    fn prefer_method(&self, user: &str, kind: MethodRef, label: &str) -> impl Done<bool>;

    /// Give an enrolled `user` one temporary code (its keyed hash),
    /// valid once until `expires_at`, replacing an earlier unused one.
    /// False when `user` is not enrolled.
    fn add_bypass(&self, user: &str, hash: [u8; 32], expires_at: i64) -> impl Done<bool>;

    /// Delete everything about `user`. False when nothing was there.
    fn remove(&self, user: &str) -> impl Done<bool>;
    /// Clear the failure counters and the lock. False when not enrolled.
    fn unlock(&self, user: &str) -> impl Done<bool>;

    /// The master key's check value recorded with this state, if any.
    fn key_check(&self) -> impl Done<Option<Vec<u8>>>;
    /// Record the master key's check value.
    fn set_key_check(&self, check: &[u8]) -> impl Done<()>;

    /// Forget host failures, pending enrollments and pushes that no
    /// longer matter (pushes created before `pushes_before`).
    fn prune(&self, hosts_before: i64, pushes_before: i64, now: i64) -> impl Done<usize>;

    /// The saved push targets of `user`, the default first.
    fn push_targets(&self, user: &str) -> impl Done<Vec<PushTarget>>;
    /// Queue `push` unless the account is blocked or over `fatigue`,
    /// decided and inserted in one transaction, so racing logins cannot
    /// both slip under the limit.
    fn open_push(&self, push: PushRecord, fatigue: Fatigue) -> impl Done<Opened>;
    /// The oldest queued push not expired at `now`, marked as being sent.
    fn next_delivery(&self, now: i64) -> impl Done<Option<PushRecord>>;
    /// Record how sending push `id` went (only while it is being sent).
    fn delivery_result(&self, id: &str, delivered: bool) -> impl Done<bool>;
    fn push(&self, id: &str) -> impl Done<Option<PushRecord>>;
    fn push_by_token(&self, token_hash: [u8; 32]) -> impl Done<Option<PushRecord>>;
    /// The pending login pushes of `user` not expired at `now`, oldest first.
    fn pending_pushes(&self, user: &str, now: i64) -> impl Done<Vec<PushRecord>>;
    /// Load the pending push `key` names, let `decide` judge it, and
    /// apply its verdict: the final state, a block, and for an approved
    /// test push, the new target. None when no such push is pending
    /// (used, expired, unknown).
    fn decide_push<R: Send + 'static>(
        &self,
        key: PushKey,
        decide: impl FnOnce(&PushRecord) -> (R, PushVerdict) + Send + 'static,
    ) -> impl Done<Option<R>>;
    /// End push `id` in `state` if it is still pending; false otherwise.
    fn end_push(&self, id: &str, state: PushState) -> impl Done<bool>;
    /// The saved phone numbers of `user`, the default first.
    fn phones(&self, user: &str) -> impl Done<Vec<Phone>>;
    /// Queue `code` unless its account or its number is over `limits`,
    /// decided and inserted in one transaction.
    fn open_phone_code(&self, code: PhoneCode, limits: SendLimits) -> impl Done<SendOpened>;
    /// The oldest queued phone code not expired at `now`, marked as sending.
    fn next_phone_delivery(&self, now: i64) -> impl Done<Option<PhoneCode>>;
    /// How sending code `id` went (only while it is being sent).
    fn phone_delivery_result(&self, id: &str, delivered: bool) -> impl Done<bool>;
    /// Confirm the latest live `AddNumber` code of `user`: `hash_of`
    /// gives the keyed hash of what was typed for a code (its id is part
    /// of the hash); right saves the number, wrong counts a try. An
    /// account that did not exist is created with the recovery codes
    /// `recovery` (it logs in by phone).
    fn confirm_phone(
        &self,
        user: &str,
        hash_of: impl Fn(&PhoneCode) -> [u8; 32] + Send + 'static,
        recovery: Vec<[u8; 32]>,
        now: i64,
    ) -> impl Done<Confirmed>;

    /// Copy `export` in if its name is free; else `same` judges what is
    /// there (account locked): the same is caught up, another left as is.
    fn import_account(
        &self,
        export: AccountExport,
        same: impl FnOnce(&Existing) -> Result<(), String> + Send + 'static,
    ) -> impl Done<Imported>;

    /// Cancel every pending push; how many there were. Run at start, when
    /// no login can be waiting for one. (A store shared by several mfads
    /// must keep this to the pushes of the restarting one.)
    fn cancel_pending_pushes(&self) -> impl Done<usize>;

    /// Hints that pushes changed through another process sharing this
    /// store, for the logins waiting here; None when no other process can
    /// change them (one mfad owns a SQLite file). Each call is one more
    /// subscriber; call it from inside a tokio runtime.
    fn wakeups(&self) -> Option<tokio::sync::broadcast::Receiver<Wakeup>> {
        None
    }
}
