//! Enrollment: the pending entry, the confirmation that makes it live,
//! and the conditions under which a confirmation (or a new set of
//! recovery codes) must not apply because the account changed meanwhile,
//! also when several race.

use super::fixtures::*;
use super::Res;
use mfad::store::*;
use std::sync::Arc;

fn replace(replaces: Option<Vec<Vec<u8>>>, recovery: &[[u8; 32]]) -> Confirm {
    Confirm::Replace {
        replaces,
        recovery: recovery.to_vec(),
    }
}

pub async fn a_pending_enrollment_is_replaced_and_read_back<S: Store>(s: Arc<S>) -> Res {
    assert_eq!(s.pending("ann").await?, None);
    let first = pending_of(&enrollment(1, None));
    s.put_pending("ann", &first).await?;
    assert_eq!(s.pending("ann").await?, Some(first));
    let mut second = pending_of(&enrollment(2, None));
    second.algorithm = mfa_proto::Algorithm::Sha512;
    second.digits = 6;
    second.period = 60;
    // Expired or not, it is what is there.
    second.expires_at = 1;
    s.put_pending("ann", &second).await?;
    assert_eq!(s.pending("ann").await?, Some(second));
    assert_eq!(s.pending("bob").await?, None);
    // A pending entry is no account.
    assert!(s.summary("ann").await?.is_none());
    assert!(!look(&*s, about("ann")).await?.enrolled);
    Ok(())
}

pub async fn a_first_confirmation_makes_the_account<S: Store>(s: Arc<S>) -> Res {
    let e = enrollment(1, Some(3));
    enroll(&*s, "ann", &e, &[[1; 32], [2; 32], [3; 32]]).await?;
    assert_eq!(s.pending("ann").await?, None);
    let sum = s.summary("ann").await?.ok_or("no account")?;
    assert_eq!(sum.authenticators.len(), 1);
    let a = sum.first().ok_or("no authenticator")?;
    assert_eq!((a.label.as_str(), &a.totp), (FIRST_LABEL, &e));
    assert_eq!(sum.created_at, e.created_at);
    assert_eq!(sum.counters, Counters::default());
    assert_eq!(sum.recovery_left, 3);
    assert_eq!(sum.last_login, None);
    assert_eq!(sum.shape(), vec![e.sealed_secret.clone()]);
    let st = look(&*s, about("ann")).await?;
    assert!(st.enrolled);
    assert_eq!(st.authenticators, sum.authenticators);
    Ok(())
}

pub async fn a_confirmation_that_raced_with_another_change_does_not_apply<S: Store>(
    s: Arc<S>,
) -> Res {
    let first = enrollment(1, Some(1));
    enroll(&*s, "ann", &first, &[]).await?;
    let second = enrollment(2, Some(2));
    let pending = pending_of(&second);
    s.put_pending("ann", &pending).await?;
    let seen = Expect {
        pending: pending.sealed_secret.clone(),
        change: replace(Some(vec![first.sealed_secret.clone()]), &[]),
    };
    // Decided on while ann was not enrolled, but she is by now.
    let stale = Expect {
        change: replace(None, &[]),
        ..seen.clone()
    };
    let r = s.confirm("ann", FIRST_LABEL, &second, &stale).await;
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    // Decided on other authenticators than hers.
    let other_shape = Expect {
        change: replace(Some(vec![vec![9; 16]]), &[]),
        ..seen.clone()
    };
    let r = s.confirm("ann", FIRST_LABEL, &second, &other_shape).await;
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    // Another enrollment replaced the pending secret meanwhile.
    let other = Expect {
        pending: vec![7; 16],
        ..seen.clone()
    };
    let r = s.confirm("ann", FIRST_LABEL, &second, &other).await;
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    let sum = s.summary("ann").await?.ok_or("ann is gone")?;
    assert_eq!(sum.first().map(|a| &a.totp), Some(&first));
    assert_eq!(s.pending("ann").await?, Some(pending.clone()));
    s.confirm("ann", FIRST_LABEL, &second, &seen).await?;
    let sum = s.summary("ann").await?.ok_or("ann is gone")?;
    assert_eq!(sum.first().map(|a| &a.totp), Some(&second));
    assert_eq!(s.pending("ann").await?, None);
    // Removed between the check and the confirmation (with the pending
    // entry there again, so only the account differs).
    let seen = Expect {
        change: replace(Some(vec![second.sealed_secret.clone()]), &[]),
        ..seen
    };
    assert!(s.remove("ann").await?);
    s.put_pending("ann", &pending).await?;
    let r = s.confirm("ann", FIRST_LABEL, &second, &seen).await;
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    assert!(s.summary("ann").await?.is_none());
    // No pending entry at all.
    let r = s
        .confirm(
            "bob",
            FIRST_LABEL,
            &second,
            &Expect {
                pending: pending.sealed_secret.clone(),
                change: replace(None, &[]),
            },
        )
        .await;
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    assert!(s.summary("bob").await?.is_none());
    Ok(())
}

pub async fn a_replacing_confirmation_starts_the_account_over<S: Store>(s: Arc<S>) -> Res {
    enroll(&*s, "ann", &enrollment(1, Some(8)), &[[1; 32], [2; 32]]).await?;
    add_authenticator(&*s, "ann", "laptop", &enrollment(2, None)).await?;
    let locked = Counters {
        failures: 4,
        last_failure: 50,
        locked: true,
    };
    apply(&*s, "ann", vec![Effect::SetUserCounters(locked)]).await?;
    let fresh = enrollment(3, None);
    enroll(&*s, "ann", &fresh, &[[5; 32]]).await?;
    let sum = s.summary("ann").await?.ok_or("ann is gone")?;
    let labels: Vec<_> = sum
        .authenticators
        .iter()
        .map(|a| a.label.as_str())
        .collect();
    assert_eq!(labels, [FIRST_LABEL]);
    assert_eq!(sum.first().map(|a| &a.totp), Some(&fresh));
    assert_eq!(sum.counters, Counters::default());
    assert_eq!(sum.recovery_left, 1);
    let st = look(
        &*s,
        AttemptFor {
            want_recovery: true,
            ..about("ann")
        },
    )
    .await?;
    let hashes: Vec<_> = st
        .recovery
        .iter()
        .filter(|c| c.expires_at.is_none())
        .map(|c| c.hash)
        .collect();
    assert_eq!(hashes, [[5; 32]]);
    Ok(())
}

pub async fn concurrent_confirmations_of_one_pending_apply_once<S: Store>(s: Arc<S>) -> Res {
    let e = enrollment(1, None);
    let p = pending_of(&e);
    s.put_pending("ann", &p).await?;
    // 16 first enrollments decided on "no account yet", each with its own
    // codes: one makes the account, the others find it there.
    let confirms = (0..16u8).map(|i| {
        let s = s.clone();
        let e = e.clone();
        let expect = Expect {
            pending: p.sealed_secret.clone(),
            change: replace(None, &[[i; 32]]),
        };
        async move { s.confirm("ann", FIRST_LABEL, &e, &expect).await }
    });
    let results = race(confirms).await?;
    assert_eq!(count(&results, |r| r.is_ok()), 1, "{results:?}");
    let conflicts = count(&results, |r| matches!(r, Err(StoreError::Conflict)));
    assert_eq!(conflicts, 15, "{results:?}");
    let winner = results.iter().position(|r| r.is_ok()).ok_or("no winner")? as u8;
    let st = look(
        &*s,
        AttemptFor {
            want_recovery: true,
            ..about("ann")
        },
    )
    .await?;
    assert_eq!(st.authenticators.len(), 1);
    let hashes: Vec<_> = st.recovery.iter().map(|c| c.hash).collect();
    assert_eq!(hashes, [[winner; 32]]);
    Ok(())
}

pub async fn recovery_codes_are_replaced_only_on_the_expected_account<S: Store>(s: Arc<S>) -> Res {
    let e = enrollment(1, None);
    let r = s
        .replace_recovery("ann", &[[1; 32]], std::slice::from_ref(&e.sealed_secret))
        .await;
    assert!(matches!(r, Err(StoreError::Conflict)), "no account: {r:?}");
    assert!(s.summary("ann").await?.is_none());
    enroll(&*s, "ann", &e, &[[1; 32], [2; 32]]).await?;
    let r = s.replace_recovery("ann", &[[3; 32]], &[vec![9; 16]]).await;
    assert!(matches!(r, Err(StoreError::Conflict)), "other shape: {r:?}");
    let r = s.replace_recovery("ann", &[[3; 32]], &[]).await;
    assert!(matches!(r, Err(StoreError::Conflict)), "no shape: {r:?}");
    assert_eq!(s.summary("ann").await?.map(|x| x.recovery_left), Some(2));
    let shape = s.summary("ann").await?.ok_or("ann is gone")?.shape();
    s.replace_recovery("ann", &[[3; 32], [4; 32], [5; 32]], &shape)
        .await?;
    let st = look(
        &*s,
        AttemptFor {
            want_recovery: true,
            ..about("ann")
        },
    )
    .await?;
    let mut hashes: Vec<_> = st.recovery.iter().map(|c| c.hash).collect();
    hashes.sort();
    assert_eq!(hashes, [[3; 32], [4; 32], [5; 32]]);
    assert_eq!(s.summary("ann").await?.map(|x| x.recovery_left), Some(3));
    // With two authenticators, both are expected, in id order.
    add_authenticator(&*s, "ann", "laptop", &enrollment(2, None)).await?;
    let r = s.replace_recovery("ann", &[[6; 32]], &shape).await;
    assert!(matches!(r, Err(StoreError::Conflict)), "one of two: {r:?}");
    let both = vec![e.sealed_secret.clone(), enrollment(2, None).sealed_secret];
    assert_eq!(s.summary("ann").await?.ok_or("gone")?.shape(), both);
    s.replace_recovery("ann", &[[6; 32]], &both).await?;
    assert_eq!(s.summary("ann").await?.map(|x| x.recovery_left), Some(1));
    Ok(())
}
