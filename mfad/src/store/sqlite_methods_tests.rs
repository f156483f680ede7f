//! Tests of an account's methods on SQLite: adding an authenticator
//! beside others, removal that keeps the last way in, renaming, the
//! default, an account made by its first phone, and the migration that
//! moved the authenticator out of `accounts`.

use super::tests::{attempt, enroll, enrollment, first, wait};
use super::*;
use crate::store::sqlite_schema::MIGRATIONS;

/// Add `label` to ann beside what she has, as the service does.
fn add(s: &SqliteStore, label: &str, secret: u8) -> Result<(), StoreError> {
    let mut e = enrollment(None);
    e.sealed_secret = vec![secret; 3];
    let p = Pending {
        sealed_secret: e.sealed_secret.clone(),
        algorithm: e.algorithm,
        digits: e.digits,
        period: e.period,
        expires_at: e.created_at + 600,
    };
    wait(s.put_pending("ann", &p))?;
    let expect = Expect {
        pending: p.sealed_secret,
        change: Confirm::Add,
    };
    wait(s.confirm("ann", label, &e, &expect))
}

fn totp_labels(s: &SqliteStore) -> Result<Vec<String>, StoreError> {
    let sum = wait(s.summary("ann"))?;
    Ok(sum
        .map(|x| x.authenticators.into_iter().map(|a| a.label).collect())
        .unwrap_or_default())
}

#[test]
fn authenticators_are_added_by_name_and_the_last_way_in_is_kept(
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let s = SqliteStore::open(dir.path())?;
    // Nothing to add beside.
    assert!(matches!(add(&s, "laptop", 4), Err(StoreError::Conflict)));
    enroll(&s, "ann", &enrollment(Some(5)), &[[1u8; 32]])?;
    add(&s, "laptop", 4)?;
    assert!(matches!(add(&s, "laptop", 6), Err(StoreError::Conflict)));
    assert_eq!(totp_labels(&s)?, [FIRST_LABEL, "laptop"]);
    // Each authenticator keeps its own last step.
    let ids = attempt(&s, "ann", false, |st| {
        let ids: Vec<i64> = st.authenticators.iter().map(|a| a.id).collect();
        (ids, vec![])
    })?;
    assert_eq!(ids, [1, 2]);
    attempt(&s, "ann", false, |_| {
        ((), vec![Effect::AcceptStep { id: 2, step: 3 }])
    })?;
    let steps = attempt(&s, "ann", false, |st| {
        let steps: Vec<_> = st.authenticators.iter().map(|a| a.totp.last_step).collect();
        (steps, vec![])
    })?;
    assert_eq!(steps, [Some(5), Some(3)]);

    let t = MethodRef::Totp;
    assert_eq!(
        wait(s.rename_method("ann", t, "laptop", FIRST_LABEL))?,
        Renamed::Taken
    );
    assert_eq!(
        wait(s.rename_method("ann", t, "nope", "x"))?,
        Renamed::NotFound
    );
    assert_eq!(
        wait(s.rename_method("ann", t, "laptop", "tablet"))?,
        Renamed::Done
    );
    assert!(wait(s.prefer_method("ann", t, "tablet"))?);
    assert!(!wait(s.prefer_method("ann", t, "nope"))?);
    assert_eq!(totp_labels(&s)?, ["tablet", FIRST_LABEL]);

    assert_eq!(
        wait(s.remove_method("ann", t, "nope", true))?,
        Removal::NotFound
    );
    assert_eq!(
        wait(s.remove_method("ann", t, FIRST_LABEL, true))?,
        Removal::Removed
    );
    assert_eq!(
        wait(s.remove_method("ann", t, "tablet", true))?,
        Removal::Last
    );
    assert_eq!(totp_labels(&s)?, ["tablet"]);
    // The recovery codes survived all of it.
    assert_eq!(wait(s.summary("ann"))?.map(|x| x.recovery_left), Some(1));
    assert_eq!(
        wait(s.remove_method("ann", t, "tablet", false))?,
        Removal::Removed
    );
    Ok(())
}

#[test]
fn a_first_phone_makes_the_account_with_its_recovery_codes(
) -> Result<(), Box<dyn std::error::Error>> {
    use mfa_proto::phone::{Channel, PhonePurpose};
    let dir = tempfile::tempdir()?;
    let s = SqliteStore::open(dir.path())?;
    let code = |id: &str| PhoneCode {
        id: id.into(),
        user: "ann".into(),
        number: "+15551234567".into(),
        channel: Channel::Sms,
        purpose: PhonePurpose::AddNumber,
        label: format!("sms {id}"),
        code_hash: [7; 32],
        sealed_code: None,
        host: "lab1".into(),
        created_at: 100,
        expires_at: 400,
        state: CodeState::Sent,
        tries: 0,
    };
    let limits = SendLimits {
        per_user: 5,
        per_number: 5,
        since: 0,
    };
    for (id, created) in [("a", true), ("b", false)] {
        assert_eq!(
            wait(s.open_phone_code(code(id), limits))?,
            SendOpened::Queued
        );
        let r = wait(s.confirm_phone("ann", |_| [7; 32], vec![[1; 32], [2; 32]], 200))?;
        assert!(
            matches!(r, Confirmed::Added { created: c, .. } if c == created),
            "{r:?}"
        );
    }
    let sum = wait(s.summary("ann"))?.ok_or("no account")?;
    assert!(sum.authenticators.is_empty());
    assert_eq!(sum.recovery_left, 2);
    let p = MethodRef::Phone;
    assert_eq!(
        wait(s.remove_method("ann", p, "sms a", true))?,
        Removal::Removed
    );
    assert_eq!(
        wait(s.remove_method("ann", p, "sms b", true))?,
        Removal::Last
    );
    Ok(())
}

#[test]
fn a_version_1_database_with_accounts_migrates_to_the_current_schema_keeping_them(
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    {
        let c = Connection::open(dir.path().join("mfad.db"))?;
        c.execute_batch(MIGRATIONS[0])?;
        c.pragma_update(None, "user_version", 1)?;
        c.execute(
            "INSERT INTO accounts (user, secret, algorithm, digits, period, last_step, created_at, failures) \
             VALUES ('ann', x'010203', 'SHA256', 8, 30, 5, 1000, 2)",
            [],
        )?;
        c.execute(
            "INSERT INTO recovery_codes (user, id, hash) VALUES ('ann', 0, ?1)",
            [vec![9u8; 32]],
        )?;
        c.execute(
            "INSERT INTO host_limits (rhost, failures, last_failure) VALUES ('10.0.0.1', 4, 900)",
            [],
        )?;
    }
    let s = SqliteStore::open(dir.path())?;
    let sum = wait(s.summary("ann"))?.ok_or("ann was lost")?;
    assert_eq!((sum.counters.failures, sum.recovery_left), (2, 1));
    assert_eq!(
        sum.authenticators.first().map(|a| a.label.as_str()),
        Some(FIRST_LABEL)
    );
    assert_eq!(first(Some(sum)), Some(enrollment(Some(5))));
    let v: i64 = wait(
        s.writer
            .run(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?)),
    )?;
    assert_eq!(v, MIGRATIONS.len() as i64);
    // The per-host counters start over, counted by account now.
    let about = AttemptFor {
        user: "ann".into(),
        rhost: Some("10.0.0.1".into()),
        ..Default::default()
    };
    let host = wait(s.attempt(about, |st| (st.host, vec![])))?;
    assert_eq!(host, Some(HostFailures::default()));
    assert_eq!(wait(s.key_check())?, None);
    Ok(())
}
