//! The SQL of phone codes on PostgreSQL: saved numbers, codes and the
//! send limits. The limits are counted and the code queued under the
//! account's lock and then the number's, so mfads racing on one database
//! cannot slip past them; a code's own changes stay conditional on its
//! state, so a delivery report, a confirmation and a wrong try apply once.

use super::phone::*;
use super::postgres_attempt::{hash32, lock_user, narrow};
use super::postgres_conn::{execute, lock, query, query_one, query_opt, Lock};
use super::StoreError;
use crate::crypto::ct_eq;
use deadpool_postgres::Transaction;
use mfa_proto::phone::{Channel, PhonePurpose};
use tokio_postgres::Row;

const LIVE: &str = "('queued', 'sending', 'sent')";
const COLUMNS: &str = r#"id, "user", number, channel, purpose, label, code_hash, sealed_code, host,
     created_at, expires_at, state, tries"#;

fn bad(what: String) -> StoreError {
    StoreError::BadValue(what)
}

fn channel_from(s: &str) -> Result<Channel, StoreError> {
    match s {
        "sms" => Ok(Channel::Sms),
        "voice" => Ok(Channel::Voice),
        other => Err(bad(format!("unknown phone channel {other:?}"))),
    }
}

fn purpose_str(p: PhonePurpose) -> &'static str {
    match p {
        PhonePurpose::Login => "login",
        PhonePurpose::AddNumber => "add_number",
    }
}

fn purpose_from(s: &str) -> Result<PhonePurpose, StoreError> {
    match s {
        "login" => Ok(PhonePurpose::Login),
        "add_number" => Ok(PhonePurpose::AddNumber),
        other => Err(bad(format!("unknown phone code purpose {other:?}"))),
    }
}

fn state_from(s: &str) -> Result<CodeState, StoreError> {
    Ok(match s {
        "queued" => CodeState::Queued,
        "sending" => CodeState::Sending,
        "sent" => CodeState::Sent,
        "failed" => CodeState::Failed,
        "used" => CodeState::Used,
        "burned" => CodeState::Burned,
        other => return Err(bad(format!("unknown phone code state {other:?}"))),
    })
}

fn read_code(r: &Row) -> Result<PhoneCode, StoreError> {
    Ok(PhoneCode {
        id: r.try_get(0)?,
        user: r.try_get(1)?,
        number: r.try_get(2)?,
        channel: channel_from(r.try_get(3)?)?,
        purpose: purpose_from(r.try_get(4)?)?,
        label: r.try_get(5)?,
        code_hash: hash32(r.try_get(6)?),
        sealed_code: r.try_get(7)?,
        host: r.try_get(8)?,
        created_at: r.try_get(9)?,
        expires_at: r.try_get(10)?,
        state: state_from(r.try_get(11)?)?,
        tries: narrow(i64::from(r.try_get::<_, i32>(12)?), "tries")?,
    })
}

pub(super) async fn phones(tx: &Transaction<'_>, user: &str) -> Result<Vec<Phone>, StoreError> {
    let rows = query(
        tx,
        r#"SELECT label, number, channel, created_at FROM phones WHERE "user" = $1
           ORDER BY preferred DESC, created_at, label"#,
        &[&user],
    )
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Phone {
                label: r.try_get(0)?,
                number: r.try_get(1)?,
                channel: channel_from(r.try_get(2)?)?,
                created_at: r.try_get(3)?,
            })
        })
        .collect()
}

/// Sends since `since` by `col` (`"user"` or `number`): how many, and
/// the oldest.
async fn count(
    tx: &Transaction<'_>,
    col: &str,
    key: &str,
    since: i64,
) -> Result<(u32, i64), StoreError> {
    let r = query_one(
        tx,
        &format!(
            "SELECT count(*), coalesce(min(created_at), 0) FROM phone_codes \
             WHERE {col} = $1 AND created_at >= $2"
        ),
        &[&key, &since],
    )
    .await?;
    Ok((narrow(r.try_get::<_, i64>(0)?, "sends")?, r.try_get(1)?))
}

/// Count, then queue `code` unless over a limit, under the locks of its
/// account and its number.
pub(super) async fn open(
    tx: &Transaction<'_>,
    code: &PhoneCode,
    lim: SendLimits,
) -> Result<SendOpened, StoreError> {
    lock_user(tx, &code.user).await?;
    let (n, oldest) = count(tx, r#""user""#, &code.user, lim.since).await?;
    if n >= lim.per_user {
        return Ok(SendOpened::UserLimit { oldest });
    }
    lock(tx, Lock::Number, &code.number).await?;
    let (n, oldest) = count(tx, "number", &code.number, lim.since).await?;
    if n >= lim.per_number {
        return Ok(SendOpened::NumberLimit { oldest });
    }
    execute(
        tx,
        &format!(
            "INSERT INTO phone_codes ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0)"
        ),
        &[
            &code.id,
            &code.user,
            &code.number,
            &code.channel.as_str(),
            &purpose_str(code.purpose),
            &code.label,
            &&code.code_hash[..],
            &code.sealed_code,
            &code.host,
            &code.created_at,
            &code.expires_at,
            &CodeState::Queued.as_str(),
        ],
    )
    .await?;
    Ok(SendOpened::Queued)
}

/// The oldest queued, unexpired code, marked as being sent. A code
/// another mfad is taking is skipped, never handed out twice.
pub(super) async fn next_delivery(
    tx: &Transaction<'_>,
    now: i64,
) -> Result<Option<PhoneCode>, StoreError> {
    query_opt(
        tx,
        &format!(
            "UPDATE phone_codes SET state = 'sending' WHERE state = 'queued' AND id = (\
                SELECT id FROM phone_codes WHERE state = 'queued' AND expires_at > $1 \
                ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING {COLUMNS}"
        ),
        &[&now],
    )
    .await?
    .map(|r| read_code(&r))
    .transpose()
}

/// How the delivery went; the sealed copy is dropped either way.
pub(super) async fn delivery_result(
    tx: &Transaction<'_>,
    id: &str,
    delivered: bool,
) -> Result<bool, StoreError> {
    let state = if delivered { "sent" } else { "failed" };
    Ok(execute(
        tx,
        "UPDATE phone_codes SET state = $2, sealed_code = NULL WHERE id = $1 AND state = 'sending'",
        &[&id, &state],
    )
    .await?
        > 0)
}

/// The live login code `id` of `user`, for an attempt to check.
pub(super) async fn live_login_code(
    tx: &Transaction<'_>,
    user: &str,
    id: &str,
    now: i64,
) -> Result<Option<PhoneCode>, StoreError> {
    query_opt(
        tx,
        &format!(
            r#"SELECT {COLUMNS} FROM phone_codes WHERE id = $1 AND "user" = $2 AND purpose = 'login'
               AND state IN {LIVE} AND expires_at > $3"#
        ),
        &[&id, &user, &now],
    )
    .await?
    .map(|r| read_code(&r))
    .transpose()
}

/// Spend code `id` (only while live): its one use.
pub(super) async fn use_code(tx: &Transaction<'_>, id: &str) -> Result<u64, StoreError> {
    execute(
        tx,
        &format!(
            "UPDATE phone_codes SET state = 'used', sealed_code = NULL \
             WHERE id = $1 AND state IN {LIVE}"
        ),
        &[&id],
    )
    .await
}

/// A wrong try at code `id`; the last allowed one burns it.
pub(super) async fn miss(tx: &Transaction<'_>, id: &str) -> Result<u64, StoreError> {
    execute(
        tx,
        &format!(
            "UPDATE phone_codes SET tries = tries + 1, \
             state = CASE WHEN tries + 1 >= {MAX_TRIES} THEN 'burned' ELSE state END \
             WHERE id = $1 AND state IN {LIVE}"
        ),
        &[&id],
    )
    .await
}

/// Confirm the latest live `AddNumber` code of `user`: compared in
/// constant time; right saves the number, wrong counts a try.
pub(super) async fn confirm(
    tx: &Transaction<'_>,
    user: &str,
    hash_of: impl Fn(&PhoneCode) -> [u8; 32],
    recovery: &[[u8; 32]],
    now: i64,
) -> Result<Confirmed, StoreError> {
    lock_user(tx, user).await?;
    let Some(code) = query_opt(
        tx,
        &format!(
            r#"SELECT {COLUMNS} FROM phone_codes WHERE "user" = $1 AND purpose = 'add_number'
               AND state IN {LIVE} AND expires_at > $2 ORDER BY created_at DESC LIMIT 1"#
        ),
        &[&user, &now],
    )
    .await?
    .map(|r| read_code(&r))
    .transpose()?
    else {
        return Ok(Confirmed::NoCode);
    };
    if !ct_eq(&hash_of(&code), &code.code_hash) {
        miss(tx, &code.id).await?;
        return Ok(Confirmed::Wrong);
    }
    if use_code(tx, &code.id).await? == 0 {
        return Ok(Confirmed::NoCode);
    }
    let phone = Phone {
        label: code.label.clone(),
        number: code.number.clone(),
        channel: code.channel,
        created_at: now,
    };
    // As SQLite's INSERT OR REPLACE: a number saved again under its name
    // starts over, no longer the default.
    execute(
        tx,
        r#"INSERT INTO phones ("user", label, number, channel, created_at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT ("user", label) DO UPDATE SET number = excluded.number,
              channel = excluded.channel, created_at = excluded.created_at, preferred = 0"#,
        &[&user, &phone.label, &phone.number, &phone.channel.as_str(), &now],
    )
    .await?;
    // A first method: the account is made here, with recovery codes, and
    // logs in by phone.
    let created = execute(
        tx,
        r#"INSERT INTO accounts ("user", created_at) VALUES ($1, $2) ON CONFLICT ("user") DO NOTHING"#,
        &[&user, &now],
    )
    .await?
        > 0;
    if created {
        super::postgres_methods::put_recovery(tx, user, recovery).await?;
    }
    Ok(Confirmed::Added { phone, created })
}

pub(super) async fn forget_user(tx: &Transaction<'_>, user: &str) -> Result<(), StoreError> {
    execute(tx, r#"DELETE FROM phones WHERE "user" = $1"#, &[&user]).await?;
    execute(tx, r#"DELETE FROM phone_codes WHERE "user" = $1"#, &[&user]).await?;
    Ok(())
}

pub(super) async fn prune(tx: &Transaction<'_>, before: i64) -> Result<u64, StoreError> {
    execute(
        tx,
        "DELETE FROM phone_codes WHERE created_at < $1",
        &[&before],
    )
    .await
}
