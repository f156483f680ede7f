//! `import_account`, what `mfad migrate` writes with: a whole account
//! copied in (authenticators with their spent steps, recovery codes used
//! and unused, phones, push targets, the carried recovery key, counters);
//! a second import of the same enrollment copies nothing and only spends
//! what the export spent; a different enrollment is left as it is.

use super::fixtures::*;
use super::Res;
use mfa_proto::phone::Channel;
use mfad::store::*;
use std::sync::Arc;

fn export(user: &str) -> AccountExport {
    let auth = |id: i64, label: &str, secret: u8, step: Option<u64>, preferred: i64| {
        ExportedAuthenticator {
            id,
            label: label.into(),
            totp: enrollment(secret, step),
            preferred,
        }
    };
    let code = |id: i64, b: u8, used_at: Option<i64>| ExportedCode {
        id,
        hash: [b; 32],
        used_at,
        expires_at: None,
    };
    AccountExport {
        user: user.into(),
        created_at: 500,
        last_login: Some(900),
        counters: Counters {
            failures: 2,
            last_failure: 800,
            locked: false,
        },
        // The second is the default.
        authenticators: vec![auth(1, "app", 1, Some(40), 0), auth(3, "spare", 2, None, 1)],
        recovery: vec![code(0, 7, Some(850)), code(1, 8, None), code(2, 9, None)],
        phones: vec![(
            Phone {
                label: "mobile".into(),
                number: "+15550100".into(),
                channel: Channel::Sms,
                created_at: 600,
            },
            0,
        )],
        push_targets: vec![(target("phone"), 0)],
        recovery_key: Some(vec![5; 40]),
    }
}

fn with_codes(user: &str) -> AttemptFor {
    AttemptFor {
        want_recovery: true,
        count_recovery: true,
        ..about(user)
    }
}

pub async fn an_imported_account_is_whole_and_a_second_import_copies_nothing<S: Store>(
    s: Arc<S>,
) -> Res {
    let e = export("ann");
    let done = s.import_account(e.clone(), |_| Ok(())).await?;
    assert_eq!(done, Imported::Copied);
    let st = look(&*s, with_codes("ann")).await?;
    assert!(st.enrolled);
    assert_eq!(st.user, e.counters);
    assert_eq!(
        st.authenticators
            .iter()
            .map(|a| (a.id, a.label.as_str(), a.totp.last_step))
            .collect::<Vec<_>>(),
        [(3, "spare", None), (1, "app", Some(40))]
    );
    assert_eq!(st.authenticators[1].totp, enrollment(1, Some(40)));
    // The used code stays used.
    let mut unused: Vec<_> = st.recovery.iter().map(|c| c.hash).collect();
    unused.sort();
    assert_eq!(unused, [[8; 32], [9; 32]]);
    assert_eq!(st.recovery_left, 2);
    assert_eq!(st.recovery_key, Some(vec![5; 40]));
    let summary = s.summary("ann").await?.ok_or("no summary")?;
    assert_eq!((summary.created_at, summary.last_login), (500, Some(900)));
    assert_eq!(s.phones("ann").await?, vec![e.phones[0].0.clone()]);
    assert_eq!(s.push_targets("ann").await?, vec![target("phone")]);
    // A step at or below the copied one is still spent.
    let replay = apply(&*s, "ann", vec![Effect::AcceptStep { id: 1, step: 40 }]).await;
    assert!(matches!(replay, Err(StoreError::Conflict)), "{replay:?}");

    // Again, judged the same: nothing copied; spent on the host since
    // (a later step, a code) is spent here too, never unspent.
    let mut later = e.clone();
    later.authenticators[0].totp.last_step = Some(45);
    later.authenticators[1].totp.last_step = None;
    later.recovery[1].used_at = Some(950);
    let seen = Arc::new(std::sync::Mutex::new(None));
    let keep = seen.clone();
    let done = s
        .import_account(later, move |there| {
            if let Ok(mut g) = keep.lock() {
                *g = Some(there.clone());
            }
            Ok(())
        })
        .await?;
    assert_eq!(done, Imported::AlreadyThere { caught_up: 2 });
    let there = seen
        .lock()
        .map_err(|_| "poisoned")?
        .clone()
        .ok_or("not judged")?;
    assert_eq!(there.authenticators.len(), 2);
    assert_eq!(there.phones.len(), 1);
    assert_eq!(there.push_targets, vec![target("phone")]);
    assert_eq!(
        steps(&*s, "ann").await?,
        [("spare".to_string(), None), ("app".to_string(), Some(45))]
    );
    assert_eq!(look(&*s, with_codes("ann")).await?.recovery_left, 1);
    let done = s.import_account(e.clone(), |_| Ok(())).await?;
    assert_eq!(done, Imported::AlreadyThere { caught_up: 0 });
    assert_eq!(
        steps(&*s, "ann").await?,
        [("spare".to_string(), None), ("app".to_string(), Some(45))]
    );
    Ok(())
}

pub async fn a_different_enrollment_is_left_as_it_is<S: Store>(s: Arc<S>) -> Res {
    enroll(&*s, "ann", &enrollment(9, Some(3)), &[[4; 32]]).await?;
    let done = s
        .import_account(export("ann"), |_| Err("a different secret".into()))
        .await?;
    assert_eq!(done, Imported::Conflict("a different secret".into()));
    let st = look(&*s, with_codes("ann")).await?;
    assert_eq!(st.authenticators.len(), 1);
    assert_eq!(st.authenticators[0].totp, enrollment(9, Some(3)));
    assert_eq!(
        st.recovery.iter().map(|c| c.hash).collect::<Vec<_>>(),
        [[4; 32]]
    );
    assert_eq!(st.recovery_key, None);
    assert!(s.phones("ann").await?.is_empty());
    // New recovery codes are hashed with the store's own key: a carried
    // key goes with the old ones.
    s.import_account(export("bob"), |_| Ok(())).await?;
    let shape = s.summary("bob").await?.ok_or("no bob")?.shape();
    s.replace_recovery("bob", &[[6; 32]], &shape).await?;
    assert_eq!(look(&*s, with_codes("bob")).await?.recovery_key, None);
    Ok(())
}
