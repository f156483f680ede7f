//! One whole account written into PostgreSQL for `mfad migrate`, or
//! judged against the one already there, under the account's lock (so a
//! login or an enrollment of the same name on a running central mfad
//! waits for it, and two runs of migrate cannot both copy it).

use super::postgres_attempt::lock_user;
use super::postgres_conn::execute;
use super::transfer::*;
use super::*;
use deadpool_postgres::Transaction;

/// [`Store::import_account`] on PostgreSQL, in one transaction.
pub(super) async fn import(
    tx: &Transaction<'_>,
    e: &AccountExport,
    same: impl FnOnce(&Existing) -> Result<(), String>,
) -> Result<Imported, StoreError> {
    let user = e.user.as_str();
    if lock_user(tx, user).await?.is_some() {
        let existing = Existing {
            authenticators: super::postgres_methods::authenticators(tx, user).await?,
            phones: super::postgres_phone::phones(tx, user).await?,
            push_targets: super::postgres_push::targets(tx, user).await?,
        };
        if let Err(why) = same(&existing) {
            return Ok(Imported::Conflict(why));
        }
        return Ok(Imported::AlreadyThere {
            caught_up: catch_up(tx, e).await?,
        });
    }
    let c = e.counters;
    execute(
        tx,
        r#"INSERT INTO accounts ("user", created_at, failures, last_failure, locked, last_login, recovery_key)
           VALUES ($1, $2, $3, $4, $5, $6, $7)"#,
        &[
            &user,
            &e.created_at,
            &i64::from(c.failures),
            &c.last_failure,
            &c.locked,
            &e.last_login,
            &e.recovery_key,
        ],
    )
    .await?;
    for a in &e.authenticators {
        let t = &a.totp;
        let period = i64::try_from(t.period)
            .map_err(|_| StoreError::BadValue(format!("period {} is out of range", t.period)))?;
        let step = t
            .last_step
            .map(|s| {
                i64::try_from(s)
                    .map_err(|_| StoreError::BadValue(format!("last step {s} is out of range")))
            })
            .transpose()?;
        execute(
            tx,
            r#"INSERT INTO authenticators ("user", id, label, secret, algorithm, digits, period, last_step, created_at, preferred)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"#,
            &[
                &user,
                &a.id,
                &a.label,
                &t.sealed_secret,
                &t.algorithm.as_str(),
                &i32::from(t.digits),
                &period,
                &step,
                &t.created_at,
                &a.preferred,
            ],
        )
        .await?;
    }
    for r in &e.recovery {
        execute(
            tx,
            r#"INSERT INTO recovery_codes ("user", id, hash, used_at, expires_at)
               VALUES ($1, $2, $3, $4, $5)"#,
            &[&user, &r.id, &&r.hash[..], &r.used_at, &r.expires_at],
        )
        .await?;
    }
    for (p, preferred) in &e.phones {
        execute(
            tx,
            r#"INSERT INTO phones ("user", label, number, channel, created_at, preferred)
               VALUES ($1, $2, $3, $4, $5, $6)"#,
            &[
                &user,
                &p.label,
                &p.number,
                &p.channel.as_str(),
                &p.created_at,
                preferred,
            ],
        )
        .await?;
    }
    for (t, preferred) in &e.push_targets {
        execute(
            tx,
            r#"INSERT INTO push_targets ("user", label, provider, sealed_topic, created_at, preferred)
               VALUES ($1, $2, $3, $4, $5, $6)"#,
            &[
                &user,
                &t.label,
                &t.provider.as_str(),
                &t.sealed_topic,
                &t.created_at,
                preferred,
            ],
        )
        .await?;
    }
    Ok(Imported::Copied)
}

/// As SQLite's `catch_up`: spend what the export spent, never unspend.
async fn catch_up(tx: &Transaction<'_>, e: &AccountExport) -> Result<usize, StoreError> {
    let mut n = 0;
    for a in &e.authenticators {
        let Some(step) = a.totp.last_step.and_then(|s| i64::try_from(s).ok()) else {
            continue;
        };
        n += execute(
            tx,
            r#"UPDATE authenticators SET last_step = $3 WHERE "user" = $1 AND label = $2
               AND (last_step IS NULL OR last_step < $3)"#,
            &[&e.user, &a.label, &step],
        )
        .await?;
    }
    for r in e.recovery.iter().filter(|r| r.used_at.is_some()) {
        n += execute(
            tx,
            r#"UPDATE recovery_codes SET used_at = $3
               WHERE "user" = $1 AND hash = $2 AND used_at IS NULL"#,
            &[&e.user, &&r.hash[..], &r.used_at],
        )
        .await?;
    }
    Ok(n as usize)
}
