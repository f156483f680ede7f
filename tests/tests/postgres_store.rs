//! The PostgreSQL store against a real PostgreSQL 15 (a throwaway
//! cluster per test): migrations, the conditional updates and races the
//! SQLite store's tests check, the same races between two stores (two
//! pools, as two central mfads on one database), the send limits under
//! concurrency, pushes, pruning, paging, a database that goes away and
//! comes back under a running store, and a commit that was not replicated.

use anyhow::{anyhow, bail, Result};
use mfa_proto::phone::{Channel, PhonePurpose};
use mfa_proto::push::{Provider, PushKind};
use mfa_proto::Algorithm;
use mfa_tests::TempCluster;
use mfad::store::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn store(c: &TempCluster) -> Result<PostgresStore> {
    Ok(PostgresStore::connect(&c.url()).await?.with_host("lab1"))
}

fn about(user: &str) -> AttemptFor {
    AttemptFor {
        user: user.into(),
        want_recovery: true,
        ..Default::default()
    }
}

fn enrollment(secret: u8, last_step: Option<u64>) -> Enrollment {
    Enrollment {
        sealed_secret: vec![secret; 3],
        algorithm: Algorithm::Sha256,
        digits: 8,
        period: 30,
        last_step,
        created_at: 1000,
    }
}

fn pending_of(e: &Enrollment) -> Pending {
    Pending {
        sealed_secret: e.sealed_secret.clone(),
        algorithm: e.algorithm,
        digits: e.digits,
        period: e.period,
        expires_at: e.created_at + 600,
    }
}

/// Enroll `user` as the service does: pending, then the confirmation
/// expecting what is there.
async fn enroll(s: &PostgresStore, user: &str, e: &Enrollment, rec: &[[u8; 32]]) -> Result<()> {
    s.put_pending(user, &pending_of(e)).await?;
    let replaces = s.summary(user).await?.map(|x| x.shape());
    let expect = Expect {
        pending: e.sealed_secret.clone(),
        change: Confirm::Replace {
            replaces,
            recovery: rec.to_vec(),
        },
    };
    Ok(s.confirm(user, FIRST_LABEL, e, &expect).await?)
}

/// Add authenticator `label` to `user` beside the others.
async fn add(s: &PostgresStore, user: &str, label: &str, secret: u8) -> Result<(), StoreError> {
    let e = enrollment(secret, None);
    s.put_pending(user, &pending_of(&e)).await?;
    let expect = Expect {
        pending: e.sealed_secret.clone(),
        change: Confirm::Add,
    };
    s.confirm(user, label, &e, &expect).await
}

async fn labels(s: &PostgresStore, user: &str) -> Result<Vec<String>> {
    let sum = s.summary(user).await?.ok_or_else(|| anyhow!("no {user}"))?;
    Ok(sum.authenticators.into_iter().map(|a| a.label).collect())
}

fn step(id: i64, step: u64) -> Effect {
    Effect::AcceptStep { id, step }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrations_run_once_even_when_two_mfads_start_together() -> Result<()> {
    let c = TempCluster::start_new()?;
    let (a, b) = tokio::join!(store(&c), store(&c));
    let (a, b) = (a?, b?);
    let versions = c.psql(
        "postgres",
        "SELECT string_agg(version::text, ',') FROM schema_version",
    )?;
    let all: Vec<String> = (1..=PostgresStore::schema_version())
        .map(|v| v.to_string())
        .collect();
    assert_eq!(versions, all.join(","));
    // Again, over the data: nothing is lost or re-run.
    a.set_key_check(b"check").await?;
    drop(store(&c).await?);
    assert_eq!(b.key_check().await?.as_deref(), Some(&b"check"[..]));
    a.set_key_check(b"other").await?;
    assert_eq!(b.key_check().await?.as_deref(), Some(&b"other"[..]));
    // A database from a newer mfad is refused, not used.
    c.psql("postgres", "INSERT INTO schema_version VALUES (99, 0)")?;
    let newer = PostgresStore::connect(&c.url()).await;
    assert!(
        matches!(newer, Err(StoreError::FutureSchema(99))),
        "{:?}",
        newer.err()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_confirmation_that_raced_with_another_change_does_not_apply() -> Result<()> {
    let c = TempCluster::start_new()?;
    let s = store(&c).await?;
    let first = enrollment(1, Some(1));
    enroll(&s, "ann", &first, &[]).await?;
    let second = enrollment(4, Some(2));
    s.put_pending("ann", &pending_of(&second)).await?;
    let replace = |replaces| Confirm::Replace {
        replaces,
        recovery: vec![],
    };
    let seen = Expect {
        pending: second.sealed_secret.clone(),
        change: replace(Some(vec![first.sealed_secret.clone()])),
    };
    let stale = Expect {
        change: replace(None),
        ..seen.clone()
    };
    let other = Expect {
        pending: vec![7, 7, 7],
        ..seen.clone()
    };
    for wrong in [&stale, &other] {
        let r = s.confirm("ann", FIRST_LABEL, &second, wrong).await;
        assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    }
    let now = s.summary("ann").await?.ok_or_else(|| anyhow!("gone"))?;
    assert_eq!(now.first().map(|a| &a.totp), Some(&first));
    assert!(s.pending("ann").await?.is_some());
    s.confirm("ann", FIRST_LABEL, &second, &seen).await?;
    let now = s.summary("ann").await?.ok_or_else(|| anyhow!("gone"))?;
    assert_eq!(now.first().map(|a| &a.totp), Some(&second));
    assert!(s.pending("ann").await?.is_none());
    // Removed between the check and the confirmation.
    assert!(s.remove("ann").await?);
    s.put_pending("ann", &pending_of(&second)).await?;
    let seen = Expect {
        change: replace(Some(vec![second.sealed_secret.clone()])),
        ..seen
    };
    let r = s.confirm("ann", FIRST_LABEL, &second, &seen).await;
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    assert!(s.summary("ann").await?.is_none());
    // Two first enrollments of one account from two mfads at once: one
    // wins, the other sees the account changed under it.
    let b = store(&c).await?;
    s.put_pending("bob", &pending_of(&first)).await?;
    let expect = Expect {
        pending: first.sealed_secret.clone(),
        change: replace(None),
    };
    let (x, y) = tokio::join!(
        s.confirm("bob", FIRST_LABEL, &first, &expect),
        b.confirm("bob", FIRST_LABEL, &first, &expect)
    );
    assert_eq!(
        [&x, &y].iter().filter(|r| r.is_ok()).count(),
        1,
        "{x:?} {y:?}"
    );
    assert!([&x, &y]
        .iter()
        .any(|r| matches!(r, Err(StoreError::Conflict))));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[allow(clippy::panic)] // the panic is what is tested
async fn accepting_a_step_at_or_below_the_last_is_a_conflict() -> Result<()> {
    let c = TempCluster::start_new()?;
    let s = store(&c).await?;
    enroll(&s, "ann", &enrollment(1, Some(5)), &[]).await?;
    let r = s.attempt(about("ann"), |_| ((), vec![step(1, 5)])).await;
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    s.attempt(about("ann"), |_| ((), vec![step(1, 6)])).await?;
    let auth = s
        .attempt(about("ann"), |st| (st.authenticators.clone(), vec![]))
        .await?;
    assert_eq!(auth.first().and_then(|a| a.totp.last_step), Some(6));
    // A decision that panics fails alone, and the store goes on.
    let panicked = s
        .attempt(about("ann"), |_| -> ((), Vec<Effect>) {
            std::panic::panic_any("a decision that panics")
        })
        .await;
    assert!(matches!(panicked, Err(StoreError::NotRun)), "{panicked:?}");
    s.attempt(about("ann"), |_| ((), vec![step(1, 7)])).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn attempts_from_two_mfads_are_serialized_and_a_failing_one_is_undone_alone() -> Result<()> {
    let c = TempCluster::start_new()?;
    let stores = [Arc::new(store(&c).await?), Arc::new(store(&c).await?)];
    enroll(&stores[0], "ann", &enrollment(1, Some(0)), &[]).await?;
    // As the SQLite test: even ones accept the step after the last they
    // see (all 32 succeed only if each saw the one before it), odd ones
    // bump the counters and make a stale claim, which must undo them.
    let barrier = Arc::new(tokio::sync::Barrier::new(64));
    let tasks: Vec<_> = (0..64u64)
        .map(|i| {
            let s = stores[i as usize % 2].clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                s.attempt(about("ann"), move |st| {
                    let last = st
                        .authenticators
                        .first()
                        .and_then(|a| a.totp.last_step)
                        .unwrap_or(0);
                    let effects = if i % 2 == 0 {
                        vec![step(1, last + 1)]
                    } else {
                        let bumped = Counters {
                            failures: 99,
                            last_failure: 1,
                            locked: true,
                        };
                        vec![Effect::SetUserCounters(bumped), step(1, last)]
                    };
                    ((), effects)
                })
                .await
            })
        })
        .collect();
    let mut results = vec![];
    for t in tasks {
        results.push(t.await?);
    }
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 32);
    let conflicts = results
        .iter()
        .filter(|r| matches!(r, Err(StoreError::Conflict)))
        .count();
    assert_eq!(conflicts, 32, "{results:?}");
    let sum = stores[1]
        .summary("ann")
        .await?
        .ok_or_else(|| anyhow!("gone"))?;
    assert_eq!(sum.counters, Counters::default());
    assert_eq!(sum.first().and_then(|a| a.totp.last_step), Some(32));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn a_recovery_code_is_used_once_however_many_race_for_it() -> Result<()> {
    let c = TempCluster::start_new()?;
    let stores = [Arc::new(store(&c).await?), Arc::new(store(&c).await?)];
    enroll(&stores[0], "ann", &enrollment(1, None), &[[1; 32], [2; 32]]).await?;
    let id = stores[0]
        .attempt(about("ann"), |st| {
            (st.recovery.first().map(|r| r.id), vec![])
        })
        .await?
        .ok_or_else(|| anyhow!("no codes"))?;
    // Half decide on what they see (only the first finds it unused),
    // half claim it blindly (only a first could succeed).
    let tasks: Vec<_> = (0..32usize)
        .map(|i| {
            let s = stores[i % 2].clone();
            tokio::spawn(async move {
                s.attempt(about("ann"), move |st| {
                    let unused = st.recovery.iter().any(|r| r.id == id);
                    let effects = if unused || i % 2 == 1 {
                        vec![Effect::UseRecovery(id)]
                    } else {
                        vec![]
                    };
                    (unused, effects)
                })
                .await
            })
        })
        .collect();
    let mut used = 0;
    for t in tasks {
        match t.await? {
            Ok(true) => used += 1,
            Ok(false) | Err(StoreError::Conflict) => {}
            Err(e) => bail!("{e}"),
        }
    }
    assert_eq!(used, 1);
    let left = stores[1].summary("ann").await?.map(|x| x.recovery_left);
    assert_eq!(left, Some(1));
    Ok(())
}

#[path = "postgres_store/methods.rs"]
mod methods;
#[path = "postgres_store/outages.rs"]
mod outages;
#[path = "postgres_store/sends.rs"]
mod sends;
