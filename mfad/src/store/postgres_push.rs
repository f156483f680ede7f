//! The SQL of push approval on PostgreSQL: targets, pushes and blocks.
//! The fatigue limit is counted and the push queued under the account's
//! lock; every change to a push stays conditional on it still being
//! pending, so a decision, an expiry and a cancellation that race (from
//! any mfad) end it exactly once.

use super::postgres_attempt::{lock_user, narrow};
use super::postgres_conn::{execute, query, query_one, query_opt};
use super::postgres_listen::CHANNEL;
use super::push::*;
use super::StoreError;
use deadpool_postgres::Transaction;
use mfa_proto::push::{Provider, PushKind};
use tokio_postgres::Row;

const PENDING_SQL: &str = "('queued', 'sending', 'sent')";

const PUSH_COLUMNS: &str = r#"id, token_hash, sealed_token, "user", kind, label, provider,
     sealed_topic, number, host, service, rhost, created_at, expires_at, state"#;

fn bad(what: String) -> StoreError {
    StoreError::BadValue(what)
}

fn provider_from(s: &str) -> Result<Provider, StoreError> {
    match s {
        "ntfy" => Ok(Provider::Ntfy),
        "webhook" => Ok(Provider::Webhook),
        other => Err(bad(format!("unknown push provider {other:?}"))),
    }
}

fn kind_str(k: PushKind) -> &'static str {
    match k {
        PushKind::Login => "login",
        PushKind::Test => "test",
    }
}

fn read_push(r: &Row) -> Result<PushRecord, StoreError> {
    let hash: &[u8] = r.try_get(1)?;
    let kind: &str = r.try_get(4)?;
    let state: &str = r.try_get(14)?;
    Ok(PushRecord {
        id: r.try_get(0)?,
        token_hash: hash
            .try_into()
            .map_err(|_| bad("token hash is not 32 bytes".into()))?,
        sealed_token: r.try_get(2)?,
        user: r.try_get(3)?,
        kind: match kind {
            "login" => PushKind::Login,
            "test" => PushKind::Test,
            other => return Err(bad(format!("unknown push kind {other:?}"))),
        },
        target: PushTarget {
            label: r.try_get(5)?,
            provider: provider_from(r.try_get(6)?)?,
            sealed_topic: r.try_get(7)?,
            created_at: r.try_get(12)?,
        },
        number: r.try_get(8)?,
        host: r.try_get(9)?,
        service: r.try_get(10)?,
        rhost: r.try_get(11)?,
        created_at: r.try_get(12)?,
        expires_at: r.try_get(13)?,
        state: PushState::parse(state).ok_or_else(|| bad(format!("push state {state:?}")))?,
    })
}

fn read_opt(row: Option<Row>) -> Result<Option<PushRecord>, StoreError> {
    row.map(|r| read_push(&r)).transpose()
}

pub(super) async fn targets(
    tx: &Transaction<'_>,
    user: &str,
) -> Result<Vec<PushTarget>, StoreError> {
    let rows = query(
        tx,
        r#"SELECT label, provider, sealed_topic, created_at FROM push_targets
           WHERE "user" = $1 ORDER BY preferred DESC, created_at, label"#,
        &[&user],
    )
    .await?;
    rows.iter()
        .map(|r| {
            Ok(PushTarget {
                label: r.try_get(0)?,
                provider: provider_from(r.try_get(1)?)?,
                sealed_topic: r.try_get(2)?,
                created_at: r.try_get(3)?,
            })
        })
        .collect()
}

pub(super) async fn open(
    tx: &Transaction<'_>,
    p: &PushRecord,
    f: Fatigue,
) -> Result<Opened, StoreError> {
    lock_user(tx, &p.user).await?;
    let block = query_opt(
        tx,
        r#"SELECT until, reason FROM push_blocks WHERE "user" = $1 AND until > $2"#,
        &[&p.user, &f.now],
    )
    .await?;
    if let Some(r) = block {
        return Ok(Opened::Blocked {
            until: r.try_get(0)?,
            reason: r.try_get(1)?,
        });
    }
    let r = query_one(
        tx,
        r#"SELECT count(*), min(created_at) FROM pushes WHERE "user" = $1 AND created_at >= $2"#,
        &[&p.user, &f.since],
    )
    .await?;
    let sent: u32 = narrow(r.try_get::<_, i64>(0)?, "pushes")?;
    let oldest: Option<i64> = r.try_get(1)?;
    if sent >= f.max {
        return Ok(Opened::TooMany {
            oldest: oldest.unwrap_or(f.now),
        });
    }
    execute(
        tx,
        &format!(
            "INSERT INTO pushes ({PUSH_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        ),
        &[
            &p.id,
            &&p.token_hash[..],
            &p.sealed_token,
            &p.user,
            &kind_str(p.kind),
            &p.target.label,
            &p.target.provider.as_str(),
            &p.target.sealed_topic,
            &p.number,
            &p.host,
            &p.service,
            &p.rhost,
            &p.created_at,
            &p.expires_at,
            &p.state.as_str(),
        ],
    )
    .await?;
    Ok(Opened::Opened)
}

/// The oldest queued, unexpired push, marked as being sent. One that
/// another mfad is taking is skipped, never sent twice.
pub(super) async fn next_delivery(
    tx: &Transaction<'_>,
    now: i64,
) -> Result<Option<PushRecord>, StoreError> {
    read_opt(
        query_opt(
            tx,
            &format!(
                "UPDATE pushes SET state = 'sending' WHERE state = 'queued' AND id = (\
                    SELECT id FROM pushes WHERE state = 'queued' AND expires_at > $1 \
                    ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED) \
                 RETURNING {PUSH_COLUMNS}"
            ),
            &[&now],
        )
        .await?,
    )
}

pub(super) async fn delivery_result(
    tx: &Transaction<'_>,
    id: &str,
    delivered: bool,
) -> Result<bool, StoreError> {
    let state = if delivered {
        PushState::Sent
    } else {
        PushState::Failed
    };
    let changed = execute(
        tx,
        "UPDATE pushes SET state = $2 WHERE id = $1 AND state = 'sending'",
        &[&id, &state.as_str()],
    )
    .await?
        > 0;
    // A failure ends the push: its login may wait on another mfad.
    if changed && !delivered {
        announce(tx, id).await?;
    }
    Ok(changed)
}

/// Tell the logins waiting on other mfads that push `id` changed: sent
/// at commit (and dropped with a rollback), so they re-read the row only
/// once the change is there to see. The payload is the id, never more.
async fn announce(tx: &Transaction<'_>, id: &str) -> Result<(), StoreError> {
    query_one(tx, "SELECT pg_notify($1, $2)", &[&CHANNEL, &id]).await?;
    Ok(())
}

pub(super) async fn by_id(
    tx: &Transaction<'_>,
    id: &str,
) -> Result<Option<PushRecord>, StoreError> {
    let sql = format!("SELECT {PUSH_COLUMNS} FROM pushes WHERE id = $1");
    read_opt(query_opt(tx, &sql, &[&id]).await?)
}

pub(super) async fn by_token(
    tx: &Transaction<'_>,
    hash: &[u8; 32],
) -> Result<Option<PushRecord>, StoreError> {
    let sql = format!("SELECT {PUSH_COLUMNS} FROM pushes WHERE token_hash = $1");
    read_opt(query_opt(tx, &sql, &[&&hash[..]]).await?)
}

pub(super) async fn pending_of(
    tx: &Transaction<'_>,
    user: &str,
    now: i64,
) -> Result<Vec<PushRecord>, StoreError> {
    let sql = format!(
        r#"SELECT {PUSH_COLUMNS} FROM pushes WHERE "user" = $1 AND kind = 'login'
           AND state IN {PENDING_SQL} AND expires_at > $2 ORDER BY created_at, id"#
    );
    let rows = query(tx, &sql, &[&user, &now]).await?;
    rows.iter().map(read_push).collect()
}

async fn by_key(tx: &Transaction<'_>, key: &PushKey) -> Result<Option<PushRecord>, StoreError> {
    match key {
        PushKey::Token(hash) => by_token(tx, hash).await,
        PushKey::Id(id) => by_id(tx, id).await,
    }
}

pub(super) async fn decide<R>(
    tx: &Transaction<'_>,
    key: &PushKey,
    decide: impl FnOnce(&PushRecord) -> (R, PushVerdict),
) -> Result<Option<R>, StoreError> {
    // Find whose push it is, take that account's lock, then judge the
    // push as it stands under the lock.
    let Some(user) = by_key(tx, key).await?.map(|p| p.user) else {
        return Ok(None);
    };
    lock_user(tx, &user).await?;
    let Some(p) = by_key(tx, key).await?.filter(|p| p.state.is_pending()) else {
        return Ok(None);
    };
    let (result, verdict) = decide(&p);
    if !end(tx, &p.id, verdict.state).await? {
        return Err(StoreError::Conflict);
    }
    if let Some((until, reason)) = verdict.block {
        execute(
            tx,
            r#"INSERT INTO push_blocks ("user", until, reason) VALUES ($1, $2, $3)
               ON CONFLICT ("user") DO UPDATE SET
                  reason = CASE WHEN excluded.until > push_blocks.until
                                THEN excluded.reason ELSE push_blocks.reason END,
                  until = greatest(push_blocks.until, excluded.until)"#,
            &[&p.user, &until, &reason],
        )
        .await?;
    }
    if p.kind == PushKind::Test && verdict.state == PushState::Approved {
        // As SQLite's INSERT OR REPLACE: saved again, no longer the default.
        execute(
            tx,
            r#"INSERT INTO push_targets ("user", label, provider, sealed_topic, created_at)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT ("user", label) DO UPDATE SET provider = excluded.provider,
                  sealed_topic = excluded.sealed_topic, created_at = excluded.created_at,
                  preferred = 0"#,
            &[
                &p.user,
                &p.target.label,
                &p.target.provider.as_str(),
                &p.target.sealed_topic,
                &p.created_at,
            ],
        )
        .await?;
    }
    Ok(Some(result))
}

/// End a pending push, dropping its number and sealed token with it.
pub(super) async fn end(
    tx: &Transaction<'_>,
    id: &str,
    state: PushState,
) -> Result<bool, StoreError> {
    let ended = execute(
        tx,
        &format!(
            "UPDATE pushes SET state = $2, number = '', sealed_token = ''::bytea \
             WHERE id = $1 AND state IN {PENDING_SQL}"
        ),
        &[&id, &state.as_str()],
    )
    .await?
        > 0;
    if ended {
        announce(tx, id).await?;
    }
    Ok(ended)
}

/// End the pending pushes created by mfad `host` (at its start: the
/// logins waiting for them were connections of the process that
/// stopped). Other hosts' pushes, in a shared database, are theirs.
pub(super) async fn cancel_pending(tx: &Transaction<'_>, host: &str) -> Result<u64, StoreError> {
    execute(
        tx,
        &format!(
            "UPDATE pushes SET state = 'cancelled', number = '', sealed_token = ''::bytea \
             WHERE host = $1 AND state IN {PENDING_SQL}"
        ),
        &[&host],
    )
    .await
}

/// Everything push-related about `user`, for `mfa remove`.
pub(super) async fn forget_user(tx: &Transaction<'_>, user: &str) -> Result<(), StoreError> {
    // A login waiting for one of them, anywhere, ends now, not at its
    // next re-read.
    let pending = query(
        tx,
        &format!(r#"SELECT id FROM pushes WHERE "user" = $1 AND state IN {PENDING_SQL}"#),
        &[&user],
    )
    .await?;
    for row in pending {
        announce(tx, row.try_get(0)?).await?;
    }
    for table in ["push_targets", "pushes", "push_blocks"] {
        execute(
            tx,
            &format!(r#"DELETE FROM {table} WHERE "user" = $1"#),
            &[&user],
        )
        .await?;
    }
    Ok(())
}

pub(super) async fn prune(tx: &Transaction<'_>, before: i64, now: i64) -> Result<u64, StoreError> {
    let a = execute(tx, "DELETE FROM pushes WHERE created_at < $1", &[&before]).await?;
    let b = execute(tx, "DELETE FROM push_blocks WHERE until < $1", &[&now]).await?;
    Ok(a + b)
}
