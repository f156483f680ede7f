//! The SQLite backend: one connection on a writer thread that commits in
//! groups (see `writer`), WAL with synchronous=FULL (a success is
//! answered only after its step is on disk) checkpointed in the background
//! (see `checkpointer`),
//! schema migrations by `user_version`, and an integrity check at open.

use super::checkpointer::{Checkpointer, BACKSTOP_PAGES, LOG_LIMIT_BYTES};
use super::writer::Writer;
use super::*;
use nix::fcntl::{Flock, FlockArg};
use rusqlite::{params, Connection, OptionalExtension};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE accounts (
        user         TEXT PRIMARY KEY NOT NULL,
        secret       BLOB NOT NULL,
        algorithm    TEXT NOT NULL,
        digits       INTEGER NOT NULL,
        period       INTEGER NOT NULL,
        last_step    INTEGER,
        created_at   INTEGER NOT NULL,
        failures     INTEGER NOT NULL DEFAULT 0,
        last_failure INTEGER NOT NULL DEFAULT 0,
        locked       INTEGER NOT NULL DEFAULT 0
     );
     CREATE TABLE recovery_codes (
        user    TEXT NOT NULL REFERENCES accounts(user) ON DELETE CASCADE,
        id      INTEGER NOT NULL,
        hash    BLOB NOT NULL,
        used_at INTEGER,
        PRIMARY KEY (user, id)
     );
     CREATE TABLE host_limits (
        rhost        TEXT PRIMARY KEY NOT NULL,
        failures     INTEGER NOT NULL,
        last_failure INTEGER NOT NULL
     );
     CREATE TABLE pending (
        user       TEXT PRIMARY KEY NOT NULL,
        secret     BLOB NOT NULL,
        algorithm  TEXT NOT NULL,
        digits     INTEGER NOT NULL,
        period     INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
     );",
    // 2: host failures by account (a host is delayed only when several
    // accounts fail from it), replacing one counter per host.
    "DROP TABLE host_limits;
     CREATE TABLE host_failures (
        rhost        TEXT NOT NULL,
        user         TEXT NOT NULL,
        last_failure INTEGER NOT NULL,
        PRIMARY KEY (rhost, user)
     );
     CREATE INDEX host_failures_by_time ON host_failures (last_failure);",
    // 3: facts about the database itself (the master key's check value).
    "CREATE TABLE meta (
        name  TEXT PRIMARY KEY NOT NULL,
        value BLOB NOT NULL
     );",
];

pub struct SqliteStore {
    writer: Writer,
    _checkpointer: Checkpointer,
    // Held for the store's lifetime: two daemons on one state directory
    // would each believe they serialize attempts.
    _lock: Flock<std::fs::File>,
}

fn alg_to_str(a: Algorithm) -> &'static str {
    a.as_str()
}

/// A stored algorithm name; one this build does not know is an error (a
/// row written by a newer mfad, or damage), never a silent SHA1.
fn alg_from_str(s: &str) -> rusqlite::Result<Algorithm> {
    match s {
        "SHA1" => Ok(Algorithm::Sha1),
        "SHA256" => Ok(Algorithm::Sha256),
        "SHA512" => Ok(Algorithm::Sha512),
        other => Err(rusqlite::Error::FromSqlConversionFailure(
            1,
            rusqlite::types::Type::Text,
            format!("unknown TOTP algorithm {other:?} in the database").into(),
        )),
    }
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

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > MIGRATIONS.len() as i64 {
        return Err(StoreError::FutureSchema(version));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

fn read_enrollment(row: &rusqlite::Row<'_>) -> rusqlite::Result<Enrollment> {
    Ok(Enrollment {
        sealed_secret: row.get(0)?,
        algorithm: alg_from_str(&row.get::<_, String>(1)?)?,
        digits: row.get(2)?,
        period: row.get::<_, i64>(3)? as u64,
        last_step: row.get::<_, Option<i64>>(4)?.map(|s| s as u64),
        created_at: row.get(5)?,
    })
}

const ACCOUNT_COLUMNS: &str =
    "secret, algorithm, digits, period, last_step, created_at, failures, last_failure, locked";

fn read_account(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Enrollment, Counters)> {
    Ok((
        read_enrollment(row)?,
        Counters {
            failures: row.get(6)?,
            last_failure: row.get(7)?,
            locked: row.get(8)?,
        },
    ))
}

fn load_state(conn: &Connection, about: &AttemptFor) -> Result<AttemptState, StoreError> {
    let user = about.user.as_str();
    let mut state = AttemptState::default();
    if let Some((e, c)) = conn
        .prepare_cached(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE user = ?1"
        ))?
        .query_row([user], read_account)
        .optional()?
    {
        state.enrollment = Some(e);
        state.user = c;
    }
    if let Some(h) = &about.rhost {
        state.host = Some(
            conn.prepare_cached(
                "SELECT count(*), coalesce(max(last_failure), 0), coalesce(max(user = ?2), 0) \
                 FROM host_failures WHERE rhost = ?1 AND last_failure >= ?3",
            )?
            .query_row(params![h, user, about.hosts_since], |r| {
                Ok(HostFailures {
                    accounts: r.get(0)?,
                    last_failure: r.get(1)?,
                    includes_user: r.get(2)?,
                })
            })?,
        );
    }
    if about.want_recovery && state.enrollment.is_some() {
        let mut stmt = conn.prepare_cached(
            "SELECT id, hash FROM recovery_codes WHERE user = ?1 AND used_at IS NULL",
        )?;
        let rows = stmt.query_map([user], |r| {
            let v: Vec<u8> = r.get(1)?;
            let mut hash = [0u8; 32];
            if v.len() == 32 {
                hash.copy_from_slice(&v);
            }
            Ok(RecoveryCode {
                id: r.get(0)?,
                hash,
            })
        })?;
        for row in rows {
            state.recovery.push(row?);
        }
    }
    Ok(state)
}

/// Apply an attempt's effects. Each update is conditional on the state the
/// decision was made on, so a lost race shows up as `Conflict`.
fn apply(
    conn: &Connection,
    user: &str,
    rhost: Option<&str>,
    effects: Vec<Effect>,
) -> Result<(), StoreError> {
    for effect in effects {
        let changed = match effect {
            Effect::AcceptStep(step) => conn
                .prepare_cached(
                    "UPDATE accounts SET last_step = ?2 WHERE user = ?1 AND (last_step IS NULL OR last_step < ?2)",
                )?
                .execute(params![user, step as i64])?,
            Effect::UseRecovery(id) => conn
                .prepare_cached(
                    "UPDATE recovery_codes SET used_at = strftime('%s','now') \
                     WHERE user = ?1 AND id = ?2 AND used_at IS NULL",
                )?
                .execute(params![user, id])?,
            Effect::SetUserCounters(c) => conn
                .prepare_cached("UPDATE accounts SET failures = ?2, last_failure = ?3, locked = ?4 WHERE user = ?1")?
                .execute(params![user, c.failures, c.last_failure, c.locked])?,
            Effect::HostFailure(at) => match rhost {
                Some(h) => conn
                    .prepare_cached(
                        "INSERT INTO host_failures (rhost, user, last_failure) VALUES (?1, ?2, ?3) \
                         ON CONFLICT (rhost, user) DO UPDATE SET last_failure = ?3",
                    )?
                    .execute(params![h, user, at])?,
                None => 1,
            },
            Effect::HostSuccess => match rhost {
                Some(h) => {
                    conn.prepare_cached("DELETE FROM host_failures WHERE rhost = ?1 AND user = ?2")?
                        .execute(params![h, user])?;
                    1
                }
                None => 1,
            },
        };
        if changed == 0 {
            return Err(StoreError::Conflict);
        }
    }
    Ok(())
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
            let Some((enrollment, counters)) = conn
                .prepare_cached(&format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE user = ?1"
                ))?
                .query_row([&user], read_account)
                .optional()?
            else {
                return Ok(None);
            };
            let recovery_left: u32 = conn.query_row(
                "SELECT count(*) FROM recovery_codes WHERE user = ?1 AND used_at IS NULL",
                [&user],
                |r| r.get(0),
            )?;
            Ok(Some(AccountSummary {
                enrollment,
                counters,
                recovery_left,
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

    fn confirm(
        &self,
        user: &str,
        e: &Enrollment,
        recovery: &[[u8; 32]],
        expect: &Expect,
    ) -> impl Done<()> {
        let user = user.to_string();
        let e = e.clone();
        let recovery = recovery.to_vec();
        let expect = expect.clone();
        self.writer.run(move |conn| {
            let pending: Option<Vec<u8>> = conn
                .prepare_cached("SELECT secret FROM pending WHERE user = ?1")?
                .query_row([&user], |r| r.get(0))
                .optional()?;
            let current: Option<Vec<u8>> = conn
                .prepare_cached("SELECT secret FROM accounts WHERE user = ?1")?
                .query_row([&user], |r| r.get(0))
                .optional()?;
            if pending.as_ref() != Some(&expect.pending) || current != expect.replaces {
                return Err(StoreError::Conflict);
            }
            conn.execute("DELETE FROM accounts WHERE user = ?1", [&user])?;
            conn.execute(
                "INSERT INTO accounts (user, secret, algorithm, digits, period, last_step, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    user,
                    e.sealed_secret,
                    alg_to_str(e.algorithm),
                    e.digits,
                    e.period as i64,
                    e.last_step.map(|s| s as i64),
                    e.created_at
                ],
            )?;
            for (id, hash) in recovery.iter().enumerate() {
                conn.execute(
                    "INSERT INTO recovery_codes (user, id, hash) VALUES (?1, ?2, ?3)",
                    params![user, id as i64, &hash[..]],
                )?;
            }
            conn.execute("DELETE FROM pending WHERE user = ?1", [&user])?;
            Ok(())
        })
    }

    fn remove(&self, user: &str) -> impl Done<bool> {
        let user = user.to_string();
        self.writer.run(move |conn| {
            let n = conn.execute("DELETE FROM accounts WHERE user = ?1", [&user])?;
            conn.execute("DELETE FROM pending WHERE user = ?1", [&user])?;
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

    fn prune(&self, hosts_before: i64, now: i64) -> impl Done<usize> {
        self.writer.run(move |conn| {
            let a = conn.execute(
                "DELETE FROM host_failures WHERE last_failure < ?1",
                [hosts_before],
            )?;
            let b = conn.execute("DELETE FROM pending WHERE expires_at < ?1", [now])?;
            Ok(a + b)
        })
    }
}

#[cfg(test)]
#[path = "sqlite_tests.rs"]
mod tests;
