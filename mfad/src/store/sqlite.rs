//! The SQLite backend: one connection on a writer thread that commits in
//! groups (see `writer`), WAL with synchronous=FULL (a success is
//! answered only after its step is on disk) checkpointed in the background
//! (see `checkpointer`),
//! schema migrations by `user_version`, and an integrity check at open.

use super::checkpointer::{Checkpointer, BACKSTOP_PAGES, LOG_LIMIT_BYTES};
use super::sqlite_attempt::{alg_from_str, alg_to_str, apply, load_state, read_counters};
use super::sqlite_methods as methods_sql;
use super::sqlite_phone as phone_sql;
use super::sqlite_push as push_sql;
use super::sqlite_schema::migrate;
use super::writer::Writer;
use super::*;
use nix::fcntl::{Flock, FlockArg};
use rusqlite::{params, Connection, OptionalExtension};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

pub struct SqliteStore {
    writer: Writer,
    _checkpointer: Checkpointer,
    // Held for the store's lifetime: two daemons on one state directory
    // would each believe they serialize attempts.
    _lock: Flock<std::fs::File>,
}

impl SqliteStore {
    /// The database file in `state_dir`.
    pub fn database_in(state_dir: &Path) -> std::path::PathBuf {
        state_dir.join("mfad.db")
    }

    /// Open (creating if needed) `mfad.db` in `state_dir`, which is created
    /// 0700 or tightened to it.
    pub fn open(state_dir: &Path) -> Result<SqliteStore, StoreError> {
        let dir_err = |source| StoreError::StateDir {
            path: state_dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(state_dir).map_err(dir_err)?;
        std::fs::set_permissions(state_dir, std::fs::Permissions::from_mode(0o700))
            .map_err(dir_err)?;
        let lock_file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(state_dir.join("mfad.lock"))
            .map_err(dir_err)?;
        let lock = Flock::lock(lock_file, FlockArg::LockExclusiveNonblock)
            .map_err(|_| StoreError::Busy(state_dir.display().to_string()))?;
        let db = Self::database_in(state_dir);
        let conn = Connection::open(&db)?;
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).map_err(dir_err)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;",
        )?;
        conn.pragma_update(None, "wal_autocheckpoint", BACKSTOP_PAGES)?;
        conn.pragma_update(None, "journal_size_limit", LOG_LIMIT_BYTES)?;
        let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if check != "ok" {
            return Err(StoreError::Integrity(check));
        }
        migrate(&conn)?;
        let writer = Writer::start(conn).map_err(dir_err)?;
        let checkpointer = Checkpointer::start(&db)?;
        Ok(SqliteStore {
            writer,
            _checkpointer: checkpointer,
            _lock: lock,
        })
    }
}

impl Store for SqliteStore {
    fn attempt<R: Send + 'static>(
        &self,
        about: AttemptFor,
        decide: impl FnOnce(&AttemptState) -> (R, Vec<Effect>) + Send + 'static,
    ) -> impl Done<R> {
        self.writer.run(move |conn| {
            let state = load_state(conn, &about)?;
            let (result, effects) = decide(&state);
            apply(conn, &about.user, about.rhost.as_deref(), effects)?;
            Ok(result)
        })
    }

    fn ping(&self) -> impl Done<()> {
        let alive = self.writer.is_alive();
        let job = alive.then(|| self.writer.run(|_| Ok(())));
        async move {
            match job {
                Some(job) => job.await,
                None => Err(StoreError::WriterGone),
            }
        }
    }

    fn summary(&self, user: &str) -> impl Done<Option<AccountSummary>> {
        let user = user.to_string();
        self.writer.run(move |conn| {
            let Some((counters, created_at, last_login)) = conn
                .prepare_cached(
                    "SELECT failures, last_failure, locked, created_at, last_login \
                     FROM accounts WHERE user = ?1",
                )?
                .query_row([&user], |r| Ok((read_counters(r)?, r.get(3)?, r.get(4)?)))
                .optional()?
            else {
                return Ok(None);
            };
            Ok(Some(AccountSummary {
                authenticators: methods_sql::authenticators(conn, &user)?,
                created_at,
                counters,
                recovery_left: sqlite_attempt::count_recovery(conn, &user)?,
                last_login,
            }))
        })
    }

    fn list(&self, after: &str, limit: usize) -> impl Done<Vec<String>> {
        let after = after.to_string();
        self.writer.run(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT user FROM accounts WHERE user > ?1 ORDER BY user LIMIT ?2",
            )?;
            let names = stmt
                .query_map(params![after, limit as i64], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(names)
        })
    }

    fn put_pending(&self, user: &str, p: &Pending) -> impl Done<()> {
        let user = user.to_string();
        let p = p.clone();
        self.writer.run(move |conn| {
            conn.execute(
                "INSERT OR REPLACE INTO pending (user, secret, algorithm, digits, period, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![user, p.sealed_secret, alg_to_str(p.algorithm), p.digits, p.period as i64, p.expires_at],
            )?;
            Ok(())
        })
    }

    fn pending(&self, user: &str) -> impl Done<Option<Pending>> {
        let user = user.to_string();
        self.writer.run(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT secret, algorithm, digits, period, expires_at FROM pending WHERE user = ?1",
                    [&user],
                    |r| {
                        Ok(Pending {
                            sealed_secret: r.get(0)?,
                            algorithm: alg_from_str(&r.get::<_, String>(1)?)?,
                            digits: r.get(2)?,
                            period: r.get::<_, i64>(3)? as u64,
                            expires_at: r.get(4)?,
                        })
                    },
                )
                .optional()?)
        })
    }

    fn confirm(&self, user: &str, label: &str, e: &Enrollment, expect: &Expect) -> impl Done<()> {
        let (user, label, e, expect) = (
            user.to_string(),
            label.to_string(),
            e.clone(),
            expect.clone(),
        );
        self.writer
            .run(move |conn| methods_sql::confirm(conn, &user, &label, &e, &expect))
    }

    fn replace_recovery(
        &self,
        user: &str,
        recovery: &[[u8; 32]],
        expect: &[Vec<u8>],
    ) -> impl Done<()> {
        let (user, recovery, expect) = (user.to_string(), recovery.to_vec(), expect.to_vec());
        self.writer.run(move |conn| {
            if methods_sql::shape(conn, &user)?.as_ref() != Some(&expect) {
                return Err(StoreError::Conflict);
            }
            methods_sql::put_recovery(conn, &user, &recovery)
        })
    }

    fn remove_method(
        &self,
        user: &str,
        kind: MethodRef,
        label: &str,
        keep_one: bool,
    ) -> impl Done<Removal> {
        let (user, label) = (user.to_string(), label.to_string());
        self.writer
            .run(move |conn| methods_sql::remove(conn, &user, kind, &label, keep_one))
    }

    fn rename_method(
        &self,
        user: &str,
        kind: MethodRef,
        label: &str,
        new: &str,
    ) -> impl Done<Renamed> {
        let (user, label, new) = (user.to_string(), label.to_string(), new.to_string());
        self.writer
            .run(move |conn| methods_sql::rename(conn, &user, kind, &label, &new))
    }

    fn prefer_method(&self, user: &str, kind: MethodRef, label: &str) -> impl Done<bool> {
        let (user, label) = (user.to_string(), label.to_string());
        self.writer
            .run(move |conn| methods_sql::prefer(conn, &user, kind, &label))
    }

    fn remove(&self, user: &str) -> impl Done<bool> {
        let user = user.to_string();
        self.writer.run(move |conn| {
            let n = conn.execute("DELETE FROM accounts WHERE user = ?1", [&user])?;
            conn.execute("DELETE FROM pending WHERE user = ?1", [&user])?;
            push_sql::forget_user(conn, &user)?;
            phone_sql::forget_user(conn, &user)?;
            Ok(n > 0)
        })
    }

    fn add_bypass(&self, user: &str, hash: [u8; 32], expires_at: i64) -> impl Done<bool> {
        let user = user.to_string();
        self.writer.run(move |conn| {
            conn.execute(
                "DELETE FROM recovery_codes WHERE user = ?1 AND expires_at IS NOT NULL",
                [&user],
            )?;
            let n = conn.execute(
                "INSERT INTO recovery_codes (user, id, hash, expires_at) \
                 SELECT ?1, (SELECT coalesce(max(id), -1) + 1 FROM recovery_codes WHERE user = ?1), ?2, ?3 \
                 WHERE EXISTS (SELECT 1 FROM accounts WHERE user = ?1)",
                params![user, &hash[..], expires_at],
            )?;
            Ok(n > 0)
        })
    }

    fn unlock(&self, user: &str) -> impl Done<bool> {
        let user = user.to_string();
        self.writer.run(move |conn| {
            let n = conn.execute(
                "UPDATE accounts SET failures = 0, last_failure = 0, locked = 0 WHERE user = ?1",
                [&user],
            )?;
            Ok(n > 0)
        })
    }

    fn key_check(&self) -> impl Done<Option<Vec<u8>>> {
        self.writer.run(|conn| {
            Ok(conn
                .query_row("SELECT value FROM meta WHERE name = 'key_check'", [], |r| {
                    r.get(0)
                })
                .optional()?)
        })
    }

    fn set_key_check(&self, check: &[u8]) -> impl Done<()> {
        let check = check.to_vec();
        self.writer.run(move |conn| {
            conn.execute(
                "INSERT INTO meta (name, value) VALUES ('key_check', ?1) \
                 ON CONFLICT (name) DO UPDATE SET value = ?1",
                [check],
            )?;
            Ok(())
        })
    }

    fn prune(&self, hosts_before: i64, pushes_before: i64, now: i64) -> impl Done<usize> {
        self.writer.run(move |conn| {
            let a = conn.execute(
                "DELETE FROM host_failures WHERE last_failure < ?1",
                [hosts_before],
            )?;
            let b = conn.execute("DELETE FROM pending WHERE expires_at < ?1", [now])?;
            let c = phone_sql::prune(conn, pushes_before)?;
            Ok(a + b + c + push_sql::prune(conn, pushes_before, now)?)
        })
    }

    fn phones(&self, user: &str) -> impl Done<Vec<Phone>> {
        let user = user.to_string();
        self.writer.run(move |conn| phone_sql::phones(conn, &user))
    }

    fn open_phone_code(&self, code: PhoneCode, limits: SendLimits) -> impl Done<SendOpened> {
        self.writer
            .run(move |conn| phone_sql::open(conn, &code, limits))
    }

    fn next_phone_delivery(&self, now: i64) -> impl Done<Option<PhoneCode>> {
        self.writer
            .run(move |conn| phone_sql::next_delivery(conn, now))
    }

    fn phone_delivery_result(&self, id: &str, delivered: bool) -> impl Done<bool> {
        let id = id.to_string();
        self.writer
            .run(move |conn| phone_sql::delivery_result(conn, &id, delivered))
    }

    fn confirm_phone(
        &self,
        user: &str,
        hash_of: impl Fn(&PhoneCode) -> [u8; 32] + Send + 'static,
        recovery: Vec<[u8; 32]>,
        now: i64,
    ) -> impl Done<Confirmed> {
        let user = user.to_string();
        self.writer
            .run(move |conn| phone_sql::confirm(conn, &user, &hash_of, &recovery, now))
    }

    fn push_targets(&self, user: &str) -> impl Done<Vec<PushTarget>> {
        let user = user.to_string();
        self.writer.run(move |conn| push_sql::targets(conn, &user))
    }

    fn open_push(&self, push: PushRecord, fatigue: Fatigue) -> impl Done<Opened> {
        self.writer
            .run(move |conn| push_sql::open(conn, &push, fatigue))
    }

    fn next_delivery(&self, now: i64) -> impl Done<Option<PushRecord>> {
        self.writer
            .run(move |conn| push_sql::next_delivery(conn, now))
    }

    fn delivery_result(&self, id: &str, delivered: bool) -> impl Done<bool> {
        let id = id.to_string();
        self.writer
            .run(move |conn| push_sql::delivery_result(conn, &id, delivered))
    }

    fn push(&self, id: &str) -> impl Done<Option<PushRecord>> {
        let id = id.to_string();
        self.writer.run(move |conn| push_sql::by_id(conn, &id))
    }

    fn push_by_token(&self, token_hash: [u8; 32]) -> impl Done<Option<PushRecord>> {
        self.writer
            .run(move |conn| push_sql::by_token(conn, &token_hash))
    }

    fn pending_pushes(&self, user: &str, now: i64) -> impl Done<Vec<PushRecord>> {
        let user = user.to_string();
        self.writer
            .run(move |conn| push_sql::pending_of(conn, &user, now))
    }

    fn decide_push<R: Send + 'static>(
        &self,
        key: PushKey,
        decide: impl FnOnce(&PushRecord) -> (R, PushVerdict) + Send + 'static,
    ) -> impl Done<Option<R>> {
        self.writer
            .run(move |conn| push_sql::decide(conn, &key, decide))
    }

    fn end_push(&self, id: &str, state: PushState) -> impl Done<bool> {
        let id = id.to_string();
        self.writer.run(move |conn| push_sql::end(conn, &id, state))
    }

    fn import_account(
        &self,
        export: AccountExport,
        same: impl FnOnce(&Existing) -> Result<(), String> + Send + 'static,
    ) -> impl Done<Imported> {
        self.writer
            .run(move |conn| super::sqlite_transfer::import(conn, &export, same))
    }

    fn cancel_pending_pushes(&self) -> impl Done<usize> {
        self.writer.run(push_sql::cancel_pending)
    }
}

#[cfg(test)]
#[path = "sqlite_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "sqlite_methods_tests.rs"]
mod methods_tests;
