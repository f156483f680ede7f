//! Phone codes: a login code seen by its own attempt while live, used
//! once, burned after too many wrong tries; send limits per account and
//! per number, held also when requests race; the gateway's queue; and the
//! confirmation of a number, which makes the account of a first one.

use super::fixtures::*;
use super::Res;
use mfa_proto::phone::PhonePurpose;
use mfad::store::phone::MAX_TRIES;
use mfad::store::*;
use std::sync::Arc;

const NUMBER: &str = "+15551234567";

fn for_code(user: &str, id: &str, now: i64) -> AttemptFor {
    AttemptFor {
        phone_code: Some(id.into()),
        now,
        ..about(user)
    }
}

async fn login_code<S: Store>(
    s: &S,
    user: &str,
    id: &str,
    now: i64,
) -> Result<Option<PhoneCode>, StoreError> {
    Ok(look(s, for_code(user, id, now)).await?.phone)
}

pub async fn a_login_code_is_loaded_only_while_live_and_for_its_account<S: Store>(
    s: Arc<S>,
) -> Res {
    let code = phone_code("c1", "ann", NUMBER, PhonePurpose::Login, 1000);
    assert_eq!(
        s.open_phone_code(code.clone(), ROOMY).await?,
        SendOpened::Queued
    );
    let seen = login_code(&*s, "ann", "c1", 1001)
        .await?
        .ok_or("not loaded")?;
    assert_eq!((seen.id.as_str(), seen.user.as_str()), ("c1", "ann"));
    assert_eq!(
        (seen.number.as_str(), seen.code_hash),
        (NUMBER, code.code_hash)
    );
    assert_eq!((seen.purpose, seen.tries), (PhonePurpose::Login, 0));
    assert!(matches!(
        seen.state,
        CodeState::Queued | CodeState::Sending | CodeState::Sent
    ));
    assert_eq!(
        login_code(&*s, "bob", "c1", 1001).await?,
        None,
        "another's code"
    );
    assert_eq!(login_code(&*s, "ann", "c2", 1001).await?, None);
    assert_eq!(
        login_code(&*s, "ann", "c1", code.expires_at).await?,
        None,
        "expired"
    );
    // A code to add a number is no login code.
    let add = phone_code("a1", "ann", NUMBER, PhonePurpose::AddNumber, 1000);
    s.open_phone_code(add, ROOMY).await?;
    assert_eq!(login_code(&*s, "ann", "a1", 1001).await?, None);
    let r = apply(&*s, "ann", vec![Effect::UsePhoneCode("c9".into())]).await;
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    Ok(())
}

pub async fn a_login_code_is_used_once_and_burned_after_max_tries<S: Store>(s: Arc<S>) -> Res {
    add_phone(&*s, "ann", "a", NUMBER, vec![], 900).await?;
    for id in ["c1", "c2"] {
        let code = phone_code(id, "ann", NUMBER, PhonePurpose::Login, 1000);
        s.open_phone_code(code, ROOMY).await?;
    }
    let spend = |id: &str| vec![Effect::UsePhoneCode(id.into()), Effect::LoggedIn(1001)];
    apply(&*s, "ann", spend("c1")).await?;
    let again = apply(&*s, "ann", spend("c1")).await;
    assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
    assert_eq!(login_code(&*s, "ann", "c1", 1001).await?, None, "used");
    for i in 1..MAX_TRIES {
        apply(&*s, "ann", vec![Effect::PhoneMiss("c2".into())]).await?;
        let seen = login_code(&*s, "ann", "c2", 1001)
            .await?
            .ok_or("burned early")?;
        assert_eq!(seen.tries, i);
    }
    apply(&*s, "ann", vec![Effect::PhoneMiss("c2".into())]).await?;
    assert_eq!(
        login_code(&*s, "ann", "c2", 1001).await?,
        None,
        "not burned"
    );
    let late = apply(&*s, "ann", spend("c2")).await;
    assert!(matches!(late, Err(StoreError::Conflict)), "{late:?}");
    let miss = apply(&*s, "ann", vec![Effect::PhoneMiss("c2".into())]).await;
    assert!(matches!(miss, Err(StoreError::Conflict)), "{miss:?}");
    Ok(())
}

pub async fn sends_are_limited_per_account_and_per_number<S: Store>(s: Arc<S>) -> Res {
    let limits = SendLimits {
        per_user: 2,
        per_number: 3,
        since: 1000,
    };
    let code = |id: &str, user: &str, number: &str, at| {
        phone_code(id, user, number, PhonePurpose::Login, at)
    };
    // Before the window: not counted.
    s.open_phone_code(code("old", "ann", NUMBER, 900), ROOMY)
        .await?;
    assert_eq!(
        s.open_phone_code(code("a1", "ann", NUMBER, 1010), limits)
            .await?,
        SendOpened::Queued
    );
    assert_eq!(
        s.open_phone_code(code("a2", "ann", "+15550000002", 1020), limits)
            .await?,
        SendOpened::Queued
    );
    assert_eq!(
        s.open_phone_code(code("a3", "ann", "+15550000003", 1030), limits)
            .await?,
        SendOpened::UserLimit { oldest: 1010 }
    );
    // Others may text ann's number, up to its own limit.
    assert_eq!(
        s.open_phone_code(code("b1", "bob", NUMBER, 1040), limits)
            .await?,
        SendOpened::Queued
    );
    assert_eq!(
        s.open_phone_code(code("c1", "carl", NUMBER, 1050), limits)
            .await?,
        SendOpened::Queued
    );
    assert_eq!(
        s.open_phone_code(code("d1", "dan", NUMBER, 1060), limits)
            .await?,
        SendOpened::NumberLimit { oldest: 1010 }
    );
    // The refused ones were not queued.
    for id in ["a3", "d1"] {
        let user = if id == "a3" { "ann" } else { "dan" };
        assert_eq!(login_code(&*s, user, id, 1061).await?, None, "{id}");
    }
    // A later window counts again from there.
    let later = SendLimits {
        since: 1015,
        ..limits
    };
    assert_eq!(
        s.open_phone_code(code("a4", "ann", "+15550000004", 1070), later)
            .await?,
        SendOpened::Queued
    );
    Ok(())
}

pub async fn concurrent_sends_beyond_the_limit_queue_exactly_the_limit<S: Store>(s: Arc<S>) -> Res {
    let limits = SendLimits {
        per_user: 4,
        per_number: 100,
        since: 0,
    };
    let opens = (0..24).map(|i| {
        let s = s.clone();
        let number = format!("+1555000{i:04}");
        let code = phone_code(
            &format!("c{i}"),
            "ann",
            &number,
            PhonePurpose::Login,
            1000 + i,
        );
        async move { s.open_phone_code(code, limits).await }
    });
    let results = race(opens).await?;
    let queued = count(&results, |r| matches!(r, Ok(SendOpened::Queued)));
    let refused = count(&results, |r| matches!(r, Ok(SendOpened::UserLimit { .. })));
    assert_eq!((queued, refused), (4, 20), "{results:?}");
    let mut live = 0;
    for i in 0..24 {
        if login_code(&*s, "ann", &format!("c{i}"), 1000)
            .await?
            .is_some()
        {
            live += 1;
        }
    }
    assert_eq!(live, 4);
    Ok(())
}

pub async fn codes_are_handed_to_the_gateway_once<S: Store>(s: Arc<S>) -> Res {
    let first = phone_code("c1", "ann", NUMBER, PhonePurpose::Login, 1000);
    let second = phone_code("c2", "bob", NUMBER, PhonePurpose::AddNumber, 1010);
    s.open_phone_code(second.clone(), ROOMY).await?;
    s.open_phone_code(first.clone(), ROOMY).await?;
    assert_eq!(
        s.next_phone_delivery(first.expires_at).await?.map(|c| c.id),
        Some("c2".into())
    );
    let out = s
        .next_phone_delivery(1020)
        .await?
        .ok_or("nothing to send")?;
    assert_eq!((out.id.as_str(), out.state), ("c1", CodeState::Sending));
    assert_eq!(out.sealed_code, first.sealed_code);
    assert_eq!(s.next_phone_delivery(1020).await?, None, "handed out twice");
    assert!(s.phone_delivery_result("c1", true).await?);
    assert!(!s.phone_delivery_result("c1", true).await?);
    assert!(!s.phone_delivery_result("nope", false).await?);
    let sent = login_code(&*s, "ann", "c1", 1020)
        .await?
        .ok_or("not live")?;
    assert_eq!(sent.state, CodeState::Sent);
    assert_eq!(sent.sealed_code, None, "kept after the gateway had it");
    // A failed send is no longer live.
    assert!(s.phone_delivery_result("c2", false).await?);
    let r = s
        .confirm_phone("bob", typed("123456"), vec![], 1020)
        .await?;
    assert_eq!(r, Confirmed::NoCode);
    Ok(())
}

pub async fn confirm_phone_creates_the_account_once<S: Store>(s: Arc<S>) -> Res {
    assert_eq!(
        s.confirm_phone("ann", typed("123456"), vec![], 1000)
            .await?,
        Confirmed::NoCode
    );
    let code = |id: &str, at| phone_code(id, "ann", NUMBER, PhonePurpose::AddNumber, at);
    s.open_phone_code(code("old", 1000), ROOMY).await?;
    s.open_phone_code(code("new", 1010), ROOMY).await?;
    // A login code is not confirmed as a number.
    let login = phone_code("l1", "ann", NUMBER, PhonePurpose::Login, 1020);
    s.open_phone_code(login, ROOMY).await?;
    assert_eq!(
        s.confirm_phone("ann", typed("000000"), vec![], 1030)
            .await?,
        Confirmed::Wrong
    );
    assert!(
        s.summary("ann").await?.is_none(),
        "a wrong code made the account"
    );
    // The latest code is the one checked.
    let r = s
        .confirm_phone("ann", typed("123456"), vec![[1; 32], [2; 32]], 1040)
        .await?;
    let Confirmed::Added { phone, created } = r else {
        return Err(format!("{r:?}").into());
    };
    assert!(created);
    assert_eq!(
        (phone.label.as_str(), phone.number.as_str()),
        ("sms new", NUMBER)
    );
    assert_eq!(s.phones("ann").await?, [phone]);
    let sum = s.summary("ann").await?.ok_or("no account")?;
    assert!(sum.authenticators.is_empty());
    assert_eq!(sum.recovery_left, 2);
    assert!(look(&*s, about("ann")).await?.enrolled);
    assert_eq!(s.list("", 10).await?, ["ann"]);
    // The code is spent; the older one still counts tries.
    for _ in 1..MAX_TRIES {
        let r = s
            .confirm_phone("ann", typed("999999"), vec![], 1050)
            .await?;
        assert_eq!(r, Confirmed::Wrong);
    }
    assert_eq!(
        s.confirm_phone("ann", typed("999999"), vec![], 1050)
            .await?,
        Confirmed::Wrong
    );
    let r = s
        .confirm_phone("ann", typed("123456"), vec![], 1050)
        .await?;
    assert_eq!(r, Confirmed::NoCode, "a burned code was confirmed");
    // A second number: the account is there, its codes untouched.
    let r = add_phone(&*s, "ann", "b", "+15550000002", vec![[9; 32]], 1100).await?;
    assert!(
        matches!(r, Confirmed::Added { created: false, .. }),
        "{r:?}"
    );
    assert_eq!(s.phones("ann").await?.len(), 2);
    assert_eq!(s.summary("ann").await?.map(|x| x.recovery_left), Some(2));
    // A TOTP account adding a number keeps its authenticator and codes.
    enroll(&*s, "bob", &enrollment(1, None), &[[3; 32]]).await?;
    let r = add_phone(&*s, "bob", "c", NUMBER, vec![[4; 32], [5; 32]], 1200).await?;
    assert!(
        matches!(r, Confirmed::Added { created: false, .. }),
        "{r:?}"
    );
    let bob = s.summary("bob").await?.ok_or("bob is gone")?;
    assert_eq!((bob.authenticators.len(), bob.recovery_left), (1, 1));
    // Expired: no code.
    s.open_phone_code(
        phone_code("x", "carl", NUMBER, PhonePurpose::AddNumber, 1300),
        ROOMY,
    )
    .await?;
    assert_eq!(
        s.confirm_phone("carl", typed("123456"), vec![], 1600)
            .await?,
        Confirmed::NoCode
    );
    assert!(s.summary("carl").await?.is_none());
    Ok(())
}

pub async fn concurrent_confirmations_of_one_code_apply_once<S: Store>(s: Arc<S>) -> Res {
    s.open_phone_code(
        phone_code("c1", "ann", NUMBER, PhonePurpose::AddNumber, 1000),
        ROOMY,
    )
    .await?;
    let confirms = (0..12u8).map(|i| {
        let s = s.clone();
        async move {
            s.confirm_phone("ann", typed("123456"), vec![[i; 32]], 1001)
                .await
        }
    });
    let results = race(confirms).await?;
    let added = count(&results, |r| {
        matches!(r, Ok(Confirmed::Added { created: true, .. }))
    });
    assert_eq!(added, 1, "{results:?}");
    let none = count(&results, |r| matches!(r, Ok(Confirmed::NoCode)));
    assert_eq!(none, 11, "{results:?}");
    assert_eq!(s.phones("ann").await?.len(), 1);
    let sum = s.summary("ann").await?.ok_or("no account")?;
    assert_eq!(sum.recovery_left, 1);
    Ok(())
}
