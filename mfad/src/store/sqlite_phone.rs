//! The SQL of phone codes on SQLite: saved numbers, codes and the send
//! limits. Every change to a code is conditional on its state, so a
//! delivery report, a confirmation and a wrong try that race apply once.

use super::phone::*;
use super::StoreError;
use crate::crypto::ct_eq;
use mfa_proto::phone::{Channel, PhonePurpose};
use rusqlite::{params, Connection, OptionalExtension, Row};

pub(super) const MIGRATION: &str = "CREATE TABLE phones (
        user       TEXT NOT NULL,
        label      TEXT NOT NULL,
        number     TEXT NOT NULL,
        channel    TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (user, label)
     );
     CREATE TABLE phone_codes (
        id          TEXT PRIMARY KEY NOT NULL,
        user        TEXT NOT NULL,
        number      TEXT NOT NULL,
        channel     TEXT NOT NULL,
        purpose     TEXT NOT NULL,
        label       TEXT NOT NULL,
        code_hash   BLOB NOT NULL,
        sealed_code BLOB,
        host        TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        state       TEXT NOT NULL,
        tries       INTEGER NOT NULL DEFAULT 0
     );
     CREATE INDEX phone_codes_by_user ON phone_codes (user, created_at);
     CREATE INDEX phone_codes_by_number ON phone_codes (number, created_at);
     CREATE INDEX phone_codes_by_state ON phone_codes (state, created_at);";

const LIVE: &str = "('queued', 'sending', 'sent')";
const COLUMNS: &str = "id, user, number, channel, purpose, label, code_hash, sealed_code, host, \
     created_at, expires_at, state, tries";

fn bad(col: usize, what: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, what.into())
}

pub(super) fn channel_from(col: usize, s: &str) -> rusqlite::Result<Channel> {
    match s {
        "sms" => Ok(Channel::Sms),
        "voice" => Ok(Channel::Voice),
        other => Err(bad(col, format!("unknown phone channel {other:?}"))),
    }
}

fn purpose_str(p: PhonePurpose) -> &'static str {
    match p {
        PhonePurpose::Login => "login",
        PhonePurpose::AddNumber => "add_number",
    }
}

fn purpose_from(col: usize, s: &str) -> rusqlite::Result<PhonePurpose> {
    match s {
        "login" => Ok(PhonePurpose::Login),
        "add_number" => Ok(PhonePurpose::AddNumber),
        other => Err(bad(col, format!("unknown phone code purpose {other:?}"))),
    }
}

fn state_from(col: usize, s: &str) -> rusqlite::Result<CodeState> {
    Ok(match s {
        "queued" => CodeState::Queued,
        "sending" => CodeState::Sending,
        "sent" => CodeState::Sent,
        "failed" => CodeState::Failed,
        "used" => CodeState::Used,
        "burned" => CodeState::Burned,
        other => return Err(bad(col, format!("unknown phone code state {other:?}"))),
    })
}

fn read_code(r: &Row<'_>) -> rusqlite::Result<PhoneCode> {
    let v: Vec<u8> = r.get(6)?;
    let mut code_hash = [0u8; 32];
    if v.len() == 32 {
        code_hash.copy_from_slice(&v);
    }
    Ok(PhoneCode {
        id: r.get(0)?,
        user: r.get(1)?,
        number: r.get(2)?,
        channel: channel_from(3, &r.get::<_, String>(3)?)?,
        purpose: purpose_from(4, &r.get::<_, String>(4)?)?,
        label: r.get(5)?,
        code_hash,
        sealed_code: r.get(7)?,
        host: r.get(8)?,
        created_at: r.get(9)?,
        expires_at: r.get(10)?,
        state: state_from(11, &r.get::<_, String>(11)?)?,
        tries: r.get(12)?,
    })
}

pub(super) fn phones(conn: &Connection, user: &str) -> Result<Vec<Phone>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT label, number, channel, created_at FROM phones WHERE user = ?1 \
         ORDER BY preferred DESC, created_at, label",
    )?;
    let rows = stmt.query_map([user], |r| {
        Ok(Phone {
            label: r.get(0)?,
            number: r.get(1)?,
            channel: channel_from(2, &r.get::<_, String>(2)?)?,
            created_at: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Count, then queue `code` unless over a limit, in one transaction.
pub(super) fn open(
    conn: &Connection,
    code: &PhoneCode,
    lim: SendLimits,
) -> Result<SendOpened, StoreError> {
    let count = |col: &str, key: &str| -> Result<(u32, i64), StoreError> {
        Ok(conn.query_row(
            &format!(
                "SELECT count(*), coalesce(min(created_at), 0) FROM phone_codes \
                 WHERE {col} = ?1 AND created_at >= ?2"
            ),
            params![key, lim.since],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    };
    let (n, oldest) = count("user", &code.user)?;
    if n >= lim.per_user {
        return Ok(SendOpened::UserLimit { oldest });
    }
    let (n, oldest) = count("number", &code.number)?;
    if n >= lim.per_number {
        return Ok(SendOpened::NumberLimit { oldest });
    }
    conn.execute(
        &format!("INSERT INTO phone_codes ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 0)"),
        params![
            code.id,
            code.user,
            code.number,
            code.channel.as_str(),
            purpose_str(code.purpose),
            code.label,
            &code.code_hash[..],
            code.sealed_code,
            code.host,
            code.created_at,
            code.expires_at,
            CodeState::Queued.as_str(),
        ],
    )?;
    Ok(SendOpened::Queued)
}

/// The oldest queued, unexpired code, marked as being sent.
pub(super) fn next_delivery(conn: &Connection, now: i64) -> Result<Option<PhoneCode>, StoreError> {
    let Some(mut code) = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM phone_codes WHERE state = 'queued' AND expires_at > ?1 \
             ORDER BY created_at LIMIT 1"
        ))?
        .query_row([now], read_code)
        .optional()?
    else {
        return Ok(None);
    };
    conn.execute(
        "UPDATE phone_codes SET state = 'sending' WHERE id = ?1 AND state = 'queued'",
        [&code.id],
    )?;
    code.state = CodeState::Sending;
    Ok(Some(code))
}

/// How the delivery went; the sealed copy is dropped either way.
pub(super) fn delivery_result(
    conn: &Connection,
    id: &str,
    delivered: bool,
) -> Result<bool, StoreError> {
    let state = if delivered { "sent" } else { "failed" };
    Ok(conn.execute(
        "UPDATE phone_codes SET state = ?2, sealed_code = NULL WHERE id = ?1 AND state = 'sending'",
        params![id, state],
    )? > 0)
}

/// The live login code `id` of `user`, for an attempt to check.
pub(super) fn live_login_code(
    conn: &Connection,
    user: &str,
    id: &str,
    now: i64,
) -> Result<Option<PhoneCode>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM phone_codes WHERE id = ?1 AND user = ?2 AND purpose = 'login' \
             AND state IN {LIVE} AND expires_at > ?3"
        ))?
        .query_row(params![id, user, now], read_code)
        .optional()?)
}

/// Spend code `id` (only while live): its one use.
pub(super) fn use_code(conn: &Connection, id: &str) -> Result<usize, StoreError> {
    Ok(conn.execute(
        &format!("UPDATE phone_codes SET state = 'used', sealed_code = NULL WHERE id = ?1 AND state IN {LIVE}"),
        [id],
    )?)
}

/// A wrong try at code `id`; the last allowed one burns it.
pub(super) fn miss(conn: &Connection, id: &str) -> Result<usize, StoreError> {
    Ok(conn.execute(
        &format!(
            "UPDATE phone_codes SET tries = tries + 1, \
             state = CASE WHEN tries + 1 >= {MAX_TRIES} THEN 'burned' ELSE state END \
             WHERE id = ?1 AND state IN {LIVE}"
        ),
        [id],
    )?)
}

/// Confirm the latest live `AddNumber` code of `user` with `hash`:
/// compared in constant time; right saves the number, wrong counts a try.
pub(super) fn confirm(
    conn: &Connection,
    user: &str,
    hash_of: &dyn Fn(&PhoneCode) -> [u8; 32],
    recovery: &[[u8; 32]],
    now: i64,
) -> Result<Confirmed, StoreError> {
    let Some(code) = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM phone_codes WHERE user = ?1 AND purpose = 'add_number' \
             AND state IN {LIVE} AND expires_at > ?2 ORDER BY created_at DESC LIMIT 1"
        ))?
        .query_row(params![user, now], read_code)
        .optional()?
    else {
        return Ok(Confirmed::NoCode);
    };
    if !ct_eq(&hash_of(&code), &code.code_hash) {
        miss(conn, &code.id)?;
        return Ok(Confirmed::Wrong);
    }
    if use_code(conn, &code.id)? == 0 {
        return Ok(Confirmed::NoCode);
    }
    let phone = Phone {
        label: code.label.clone(),
        number: code.number.clone(),
        channel: code.channel,
        created_at: now,
    };
    // A name taken since the code was sent: nothing changes, the code
    // stays unused (the whole job is rolled back).
    let added = conn.execute(
        "INSERT INTO phones (user, label, number, channel, created_at) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (user, label) DO NOTHING",
        params![user, phone.label, phone.number, phone.channel.as_str(), now],
    )?;
    if added == 0 {
        return Err(StoreError::Conflict);
    }
    // A first method: the account is made here, with recovery codes, and
    // logs in by phone.
    let created = conn.execute(
        "INSERT INTO accounts (user, created_at) VALUES (?1, ?2) ON CONFLICT (user) DO NOTHING",
        params![user, now],
    )? > 0;
    if created {
        super::sqlite_methods::put_recovery(conn, user, recovery)?;
    }
    Ok(Confirmed::Added { phone, created })
}

pub(super) fn forget_user(conn: &Connection, user: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM phones WHERE user = ?1", [user])?;
    conn.execute("DELETE FROM phone_codes WHERE user = ?1", [user])?;
    Ok(())
}

pub(super) fn prune(conn: &Connection, before: i64) -> Result<usize, StoreError> {
    Ok(conn.execute("DELETE FROM phone_codes WHERE created_at < ?1", [before])?)
}
