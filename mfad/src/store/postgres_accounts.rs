//! The SQL of whole accounts on PostgreSQL: what `status` and `list`
//! show, pending enrollments, the help desk's operations (bypass code,
//! removal, unlock), the master key's check value and pruning. What
//! checks before it changes holds the account's lock.

use super::postgres_attempt::{alg_from_str, count_recovery, lock_user, narrow, read_counters};
use super::postgres_conn::{execute, query, query_opt};
use super::*;
use deadpool_postgres::Transaction;

/// Run in a snapshot, so the counters, authenticators and codes agree.
pub(super) async fn summary(
    tx: &Transaction<'_>,
    user: &str,
) -> Result<Option<AccountSummary>, StoreError> {
    let Some(row) = query_opt(
        tx,
        r#"SELECT failures, last_failure, locked, created_at, last_login
           FROM accounts WHERE "user" = $1"#,
        &[&user],
    )
    .await?
    else {
        return Ok(None);
    };
    Ok(Some(AccountSummary {
        authenticators: super::postgres_methods::authenticators(tx, user).await?,
        created_at: row.try_get(3)?,
        counters: read_counters(&row)?,
        recovery_left: count_recovery(tx, user).await?,
        last_login: row.try_get(4)?,
    }))
}

pub(super) async fn list(
    tx: &Transaction<'_>,
    after: &str,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = query(
        tx,
        r#"SELECT "user" FROM accounts WHERE "user" > $1 ORDER BY "user" LIMIT $2"#,
        &[&after, &limit],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?)
}

pub(super) async fn put_pending(
    tx: &Transaction<'_>,
    user: &str,
    p: &Pending,
) -> Result<(), StoreError> {
    execute(
        tx,
        r#"INSERT INTO pending ("user", secret, algorithm, digits, period, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT ("user") DO UPDATE SET secret = excluded.secret,
              algorithm = excluded.algorithm, digits = excluded.digits,
              period = excluded.period, expires_at = excluded.expires_at"#,
        &[
            &user,
            &p.sealed_secret,
            &p.algorithm.as_str(),
            &i32::from(p.digits),
            &(p.period as i64),
            &p.expires_at,
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn pending(
    tx: &Transaction<'_>,
    user: &str,
) -> Result<Option<Pending>, StoreError> {
    let row = query_opt(
        tx,
        r#"SELECT secret, algorithm, digits, period, expires_at FROM pending WHERE "user" = $1"#,
        &[&user],
    )
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(Pending {
        sealed_secret: r.try_get(0)?,
        algorithm: alg_from_str(r.try_get(1)?)?,
        digits: narrow(i64::from(r.try_get::<_, i32>(2)?), "digits")?,
        period: narrow(r.try_get::<_, i64>(3)?, "period")?,
        expires_at: r.try_get(4)?,
    }))
}

pub(super) async fn add_bypass(
    tx: &Transaction<'_>,
    user: &str,
    hash: &[u8; 32],
    expires_at: i64,
) -> Result<bool, StoreError> {
    lock_user(tx, user).await?;
    execute(
        tx,
        r#"DELETE FROM recovery_codes WHERE "user" = $1 AND expires_at IS NOT NULL"#,
        &[&user],
    )
    .await?;
    let n = execute(
        tx,
        r#"INSERT INTO recovery_codes ("user", id, hash, expires_at)
           SELECT $1, (SELECT coalesce(max(id), -1) + 1 FROM recovery_codes WHERE "user" = $1),
                  $2, $3
           WHERE EXISTS (SELECT 1 FROM accounts WHERE "user" = $1)"#,
        &[&user, &&hash[..], &expires_at],
    )
    .await?;
    Ok(n > 0)
}

pub(super) async fn remove(tx: &Transaction<'_>, user: &str) -> Result<bool, StoreError> {
    lock_user(tx, user).await?;
    let n = execute(tx, r#"DELETE FROM accounts WHERE "user" = $1"#, &[&user]).await?;
    execute(tx, r#"DELETE FROM pending WHERE "user" = $1"#, &[&user]).await?;
    super::postgres_push::forget_user(tx, user).await?;
    super::postgres_phone::forget_user(tx, user).await?;
    Ok(n > 0)
}

pub(super) async fn unlock(tx: &Transaction<'_>, user: &str) -> Result<bool, StoreError> {
    let n = execute(
        tx,
        r#"UPDATE accounts SET failures = 0, last_failure = 0, locked = FALSE WHERE "user" = $1"#,
        &[&user],
    )
    .await?;
    Ok(n > 0)
}

pub(super) async fn key_check(tx: &Transaction<'_>) -> Result<Option<Vec<u8>>, StoreError> {
    let row = query_opt(tx, "SELECT value FROM meta WHERE name = 'key_check'", &[]).await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

pub(super) async fn set_key_check(tx: &Transaction<'_>, check: &[u8]) -> Result<(), StoreError> {
    execute(
        tx,
        "INSERT INTO meta (name, value) VALUES ('key_check', $1)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        &[&check],
    )
    .await?;
    Ok(())
}

pub(super) async fn prune(
    tx: &Transaction<'_>,
    hosts_before: i64,
    pushes_before: i64,
    now: i64,
) -> Result<usize, StoreError> {
    let a = execute(
        tx,
        "DELETE FROM host_failures WHERE last_failure < $1",
        &[&hosts_before],
    )
    .await?;
    let b = execute(tx, "DELETE FROM pending WHERE expires_at < $1", &[&now]).await?;
    let c = super::postgres_phone::prune(tx, pushes_before).await?;
    let d = super::postgres_push::prune(tx, pushes_before, now).await?;
    Ok((a + b + c + d) as usize)
}
