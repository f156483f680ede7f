//! A database that fails under a running store: one that goes away and
//! comes back, one that hangs, and a commit the server could not replicate to its
//! synchronous standby, which must be answered as a failure.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_that_goes_away_gives_errors_quickly_and_is_used_again_when_back() -> Result<()>
{
    let mut c = TempCluster::start_new()?;
    let s = store(&c).await?;
    enroll(&s, "ann", &enrollment(1, Some(1)), &[]).await?;
    c.stop()?;
    for _ in 0..3 {
        let t = Instant::now();
        let r = s.attempt(about("ann"), |_| ((), vec![step(1, 2)])).await;
        assert!(r.is_err(), "{r:?}");
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        let t = Instant::now();
        assert!(s.ping().await.is_err());
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }
    let t = Instant::now();
    let r = PostgresStore::connect(&c.url()).await;
    assert!(r.is_err());
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    c.start()?;
    // The same store, without reconnecting by hand: the step was not
    // spent while the database was down.
    s.ping().await?;
    s.attempt(about("ann"), |_| ((), vec![step(1, 2)])).await?;
    let sum = s.summary("ann").await?.ok_or_else(|| anyhow!("gone"))?;
    assert_eq!(sum.first().and_then(|a| a.totp.last_step), Some(2));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_that_hangs_gives_an_error_not_a_hung_login() -> Result<()> {
    let mut c = TempCluster::start_new()?;
    let s = store(&c).await?;
    enroll(&s, "ann", &enrollment(1, Some(1)), &[]).await?;
    c.freeze(true)?;
    let t = Instant::now();
    let r = s.attempt(about("ann"), |_| ((), vec![step(1, 2)])).await;
    let waited = t.elapsed();
    c.freeze(false)?;
    assert!(matches!(r, Err(StoreError::TimedOut(_))), "{r:?}");
    assert!(waited < Duration::from_secs(15), "{waited:?}");
    // Back to normal once the server runs again. The step may or may not
    // have been spent (the commit's fate was unknown): either way it was
    // not answered as a success, and the next one works.
    s.attempt(about("ann"), |_| ((), vec![step(1, 3)])).await?;
    let sum = s.summary("ann").await?.ok_or_else(|| anyhow!("gone"))?;
    assert_eq!(sum.first().and_then(|a| a.totp.last_step), Some(3));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_commit_not_replicated_to_the_synchronous_standby_is_a_failure() -> Result<()> {
    let c = TempCluster::start_new()?;
    let s = Arc::new(store(&c).await?);
    enroll(&s, "ann", &enrollment(1, Some(1)), &[]).await?;
    // A standby that never comes: every commit waits for it, until the
    // wait is cancelled and the server warns it committed only locally.
    c.psql(
        "postgres",
        "ALTER SYSTEM SET synchronous_standby_names = 'ghost'",
    )?;
    c.psql("postgres", "SELECT pg_reload_conf()")?;
    // pg_reload_conf only signals: a backend, and the checkpointer that
    // tells backends a standby is wanted, pick the setting up a moment
    // later. A commit made before then is not held, and spends its step
    // normally; the next attempt, with the next step, tries again.
    let begun = Instant::now();
    let mut next = 2;
    let (r, t) = loop {
        assert!(
            begun.elapsed() < Duration::from_secs(20),
            "no commit waited for the standby"
        );
        let t = Instant::now();
        let mut login = {
            let s = s.clone();
            let n = next;
            tokio::spawn(async move {
                s.attempt(about("ann"), move |_| ((), vec![step(1, n)]))
                    .await
            })
        };
        next += 1;
        let r = loop {
            tokio::select! {
                r = &mut login => break Some(r?),
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
            let cancelled = c.psql(
                "postgres",
                "SELECT coalesce(bool_or(pg_cancel_backend(pid)), false) FROM pg_stat_activity \
                 WHERE application_name = 'mfad' AND wait_event = 'SyncRep'",
            )?;
            if cancelled == "t" {
                break None;
            }
            assert!(
                begun.elapsed() < Duration::from_secs(20),
                "no commit waited for the standby"
            );
        };
        match r {
            // Committed before the setting reached it: not held at all.
            Some(Ok(())) => tokio::time::sleep(Duration::from_millis(200)).await,
            Some(Err(e)) => return Err(anyhow!("failed before it was held: {e:?}")),
            None => break (login.await?, t),
        }
    };
    assert!(
        r.is_err(),
        "an unreplicated commit was answered as done: {r:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(9), "{:?}", t.elapsed());
    assert!(
        c.log().contains("might not have been replicated"),
        "{}",
        c.log()
    );
    c.psql("postgres", "ALTER SYSTEM RESET synchronous_standby_names")?;
    c.psql("postgres", "SELECT pg_reload_conf()")?;
    // The store goes on (the connection that saw the warning was dropped).
    s.attempt(about("ann"), move |_| ((), vec![step(1, next)]))
        .await?;
    Ok(())
}
