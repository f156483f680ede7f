//! Sends on PostgreSQL: the phone and push limits held under races from
//! two mfads, and a push's life (queued, sent, decided, ended, cancelled).

use super::methods::phone_code;
use super::*;

/// A distinct hash for each distinct (short) id.
fn token_of(id: &str) -> [u8; 32] {
    let mut h = [0u8; 32];
    for (i, b) in id.bytes().enumerate() {
        h[i % 32] ^= b;
    }
    h
}

pub(super) fn push(id: &str, user: &str, created_at: i64) -> PushRecord {
    PushRecord {
        id: id.into(),
        token_hash: token_of(id),
        sealed_token: vec![9; 4],
        user: user.into(),
        kind: PushKind::Login,
        target: PushTarget {
            label: "phone".into(),
            provider: Provider::Ntfy,
            sealed_topic: Some(vec![3; 4]),
            created_at,
        },
        number: "42".into(),
        host: "lab1".into(),
        service: "sshd".into(),
        rhost: None,
        created_at,
        expires_at: created_at + 120,
        state: PushState::Queued,
    }
}

pub(super) fn fatigue(max: u32) -> Fatigue {
    Fatigue {
        now: 100,
        since: 0,
        max,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn phone_send_limits_hold_when_two_mfads_race() -> Result<()> {
    let c = TempCluster::start_new()?;
    let stores = [Arc::new(store(&c).await?), Arc::new(store(&c).await?)];
    let limits = SendLimits {
        per_user: 5,
        per_number: 3,
        since: 0,
    };
    let login = PhonePurpose::Login;
    let race = |codes: Vec<PhoneCode>| {
        let tasks: Vec<_> = codes
            .into_iter()
            .enumerate()
            .map(|(i, code)| {
                let s = stores[i % 2].clone();
                tokio::spawn(async move { s.open_phone_code(code, limits).await })
            })
            .collect();
        async move {
            let mut out = vec![];
            for t in tasks {
                out.push(t.await??);
            }
            anyhow::Ok(out)
        }
    };
    // One account, many numbers: five go out.
    let codes = (0..20)
        .map(|i| phone_code(&format!("a{i}"), "ann", &format!("+1555000{i:04}"), login))
        .collect();
    let got = race(codes).await?;
    assert_eq!(got.iter().filter(|o| **o == SendOpened::Queued).count(), 5);
    assert!(got.iter().all(|o| matches!(
        o,
        SendOpened::Queued | SendOpened::UserLimit { oldest: 100 }
    )));
    // One number, many accounts: three go out.
    let codes = (0..20)
        .map(|i| phone_code(&format!("n{i}"), &format!("u{i}"), "+15559999999", login))
        .collect();
    let got = race(codes).await?;
    assert_eq!(got.iter().filter(|o| **o == SendOpened::Queued).count(), 3);
    assert!(got.iter().all(|o| matches!(
        o,
        SendOpened::Queued | SendOpened::NumberLimit { oldest: 100 }
    )));
    // Each queued code is handed to exactly one sender.
    let mut taken = vec![];
    loop {
        let (x, y) = tokio::join!(
            stores[0].next_phone_delivery(200),
            stores[1].next_phone_delivery(200)
        );
        let batch: Vec<_> = [x?, y?].into_iter().flatten().collect();
        if batch.is_empty() {
            break;
        }
        for code in batch {
            assert_eq!(code.state, CodeState::Sending);
            assert!(stores[0].phone_delivery_result(&code.id, true).await?);
            assert!(!stores[1].phone_delivery_result(&code.id, true).await?);
            taken.push(code.id);
        }
    }
    taken.sort();
    let before = taken.len();
    taken.dedup();
    assert_eq!((before, taken.len()), (8, 8));
    // A sent login code is spent by an attempt once.
    let id = taken[0].clone();
    let user = if id.starts_with('a') {
        "ann".to_string()
    } else {
        format!("u{}", &id[1..])
    };
    let with_code = AttemptFor {
        phone_code: Some(id.clone()),
        now: 200,
        ..about(&user)
    };
    let live = stores[0]
        .attempt(with_code.clone(), |st| (st.phone.clone(), vec![]))
        .await?;
    assert_eq!(live.map(|p| p.state), Some(CodeState::Sent));
    let id2 = id.clone();
    stores[0]
        .attempt(with_code.clone(), move |_| {
            ((), vec![Effect::UsePhoneCode(id2)])
        })
        .await?;
    let again = stores[1]
        .attempt(with_code, move |_| ((), vec![Effect::UsePhoneCode(id)]))
        .await;
    assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn a_push_lives_once_through_queue_delivery_decision_and_cancellation() -> Result<()> {
    let c = TempCluster::start_new()?;
    let stores = [Arc::new(store(&c).await?), Arc::new(store(&c).await?)];
    // Fatigue under a race: three of ten open.
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let s = stores[i % 2].clone();
            tokio::spawn(async move {
                s.open_push(push(&format!("p{i}"), "ann", 50 + i as i64), fatigue(3))
                    .await
            })
        })
        .collect();
    let mut opened = 0;
    for t in tasks {
        match t.await?? {
            Opened::Opened => opened += 1,
            Opened::TooMany { oldest } => assert!((50..60).contains(&oldest)),
            other => bail!("{other:?}"),
        }
    }
    assert_eq!(opened, 3);
    // The oldest queued goes first, to one sender.
    let (x, y) = tokio::join!(stores[0].next_delivery(100), stores[1].next_delivery(100));
    let (x, y) = (
        x?.ok_or_else(|| anyhow!("none"))?,
        y?.ok_or_else(|| anyhow!("none"))?,
    );
    assert_ne!(x.id, y.id);
    assert_eq!((x.state, y.state), (PushState::Sending, PushState::Sending));
    assert!(stores[0].delivery_result(&x.id, true).await?);
    assert!(!stores[0].delivery_result(&x.id, true).await?);
    let sent = stores[1]
        .push(&x.id)
        .await?
        .ok_or_else(|| anyhow!("gone"))?;
    assert_eq!(sent.state, PushState::Sent);
    assert_eq!(
        stores[1].push_by_token(x.token_hash).await?.map(|p| p.id),
        Some(x.id.clone())
    );
    // A denial blocks further pushes; the push is decided once.
    let deny = PushVerdict {
        state: PushState::Denied,
        block: Some((1000, "denied".into())),
    };
    let (a, b) = tokio::join!(
        stores[0].decide_push(PushKey::Token(x.token_hash), {
            let v = deny.clone();
            move |_| (1, v)
        }),
        stores[1].decide_push(PushKey::Token(x.token_hash), move |_| (2, deny))
    );
    let decided: Vec<_> = [a?, b?].into_iter().flatten().collect();
    assert_eq!(decided.len(), 1, "{decided:?}");
    let ended = stores[0]
        .push(&x.id)
        .await?
        .ok_or_else(|| anyhow!("gone"))?;
    assert_eq!(
        (ended.state, ended.number.as_str()),
        (PushState::Denied, "")
    );
    let blocked = stores[1]
        .open_push(push("late", "ann", 200), fatigue(99))
        .await?;
    assert_eq!(
        blocked,
        Opened::Blocked {
            until: 1000,
            reason: "denied".into()
        }
    );
    // An approved test push saves its target.
    let mut test = push("t1", "bob", 60);
    test.kind = PushKind::Test;
    test.target.label = "new phone".into();
    assert_eq!(
        stores[0].open_push(test.clone(), fatigue(3)).await?,
        Opened::Opened
    );
    let ok = PushVerdict {
        state: PushState::Approved,
        block: None,
    };
    assert_eq!(
        stores[1]
            .decide_push(PushKey::Token(test.token_hash), move |_| ((), ok))
            .await?,
        Some(())
    );
    let targets = stores[0].push_targets("bob").await?;
    assert_eq!(
        targets.iter().map(|t| t.label.as_str()).collect::<Vec<_>>(),
        ["new phone"]
    );
    // end_push only ends a pending one.
    assert!(stores[0].end_push(&y.id, PushState::Expired).await?);
    assert!(!stores[1].end_push(&y.id, PushState::Approved).await?);
    // At start, an mfad cancels only the pushes it created.
    let mut other = push("elsewhere", "cy", 70);
    other.host = "lab2".into();
    stores[0].open_push(other, fatigue(3)).await?;
    assert_eq!(stores[1].cancel_pending_pushes().await?, 1);
    let mut mine = vec![];
    for i in 0..10 {
        mine.extend(stores[0].push(&format!("p{i}")).await?.map(|p| p.state));
    }
    assert_eq!(mine.len(), 3);
    assert!(mine.iter().all(|s| !s.is_pending()), "{mine:?}");
    assert!(mine.contains(&PushState::Cancelled), "{mine:?}");
    let theirs = stores[0].push("elsewhere").await?.map(|p| p.state);
    assert_eq!(theirs, Some(PushState::Queued));
    Ok(())
}
