//! The SQL of one login attempt on PostgreSQL. Several mfads share the
//! database, so the attempt first locks its account (the advisory lock
//! covers an account without a row; the row lock is the one every write
//! to the account's row also waits for), and its remote host's failure
//! count. Only then is the state loaded, decided on and changed, so no
//! other attempt sees the state between the load and the effects, as
//! with SQLite's single writer. Each effect stays conditional on the state
//! it was decided on, as in `sqlite_attempt::apply`.

use super::postgres_conn::{execute, lock, query, query_one, query_opt, Lock};
use super::*;
use deadpool_postgres::Transaction;
use tokio_postgres::Row;

/// A stored algorithm name; one this build does not know is an error,
/// never a silent SHA1.
pub(super) fn alg_from_str(s: &str) -> Result<Algorithm, StoreError> {
    match s {
        "SHA1" => Ok(Algorithm::Sha1),
        "SHA256" => Ok(Algorithm::Sha256),
        "SHA512" => Ok(Algorithm::Sha512),
        other => Err(StoreError::BadValue(format!(
            "unknown TOTP algorithm {other:?} in the database"
        ))),
    }
}

/// A counter or a small number stored wider than its Rust type.
pub(super) fn narrow<T: TryFrom<i64>>(v: i64, what: &str) -> Result<T, StoreError> {
    T::try_from(v).map_err(|_| StoreError::BadValue(format!("{what} {v} is out of range")))
}

/// A 32-byte hash column; a shorter or longer one reads as zeros, as
/// SQLite's backend reads it (it then matches nothing).
pub(super) fn hash32(v: &[u8]) -> [u8; 32] {
    v.try_into().unwrap_or([0u8; 32])
}

/// Columns 0..6: secret, algorithm, digits, period, last_step, created_at.
pub(super) fn read_enrollment(row: &Row) -> Result<Enrollment, StoreError> {
    Ok(Enrollment {
        sealed_secret: row.try_get(0)?,
        algorithm: alg_from_str(row.try_get(1)?)?,
        digits: narrow(i64::from(row.try_get::<_, i32>(2)?), "digits")?,
        period: narrow(row.try_get::<_, i64>(3)?, "period")?,
        last_step: row
            .try_get::<_, Option<i64>>(4)?
            .map(|s| narrow(s, "last step"))
            .transpose()?,
        created_at: row.try_get(5)?,
    })
}

/// Columns 0..3: failures, last_failure, locked.
pub(super) fn read_counters(row: &Row) -> Result<Counters, StoreError> {
    Ok(Counters {
        failures: narrow(row.try_get::<_, i64>(0)?, "failures")?,
        last_failure: row.try_get(1)?,
        locked: row.try_get(2)?,
    })
}

/// Lock everything about `user` for the rest of the transaction; its
/// counters, when the account exists.
pub(super) async fn lock_user(
    tx: &Transaction<'_>,
    user: &str,
) -> Result<Option<Counters>, StoreError> {
    lock(tx, Lock::User, user).await?;
    query_opt(
        tx,
        r#"SELECT failures, last_failure, locked FROM accounts WHERE "user" = $1 FOR UPDATE"#,
        &[&user],
    )
    .await?
    .map(|r| read_counters(&r))
    .transpose()
}

pub(super) async fn load_state(
    tx: &Transaction<'_>,
    about: &AttemptFor,
) -> Result<AttemptState, StoreError> {
    let user = about.user.as_str();
    let mut state = AttemptState::default();
    if let Some(c) = lock_user(tx, user).await? {
        state.enrolled = true;
        state.user = c;
        state.authenticators = super::postgres_methods::authenticators(tx, user).await?;
    }
    if let Some(h) = &about.rhost {
        // Failures from one host are counted across accounts, so
        // attempts from it are serialized too (after the account: the
        // one order every transaction takes its locks in).
        lock(tx, Lock::Host, h).await?;
        let r = query_one(
            tx,
            r#"SELECT count(*), coalesce(max(last_failure), 0), coalesce(bool_or("user" = $2), FALSE)
               FROM host_failures WHERE rhost = $1 AND last_failure >= $3"#,
            &[h, &user, &about.hosts_since],
        )
        .await?;
        state.host = Some(HostFailures {
            accounts: narrow(r.try_get::<_, i64>(0)?, "host failures")?,
            last_failure: r.try_get(1)?,
            includes_user: r.try_get(2)?,
        });
    }
    if about.want_recovery && state.enrolled {
        let rows = query(
            tx,
            r#"SELECT id, hash, expires_at FROM recovery_codes WHERE "user" = $1 AND used_at IS NULL"#,
            &[&user],
        )
        .await?;
        for r in rows {
            state.recovery.push(RecoveryCode {
                id: r.try_get(0)?,
                hash: hash32(r.try_get(1)?),
                expires_at: r.try_get(2)?,
            });
        }
        state.recovery_key = query_one(
            tx,
            r#"SELECT recovery_key FROM accounts WHERE "user" = $1"#,
            &[&user],
        )
        .await?
        .try_get(0)?;
    }
    if let Some(id) = about.phone_code.as_deref() {
        state.phone = super::postgres_phone::live_login_code(tx, user, id, about.now).await?;
    }
    if about.count_recovery && state.enrolled {
        state.recovery_left = count_recovery(tx, user).await?;
    }
    Ok(state)
}

/// Unused ordinary recovery codes of `user` (not the temporary code).
pub(super) async fn count_recovery(tx: &Transaction<'_>, user: &str) -> Result<u32, StoreError> {
    let r = query_one(
        tx,
        r#"SELECT count(*) FROM recovery_codes
           WHERE "user" = $1 AND used_at IS NULL AND expires_at IS NULL"#,
        &[&user],
    )
    .await?;
    narrow(r.try_get::<_, i64>(0)?, "recovery codes")
}

/// Apply an attempt's effects. Each update is conditional on the state
/// the decision was made on, so a lost race shows up as `Conflict` (and
/// the caller rolls the whole attempt back).
pub(super) async fn apply(
    tx: &Transaction<'_>,
    user: &str,
    rhost: Option<&str>,
    effects: Vec<Effect>,
) -> Result<(), StoreError> {
    for effect in effects {
        let changed = match effect {
            Effect::AcceptStep { id, step } => {
                let step = i64::try_from(step).map_err(|_| {
                    StoreError::BadValue(format!("TOTP step {step} is out of range"))
                })?;
                execute(
                    tx,
                    r#"UPDATE authenticators SET last_step = $3
                       WHERE "user" = $1 AND id = $2 AND (last_step IS NULL OR last_step < $3)"#,
                    &[&user, &id, &step],
                )
                .await?
            }
            Effect::UseRecovery(id) => {
                execute(
                    tx,
                    r#"UPDATE recovery_codes SET used_at = extract(epoch FROM now())::bigint
                       WHERE "user" = $1 AND id = $2 AND used_at IS NULL"#,
                    &[&user, &id],
                )
                .await?
            }
            Effect::SetUserCounters(c) => {
                execute(
                    tx,
                    r#"UPDATE accounts SET failures = $2, last_failure = $3, locked = $4
                       WHERE "user" = $1"#,
                    &[&user, &i64::from(c.failures), &c.last_failure, &c.locked],
                )
                .await?
            }
            Effect::HostFailure(at) => match rhost {
                Some(h) => execute(
                    tx,
                    r#"INSERT INTO host_failures (rhost, "user", last_failure) VALUES ($1, $2, $3)
                           ON CONFLICT (rhost, "user") DO UPDATE SET last_failure = $3"#,
                    &[&h, &user, &at],
                )
                .await?,
                None => 1,
            },
            Effect::LoggedIn(at) => {
                execute(
                    tx,
                    r#"UPDATE accounts SET last_login = $2 WHERE "user" = $1"#,
                    &[&user, &at],
                )
                .await?
            }
            Effect::UsePhoneCode(id) => super::postgres_phone::use_code(tx, &id).await?,
            Effect::PhoneMiss(id) => super::postgres_phone::miss(tx, &id).await?,
            Effect::HostSuccess => {
                if let Some(h) = rhost {
                    execute(
                        tx,
                        r#"DELETE FROM host_failures WHERE rhost = $1 AND "user" = $2"#,
                        &[&h, &user],
                    )
                    .await?;
                }
                1
            }
        };
        if changed == 0 {
            return Err(StoreError::Conflict);
        }
    }
    Ok(())
}
