//! Tests of the SQLite backend: group commit, conditional updates, schema
//! and reopening.

use super::*;
use crate::store::sqlite_schema::MIGRATIONS;

/// Wait for a store operation from a test thread.
pub(super) fn wait<T>(op: impl std::future::Future<Output = T>) -> T {
    match tokio::runtime::Builder::new_current_thread().build() {
        Ok(rt) => rt.block_on(op),
        Err(e) => unreachable_runtime(e),
    }
}

#[allow(clippy::panic)] // a test without a runtime cannot go on
fn unreachable_runtime(e: std::io::Error) -> ! {
    panic!("no tokio runtime for the test: {e}")
}

/// [`Store::attempt`] on `user`, waiting for the result.
pub(super) fn attempt<R: Send + 'static>(
    s: &SqliteStore,
    user: &str,
    want_recovery: bool,
    decide: impl FnOnce(&AttemptState) -> (R, Vec<Effect>) + Send + 'static,
) -> Result<R, StoreError> {
    let about = AttemptFor {
        user: user.into(),
        want_recovery,
        ..Default::default()
    };
    wait(s.attempt(about, decide))
}

pub(super) fn enrollment(last_step: Option<u64>) -> Enrollment {
    Enrollment {
        sealed_secret: vec![1, 2, 3],
        algorithm: Algorithm::Sha256,
        digits: 8,
        period: 30,
        last_step,
        created_at: 1000,
    }
}

/// Enroll `user` the way the service does: a pending entry, then the
/// confirmation, expecting what is there.
pub(super) fn enroll(
    s: &SqliteStore,
    user: &str,
    e: &Enrollment,
    recovery: &[[u8; 32]],
) -> Result<(), StoreError> {
    let p = Pending {
        sealed_secret: e.sealed_secret.clone(),
        algorithm: e.algorithm,
        digits: e.digits,
        period: e.period,
        expires_at: e.created_at + 600,
    };
    wait(s.put_pending(user, &p))?;
    let replaces = wait(s.summary(user))?.map(|x| x.shape());
    let change = Confirm::Replace {
        replaces,
        recovery: recovery.to_vec(),
    };
    let expect = Expect {
        pending: p.sealed_secret,
        change,
    };
    wait(s.confirm(user, FIRST_LABEL, e, &expect))
}

/// The default authenticator's enrollment.
pub(super) fn first(sum: Option<AccountSummary>) -> Option<Enrollment> {
    sum?.authenticators.first().map(|a| a.totp.clone())
}

fn replace(replaces: Option<Vec<Vec<u8>>>) -> Confirm {
    Confirm::Replace {
        replaces,
        recovery: vec![],
    }
}

fn first_of(s: &SqliteStore) -> Result<Enrollment, Box<dyn std::error::Error>> {
    Ok(first(wait(s.summary("ann"))?).ok_or("gone")?)
}

#[test]
fn a_confirmation_that_raced_with_another_change_does_not_apply(
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let s = SqliteStore::open(dir.path())?;
    let first = enrollment(Some(1));
    enroll(&s, "ann", &first, &[])?;
    let mut second = enrollment(Some(2));
    second.sealed_secret = vec![4, 5, 6];
    let pending = Pending {
        sealed_secret: second.sealed_secret.clone(),
        algorithm: second.algorithm,
        digits: second.digits,
        period: second.period,
        expires_at: 5000,
    };
    wait(s.put_pending("ann", &pending))?;
    let seen = Expect {
        pending: pending.sealed_secret.clone(),
        change: replace(Some(vec![first.sealed_secret.clone()])),
    };
    // Decided on while not enrolled, but ann is enrolled by now.
    let stale = Expect {
        change: replace(None),
        ..seen.clone()
    };
    assert!(matches!(
        wait(s.confirm("ann", FIRST_LABEL, &second, &stale)),
        Err(StoreError::Conflict)
    ));
    // Another enroll_begin replaced the pending secret meanwhile.
    let other = Expect {
        pending: vec![7, 7, 7],
        ..seen.clone()
    };
    assert!(matches!(
        wait(s.confirm("ann", FIRST_LABEL, &second, &other)),
        Err(StoreError::Conflict)
    ));
    assert_eq!(first_of(&s)?, first);
    assert!(wait(s.pending("ann"))?.is_some());
    wait(s.confirm("ann", FIRST_LABEL, &second, &seen))?;
    assert_eq!(first_of(&s)?, second);
    assert!(wait(s.pending("ann"))?.is_none());
    // Removed between the check and the confirmation (the pending
    // entry being there again, so only the enrollment differs).
    let seen = Expect {
        change: replace(Some(vec![second.sealed_secret.clone()])),
        ..seen
    };
    assert!(wait(s.remove("ann"))?);
    wait(s.put_pending("ann", &pending))?;
    assert!(matches!(
        wait(s.confirm("ann", FIRST_LABEL, &second, &seen)),
        Err(StoreError::Conflict)
    ));
    assert!(wait(s.summary("ann"))?.is_none());
    Ok(())
}

#[test]
#[allow(clippy::panic)] // the panic is what is tested
fn a_decision_that_panics_fails_alone_and_does_not_stop_the_store(
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let s = SqliteStore::open(dir.path())?;
    let failed = attempt(&s, "ann", false, |_| -> ((), Vec<Effect>) {
        panic!("a decision that panics")
    });
    assert!(matches!(failed, Err(StoreError::NotRun)), "{failed:?}");
    enroll(&s, "ann", &enrollment(Some(1)), &[])?;
    assert!(wait(s.summary("ann"))?.is_some());
    Ok(())
}

#[test]
fn committed_pages_reach_the_database_file_without_the_writer_checkpointing(
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let s = SqliteStore::open(dir.path())?;
    let db = dir.path().join("mfad.db");
    let before = std::fs::metadata(&db)?.len();
    for i in 0..200 {
        enroll(&s, &format!("u{i}"), &enrollment(Some(1)), &[[7u8; 32]; 10])?;
    }
    // Far below the writer's own threshold, so only the background
    // checkpoint can have copied these pages into the file.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut size = before;
    while size < before + 64 * 1024 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
        size = std::fs::metadata(&db)?.len();
    }
    assert!(
        size >= before + 64 * 1024,
        "mfad.db stayed at {size} bytes (from {before})"
    );
    Ok(())
}

#[test]
fn enrollment_survives_reopen_and_schema_is_current() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    {
        let s = SqliteStore::open(dir.path())?;
        enroll(&s, "ann", &enrollment(Some(5)), &[[9u8; 32]; 10])?;
    }
    let s = SqliteStore::open(dir.path())?;
    let sum = wait(s.summary("ann"))?.ok_or("missing")?;
    assert_eq!(sum.recovery_left, 10);
    assert_eq!(first(Some(sum)), Some(enrollment(Some(5))));
    let v: i64 = wait(
        s.writer
            .run(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?)),
    )?;
    assert_eq!(v, MIGRATIONS.len() as i64);
    assert_eq!(
        std::fs::metadata(dir.path())?.permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(
        std::fs::metadata(dir.path().join("mfad.db"))?
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    Ok(())
}

#[test]
fn second_store_on_same_directory_is_refused() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let _a = SqliteStore::open(dir.path())?;
    assert!(matches!(
        SqliteStore::open(dir.path()),
        Err(StoreError::Busy(_))
    ));
    Ok(())
}

/// Spend `n` of the first authenticator.
fn step(n: u64) -> Effect {
    Effect::AcceptStep { id: 1, step: n }
}

#[test]
fn accepting_a_step_at_or_below_the_last_is_a_conflict() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let s = SqliteStore::open(dir.path())?;
    enroll(&s, "ann", &enrollment(Some(5)), &[])?;
    assert!(matches!(
        attempt(&s, "ann", false, |_| ((), vec![step(5)])),
        Err(StoreError::Conflict)
    ));
    attempt(&s, "ann", false, |_| ((), vec![step(6)]))?;
    let st = attempt(&s, "ann", false, |st| (st.authenticators.clone(), vec![]))?;
    assert_eq!(st.first().and_then(|a| a.totp.last_step), Some(6));
    Ok(())
}

#[test]
fn concurrent_attempts_are_serialized_and_a_failing_one_is_undone_alone(
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let s = std::sync::Arc::new(SqliteStore::open(dir.path())?);
    enroll(&s, "ann", &enrollment(Some(0)), &[])?;
    // 64 threads at once. Even ones accept the step after the last one
    // they see, so all 32 succeed only if each saw the one before it,
    // batched or not. Odd ones bump the failure counter and then make a
    // stale claim, which must undo their whole job and nothing else.
    let handles: Vec<_> = (0..64u64)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || {
                attempt(&s, "ann", false, move |st| {
                    let last = st
                        .authenticators
                        .first()
                        .and_then(|a| a.totp.last_step)
                        .unwrap_or(0);
                    let effects = if i % 2 == 0 {
                        vec![step(last + 1)]
                    } else {
                        let bumped = Counters {
                            failures: 99,
                            last_failure: 1,
                            locked: true,
                        };
                        vec![Effect::SetUserCounters(bumped), step(last)]
                    };
                    ((), effects)
                })
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().filter_map(|h| h.join().ok()).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 32);
    assert_eq!(
        results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Conflict)))
            .count(),
        32
    );
    let sum = wait(s.summary("ann"))?.ok_or("missing")?;
    assert_eq!(sum.counters, Counters::default());
    assert_eq!(first(Some(sum)).and_then(|e| e.last_step), Some(32));
    Ok(())
}

#[test]
fn a_recovery_code_is_used_once() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let s = SqliteStore::open(dir.path())?;
    enroll(&s, "ann", &enrollment(None), &[[1u8; 32], [2u8; 32]])?;
    let codes = attempt(&s, "ann", true, |st| (st.recovery.clone(), vec![]))?;
    assert_eq!(codes.len(), 2);
    let id = codes[0].id;
    attempt(&s, "ann", true, move |_| {
        ((), vec![Effect::UseRecovery(id)])
    })?;
    assert!(matches!(
        attempt(&s, "ann", true, move |_| (
            (),
            vec![Effect::UseRecovery(id)]
        )),
        Err(StoreError::Conflict)
    ));
    assert_eq!(wait(s.summary("ann"))?.map(|x| x.recovery_left), Some(1));
    Ok(())
}

#[test]
fn an_algorithm_this_build_does_not_know_is_an_error_not_sha1(
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let s = SqliteStore::open(dir.path())?;
    enroll(&s, "ann", &enrollment(Some(5)), &[])?;
    wait(s.writer.run(|c| {
        c.execute(
            "UPDATE authenticators SET algorithm = 'SHA3-256' WHERE user = 'ann'",
            [],
        )?;
        Ok(())
    }))?;
    let err = wait(s.summary("ann"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("unknown TOTP algorithm \"SHA3-256\""), "{err}");
    let login = attempt(&s, "ann", false, |st| (st.authenticators.clone(), vec![]));
    assert!(login.is_err(), "{login:?}");
    Ok(())
}

/// A panic payload that panics again when dropped: the one fault that
/// gets past the writer's catch_unwind and ends its thread.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    #[allow(clippy::panic)] // the second panic is the fault being tested
    fn drop(&mut self) {
        panic!("dropping the payload panics too");
    }
}

#[test]
#[allow(clippy::panic)] // the panic is what kills the writer
fn a_dead_writer_is_reported_as_dead_and_healthy_one_as_answering(
) -> Result<(), Box<dyn std::error::Error>> {
    use crate::watchdog::{check, watch, Health};
    use std::time::Duration;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let within = Duration::from_secs(5);
    let dir = tempfile::tempdir()?;
    let s = SqliteStore::open(dir.path())?;
    assert_eq!(rt.block_on(check(&s, within)), Health::Answering);
    // A live store is vouched for every round and never ends the watch.
    let mut beats = 0;
    let watching = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_millis(300),
            watch(&s, Duration::from_millis(20), || beats += 1),
        )
        .await
    });
    assert!(watching.is_err(), "the watch ended on a live store");
    assert!(beats >= 5, "{beats} beats");
    // Queued at once; never answered, since the writer dies running it.
    drop(s.attempt(AttemptFor::default(), |_| -> ((), Vec<Effect>) {
        std::panic::panic_any(PanicsOnDrop)
    }));
    let deadline = std::time::Instant::now() + within;
    while s.writer.is_alive() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(rt.block_on(check(&s, within)), Health::Dead);
    let ended = rt.block_on(async {
        tokio::time::timeout(within, watch(&s, Duration::from_millis(20), || {})).await
    });
    assert!(ended.is_ok(), "the watch goes on with a dead writer");
    let after = attempt(&s, "ann", false, |_| ((), vec![]));
    assert!(after.is_err(), "{after:?}");
    Ok(())
}
