//! What the admin group may and may not do: never act on root's account
//! or on members of protected groups, and prove the current factor like
//! anyone else when replacing its own.

mod common;
use common::*;

#[test]
fn the_admin_group_cannot_manage_accounts_in_protected_groups() -> Res {
    let dir = tempfile::tempdir()?;
    let (svc, _) = service(dir.path())?;
    assert_eq!(svc.config().protected_groups, vec!["sudo".to_string()]);
    tokio::runtime::Runtime::new()?.block_on(async {
        let root = caller(&svc, 0).await?;
        let adm1 = caller(&svc, 1101).await?;
        assert_eq!(adm1.role, Role::Admin);
        let requests = |user: &str| [status(user), unlock(user), begin(user, None), remove(user)];
        for (user, group) in [("adm2", "\"mfa-admins\""), ("sudoer", "\"sudo\"")] {
            let e = enroll(&svc, &root, user).await;
            assert!(matches!(e, Response::Enrolled { .. }), "{user}: {e:?}");
            for req in requests(user) {
                let r = svc.handle(&adm1, req).await;
                assert!(denied(&r, group), "{user}: {r:?}");
            }
            // Still enrolled, and root manages it.
            assert!(svc.store().summary(user).await?.is_some(), "{user}");
            for req in requests(user) {
                let r = svc.handle(&root, req).await;
                let ok = matches!(
                    r,
                    Response::Enrollment { .. } | Response::Done | Response::Status(_)
                );
                assert!(ok, "root on {user}: {r:?}");
            }
            assert!(svc.store().summary(user).await?.is_none(), "{user}");
        }
        let r = svc.handle(&adm1, status("root")).await;
        assert!(denied(&r, "root"), "{r:?}");

        // An account in no protected group: enrolled, unlocked and removed
        // by the admin group.
        let Response::Enrollment { secret, .. } = svc.handle(&adm1, begin("student", None)).await
        else {
            return Err("adm1 could not start student's enrollment".into());
        };
        let secret = mfad::otp::from_base32(secret.expose()).ok_or("bad base32")?;
        let r = svc
            .handle(&adm1, confirm("student", code_with(&secret, T0)))
            .await;
        assert!(matches!(r, Response::Enrolled { .. }), "{r:?}");
        let r = svc.handle(&adm1, status("student")).await;
        assert!(matches!(&r, Response::Status(s) if s.enrolled), "{r:?}");
        let r = svc.handle(&adm1, unlock("student")).await;
        assert_eq!(r, Response::Done);
        let r = svc.handle(&adm1, remove("student")).await;
        assert_eq!(r, Response::Done);
        assert!(svc.store().summary("student").await?.is_none());

        // adm1 is in the admin group itself, yet manages its own account.
        let r = svc.handle(&adm1, begin("adm1", None)).await;
        assert!(matches!(r, Response::Enrollment { .. }), "{r:?}");
        let r = svc.handle(&adm1, status("adm1")).await;
        assert!(
            matches!(&r, Response::Status(s) if s.user == "adm1"),
            "{r:?}"
        );
        Ok(())
    })
}

#[test]
fn an_admin_replacing_their_own_enrollment_proves_the_current_one_like_anyone() -> Res {
    let dir = tempfile::tempdir()?;
    let (svc, _) = service(dir.path())?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let root = caller(&svc, 0).await?;
        let adm1 = caller(&svc, 1101).await?;
        assert_eq!(adm1.role, Role::Admin);
        let e = enroll(&svc, &root, "adm1").await;
        assert!(matches!(e, Response::Enrolled { .. }), "{e:?}");
        // A new secret from adm1 itself, confirmed without proof: refused.
        let other = [9u8; 20];
        let began = svc.handle(&adm1, begin("adm1", None)).await;
        let Response::Enrollment { secret, .. } = began else {
            return Err(format!("{began:?}").into());
        };
        let fresh = mfad::otp::from_base32(secret.expose()).unwrap_or(other.to_vec());
        let bare = svc
            .handle(&adm1, confirm("adm1", code_with(&fresh, T0)))
            .await;
        assert!(
            matches!(&bare, Response::Error { code, .. } if *code == ErrorCode::AlreadyEnrolled),
            "{bare:?}"
        );
        // With a current code of the old enrollment it goes through.
        let proved = Request::EnrollConfirm {
            user: "adm1".into(),
            code: code_with(&fresh, T0),
            current_code: Some(code_at(T0)),
            name: None,
        };
        let done = svc.handle(&adm1, proved).await;
        assert!(matches!(done, Response::Enrolled { .. }), "{done:?}");
        Ok(())
    })
}
