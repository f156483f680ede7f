//! The SQL of push approval on SQLite: targets, pushes and blocks. Every
//! change to a push is conditional on it still being pending, so a
//! decision, an expiry and a cancellation that race end it exactly once.

use super::push::*;
use super::StoreError;
use mfa_proto::push::{Provider, PushKind};
use rusqlite::{params, Connection, OptionalExtension, Row};

pub(super) const MIGRATION: &str = "CREATE TABLE push_targets (
        user         TEXT NOT NULL,
        label        TEXT NOT NULL,
        provider     TEXT NOT NULL,
        sealed_topic BLOB,
        created_at   INTEGER NOT NULL,
        PRIMARY KEY (user, label)
     );
     CREATE TABLE pushes (
        id           TEXT PRIMARY KEY NOT NULL,
        token_hash   BLOB NOT NULL UNIQUE,
        sealed_token BLOB NOT NULL,
        user         TEXT NOT NULL,
        kind         TEXT NOT NULL,
        label        TEXT NOT NULL,
        provider     TEXT NOT NULL,
        sealed_topic BLOB,
        number       TEXT NOT NULL,
        host         TEXT NOT NULL,
        service      TEXT NOT NULL,
        rhost        TEXT,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL,
        state        TEXT NOT NULL
     );
     CREATE INDEX pushes_by_user ON pushes (user, created_at);
     CREATE INDEX pushes_by_state ON pushes (state, created_at);
     CREATE TABLE push_blocks (
        user   TEXT PRIMARY KEY NOT NULL,
        until  INTEGER NOT NULL,
        reason TEXT NOT NULL
     );";

const PENDING_SQL: &str = "('queued', 'sending', 'sent')";

const PUSH_COLUMNS: &str = "id, token_hash, sealed_token, user, kind, label, provider, \
     sealed_topic, number, host, service, rhost, created_at, expires_at, state";

fn bad(col: usize, what: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, what.into())
}

pub(super) fn provider_from(col: usize, s: &str) -> rusqlite::Result<Provider> {
    match s {
        "ntfy" => Ok(Provider::Ntfy),
        "webhook" => Ok(Provider::Webhook),
        other => Err(bad(col, format!("unknown push provider {other:?}"))),
    }
}

fn kind_str(k: PushKind) -> &'static str {
    match k {
        PushKind::Login => "login",
        PushKind::Test => "test",
    }
}

fn read_push(r: &Row<'_>) -> rusqlite::Result<PushRecord> {
    let hash: Vec<u8> = r.get(1)?;
    let kind: String = r.get(4)?;
    let state: String = r.get(14)?;
    Ok(PushRecord {
        id: r.get(0)?,
        token_hash: hash
            .try_into()
            .map_err(|_| bad(1, "token hash is not 32 bytes".into()))?,
        sealed_token: r.get(2)?,
        user: r.get(3)?,
        kind: match kind.as_str() {
            "login" => PushKind::Login,
            "test" => PushKind::Test,
            other => return Err(bad(4, format!("unknown push kind {other:?}"))),
        },
        target: PushTarget {
            label: r.get(5)?,
            provider: provider_from(6, &r.get::<_, String>(6)?)?,
            sealed_topic: r.get(7)?,
            created_at: r.get(12)?,
        },
        number: r.get(8)?,
        host: r.get(9)?,
        service: r.get(10)?,
        rhost: r.get(11)?,
        created_at: r.get(12)?,
        expires_at: r.get(13)?,
        state: PushState::parse(&state).ok_or_else(|| bad(14, format!("push state {state:?}")))?,
    })
}

pub(super) fn targets(conn: &Connection, user: &str) -> Result<Vec<PushTarget>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT label, provider, sealed_topic, created_at FROM push_targets
         WHERE user = ?1 ORDER BY preferred DESC, created_at, label",
    )?;
    let rows = stmt.query_map([user], |r| {
        Ok(PushTarget {
            label: r.get(0)?,
            provider: provider_from(1, &r.get::<_, String>(1)?)?,
            sealed_topic: r.get(2)?,
            created_at: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn open(conn: &Connection, p: &PushRecord, f: Fatigue) -> Result<Opened, StoreError> {
    let block: Option<(i64, String)> = conn
        .prepare_cached("SELECT until, reason FROM push_blocks WHERE user = ?1 AND until > ?2")?
        .query_row(params![p.user, f.now], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if let Some((until, reason)) = block {
        return Ok(Opened::Blocked { until, reason });
    }
    let (sent, oldest): (u32, Option<i64>) = conn
        .prepare_cached(
            "SELECT count(*), min(created_at) FROM pushes WHERE user = ?1 AND created_at >= ?2",
        )?
        .query_row(params![p.user, f.since], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if sent >= f.max {
        return Ok(Opened::TooMany {
            oldest: oldest.unwrap_or(f.now),
        });
    }
    conn.prepare_cached(&format!(
        "INSERT INTO pushes ({PUSH_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
    ))?
    .execute(params![
        p.id,
        &p.token_hash[..],
        p.sealed_token,
        p.user,
        kind_str(p.kind),
        p.target.label,
        p.target.provider.as_str(),
        p.target.sealed_topic,
        p.number,
        p.host,
        p.service,
        p.rhost,
        p.created_at,
        p.expires_at,
        p.state.as_str(),
    ])?;
    Ok(Opened::Opened)
}

fn select_one(
    conn: &Connection,
    clause: &str,
    arg: &dyn rusqlite::ToSql,
) -> Result<Option<PushRecord>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {PUSH_COLUMNS} FROM pushes WHERE {clause}"))?
        .query_row([arg], read_push)
        .optional()?)
}

pub(super) fn next_delivery(conn: &Connection, now: i64) -> Result<Option<PushRecord>, StoreError> {
    let Some(mut p) = conn
        .prepare_cached(&format!(
            "SELECT {PUSH_COLUMNS} FROM pushes WHERE state = 'queued' AND expires_at > ?1
             ORDER BY created_at LIMIT 1"
        ))?
        .query_row([now], read_push)
        .optional()?
    else {
        return Ok(None);
    };
    conn.execute(
        "UPDATE pushes SET state = 'sending' WHERE id = ?1 AND state = 'queued'",
        [&p.id],
    )?;
    p.state = PushState::Sending;
    Ok(Some(p))
}

pub(super) fn delivery_result(
    conn: &Connection,
    id: &str,
    delivered: bool,
) -> Result<bool, StoreError> {
    let state = if delivered {
        PushState::Sent
    } else {
        PushState::Failed
    };
    Ok(conn.execute(
        "UPDATE pushes SET state = ?2 WHERE id = ?1 AND state = 'sending'",
        [id, state.as_str()],
    )? > 0)
}

pub(super) fn by_id(conn: &Connection, id: &str) -> Result<Option<PushRecord>, StoreError> {
    select_one(conn, "id = ?1", &id)
}

pub(super) fn by_token(
    conn: &Connection,
    hash: &[u8; 32],
) -> Result<Option<PushRecord>, StoreError> {
    select_one(conn, "token_hash = ?1", &&hash[..])
}

pub(super) fn pending_of(
    conn: &Connection,
    user: &str,
    now: i64,
) -> Result<Vec<PushRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {PUSH_COLUMNS} FROM pushes WHERE user = ?1 AND kind = 'login' \
         AND state IN {PENDING_SQL} AND expires_at > ?2 ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map(params![user, now], read_push)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

fn by_key(conn: &Connection, key: &PushKey) -> Result<Option<PushRecord>, StoreError> {
    match key {
        PushKey::Token(hash) => by_token(conn, hash),
        PushKey::Id(id) => by_id(conn, id),
    }
}

pub(super) fn decide<R>(
    conn: &Connection,
    key: &PushKey,
    decide: impl FnOnce(&PushRecord) -> (R, PushVerdict),
) -> Result<Option<R>, StoreError> {
    let Some(p) = by_key(conn, key)?.filter(|p| p.state.is_pending()) else {
        return Ok(None);
    };
    let (result, verdict) = decide(&p);
    if !end(conn, &p.id, verdict.state)? {
        return Err(StoreError::Conflict);
    }
    if let Some((until, reason)) = verdict.block {
        conn.execute(
            "INSERT INTO push_blocks (user, until, reason) VALUES (?1, ?2, ?3)
             ON CONFLICT (user) DO UPDATE SET
                reason = CASE WHEN excluded.until > until THEN excluded.reason ELSE reason END,
                until = max(until, excluded.until)",
            params![p.user, until, reason],
        )?;
    }
    if p.kind == PushKind::Test && verdict.state == PushState::Approved {
        conn.execute(
            "INSERT OR REPLACE INTO push_targets (user, label, provider, sealed_topic, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                p.user,
                p.target.label,
                p.target.provider.as_str(),
                p.target.sealed_topic,
                p.created_at
            ],
        )?;
    }
    Ok(Some(result))
}

/// End a pending push. Its number and its sealed token are dropped with
/// it: nothing can be decided on it any more, and they need not sit in
/// the database (and its backups) for the day the row is kept.
pub(super) fn end(conn: &Connection, id: &str, state: PushState) -> Result<bool, StoreError> {
    Ok(conn.execute(
        &format!(
            "UPDATE pushes SET state = ?2, number = '', sealed_token = x'' \
             WHERE id = ?1 AND state IN {PENDING_SQL}"
        ),
        [id, state.as_str()],
    )? > 0)
}

/// End every pending push (at start: the logins waiting for them were
/// connections of the process that stopped).
pub(super) fn cancel_pending(conn: &Connection) -> Result<usize, StoreError> {
    Ok(conn.execute(
        &format!(
            "UPDATE pushes SET state = 'cancelled', number = '', sealed_token = x'' \
             WHERE state IN {PENDING_SQL}"
        ),
        [],
    )?)
}

/// Everything push-related about `user`, for `mfa remove`.
pub(super) fn forget_user(conn: &Connection, user: &str) -> Result<(), StoreError> {
    for table in ["push_targets", "pushes", "push_blocks"] {
        conn.execute(&format!("DELETE FROM {table} WHERE user = ?1"), [user])?;
    }
    Ok(())
}

pub(super) fn prune(conn: &Connection, before: i64, now: i64) -> Result<usize, StoreError> {
    let a = conn.execute("DELETE FROM pushes WHERE created_at < ?1", [before])?;
    let b = conn.execute("DELETE FROM push_blocks WHERE until < ?1", [now])?;
    Ok(a + b)
}
