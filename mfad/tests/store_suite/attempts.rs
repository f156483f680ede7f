//! Login attempts: what an attempt sees, replay protection (a TOTP step
//! is accepted once, above the last), an attempt's effects applied all or
//! nothing, attempts serialized under a race, counters, the last login and
//! the per-host failures counted by account.

use super::fixtures::*;
use super::Res;
use mfad::store::*;
use std::sync::Arc;

pub async fn an_unknown_account_is_not_enrolled<S: Store>(s: Arc<S>) -> Res {
    let st = look(
        &*s,
        AttemptFor {
            want_recovery: true,
            count_recovery: true,
            ..about("nobody")
        },
    )
    .await?;
    assert!(!st.enrolled);
    assert!(st.authenticators.is_empty());
    assert!(st.recovery.is_empty());
    assert_eq!(st.recovery_left, 0);
    assert_eq!(st.user, Counters::default());
    assert!(st.host.is_none(), "no remote host was named");
    assert!(st.phone.is_none());
    // A stale claim on an account that is not there changes nothing.
    let step = Effect::AcceptStep { id: 1, step: 5 };
    assert!(apply(&*s, "nobody", vec![step]).await.is_err());
    assert!(s.summary("nobody").await?.is_none());
    Ok(())
}

pub async fn a_step_at_or_below_the_last_is_refused_and_undoes_the_attempt<S: Store>(
    s: Arc<S>,
) -> Res {
    enroll(&*s, "ann", &enrollment(1, Some(5)), &[]).await?;
    let st = look(&*s, about("ann")).await?;
    assert!(st.enrolled);
    let id = st.authenticators.first().ok_or("no authenticator")?.id;
    let bumped = Counters {
        failures: 3,
        last_failure: 77,
        locked: true,
    };
    for stale in [5, 4, 0] {
        let effects = vec![
            Effect::SetUserCounters(bumped),
            Effect::LoggedIn(99),
            Effect::AcceptStep { id, step: stale },
        ];
        let r = apply(&*s, "ann", effects).await;
        assert!(
            matches!(r, Err(StoreError::Conflict)),
            "step {stale}: {r:?}"
        );
    }
    // Nothing of the refused attempts stayed.
    let sum = s.summary("ann").await?.ok_or("ann is gone")?;
    assert_eq!(sum.counters, Counters::default());
    assert_eq!(sum.last_login, None);
    assert_eq!(steps(&*s, "ann").await?, [(FIRST_LABEL.into(), Some(5))]);
    // Above the last: accepted once.
    apply(&*s, "ann", vec![Effect::AcceptStep { id, step: 6 }]).await?;
    let again = apply(&*s, "ann", vec![Effect::AcceptStep { id, step: 6 }]).await;
    assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
    assert_eq!(steps(&*s, "ann").await?, [(FIRST_LABEL.into(), Some(6))]);
    // An authenticator that is not there cannot be spent.
    let none = apply(
        &*s,
        "ann",
        vec![Effect::AcceptStep {
            id: id + 100,
            step: 9,
        }],
    )
    .await;
    assert!(none.is_err(), "{none:?}");
    // A first step when none was ever accepted.
    enroll(&*s, "bob", &enrollment(2, None), &[]).await?;
    let bob = look(&*s, about("bob")).await?;
    let bid = bob.authenticators.first().ok_or("no authenticator")?.id;
    apply(&*s, "bob", vec![Effect::AcceptStep { id: bid, step: 0 }]).await?;
    assert_eq!(steps(&*s, "bob").await?, [(FIRST_LABEL.into(), Some(0))]);
    assert_eq!(steps(&*s, "ann").await?, [(FIRST_LABEL.into(), Some(6))]);
    Ok(())
}

pub async fn concurrent_attempts_are_serialized_and_a_failing_one_is_undone_alone<S: Store>(
    s: Arc<S>,
) -> Res {
    enroll(&*s, "ann", &enrollment(1, Some(0)), &[]).await?;
    // 64 attempts at once. Even ones accept the step after the last one
    // they see, so all 32 succeed only if each saw the one before it.
    // Odd ones bump the counters, then make a stale claim, which must undo
    // their whole attempt and nothing else.
    let attempts = (0..64u64).map(|i| {
        let s = s.clone();
        async move {
            s.attempt(about("ann"), move |st| {
                let (id, last) = st
                    .authenticators
                    .first()
                    .map(|a| (a.id, a.totp.last_step.unwrap_or(0)))
                    .unwrap_or((0, 0));
                let effects = if i % 2 == 0 {
                    vec![Effect::AcceptStep { id, step: last + 1 }]
                } else {
                    let bumped = Counters {
                        failures: 99,
                        last_failure: 1,
                        locked: true,
                    };
                    vec![
                        Effect::SetUserCounters(bumped),
                        Effect::AcceptStep { id, step: last },
                    ]
                };
                (i, effects)
            })
            .await
        }
    });
    let results = race(attempts).await?;
    for (i, r) in results.iter().enumerate() {
        match (i % 2, r) {
            (0, Ok(n)) => assert_eq!(*n, i as u64),
            (1, Err(StoreError::Conflict)) => {}
            _ => return Err(format!("attempt {i}: {r:?}").into()),
        }
    }
    let sum = s.summary("ann").await?.ok_or("ann is gone")?;
    assert_eq!(sum.counters, Counters::default());
    assert_eq!(steps(&*s, "ann").await?, [(FIRST_LABEL.into(), Some(32))]);
    Ok(())
}

pub async fn counters_and_last_login_are_kept_and_unlock_clears_them<S: Store>(s: Arc<S>) -> Res {
    enroll(&*s, "ann", &enrollment(1, None), &[]).await?;
    enroll(&*s, "bob", &enrollment(2, None), &[]).await?;
    let locked = Counters {
        failures: 5,
        last_failure: 1234,
        locked: true,
    };
    apply(&*s, "ann", vec![Effect::SetUserCounters(locked)]).await?;
    apply(&*s, "bob", vec![Effect::LoggedIn(4321)]).await?;
    assert_eq!(look(&*s, about("ann")).await?.user, locked);
    let ann = s.summary("ann").await?.ok_or("ann is gone")?;
    assert_eq!((ann.counters, ann.last_login), (locked, None));
    let bob = s.summary("bob").await?.ok_or("bob is gone")?;
    assert_eq!(
        (bob.counters, bob.last_login),
        (Counters::default(), Some(4321))
    );
    assert!(s.unlock("ann").await?);
    assert_eq!(look(&*s, about("ann")).await?.user, Counters::default());
    assert!(!s.unlock("nobody").await?);
    assert!(s.summary("nobody").await?.is_none());
    Ok(())
}

fn from_host(user: &str, since: i64) -> AttemptFor {
    AttemptFor {
        rhost: Some("10.0.0.1".into()),
        hosts_since: since,
        ..about(user)
    }
}

async fn host<S: Store>(s: &S, user: &str, since: i64) -> Result<HostFailures, String> {
    let st = look(s, from_host(user, since))
        .await
        .map_err(|e| e.to_string())?;
    st.host.ok_or_else(|| "no host failures loaded".into())
}

pub async fn host_failures_count_accounts_and_a_success_clears_its_own<S: Store>(s: Arc<S>) -> Res {
    for (i, u) in ["ann", "bob", "carl"].into_iter().enumerate() {
        enroll(&*s, u, &enrollment(i as u8, None), &[]).await?;
    }
    assert_eq!(host(&*s, "ann", 0).await?, HostFailures::default());
    for (u, at) in [("ann", 100), ("ann", 150), ("bob", 200)] {
        let effects = vec![Effect::HostFailure(at)];
        s.attempt(from_host(u, 0), move |_| ((), effects)).await?;
    }
    // Another host is not this one.
    let elsewhere = AttemptFor {
        rhost: Some("10.0.0.2".into()),
        ..about("carl")
    };
    s.attempt(elsewhere, |_| ((), vec![Effect::HostFailure(300)]))
        .await?;
    let seen = HostFailures {
        accounts: 2,
        last_failure: 200,
        includes_user: true,
    };
    assert_eq!(host(&*s, "ann", 0).await?, seen);
    let carl = HostFailures {
        includes_user: false,
        ..seen
    };
    assert_eq!(host(&*s, "carl", 0).await?, carl);
    // Only failures since the cutoff count (ann's last was at 150).
    let recent = HostFailures {
        accounts: 1,
        last_failure: 200,
        includes_user: false,
    };
    assert_eq!(host(&*s, "ann", 160).await?, recent);
    // ann logs in from there: her failures no longer count, bob's do.
    s.attempt(from_host("ann", 0), |_| ((), vec![Effect::HostSuccess]))
        .await?;
    assert_eq!(host(&*s, "carl", 0).await?, recent);
    assert!(host(&*s, "bob", 0).await?.includes_user);
    Ok(())
}
