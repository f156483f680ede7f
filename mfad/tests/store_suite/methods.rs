//! An account's methods by kind and name: several authenticators, each
//! spending its own steps; renaming, the default (first of its kind);
//! removal that keeps the last way in across kinds, also when two
//! removals race.

use super::fixtures::*;
use super::Res;
use mfad::store::*;
use std::sync::Arc;

async fn totp_labels<S: Store>(s: &S, user: &str) -> Result<Vec<String>, StoreError> {
    let sum = s.summary(user).await?;
    Ok(sum
        .map(|x| x.authenticators.into_iter().map(|a| a.label).collect())
        .unwrap_or_default())
}

pub async fn authenticators_are_added_by_name_each_with_its_own_step<S: Store>(s: Arc<S>) -> Res {
    // Nothing to add beside.
    let r = add_authenticator(&*s, "ann", "laptop", &enrollment(4, None)).await;
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    assert!(s.summary("ann").await?.is_none());
    enroll(&*s, "ann", &enrollment(1, Some(5)), &[[1; 32]]).await?;
    add_authenticator(&*s, "ann", "laptop", &enrollment(4, None)).await?;
    // The name is taken.
    let r = add_authenticator(&*s, "ann", "laptop", &enrollment(6, None)).await;
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    assert_eq!(totp_labels(&*s, "ann").await?, [FIRST_LABEL, "laptop"]);
    let st = look(&*s, about("ann")).await?;
    let ids: Vec<i64> = st.authenticators.iter().map(|a| a.id).collect();
    assert_ne!(ids[0], ids[1]);
    assert_eq!(st.authenticators[1].totp, enrollment(4, None));
    // Adding one leaves the recovery codes and the rest alone.
    assert_eq!(s.summary("ann").await?.map(|x| x.recovery_left), Some(1));
    apply(
        &*s,
        "ann",
        vec![Effect::AcceptStep {
            id: ids[1],
            step: 3,
        }],
    )
    .await?;
    assert_eq!(
        steps(&*s, "ann").await?,
        [(FIRST_LABEL.into(), Some(5)), ("laptop".into(), Some(3))]
    );
    // Steps are per authenticator: 4 is new for the laptop, not the first.
    apply(
        &*s,
        "ann",
        vec![Effect::AcceptStep {
            id: ids[1],
            step: 4,
        }],
    )
    .await?;
    let r = apply(
        &*s,
        "ann",
        vec![Effect::AcceptStep {
            id: ids[0],
            step: 4,
        }],
    )
    .await;
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    // Ids are stable: removing the first does not renumber the other.
    let t = MethodRef::Totp;
    assert_eq!(
        s.remove_method("ann", t, FIRST_LABEL, true).await?,
        Removal::Removed
    );
    let st = look(&*s, about("ann")).await?;
    assert_eq!(
        st.authenticators.iter().map(|a| a.id).collect::<Vec<_>>(),
        [ids[1]]
    );
    // Ids of another account are not hers.
    enroll(&*s, "bob", &enrollment(2, Some(1)), &[]).await?;
    let bob = look(&*s, about("bob")).await?.authenticators;
    let bid = bob.first().ok_or("bob has none")?.id;
    if bid != ids[1] {
        let r = apply(&*s, "ann", vec![Effect::AcceptStep { id: bid, step: 50 }]).await;
        assert!(r.is_err(), "{r:?}");
    }
    assert_eq!(steps(&*s, "bob").await?, [(FIRST_LABEL.into(), Some(1))]);
    Ok(())
}

pub async fn methods_are_renamed_and_preferred_by_name<S: Store>(s: Arc<S>) -> Res {
    let t = MethodRef::Totp;
    enroll(&*s, "ann", &enrollment(1, None), &[]).await?;
    add_authenticator(&*s, "ann", "laptop", &enrollment(2, None)).await?;
    enroll(&*s, "bob", &enrollment(3, None), &[]).await?;
    assert_eq!(
        s.rename_method("ann", t, "laptop", FIRST_LABEL).await?,
        Renamed::Taken
    );
    assert_eq!(
        s.rename_method("ann", t, "nope", "x").await?,
        Renamed::NotFound
    );
    assert_eq!(
        s.rename_method("bob", t, "laptop", "x").await?,
        Renamed::NotFound
    );
    assert_eq!(
        s.rename_method("ann", t, "laptop", "tablet").await?,
        Renamed::Done
    );
    assert_eq!(totp_labels(&*s, "ann").await?, [FIRST_LABEL, "tablet"]);
    assert!(s.prefer_method("ann", t, "tablet").await?);
    assert!(!s.prefer_method("ann", t, "nope").await?);
    assert!(!s.prefer_method("bob", t, "tablet").await?);
    assert_eq!(totp_labels(&*s, "ann").await?, ["tablet", FIRST_LABEL]);
    assert_eq!(
        look(&*s, about("ann")).await?.authenticators[0].label,
        "tablet"
    );
    assert!(s.prefer_method("ann", t, FIRST_LABEL).await?);
    assert_eq!(totp_labels(&*s, "ann").await?, [FIRST_LABEL, "tablet"]);
    // The secret moves with its name.
    let sum = s.summary("ann").await?.ok_or("ann is gone")?;
    assert_eq!(sum.authenticators[1].totp, enrollment(2, None));
    assert_eq!(totp_labels(&*s, "bob").await?, [FIRST_LABEL]);
    // Phones and push targets, by their own names.
    add_phone(&*s, "ann", "a", "+15550000001", vec![], 100).await?;
    add_phone(&*s, "ann", "b", "+15550000002", vec![], 200).await?;
    let p = MethodRef::Phone;
    assert_eq!(
        s.rename_method("ann", p, "sms a", "sms b").await?,
        Renamed::Taken
    );
    assert_eq!(
        s.rename_method("ann", p, "sms a", "home").await?,
        Renamed::Done
    );
    assert!(s.prefer_method("ann", p, "sms b").await?);
    let phones: Vec<_> = s
        .phones("ann")
        .await?
        .into_iter()
        .map(|x| x.label)
        .collect();
    assert_eq!(phones, ["sms b", "home"]);
    assert!(add_push_target(&*s, "ann", "pixel", 100).await?);
    assert!(add_push_target(&*s, "ann", "iphone", 200).await?);
    let k = MethodRef::Push;
    assert_eq!(
        s.rename_method("ann", k, "pixel", "tablet").await?,
        Renamed::Done
    );
    assert!(s.prefer_method("ann", k, "iphone").await?);
    let targets: Vec<_> = s
        .push_targets("ann")
        .await?
        .into_iter()
        .map(|x| x.label)
        .collect();
    assert_eq!(targets, ["iphone", "tablet"]);
    // A name of one kind is not one of another.
    assert_eq!(
        s.rename_method("ann", t, "home", "x").await?,
        Renamed::NotFound
    );
    assert!(!s.prefer_method("ann", p, "iphone").await?);
    Ok(())
}

pub async fn the_last_way_in_is_kept_across_kinds<S: Store>(s: Arc<S>) -> Res {
    let (t, p, k) = (MethodRef::Totp, MethodRef::Phone, MethodRef::Push);
    enroll(&*s, "ann", &enrollment(1, None), &[[1; 32]]).await?;
    add_phone(&*s, "ann", "a", "+15550000001", vec![], 100).await?;
    assert!(add_push_target(&*s, "ann", "pixel", 100).await?);
    assert_eq!(
        s.remove_method("ann", t, "nope", true).await?,
        Removal::NotFound
    );
    assert_eq!(
        s.remove_method("bob", t, FIRST_LABEL, true).await?,
        Removal::NotFound
    );
    assert_eq!(
        s.remove_method("ann", p, "pixel", true).await?,
        Removal::NotFound
    );
    assert_eq!(
        s.remove_method("ann", t, FIRST_LABEL, true).await?,
        Removal::Removed
    );
    assert_eq!(
        s.remove_method("ann", p, "sms a", true).await?,
        Removal::Removed
    );
    assert_eq!(
        s.remove_method("ann", k, "pixel", true).await?,
        Removal::Last
    );
    assert_eq!(s.push_targets("ann").await?.len(), 1);
    // The account and its codes are still there.
    let sum = s.summary("ann").await?.ok_or("ann is gone")?;
    assert!(sum.authenticators.is_empty());
    assert_eq!(sum.recovery_left, 1);
    assert!(s.phones("ann").await?.is_empty());
    // Without keep_one, the last goes too.
    assert_eq!(
        s.remove_method("ann", k, "pixel", false).await?,
        Removal::Removed
    );
    assert!(s.push_targets("ann").await?.is_empty());
    assert_eq!(
        s.remove_method("ann", k, "pixel", false).await?,
        Removal::NotFound
    );
    Ok(())
}

pub async fn concurrent_removals_of_the_last_two_leave_one<S: Store>(s: Arc<S>) -> Res {
    let t = MethodRef::Totp;
    let users: Vec<String> = (0..8).map(|i| format!("u{i}")).collect();
    for (i, u) in users.iter().enumerate() {
        enroll(&*s, u, &enrollment(i as u8, None), &[]).await?;
        add_authenticator(&*s, u, "laptop", &enrollment(100 + i as u8, None)).await?;
    }
    // Each account's two authenticators, removed at once, twice over.
    let removals = users.iter().flat_map(|u| {
        [FIRST_LABEL, "laptop", FIRST_LABEL, "laptop"].map(|label| {
            let (s, u) = (s.clone(), u.clone());
            async move { (u.clone(), s.remove_method(&u, t, label, true).await) }
        })
    });
    let results = race(removals).await?;
    for u in &users {
        let mine: Vec<_> = results
            .iter()
            .filter(|(v, _)| v == u)
            .map(|(_, r)| r)
            .collect();
        let removed = mine
            .iter()
            .filter(|r| matches!(r, Ok(Removal::Removed)))
            .count();
        assert_eq!(removed, 1, "{u}: {mine:?}");
        assert!(
            mine.iter()
                .all(|r| matches!(r, Ok(Removal::Removed | Removal::Last | Removal::NotFound))),
            "{u}: {mine:?}"
        );
        assert_eq!(totp_labels(&*s, u).await?.len(), 1, "{u}");
    }
    Ok(())
}
