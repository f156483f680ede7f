//! The SQL of an account's methods on SQLite: its named authenticators,
//! making an enrollment live (as the only authenticator or one more),
//! and removing, renaming and preferring any method by kind and name.

use super::sqlite_attempt::{alg_to_str, read_enrollment};
use super::*;
use rusqlite::{params, Connection, OptionalExtension};

/// Migration 7: several named authenticators per account, taken out of
/// `accounts` (which keeps the counters), and an order among push
/// targets and phones (the highest `preferred` is the default).
pub(super) const MIGRATION: &str = "CREATE TABLE authenticators (
        user       TEXT NOT NULL REFERENCES accounts(user) ON DELETE CASCADE,
        id         INTEGER NOT NULL,
        label      TEXT NOT NULL,
        secret     BLOB NOT NULL,
        algorithm  TEXT NOT NULL,
        digits     INTEGER NOT NULL,
        period     INTEGER NOT NULL,
        last_step  INTEGER,
        created_at INTEGER NOT NULL,
        preferred  INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (user, id),
        UNIQUE (user, label)
     );
     INSERT INTO authenticators (user, id, label, secret, algorithm, digits, period, last_step, created_at)
        SELECT user, 1, 'authenticator app', secret, algorithm, digits, period, last_step, created_at
        FROM accounts;
     ALTER TABLE accounts DROP COLUMN secret;
     ALTER TABLE accounts DROP COLUMN algorithm;
     ALTER TABLE accounts DROP COLUMN digits;
     ALTER TABLE accounts DROP COLUMN period;
     ALTER TABLE accounts DROP COLUMN last_step;
     ALTER TABLE push_targets ADD COLUMN preferred INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE phones ADD COLUMN preferred INTEGER NOT NULL DEFAULT 0;";

/// The name of the authenticator an enrollment without one gets.
pub const FIRST_LABEL: &str = "authenticator app";

fn table(kind: MethodRef) -> &'static str {
    match kind {
        MethodRef::Totp => "authenticators",
        MethodRef::Push => "push_targets",
        MethodRef::Phone => "phones",
    }
}

/// The authenticators of `user`, the default first.
pub(super) fn authenticators(
    conn: &Connection,
    user: &str,
) -> Result<Vec<Authenticator>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT secret, algorithm, digits, period, last_step, created_at, id, label \
         FROM authenticators WHERE user = ?1 ORDER BY preferred DESC, id",
    )?;
    let rows = stmt.query_map([user], |r| {
        Ok(Authenticator {
            totp: read_enrollment(r)?,
            id: r.get(6)?,
            label: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The sealed secrets of the authenticators of `user` in id order; None
/// when there is no such account. What a confirmation expects.
pub(super) fn shape(conn: &Connection, user: &str) -> Result<Option<Vec<Vec<u8>>>, StoreError> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM accounts WHERE user = ?1")?
        .query_row([user], |_| Ok(()))
        .optional()?;
    if exists.is_none() {
        return Ok(None);
    }
    let mut stmt =
        conn.prepare_cached("SELECT secret FROM authenticators WHERE user = ?1 ORDER BY id")?;
    let secrets = stmt.query_map([user], |r| r.get(0))?;
    Ok(Some(secrets.collect::<Result<_, _>>()?))
}

/// Replace the ordinary recovery codes of `user` (a temporary code
/// stays).
pub(super) fn put_recovery(
    conn: &Connection,
    user: &str,
    recovery: &[[u8; 32]],
) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM recovery_codes WHERE user = ?1 AND expires_at IS NULL",
        [user],
    )?;
    // The new codes are hashed with this mfad's key.
    conn.execute(
        "UPDATE accounts SET recovery_key = NULL WHERE user = ?1",
        [user],
    )?;
    // After the help desk's temporary code, if one is outstanding.
    for hash in recovery {
        conn.execute(
            "INSERT INTO recovery_codes (user, id, hash) VALUES (?1, \
             (SELECT coalesce(max(id), -1) + 1 FROM recovery_codes WHERE user = ?1), ?2)",
            params![user, &hash[..]],
        )?;
    }
    Ok(())
}

pub(super) fn confirm(
    conn: &Connection,
    user: &str,
    label: &str,
    e: &Enrollment,
    expect: &Expect,
) -> Result<(), StoreError> {
    let pending: Option<Vec<u8>> = conn
        .prepare_cached("SELECT secret FROM pending WHERE user = ?1")?
        .query_row([user], |r| r.get(0))
        .optional()?;
    if pending.as_ref() != Some(&expect.pending) {
        return Err(StoreError::Conflict);
    }
    let current = shape(conn, user)?;
    match &expect.change {
        Confirm::Replace { replaces, recovery } => {
            if &current != replaces {
                return Err(StoreError::Conflict);
            }
            // A new start: the old authenticators, codes and counters go.
            conn.execute("DELETE FROM accounts WHERE user = ?1", [user])?;
            conn.execute(
                "INSERT INTO accounts (user, created_at) VALUES (?1, ?2)",
                params![user, e.created_at],
            )?;
            put_recovery(conn, user, recovery)?;
        }
        Confirm::Add => {
            if current.is_none() {
                return Err(StoreError::Conflict);
            }
        }
    }
    let taken = conn
        .prepare_cached("SELECT 1 FROM authenticators WHERE user = ?1 AND label = ?2")?
        .query_row([user, label], |_| Ok(()))
        .optional()?;
    if taken.is_some() {
        return Err(StoreError::Conflict);
    }
    conn.execute(
        "INSERT INTO authenticators (user, id, label, secret, algorithm, digits, period, last_step, created_at) \
         VALUES (?1, (SELECT coalesce(max(id), 0) + 1 FROM authenticators WHERE user = ?1), \
         ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            user,
            label,
            e.sealed_secret,
            alg_to_str(e.algorithm),
            e.digits,
            e.period as i64,
            e.last_step.map(|s| s as i64),
            e.created_at
        ],
    )?;
    conn.execute("DELETE FROM pending WHERE user = ?1", [user])?;
    Ok(())
}

/// How many ways to log in `user` has besides the recovery codes.
fn count_methods(conn: &Connection, user: &str) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT (SELECT count(*) FROM authenticators WHERE user = ?1) \
             + (SELECT count(*) FROM push_targets WHERE user = ?1) \
             + (SELECT count(*) FROM phones WHERE user = ?1)",
        )?
        .query_row([user], |r| r.get(0))?)
}

pub(super) fn remove(
    conn: &Connection,
    user: &str,
    kind: MethodRef,
    label: &str,
    keep_one: bool,
) -> Result<Removal, StoreError> {
    let t = table(kind);
    let exists = conn
        .prepare_cached(&format!("SELECT 1 FROM {t} WHERE user = ?1 AND label = ?2"))?
        .query_row([user, label], |_| Ok(()))
        .optional()?;
    if exists.is_none() {
        return Ok(Removal::NotFound);
    }
    if keep_one && count_methods(conn, user)? <= 1 {
        return Ok(Removal::Last);
    }
    conn.execute(
        &format!("DELETE FROM {t} WHERE user = ?1 AND label = ?2"),
        [user, label],
    )?;
    Ok(Removal::Removed)
}

pub(super) fn rename(
    conn: &Connection,
    user: &str,
    kind: MethodRef,
    label: &str,
    new: &str,
) -> Result<Renamed, StoreError> {
    let t = table(kind);
    let taken = conn
        .prepare_cached(&format!("SELECT 1 FROM {t} WHERE user = ?1 AND label = ?2"))?
        .query_row([user, new], |_| Ok(()))
        .optional()?;
    if taken.is_some() && label != new {
        return Ok(Renamed::Taken);
    }
    let n = conn.execute(
        &format!("UPDATE {t} SET label = ?3 WHERE user = ?1 AND label = ?2"),
        [user, label, new],
    )?;
    Ok(if n > 0 {
        Renamed::Done
    } else {
        Renamed::NotFound
    })
}

pub(super) fn prefer(
    conn: &Connection,
    user: &str,
    kind: MethodRef,
    label: &str,
) -> Result<bool, StoreError> {
    let t = table(kind);
    let n = conn.execute(
        &format!(
            "UPDATE {t} SET preferred = (SELECT max(preferred) + 1 FROM {t} WHERE user = ?1) \
             WHERE user = ?1 AND label = ?2"
        ),
        [user, label],
    )?;
    Ok(n > 0)
}
