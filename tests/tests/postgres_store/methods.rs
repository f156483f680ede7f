//! An account's methods on PostgreSQL (several authenticators, removal
//! that keeps the last way in, renaming, the default, an account made by
//! its first phone), paging through accounts, and pruning.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn authenticators_are_added_by_name_and_the_last_way_in_is_kept() -> Result<()> {
    let c = TempCluster::start_new()?;
    let s = store(&c).await?;
    let r = add(&s, "ann", "laptop", 4).await;
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    enroll(&s, "ann", &enrollment(1, Some(5)), &[[1; 32]]).await?;
    add(&s, "ann", "laptop", 4).await?;
    let r = add(&s, "ann", "laptop", 6).await;
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    assert_eq!(labels(&s, "ann").await?, [FIRST_LABEL, "laptop"]);
    s.attempt(about("ann"), |_| ((), vec![step(2, 3)])).await?;
    let steps = s
        .attempt(about("ann"), |st| {
            let v: Vec<_> = st
                .authenticators
                .iter()
                .map(|a| (a.id, a.totp.last_step))
                .collect();
            (v, vec![])
        })
        .await?;
    assert_eq!(steps, [(1, Some(5)), (2, Some(3))]);

    let t = MethodRef::Totp;
    assert_eq!(
        s.rename_method("ann", t, "laptop", FIRST_LABEL).await?,
        Renamed::Taken
    );
    assert_eq!(
        s.rename_method("ann", t, "nope", "x").await?,
        Renamed::NotFound
    );
    assert_eq!(
        s.rename_method("ann", t, "laptop", "tablet").await?,
        Renamed::Done
    );
    assert!(s.prefer_method("ann", t, "tablet").await?);
    assert!(!s.prefer_method("ann", t, "nope").await?);
    assert_eq!(labels(&s, "ann").await?, ["tablet", FIRST_LABEL]);
    assert_eq!(
        s.remove_method("ann", t, "nope", true).await?,
        Removal::NotFound
    );
    // Two removals from two mfads at once: the last one stays.
    let b = store(&c).await?;
    let (x, y) = tokio::join!(
        s.remove_method("ann", t, FIRST_LABEL, true),
        b.remove_method("ann", t, "tablet", true)
    );
    let mut got = [x?, y?];
    got.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(got, [Removal::Last, Removal::Removed]);
    assert_eq!(labels(&s, "ann").await?.len(), 1);
    let sum = s.summary("ann").await?.ok_or_else(|| anyhow!("gone"))?;
    assert_eq!(sum.recovery_left, 1);
    // The codes are replaced only while the account is as expected.
    let r = s.replace_recovery("ann", &[[5; 32]; 3], &[]).await;
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    s.replace_recovery("ann", &[[5; 32]; 3], &sum.shape())
        .await?;
    // A help-desk code is not counted as a recovery code.
    assert!(s.add_bypass("ann", [6; 32], 5000).await?);
    assert!(!s.add_bypass("nobody", [6; 32], 5000).await?);
    let sum = s.summary("ann").await?.ok_or_else(|| anyhow!("gone"))?;
    assert_eq!(sum.recovery_left, 3);
    let codes = s
        .attempt(about("ann"), |st| (st.recovery.clone(), vec![]))
        .await?;
    assert_eq!(
        codes.iter().filter(|c| c.expires_at == Some(5000)).count(),
        1
    );
    // Counters set by an attempt are cleared by unlock.
    let locked = Counters {
        failures: 7,
        last_failure: 900,
        locked: true,
    };
    s.attempt(about("ann"), move |_| {
        ((), vec![Effect::SetUserCounters(locked)])
    })
    .await?;
    let sum = s.summary("ann").await?.ok_or_else(|| anyhow!("gone"))?;
    assert_eq!(sum.counters, locked);
    assert!(s.unlock("ann").await?);
    assert!(!s.unlock("nobody").await?);
    let sum = s.summary("ann").await?.ok_or_else(|| anyhow!("gone"))?;
    assert_eq!(sum.counters, Counters::default());
    // An algorithm this build does not know is an error, never SHA1.
    c.psql(
        "postgres",
        "UPDATE authenticators SET algorithm = 'SHA3-256'",
    )?;
    let err = s.summary("ann").await.err().map(|e| e.to_string());
    let err = err.unwrap_or_default();
    assert!(err.contains("unknown TOTP algorithm \"SHA3-256\""), "{err}");
    let login = s.attempt(about("ann"), |_| ((), vec![])).await;
    assert!(login.is_err(), "{login:?}");
    c.psql("postgres", "UPDATE authenticators SET algorithm = 'SHA1'")?;
    let last = labels(&s, "ann").await?.remove(0);
    assert_eq!(
        s.remove_method("ann", t, &last, false).await?,
        Removal::Removed
    );
    assert!(s.remove("ann").await?);
    assert!(!s.remove("ann").await?);
    assert!(s.summary("ann").await?.is_none());
    Ok(())
}

pub(super) fn phone_code(id: &str, user: &str, number: &str, purpose: PhonePurpose) -> PhoneCode {
    PhoneCode {
        id: id.into(),
        user: user.into(),
        number: number.into(),
        channel: Channel::Sms,
        purpose,
        label: format!("sms {id}"),
        code_hash: [7; 32],
        sealed_code: Some(vec![1, 2]),
        host: "lab1".into(),
        created_at: 100,
        expires_at: 400,
        state: CodeState::Queued,
        tries: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_first_phone_makes_the_account_with_its_recovery_codes() -> Result<()> {
    let c = TempCluster::start_new()?;
    let s = store(&c).await?;
    let limits = SendLimits {
        per_user: 5,
        per_number: 5,
        since: 0,
    };
    let add = PhonePurpose::AddNumber;
    // Nothing to confirm yet; then a wrong code counts a try.
    let r = s.confirm_phone("ann", |_| [7; 32], vec![], 200).await?;
    assert_eq!(r, Confirmed::NoCode);
    for (id, created) in [("a", true), ("b", false)] {
        let code = phone_code(id, "ann", "+15551234567", add);
        assert_eq!(s.open_phone_code(code, limits).await?, SendOpened::Queued);
        let wrong = s.confirm_phone("ann", |_| [8; 32], vec![], 200).await?;
        assert_eq!(wrong, Confirmed::Wrong);
        let r = s
            .confirm_phone("ann", |_| [7; 32], vec![[1; 32], [2; 32]], 200)
            .await?;
        assert!(
            matches!(r, Confirmed::Added { created: c, .. } if c == created),
            "{r:?}"
        );
    }
    let sum = s
        .summary("ann")
        .await?
        .ok_or_else(|| anyhow!("no account"))?;
    assert!(sum.authenticators.is_empty());
    assert_eq!(sum.recovery_left, 2);
    let names: Vec<_> = s
        .phones("ann")
        .await?
        .into_iter()
        .map(|p| p.label)
        .collect();
    assert_eq!(names, ["sms a", "sms b"]);
    let p = MethodRef::Phone;
    assert!(s.prefer_method("ann", p, "sms b").await?);
    let first = s.phones("ann").await?.first().map(|p| p.label.clone());
    assert_eq!(first.as_deref(), Some("sms b"));
    assert_eq!(
        s.remove_method("ann", p, "sms a", true).await?,
        Removal::Removed
    );
    assert_eq!(
        s.remove_method("ann", p, "sms b", true).await?,
        Removal::Last
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn accounts_are_listed_in_byte_order_page_by_page_and_old_state_is_pruned() -> Result<()> {
    let c = TempCluster::start_new()?;
    let s = store(&c).await?;
    let mut names: Vec<String> = (0..23).map(|i| format!("u{i:02}")).collect();
    names.extend(["Zed", "alice", "_x", "\u{e9}mile"].map(String::from));
    for n in &names {
        enroll(&s, n, &enrollment(1, None), &[]).await?;
    }
    names.sort();
    let mut seen = vec![];
    let mut after = String::new();
    loop {
        let page = s.list(&after, 10).await?;
        assert!(page.len() <= 10);
        let Some(last) = page.last() else { break };
        after = last.clone();
        seen.extend(page);
    }
    assert_eq!(seen, names);

    // Prune: a host failure, an expired pending enrollment and an old push.
    let with_host = AttemptFor {
        rhost: Some("10.0.0.1".into()),
        ..about("alice")
    };
    s.attempt(with_host.clone(), |_| ((), vec![Effect::HostFailure(50)]))
        .await?;
    s.put_pending("bob", &pending_of(&enrollment(2, None)))
        .await?;
    s.open_push(
        super::sends::push("p1", "alice", 10),
        super::sends::fatigue(3),
    )
    .await?;
    let host = s.attempt(with_host.clone(), |st| (st.host, vec![])).await?;
    assert_eq!(host.map(|h| (h.accounts, h.includes_user)), Some((1, true)));
    assert_eq!(s.prune(60, 20, 1601).await?, 3);
    assert_eq!(s.prune(60, 20, 1601).await?, 0);
    assert!(s.pending("bob").await?.is_none());
    assert!(s.push("p1").await?.is_none());
    let host = s.attempt(with_host, |st| (st.host, vec![])).await?;
    assert_eq!(host, Some(HostFailures::default()));
    Ok(())
}
