//! The SQL of one login attempt on SQLite: load everything the decision
//! looks at, and apply its effects, each update conditional on the state
//! it was decided on. Run inside a job of the writer's group transaction.

use super::*;
use rusqlite::{params, Connection, OptionalExtension};

pub(super) fn alg_to_str(a: Algorithm) -> &'static str {
    a.as_str()
}

/// A stored algorithm name; one this build does not know is an error (a
/// row written by a newer mfad, or damage), never a silent SHA1.
pub(super) fn alg_from_str(s: &str) -> rusqlite::Result<Algorithm> {
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

pub(super) fn read_enrollment(row: &rusqlite::Row<'_>) -> rusqlite::Result<Enrollment> {
    Ok(Enrollment {
        sealed_secret: row.get(0)?,
        algorithm: alg_from_str(&row.get::<_, String>(1)?)?,
        digits: row.get(2)?,
        period: row.get::<_, i64>(3)? as u64,
        last_step: row.get::<_, Option<i64>>(4)?.map(|s| s as u64),
        created_at: row.get(5)?,
    })
}

pub(super) fn read_counters(row: &rusqlite::Row<'_>) -> rusqlite::Result<Counters> {
    Ok(Counters {
        failures: row.get(0)?,
        last_failure: row.get(1)?,
        locked: row.get(2)?,
    })
}

pub(super) fn load_state(
    conn: &Connection,
    about: &AttemptFor,
) -> Result<AttemptState, StoreError> {
    let user = about.user.as_str();
    let mut state = AttemptState::default();
    if let Some(c) = conn
        .prepare_cached("SELECT failures, last_failure, locked FROM accounts WHERE user = ?1")?
        .query_row([user], read_counters)
        .optional()?
    {
        state.enrolled = true;
        state.user = c;
        state.authenticators = super::sqlite_methods::authenticators(conn, user)?;
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
    if about.want_recovery && state.enrolled {
        let mut stmt = conn.prepare_cached(
            "SELECT id, hash, expires_at FROM recovery_codes WHERE user = ?1 AND used_at IS NULL",
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
                expires_at: r.get(2)?,
            })
        })?;
        for row in rows {
            state.recovery.push(row?);
        }
        state.recovery_key = conn
            .prepare_cached("SELECT recovery_key FROM accounts WHERE user = ?1")?
            .query_row([user], |r| r.get(0))?;
    }
    if let Some(id) = about.phone_code.as_deref() {
        state.phone = super::sqlite_phone::live_login_code(conn, user, id, about.now)?;
    }
    if about.count_recovery && state.enrolled {
        state.recovery_left = count_recovery(conn, user)?;
    }
    Ok(state)
}

/// Unused ordinary recovery codes of `user` (not the temporary code).
pub(super) fn count_recovery(conn: &Connection, user: &str) -> rusqlite::Result<u32> {
    conn.prepare_cached(
        "SELECT count(*) FROM recovery_codes WHERE user = ?1 AND used_at IS NULL AND expires_at IS NULL",
    )?
    .query_row([user], |r| r.get(0))
}

/// Apply an attempt's effects. Each update is conditional on the state the
/// decision was made on, so a lost race shows up as `Conflict`.
pub(super) fn apply(
    conn: &Connection,
    user: &str,
    rhost: Option<&str>,
    effects: Vec<Effect>,
) -> Result<(), StoreError> {
    for effect in effects {
        let changed = match effect {
            Effect::AcceptStep { id, step } => conn
                .prepare_cached(
                    "UPDATE authenticators SET last_step = ?3 \
                     WHERE user = ?1 AND id = ?2 AND (last_step IS NULL OR last_step < ?3)",
                )?
                .execute(params![user, id, step as i64])?,
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
            Effect::LoggedIn(at) => conn
                .prepare_cached("UPDATE accounts SET last_login = ?2 WHERE user = ?1")?
                .execute(params![user, at])?,
            Effect::UsePhoneCode(id) => super::sqlite_phone::use_code(conn, &id)?,
            Effect::PhoneMiss(id) => super::sqlite_phone::miss(conn, &id)?,
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
