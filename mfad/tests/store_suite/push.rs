//! Push approval: a push's life from queued through delivery to one final
//! decision; the fatigue limit and blocks after a denial, held also when
//! logins race; a test push that saves its target once approved; ending
//! and cancelling only what is pending.

use super::fixtures::*;
use super::Res;
use mfa_proto::push::PushKind;
use mfad::store::*;
use std::sync::Arc;

pub async fn a_push_is_delivered_and_decided_once<S: Store>(s: Arc<S>) -> Res {
    let p = push_record("p1", "ann", PushKind::Login, 1000);
    assert_eq!(
        s.open_push(p.clone(), unlimited(1000)).await?,
        Opened::Opened
    );
    assert_eq!(s.push("p1").await?, Some(p.clone()));
    assert_eq!(s.push_by_token(p.token_hash).await?, Some(p.clone()));
    assert_eq!(s.push("p2").await?, None);
    assert_eq!(s.push_by_token(token("p2")).await?, None);
    // Not handed out once expired.
    assert_eq!(s.next_delivery(p.expires_at).await?, None);
    let out = s.next_delivery(1001).await?.ok_or("nothing to deliver")?;
    assert_eq!((out.id.as_str(), out.state), ("p1", PushState::Sending));
    assert_eq!(out.sealed_token, p.sealed_token);
    assert_eq!(s.next_delivery(1001).await?, None, "handed out twice");
    assert_eq!(
        s.push("p1").await?.map(|x| x.state),
        Some(PushState::Sending)
    );
    assert!(s.delivery_result("p1", true).await?);
    assert!(
        !s.delivery_result("p1", true).await?,
        "not being sent any more"
    );
    assert!(!s.delivery_result("nope", true).await?);
    assert_eq!(s.push("p1").await?.map(|x| x.state), Some(PushState::Sent));
    let seen = s
        .decide_push(PushKey::Token(p.token_hash), |r| {
            (r.clone(), verdict(PushState::Approved))
        })
        .await?
        .ok_or("no pending push")?;
    assert_eq!((seen.id.as_str(), seen.state), ("p1", PushState::Sent));
    assert_eq!((seen.user.as_str(), seen.number.as_str()), ("ann", "42"));
    assert_eq!(
        s.push("p1").await?.map(|x| x.state),
        Some(PushState::Approved)
    );
    let again = s
        .decide_push(PushKey::Token(p.token_hash), |_| {
            ((), verdict(PushState::Denied))
        })
        .await?;
    assert_eq!(again, None);
    assert!(!s.end_push("p1", PushState::Expired).await?);
    assert_eq!(
        s.push("p1").await?.map(|x| x.state),
        Some(PushState::Approved)
    );
    // A failed delivery is final.
    let q = push_record("p2", "ann", PushKind::Login, 1100);
    assert_eq!(
        s.open_push(q.clone(), unlimited(1100)).await?,
        Opened::Opened
    );
    assert_eq!(
        s.next_delivery(1100).await?.map(|x| x.id),
        Some("p2".into())
    );
    assert!(s.delivery_result("p2", false).await?);
    assert_eq!(
        s.push("p2").await?.map(|x| x.state),
        Some(PushState::Failed)
    );
    let late = s
        .decide_push(PushKey::Token(q.token_hash), |_| {
            ((), verdict(PushState::Approved))
        })
        .await?;
    assert_eq!(late, None);
    Ok(())
}

pub async fn fatigue_and_blocks_hold_new_pushes<S: Store>(s: Arc<S>) -> Res {
    let limit = |now| Fatigue {
        now,
        since: now - 100,
        max: 3,
    };
    // An old push, outside the window.
    let old = push_record("old", "ann", PushKind::Login, 800);
    assert_eq!(s.open_push(old, unlimited(800)).await?, Opened::Opened);
    for (i, at) in [1000, 1010, 1020].into_iter().enumerate() {
        let p = push_record(&format!("p{i}"), "ann", PushKind::Login, at);
        assert_eq!(
            s.open_push(p, limit(1050)).await?,
            Opened::Opened,
            "push {i}"
        );
    }
    let over = push_record("p3", "ann", PushKind::Login, 1050);
    assert_eq!(
        s.open_push(over.clone(), limit(1050)).await?,
        Opened::TooMany { oldest: 1000 }
    );
    assert_eq!(s.push("p3").await?, None, "a refused push was stored");
    // Another account has its own count.
    let bob = push_record("b0", "bob", PushKind::Login, 1050);
    assert_eq!(s.open_push(bob, limit(1050)).await?, Opened::Opened);
    // Later, the window has moved on.
    assert_eq!(s.open_push(over, limit(1115)).await?, Opened::Opened);
    // A denial that blocks the account.
    let block = |until: i64, why: &str| PushVerdict {
        state: PushState::Reported,
        block: Some((until, why.to_string())),
    };
    let ends = s
        .decide_push(PushKey::Token(token("p3")), move |_| {
            ((), block(5000, "reported"))
        })
        .await?;
    assert_eq!(ends, Some(()));
    let next = push_record("p4", "ann", PushKind::Login, 2000);
    let blocked = Opened::Blocked {
        until: 5000,
        reason: "reported".into(),
    };
    assert_eq!(s.open_push(next.clone(), unlimited(2000)).await?, blocked);
    assert_eq!(s.push("p4").await?, None, "a blocked push was stored");
    // A shorter block does not shorten it (p0 is still pending).
    let shorter = s
        .decide_push(PushKey::Token(token("p0")), move |_| {
            ((), block(3000, "denied"))
        })
        .await?;
    assert_eq!(shorter, Some(()));
    assert_eq!(s.open_push(next.clone(), unlimited(4000)).await?, blocked);
    // bob's block is his own.
    let b2 = push_record("b2", "bob", PushKind::Login, 2000);
    assert_eq!(
        s.open_push(b2.clone(), unlimited(2000)).await?,
        Opened::Opened
    );
    let bob_blocked = s
        .decide_push(PushKey::Token(token("b0")), move |_| {
            ((), block(3000, "denied"))
        })
        .await?;
    assert_eq!(bob_blocked, Some(()));
    let b3 = push_record("b3", "bob", PushKind::Login, 2000);
    assert!(matches!(
        s.open_push(b3.clone(), unlimited(2000)).await?,
        Opened::Blocked { until: 3000, .. }
    ));
    // Until it runs out.
    assert_eq!(s.open_push(next, unlimited(5000)).await?, Opened::Opened);
    assert_eq!(s.open_push(b3, unlimited(3000)).await?, Opened::Opened);
    Ok(())
}

pub async fn concurrent_pushes_under_fatigue_open_exactly_the_limit<S: Store>(s: Arc<S>) -> Res {
    let fatigue = Fatigue {
        now: 1000,
        since: 900,
        max: 5,
    };
    let opens = (0..32).map(|i| {
        let s = s.clone();
        let p = push_record(&format!("p{i}"), "ann", PushKind::Login, 950 + i);
        async move { s.open_push(p, fatigue).await }
    });
    let results = race(opens).await?;
    let opened = count(&results, |r| matches!(r, Ok(Opened::Opened)));
    let refused = count(&results, |r| matches!(r, Ok(Opened::TooMany { .. })));
    assert_eq!((opened, refused), (5, 27), "{results:?}");
    // Exactly the opened ones are stored.
    let mut stored = 0;
    for i in 0..32 {
        if s.push(&format!("p{i}")).await?.is_some() {
            stored += 1;
        }
    }
    assert_eq!(stored, 5);
    Ok(())
}

pub async fn concurrent_decisions_on_one_push_apply_once<S: Store>(s: Arc<S>) -> Res {
    let p = push_record("p1", "ann", PushKind::Login, 1000);
    s.open_push(p.clone(), unlimited(1000)).await?;
    let states = [PushState::Approved, PushState::Denied, PushState::Expired];
    let decisions = (0..16).map(|i| {
        let s = s.clone();
        let state = states[i % 3];
        async move {
            s.decide_push(PushKey::Token(p.token_hash), move |_| {
                (state, verdict(state))
            })
            .await
        }
    });
    let results = race(decisions).await?;
    let decided: Vec<_> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().copied().flatten())
        .collect();
    assert_eq!(decided.len(), 1, "{results:?}");
    // The others found it decided (or lost the race on it).
    let others = count(&results, |r| {
        matches!(r, Ok(None) | Err(StoreError::Conflict))
    });
    assert_eq!(others, 15, "{results:?}");
    assert_eq!(s.push("p1").await?.map(|x| x.state), Some(decided[0]));
    Ok(())
}

pub async fn an_approved_test_push_saves_its_target<S: Store>(s: Arc<S>) -> Res {
    assert!(s.push_targets("ann").await?.is_empty());
    let mut p = push_record("t1", "ann", PushKind::Test, 1000);
    p.target = target("pixel");
    s.open_push(p.clone(), unlimited(1000)).await?;
    // Queued is not saved.
    assert!(s.push_targets("ann").await?.is_empty());
    s.decide_push(PushKey::Token(p.token_hash), |_| {
        ((), verdict(PushState::Approved))
    })
    .await?
    .ok_or("no pending push")?;
    let saved = s.push_targets("ann").await?;
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].label, "pixel");
    assert_eq!(saved[0].provider, p.target.provider);
    assert_eq!(saved[0].sealed_topic, p.target.sealed_topic);
    // A denied one saves nothing; nor does an approved login push.
    let mut q = push_record("t2", "ann", PushKind::Test, 1100);
    q.target = target("iphone");
    s.open_push(q.clone(), unlimited(1100)).await?;
    s.decide_push(PushKey::Token(q.token_hash), |_| {
        ((), verdict(PushState::Denied))
    })
    .await?;
    let mut l = push_record("l1", "ann", PushKind::Login, 1200);
    l.target = target("ipad");
    s.open_push(l.clone(), unlimited(1200)).await?;
    s.decide_push(PushKey::Token(l.token_hash), |_| {
        ((), verdict(PushState::Approved))
    })
    .await?;
    let labels: Vec<_> = s
        .push_targets("ann")
        .await?
        .into_iter()
        .map(|t| t.label)
        .collect();
    assert_eq!(labels, ["pixel"]);
    assert!(s.push_targets("bob").await?.is_empty());
    Ok(())
}

pub async fn ending_and_cancelling_touch_only_pending_pushes<S: Store>(s: Arc<S>) -> Res {
    for (i, u) in ["ann", "ann", "bob", "carl"].into_iter().enumerate() {
        let p = push_record(&format!("p{i}"), u, PushKind::Login, 1000 + i as i64);
        s.open_push(p, unlimited(1000)).await?;
    }
    assert!(s.end_push("p0", PushState::Expired).await?);
    assert!(!s.end_push("p0", PushState::Cancelled).await?);
    assert!(!s.end_push("nope", PushState::Expired).await?);
    assert_eq!(
        s.push("p0").await?.map(|x| x.state),
        Some(PushState::Expired)
    );
    // One being sent, one sent, one queued: all three pending.
    assert_eq!(
        s.next_delivery(1000).await?.map(|x| x.id),
        Some("p1".into())
    );
    assert_eq!(
        s.next_delivery(1000).await?.map(|x| x.id),
        Some("p2".into())
    );
    assert!(s.delivery_result("p2", true).await?);
    assert_eq!(s.cancel_pending_pushes().await?, 3);
    for id in ["p1", "p2", "p3"] {
        let state = s.push(id).await?.map(|x| x.state);
        assert_eq!(state, Some(PushState::Cancelled), "{id}");
    }
    assert_eq!(
        s.push("p0").await?.map(|x| x.state),
        Some(PushState::Expired)
    );
    assert_eq!(s.cancel_pending_pushes().await?, 0);
    let r = s
        .decide_push(PushKey::Token(token("p3")), |_| {
            ((), verdict(PushState::Approved))
        })
        .await?;
    assert_eq!(r, None);
    assert!(!s.delivery_result("p1", true).await?);
    assert_eq!(s.next_delivery(1000).await?, None);
    Ok(())
}

/// What a session of the account sees waiting (D-Bus), and a decision by
/// id: login pushes only, still pending and not expired, its own only.
pub async fn pending_pushes_are_an_account_s_live_login_pushes<S: Store>(s: Arc<S>) -> Res {
    for (id, user, kind, at) in [
        ("a2", "ann", PushKind::Login, 1010),
        ("a1", "ann", PushKind::Login, 1000),
        ("at", "ann", PushKind::Test, 1000),
        ("old", "ann", PushKind::Login, 900),
        ("b1", "bob", PushKind::Login, 1000),
    ] {
        s.open_push(push_record(id, user, kind, at), unlimited(at))
            .await?;
    }
    let ids = |v: Vec<PushRecord>| v.into_iter().map(|p| p.id).collect::<Vec<_>>();
    // "old" expired at 960.
    assert_eq!(ids(s.pending_pushes("ann", 1020).await?), ["a1", "a2"]);
    let decided = s
        .decide_push(PushKey::Id("a1".into()), |r| {
            (r.user.clone(), verdict(PushState::Denied))
        })
        .await?;
    assert_eq!(decided.as_deref(), Some("ann"));
    assert_eq!(ids(s.pending_pushes("ann", 1020).await?), ["a2"]);
    // Decided once only, by id as by token.
    assert!(s
        .decide_push(PushKey::Id("a1".into()), |_| (
            (),
            verdict(PushState::Approved)
        ))
        .await?
        .is_none());
    assert!(s
        .decide_push(PushKey::Token(token("a1")), |_| (
            (),
            verdict(PushState::Approved)
        ))
        .await?
        .is_none());
    assert!(s
        .decide_push(PushKey::Id("nope".into()), |_| (
            (),
            verdict(PushState::Approved)
        ))
        .await?
        .is_none());
    assert_eq!(ids(s.pending_pushes("bob", 1020).await?), ["b1"]);
    assert!(s.pending_pushes("carol", 1020).await?.is_empty());
    Ok(())
}
