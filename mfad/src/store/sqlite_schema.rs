//! The SQLite schema and its migrations, applied in order by
//! `user_version` when the store opens.

use super::StoreError;
use rusqlite::Connection;

pub(super) const MIGRATIONS: &[&str] = &[
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
    // 4: push approval (targets, pushes, blocks after a denial).
    super::sqlite_push::MIGRATION,
    // 5: the help desk's temporary codes (a recovery code that expires)
    // and each account's last successful login.
    "ALTER TABLE recovery_codes ADD COLUMN expires_at INTEGER;
     ALTER TABLE accounts ADD COLUMN last_login INTEGER;",
    // 6: phone numbers and the one-time codes sent to them.
    super::sqlite_phone::MIGRATION,
    // 7: several named authenticators per account, and a default push
    // target and phone.
    super::sqlite_methods::MIGRATION,
    // 8: the recovery subkey of the mfad an account was copied from by
    // `mfad migrate` (sealed), which its copied codes were hashed with.
    "ALTER TABLE accounts ADD COLUMN recovery_key BLOB;",
];

pub(super) fn migrate(conn: &Connection) -> Result<(), StoreError> {
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
