//! Whole accounts in and out of SQLite, for `mfad migrate`: every account
//! of a single host's database read out (from a private copy, never the
//! live file), and one account written in with its authenticators, codes,
//! phones and push targets, or judged against the one already there.

use super::sqlite_attempt::{alg_to_str, read_counters, read_enrollment};
use super::sqlite_phone::channel_from;
use super::sqlite_push::provider_from;
use super::transfer::*;
use super::*;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::path::Path;

/// What a single host's database holds: the key check it recorded (if
/// any) and every account, secrets sealed under that host's key. `db` is
/// brought to this build's schema first, so it must be a copy (see
/// `backup::backup_to`). Temporary codes expired at `now` are left out.
pub fn export_sqlite(
    db: &Path,
    now: i64,
) -> Result<(Option<Vec<u8>>, Vec<AccountExport>), StoreError> {
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    super::sqlite_schema::migrate(&conn)?;
    let tx = conn.unchecked_transaction()?;
    let check = tx
        .query_row("SELECT value FROM meta WHERE name = 'key_check'", [], |r| {
            r.get(0)
        })
        .optional()?;
    let users: Vec<String> = tx
        .prepare("SELECT user FROM accounts ORDER BY user")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(users.len());
    for user in users {
        out.push(export_one(&tx, &user, now)?);
    }
    Ok((check, out))
}

fn export_one(conn: &Connection, user: &str, now: i64) -> Result<AccountExport, StoreError> {
    let (counters, created_at, last_login) = conn.query_row(
        "SELECT failures, last_failure, locked, created_at, last_login FROM accounts WHERE user = ?1",
        [user],
        |r| Ok((read_counters(r)?, r.get(3)?, r.get(4)?)),
    )?;
    let authenticators = conn
        .prepare(
            "SELECT secret, algorithm, digits, period, last_step, created_at, id, label, preferred \
             FROM authenticators WHERE user = ?1 ORDER BY id",
        )?
        .query_map([user], |r| {
            Ok(ExportedAuthenticator {
                totp: read_enrollment(r)?,
                id: r.get(6)?,
                label: r.get(7)?,
                preferred: r.get(8)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let recovery = conn
        .prepare(
            "SELECT id, hash, used_at, expires_at FROM recovery_codes WHERE user = ?1 \
             AND (expires_at IS NULL OR expires_at > ?2) ORDER BY id",
        )?
        .query_map(params![user, now], |r| {
            let v: Vec<u8> = r.get(1)?;
            Ok(ExportedCode {
                id: r.get(0)?,
                // As the login reads it: a damaged hash matches nothing.
                hash: v.try_into().unwrap_or([0u8; 32]),
                used_at: r.get(2)?,
                expires_at: r.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let phones = conn
        .prepare(
            "SELECT label, number, channel, created_at, preferred FROM phones WHERE user = ?1 \
             ORDER BY preferred DESC, created_at, label",
        )?
        .query_map([user], |r| {
            let p = Phone {
                label: r.get(0)?,
                number: r.get(1)?,
                channel: channel_from(2, &r.get::<_, String>(2)?)?,
                created_at: r.get(3)?,
            };
            Ok((p, r.get(4)?))
        })?
        .collect::<Result<_, _>>()?;
    let push_targets = conn
        .prepare(
            "SELECT label, provider, sealed_topic, created_at, preferred FROM push_targets \
             WHERE user = ?1 ORDER BY preferred DESC, created_at, label",
        )?
        .query_map([user], |r| {
            let t = PushTarget {
                label: r.get(0)?,
                provider: provider_from(1, &r.get::<_, String>(1)?)?,
                sealed_topic: r.get(2)?,
                created_at: r.get(3)?,
            };
            Ok((t, r.get(4)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(AccountExport {
        user: user.to_string(),
        created_at,
        last_login,
        counters,
        authenticators,
        recovery,
        phones,
        push_targets,
        recovery_key: None,
    })
}

/// [`Store::import_account`] on SQLite, in one job of the writer.
pub(super) fn import(
    conn: &Connection,
    e: &AccountExport,
    same: impl FnOnce(&Existing) -> Result<(), String>,
) -> Result<Imported, StoreError> {
    let user = e.user.as_str();
    let exists = conn
        .prepare_cached("SELECT 1 FROM accounts WHERE user = ?1")?
        .query_row([user], |_| Ok(()))
        .optional()?;
    if exists.is_some() {
        let existing = Existing {
            authenticators: super::sqlite_methods::authenticators(conn, user)?,
            phones: super::sqlite_phone::phones(conn, user)?,
            push_targets: super::sqlite_push::targets(conn, user)?,
        };
        if let Err(why) = same(&existing) {
            return Ok(Imported::Conflict(why));
        }
        return Ok(Imported::AlreadyThere {
            caught_up: catch_up(conn, e)?,
        });
    }
    let c = e.counters;
    conn.execute(
        "INSERT INTO accounts (user, created_at, failures, last_failure, locked, last_login, recovery_key) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![user, e.created_at, c.failures, c.last_failure, c.locked, e.last_login, e.recovery_key],
    )?;
    for a in &e.authenticators {
        let t = &a.totp;
        conn.execute(
            "INSERT INTO authenticators (user, id, label, secret, algorithm, digits, period, last_step, created_at, preferred) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                user,
                a.id,
                a.label,
                t.sealed_secret,
                alg_to_str(t.algorithm),
                t.digits,
                t.period as i64,
                t.last_step.map(|s| s as i64),
                t.created_at,
                a.preferred
            ],
        )?;
    }
    for r in &e.recovery {
        conn.execute(
            "INSERT INTO recovery_codes (user, id, hash, used_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![user, r.id, &r.hash[..], r.used_at, r.expires_at],
        )?;
    }
    for (p, preferred) in &e.phones {
        conn.execute(
            "INSERT INTO phones (user, label, number, channel, created_at, preferred) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                user,
                p.label,
                p.number,
                p.channel.as_str(),
                p.created_at,
                preferred
            ],
        )?;
    }
    for (t, preferred) in &e.push_targets {
        conn.execute(
            "INSERT INTO push_targets (user, label, provider, sealed_topic, created_at, preferred) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![user, t.label, t.provider.as_str(), t.sealed_topic, t.created_at, preferred],
        )?;
    }
    Ok(Imported::Copied)
}

/// Spend here what the export spent: a higher last step of an
/// authenticator of the same name, and codes used there (matched by
/// hash). Never the other way: nothing spent becomes unspent.
fn catch_up(conn: &Connection, e: &AccountExport) -> Result<usize, StoreError> {
    let mut n = 0;
    for a in &e.authenticators {
        if let Some(step) = a.totp.last_step {
            n += conn.execute(
                "UPDATE authenticators SET last_step = ?3 WHERE user = ?1 AND label = ?2 \
                 AND (last_step IS NULL OR last_step < ?3)",
                params![e.user, a.label, step as i64],
            )?;
        }
    }
    for r in e.recovery.iter().filter(|r| r.used_at.is_some()) {
        n += conn.execute(
            "UPDATE recovery_codes SET used_at = ?3 WHERE user = ?1 AND hash = ?2 AND used_at IS NULL",
            params![e.user, &r.hash[..], r.used_at],
        )?;
    }
    Ok(n)
}
