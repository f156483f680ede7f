//! Recovery codes and the help desk's temporary code: each works once,
//! also when many attempts race for the same code, and the temporary one
//! is a single code that expires and is not counted as a recovery code.

use super::fixtures::*;
use super::Res;
use mfad::store::*;
use std::sync::Arc;

fn with_codes(user: &str) -> AttemptFor {
    AttemptFor {
        want_recovery: true,
        count_recovery: true,
        ..about(user)
    }
}

pub async fn a_recovery_code_is_used_once<S: Store>(s: Arc<S>) -> Res {
    enroll(&*s, "ann", &enrollment(1, None), &[[1; 32], [2; 32]]).await?;
    enroll(&*s, "bob", &enrollment(2, None), &[[1; 32]]).await?;
    // Not loaded unless asked for.
    assert!(look(&*s, about("ann")).await?.recovery.is_empty());
    let st = look(&*s, with_codes("ann")).await?;
    assert_eq!(st.recovery_left, 2);
    let mut hashes: Vec<_> = st.recovery.iter().map(|c| c.hash).collect();
    hashes.sort();
    assert_eq!(hashes, [[1; 32], [2; 32]]);
    assert!(st.recovery.iter().all(|c| c.expires_at.is_none()));
    assert_ne!(st.recovery[0].id, st.recovery[1].id);
    let used = st
        .recovery
        .iter()
        .find(|c| c.hash == [1; 32])
        .ok_or("no code")?
        .id;
    apply(&*s, "ann", vec![Effect::UseRecovery(used)]).await?;
    let again = apply(&*s, "ann", vec![Effect::UseRecovery(used)]).await;
    assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
    let st = look(&*s, with_codes("ann")).await?;
    assert_eq!(st.recovery_left, 1);
    assert_eq!(
        st.recovery.iter().map(|c| c.hash).collect::<Vec<_>>(),
        [[2; 32]]
    );
    assert_eq!(s.summary("ann").await?.map(|x| x.recovery_left), Some(1));
    // bob's code is his own.
    assert_eq!(look(&*s, with_codes("bob")).await?.recovery_left, 1);
    Ok(())
}

pub async fn one_recovery_code_raced_by_16_attempts_works_once<S: Store>(s: Arc<S>) -> Res {
    enroll(
        &*s,
        "ann",
        &enrollment(1, None),
        &[[1; 32], [2; 32], [3; 32]],
    )
    .await?;
    let tries = (0..16u32).map(|i| {
        let s = s.clone();
        async move {
            s.attempt(with_codes("ann"), move |st| {
                // Each decides on the code it sees, as the service does.
                match st.recovery.iter().find(|c| c.hash == [2; 32]) {
                    Some(c) => (
                        true,
                        vec![
                            Effect::UseRecovery(c.id),
                            Effect::LoggedIn(i64::from(i) + 10),
                        ],
                    ),
                    None => (false, vec![]),
                }
            })
            .await
        }
    });
    let results = race(tries).await?;
    assert_eq!(count(&results, |r| matches!(r, Ok(true))), 1, "{results:?}");
    // The others either saw it used or lost the race on it.
    let others = count(&results, |r| {
        matches!(r, Ok(false) | Err(StoreError::Conflict))
    });
    assert_eq!(others, 15, "{results:?}");
    let st = look(&*s, with_codes("ann")).await?;
    assert_eq!(st.recovery_left, 2);
    assert!(st.recovery.iter().all(|c| c.hash != [2; 32]));
    assert!(s.summary("ann").await?.and_then(|x| x.last_login).is_some());
    Ok(())
}

pub async fn a_bypass_is_one_temporary_code_not_counted_as_recovery<S: Store>(s: Arc<S>) -> Res {
    assert!(!s.add_bypass("ann", [8; 32], 5000).await?);
    assert!(
        s.summary("ann").await?.is_none(),
        "a bypass made an account"
    );
    enroll(&*s, "ann", &enrollment(1, None), &[[1; 32]]).await?;
    assert!(s.add_bypass("ann", [8; 32], 5000).await?);
    // A second one replaces the first.
    assert!(s.add_bypass("ann", [9; 32], 6000).await?);
    let st = look(&*s, with_codes("ann")).await?;
    assert_eq!(st.recovery_left, 1, "the temporary code was counted");
    assert_eq!(s.summary("ann").await?.map(|x| x.recovery_left), Some(1));
    let temp: Vec<_> = st
        .recovery
        .iter()
        .filter(|c| c.expires_at.is_some())
        .collect();
    assert_eq!(temp.len(), 1, "{:?}", st.recovery);
    let bypass = temp[0].clone();
    assert_eq!((bypass.hash, bypass.expires_at), ([9; 32], Some(6000)));
    let ordinary = st
        .recovery
        .iter()
        .find(|c| c.expires_at.is_none())
        .ok_or("no code")?;
    assert_ne!(ordinary.id, bypass.id);
    // It works once.
    apply(&*s, "ann", vec![Effect::UseRecovery(bypass.id)]).await?;
    let again = apply(&*s, "ann", vec![Effect::UseRecovery(bypass.id)]).await;
    assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
    let st = look(&*s, with_codes("ann")).await?;
    assert!(st.recovery.iter().all(|c| c.expires_at.is_none()));
    assert_eq!(st.recovery_left, 1);
    Ok(())
}
