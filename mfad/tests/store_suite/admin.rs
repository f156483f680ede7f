//! The administrative operations: ping, listing accounts by name, the
//! master key's check value, summaries, removing an account with
//! everything about it, and pruning what no longer matters.

use super::fixtures::*;
use super::Res;
use mfa_proto::phone::PhonePurpose;
use mfa_proto::push::PushKind;
use mfad::store::*;
use std::sync::Arc;

pub async fn ping_answers<S: Store>(s: Arc<S>) -> Res {
    s.ping().await?;
    enroll(&*s, "ann", &enrollment(1, None), &[]).await?;
    s.ping().await?;
    Ok(())
}

pub async fn list_pages_through_accounts_in_name_order<S: Store>(s: Arc<S>) -> Res {
    assert!(s.list("", 10).await?.is_empty());
    for (i, u) in ["carl", "ann", "bob"].into_iter().enumerate() {
        enroll(&*s, u, &enrollment(i as u8, None), &[]).await?;
    }
    // An account made by its first phone counts; a pending one does not.
    add_phone(&*s, "dan", "a", "+15550000001", vec![], 100).await?;
    s.put_pending("eve", &pending_of(&enrollment(9, None)))
        .await?;
    assert_eq!(s.list("", 2).await?, ["ann", "bob"]);
    assert_eq!(s.list("bob", 2).await?, ["carl", "dan"]);
    assert_eq!(s.list("dan", 2).await?, Vec::<String>::new());
    assert_eq!(s.list("", 10).await?, ["ann", "bob", "carl", "dan"]);
    assert_eq!(s.list("b", 10).await?, ["bob", "carl", "dan"]);
    assert!(s.list("", 0).await?.is_empty());
    Ok(())
}

pub async fn key_check_round_trips<S: Store>(s: Arc<S>) -> Res {
    assert_eq!(s.key_check().await?, None);
    s.set_key_check(b"check one").await?;
    assert_eq!(s.key_check().await?, Some(b"check one".to_vec()));
    s.set_key_check(&[0, 255, 7]).await?;
    assert_eq!(s.key_check().await?, Some(vec![0, 255, 7]));
    Ok(())
}

pub async fn summary_of_an_unknown_account_is_none<S: Store>(s: Arc<S>) -> Res {
    assert!(s.summary("ann").await?.is_none());
    enroll(&*s, "ann", &enrollment(1, None), &[]).await?;
    assert!(s.summary("ann").await?.is_some());
    assert!(s.summary("Ann").await?.is_none(), "names are exact");
    assert!(s.summary("an").await?.is_none());
    Ok(())
}

pub async fn remove_forgets_everything_about_an_account<S: Store>(s: Arc<S>) -> Res {
    assert!(!s.remove("ann").await?);
    for u in ["ann", "bob"] {
        enroll(&*s, u, &enrollment(1, None), &[[1; 32]]).await?;
        add_phone(&*s, u, &format!("{u}1"), "+15550000001", vec![], 100).await?;
        assert!(add_push_target(&*s, u, "pixel", 100).await?);
        let p = push_record(&format!("{u}-login"), u, PushKind::Login, 200);
        s.open_push(p, unlimited(200)).await?;
        let c = phone_code(
            &format!("{u}-code"),
            u,
            "+15550000001",
            PhonePurpose::Login,
            200,
        );
        s.open_phone_code(c, ROOMY).await?;
        s.put_pending(u, &pending_of(&enrollment(2, None))).await?;
        assert!(s.add_bypass(u, [5; 32], 9000).await?);
    }
    assert!(s.remove("ann").await?);
    assert!(s.summary("ann").await?.is_none());
    assert!(!look(&*s, about("ann")).await?.enrolled);
    assert_eq!(s.pending("ann").await?, None);
    assert!(s.phones("ann").await?.is_empty());
    assert!(s.push_targets("ann").await?.is_empty());
    assert_eq!(s.push("ann-login").await?, None);
    assert_eq!(s.push_by_token(token("ann-login")).await?, None);
    let code = look(
        &*s,
        AttemptFor {
            phone_code: Some("ann-code".into()),
            now: 201,
            ..about("ann")
        },
    );
    assert!(code.await?.phone.is_none());
    assert_eq!(s.list("", 10).await?, ["bob"]);
    assert!(!s.remove("ann").await?);
    // Enrolled again, ann starts from nothing.
    enroll(&*s, "ann", &enrollment(3, None), &[]).await?;
    let st = look(
        &*s,
        AttemptFor {
            want_recovery: true,
            ..about("ann")
        },
    )
    .await?;
    assert!(st.recovery.is_empty(), "{:?}", st.recovery);
    assert_eq!(st.authenticators.len(), 1);
    // bob is untouched.
    let bob = s.summary("bob").await?.ok_or("bob is gone")?;
    assert_eq!((bob.authenticators.len(), bob.recovery_left), (1, 1));
    assert_eq!(s.phones("bob").await?.len(), 1);
    assert_eq!(s.push_targets("bob").await?.len(), 1);
    assert!(s.push("bob-login").await?.is_some());
    assert!(s.pending("bob").await?.is_some());
    Ok(())
}

pub async fn prune_forgets_only_what_no_longer_matters<S: Store>(s: Arc<S>) -> Res {
    for (i, u) in ["ann", "bob"].into_iter().enumerate() {
        enroll(&*s, u, &enrollment(i as u8, None), &[]).await?;
    }
    let from = |u: &str| AttemptFor {
        rhost: Some("10.0.0.1".into()),
        ..about(u)
    };
    s.attempt(from("ann"), |_| ((), vec![Effect::HostFailure(100)]))
        .await?;
    s.attempt(from("bob"), |_| ((), vec![Effect::HostFailure(300)]))
        .await?;
    let mut stale = pending_of(&enrollment(7, None));
    stale.expires_at = 400;
    s.put_pending("carl", &stale).await?;
    let mut live = pending_of(&enrollment(8, None));
    live.expires_at = 600;
    s.put_pending("dan", &live).await?;
    s.open_push(
        push_record("old", "ann", PushKind::Login, 100),
        unlimited(100),
    )
    .await?;
    s.open_push(
        push_record("new", "ann", PushKind::Login, 300),
        unlimited(300),
    )
    .await?;
    let pruned = s.prune(200, 200, 500).await?;
    assert!(pruned >= 3, "pruned {pruned}");
    // bob's failure still counts; ann's does not.
    let host = look(&*s, from("carl")).await?.host.ok_or("no host")?;
    assert_eq!((host.accounts, host.last_failure), (1, 300));
    assert_eq!(s.pending("carl").await?, None);
    assert_eq!(s.pending("dan").await?, Some(live));
    assert_eq!(s.push("old").await?, None);
    assert!(s.push("new").await?.is_some());
    // Accounts are never pruned.
    assert_eq!(s.list("", 10).await?, ["ann", "bob"]);
    assert_eq!(s.prune(200, 200, 500).await?, 0, "pruned twice");
    Ok(())
}
