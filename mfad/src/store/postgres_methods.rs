//! The SQL of an account's methods on PostgreSQL: its named
//! authenticators, making an enrollment live, and removing, renaming and
//! preferring any method by kind and name. Each operation checks and
//! then changes, so each holds the account's lock (`lock_user`) first:
//! two removals racing cannot both pass the "not the last one" check, and
//! two confirmations cannot both see the account as they expect.

use super::postgres_attempt::{lock_user, read_enrollment};
use super::postgres_conn::{execute, query, query_one, query_opt};
use super::*;
use deadpool_postgres::Transaction;

fn table(kind: MethodRef) -> &'static str {
    match kind {
        MethodRef::Totp => "authenticators",
        MethodRef::Push => "push_targets",
        MethodRef::Phone => "phones",
    }
}

/// The authenticators of `user`, the default first.
pub(super) async fn authenticators(
    tx: &Transaction<'_>,
    user: &str,
) -> Result<Vec<Authenticator>, StoreError> {
    let rows = query(
        tx,
        r#"SELECT secret, algorithm, digits, period, last_step, created_at, id, label
           FROM authenticators WHERE "user" = $1 ORDER BY preferred DESC, id"#,
        &[&user],
    )
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Authenticator {
                totp: read_enrollment(r)?,
                id: r.try_get(6)?,
                label: r.try_get(7)?,
            })
        })
        .collect()
}

/// The sealed secrets of the authenticators of `user` in id order; None
/// when there is no such account.
pub(super) async fn shape(
    tx: &Transaction<'_>,
    user: &str,
) -> Result<Option<Vec<Vec<u8>>>, StoreError> {
    let exists = query_opt(tx, r#"SELECT 1 FROM accounts WHERE "user" = $1"#, &[&user]).await?;
    if exists.is_none() {
        return Ok(None);
    }
    let rows = query(
        tx,
        r#"SELECT secret FROM authenticators WHERE "user" = $1 ORDER BY id"#,
        &[&user],
    )
    .await?;
    Ok(Some(
        rows.iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?,
    ))
}

/// Replace the ordinary recovery codes of `user` (a temporary code
/// stays, and the new ones are numbered after it).
pub(super) async fn put_recovery(
    tx: &Transaction<'_>,
    user: &str,
    recovery: &[[u8; 32]],
) -> Result<(), StoreError> {
    execute(
        tx,
        r#"DELETE FROM recovery_codes WHERE "user" = $1 AND expires_at IS NULL"#,
        &[&user],
    )
    .await?;
    // The new codes are hashed with this mfad's key.
    execute(
        tx,
        r#"UPDATE accounts SET recovery_key = NULL WHERE "user" = $1"#,
        &[&user],
    )
    .await?;
    for hash in recovery {
        execute(
            tx,
            r#"INSERT INTO recovery_codes ("user", id, hash) VALUES ($1,
               (SELECT coalesce(max(id), -1) + 1 FROM recovery_codes WHERE "user" = $1), $2)"#,
            &[&user, &&hash[..]],
        )
        .await?;
    }
    Ok(())
}

pub(super) async fn replace_recovery(
    tx: &Transaction<'_>,
    user: &str,
    recovery: &[[u8; 32]],
    expect: &[Vec<u8>],
) -> Result<(), StoreError> {
    lock_user(tx, user).await?;
    if shape(tx, user).await?.as_deref() != Some(expect) {
        return Err(StoreError::Conflict);
    }
    put_recovery(tx, user, recovery).await
}

pub(super) async fn confirm(
    tx: &Transaction<'_>,
    user: &str,
    label: &str,
    e: &Enrollment,
    expect: &Expect,
) -> Result<(), StoreError> {
    lock_user(tx, user).await?;
    let pending: Option<Vec<u8>> = query_opt(
        tx,
        r#"SELECT secret FROM pending WHERE "user" = $1"#,
        &[&user],
    )
    .await?
    .map(|r| r.try_get(0))
    .transpose()?;
    if pending.as_ref() != Some(&expect.pending) {
        return Err(StoreError::Conflict);
    }
    let current = shape(tx, user).await?;
    match &expect.change {
        Confirm::Replace { replaces, recovery } => {
            if &current != replaces {
                return Err(StoreError::Conflict);
            }
            // A new start: the old authenticators, codes and counters go.
            execute(tx, r#"DELETE FROM accounts WHERE "user" = $1"#, &[&user]).await?;
            execute(
                tx,
                r#"INSERT INTO accounts ("user", created_at) VALUES ($1, $2)"#,
                &[&user, &e.created_at],
            )
            .await?;
            put_recovery(tx, user, recovery).await?;
        }
        Confirm::Add => {
            if current.is_none() {
                return Err(StoreError::Conflict);
            }
        }
    }
    let taken = query_opt(
        tx,
        r#"SELECT 1 FROM authenticators WHERE "user" = $1 AND label = $2"#,
        &[&user, &label],
    )
    .await?;
    if taken.is_some() {
        return Err(StoreError::Conflict);
    }
    let last_step = e.last_step.map(|s| s as i64);
    execute(
        tx,
        r#"INSERT INTO authenticators
              ("user", id, label, secret, algorithm, digits, period, last_step, created_at)
           VALUES ($1, (SELECT coalesce(max(id), 0) + 1 FROM authenticators WHERE "user" = $1),
                   $2, $3, $4, $5, $6, $7, $8)"#,
        &[
            &user,
            &label,
            &e.sealed_secret,
            &e.algorithm.as_str(),
            &i32::from(e.digits),
            &(e.period as i64),
            &last_step,
            &e.created_at,
        ],
    )
    .await?;
    execute(tx, r#"DELETE FROM pending WHERE "user" = $1"#, &[&user]).await?;
    Ok(())
}

/// How many ways to log in `user` has besides the recovery codes.
async fn count_methods(tx: &Transaction<'_>, user: &str) -> Result<i64, StoreError> {
    let r = query_one(
        tx,
        r#"SELECT (SELECT count(*) FROM authenticators WHERE "user" = $1)
                + (SELECT count(*) FROM push_targets WHERE "user" = $1)
                + (SELECT count(*) FROM phones WHERE "user" = $1)"#,
        &[&user],
    )
    .await?;
    Ok(r.try_get(0)?)
}

pub(super) async fn remove(
    tx: &Transaction<'_>,
    user: &str,
    kind: MethodRef,
    label: &str,
    keep_one: bool,
) -> Result<Removal, StoreError> {
    lock_user(tx, user).await?;
    let t = table(kind);
    let exists = query_opt(
        tx,
        &format!(r#"SELECT 1 FROM {t} WHERE "user" = $1 AND label = $2"#),
        &[&user, &label],
    )
    .await?;
    if exists.is_none() {
        return Ok(Removal::NotFound);
    }
    if keep_one && count_methods(tx, user).await? <= 1 {
        return Ok(Removal::Last);
    }
    execute(
        tx,
        &format!(r#"DELETE FROM {t} WHERE "user" = $1 AND label = $2"#),
        &[&user, &label],
    )
    .await?;
    Ok(Removal::Removed)
}

pub(super) async fn rename(
    tx: &Transaction<'_>,
    user: &str,
    kind: MethodRef,
    label: &str,
    new: &str,
) -> Result<Renamed, StoreError> {
    lock_user(tx, user).await?;
    let t = table(kind);
    let taken = query_opt(
        tx,
        &format!(r#"SELECT 1 FROM {t} WHERE "user" = $1 AND label = $2"#),
        &[&user, &new],
    )
    .await?;
    if taken.is_some() && label != new {
        return Ok(Renamed::Taken);
    }
    let n = execute(
        tx,
        &format!(r#"UPDATE {t} SET label = $3 WHERE "user" = $1 AND label = $2"#),
        &[&user, &label, &new],
    )
    .await?;
    Ok(if n > 0 {
        Renamed::Done
    } else {
        Renamed::NotFound
    })
}

pub(super) async fn prefer(
    tx: &Transaction<'_>,
    user: &str,
    kind: MethodRef,
    label: &str,
) -> Result<bool, StoreError> {
    // Under the lock, so two at once cannot both take the same "highest".
    lock_user(tx, user).await?;
    let t = table(kind);
    let n = execute(
        tx,
        &format!(
            r#"UPDATE {t} SET preferred = (SELECT max(preferred) + 1 FROM {t} WHERE "user" = $1)
               WHERE "user" = $1 AND label = $2"#
        ),
        &[&user, &label],
    )
    .await?;
    Ok(n > 0)
}
