//! The service's rules of who may act on which account, driven through
//! `Service::caller` and `Service::handle` against a scripted directory
//! that answers from a table and counts every question it is asked.

mod common;
use common::*;

#[test]
fn root_logins_reach_the_account_nss_names_and_fail_closed_when_it_cannot_answer() -> Res {
    let dir = tempfile::tempdir()?;
    let (svc, _) = service(dir.path())?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let root = caller(&svc, 0).await?;
        assert_eq!(root.role, Role::Root);
        // Enrolled under NSS's spelling, whatever spelling was given.
        let e = enroll(&svc, &root, "ANN").await;
        assert!(matches!(e, Response::Enrolled { .. }), "{e:?}");
        assert!(svc.store().summary("ann").await?.is_some());
        assert!(svc.store().summary("ANN").await?.is_none());

        // "ANN" is not enrolled as given, so it is resolved to ann.
        let ready = svc.handle(&root, challenge("ANN")).await;
        assert_eq!(ready, READY);
        let ok = svc.handle(&root, verify("ANN", code_at(T0))).await;
        assert!(matches!(ok, Response::Verified { .. }), "{ok:?}");
        // It was ann's step that was spent, whichever spelling asks.
        let again = svc.handle(&root, verify("ann", code_at(T0))).await;
        assert_eq!(again, Response::Replayed);
        let next = svc.handle(&root, verify("ann", code_at(T0 + 30))).await;
        assert!(matches!(next, Response::Verified { .. }), "{next:?}");

        // Unknown to NSS and not enrolled: not enrolled.
        let none = svc.handle(&root, challenge("nobody")).await;
        assert_eq!(none, NOT_ENROLLED);
        let v = svc.handle(&root, verify("nobody", code_at(T0))).await;
        assert_eq!(v, Response::NotEnrolled);
        // A directory that cannot answer must not read as "not enrolled",
        // which nullok would let in.
        let c = svc.handle(&root, challenge("broken")).await;
        assert!(internal(&c), "{c:?}");
        let v = svc.handle(&root, verify("broken", code_at(T0))).await;
        assert!(internal(&v), "{v:?}");
        Ok(())
    })
}

#[test]
fn only_root_enrolls_names_the_directory_does_not_know() -> Res {
    let dir = tempfile::tempdir()?;
    let (svc, _) = service(dir.path())?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let root = caller(&svc, 0).await?;
        let admin = caller(&svc, 1101).await?;
        assert_eq!(admin.role, Role::Admin);
        let refused = svc.handle(&admin, begin("ghost", None)).await;
        assert!(denied(&refused, "no such user"), "{refused:?}");
        // Nor finish one that root started for such a name.
        let r = svc.handle(&root, begin("ghost", None)).await;
        assert!(matches!(r, Response::Enrollment { .. }), "{r:?}");
        let r = svc.handle(&admin, confirm("ghost", code_at(T0))).await;
        assert!(denied(&r, ""), "{r:?}");
        // A name the directory knows, in any spelling, is fine.
        let r = svc.handle(&admin, begin("ANN", None)).await;
        assert!(matches!(r, Response::Enrollment { .. }), "{r:?}");
        assert!(svc.store().pending("ann").await?.is_some());
        assert!(svc.store().pending("ANN").await?.is_none());
        let e = enroll(&svc, &root, "ghost").await;
        assert!(matches!(e, Response::Enrolled { .. }), "{e:?}");
        // Root's own row for a name NSS does not know is used as given.
        let ok = svc.handle(&root, verify("ghost", code_at(T0))).await;
        assert!(matches!(ok, Response::Verified { .. }), "{ok:?}");
        Ok(())
    })
}

#[test]
fn an_ordinary_users_requests_for_other_names_cost_no_directory_lookups() -> Res {
    use std::hash::BuildHasher;
    let dir = tempfile::tempdir()?;
    let (svc, counts) = service(dir.path())?;
    let random = std::collections::hash_map::RandomState::new().hash_one(0u8);
    tokio::runtime::Runtime::new()?.block_on(async {
        // A few connections, as the server resolves one caller per connection.
        let mut ann = caller(&svc, 1001).await?;
        for _ in 0..3 {
            ann = caller(&svc, 1001).await?;
        }
        assert_eq!(ann.role, Role::User);
        for i in 0..10_000u32 {
            let user = format!("x{i}-{random:x}");
            let req = match i % 4 {
                0 => status(&user),
                1 => challenge(&user),
                2 => verify(&user, code_at(T0)),
                _ => begin(&user, None),
            };
            let r = svc.handle(&ann, req).await;
            assert!(denied(&r, ""), "{i}: {r:?}");
        }
        let own = svc.handle(&ann, status("ann")).await;
        assert!(
            matches!(&own, Response::Status(s) if s.user == "ann" && !s.enrolled),
            "{own:?}"
        );
        let c = svc.handle(&ann, challenge("ann")).await;
        assert_eq!(c, NOT_ENROLLED);
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    let asked = [&counts.by_name, &counts.by_uid, &counts.groups_of].map(|n| n.load(SeqCst));
    // user_by_name, user_by_uid, groups_of: the caller is resolved once.
    assert!(asked.iter().all(|&n| n <= 5), "{asked:?}");
    Ok(())
}

#[test]
fn uids_the_directory_does_not_know_share_one_pacing_key() -> Res {
    let dir = tempfile::tempdir()?;
    let (svc, _) = service(dir.path())?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let mut keys = Vec::new();
        for uid in [4_000_001, 4_000_002] {
            let c = caller(&svc, uid).await?;
            assert_eq!((c.role, &c.account), (Role::User, &None));
            assert_eq!(svc.pace_key_hint(&peer(uid)), UNKNOWN_UIDS);
            keys.push(c.pace_key());
        }
        assert_eq!(keys, vec![UNKNOWN_UIDS, UNKNOWN_UIDS]);
        for uid in [0, 1001, 1101] {
            let c = caller(&svc, uid).await?;
            assert_eq!(c.pace_key(), uid);
            assert_eq!(svc.pace_key_hint(&peer(uid)), uid);
        }
        Ok(())
    })
}

#[test]
fn a_directory_that_cannot_answer_fails_requests_closed() -> Res {
    let dir = tempfile::tempdir()?;
    let (svc, counts) = service(dir.path())?;
    tokio::runtime::Runtime::new()?.block_on(async {
        for round in 1..=2 {
            let r = svc.caller(peer(BROKEN_UID)).await;
            assert!(matches!(&r, Err(e) if internal(e)), "{r:?}");
            // A failure is not kept: the next connection asks again.
            assert_eq!(counts.by_uid.load(SeqCst), round);
        }
        let root = caller(&svc, 0).await?;
        let c = svc.handle(&root, challenge("broken")).await;
        assert!(internal(&c), "{c:?}");
        // Nor may an admin act on a name the directory cannot answer for.
        let adm1 = caller(&svc, 1101).await?;
        for req in [challenge("broken"), status("broken")] {
            let r = svc.handle(&adm1, req).await;
            assert!(internal(&r), "{r:?}");
        }
        Ok(())
    })
}
