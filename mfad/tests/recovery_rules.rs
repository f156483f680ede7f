//! `recovery_codes`: a new set replaces the old one (old codes refused,
//! new ones work once) and leaves the authenticator alone; asking for
//! one's own account needs proof of the current factor, admins included;
//! the admin group may do it for others outside protected groups.

mod common;
use common::*;

fn regen(user: &str, code: Option<Sensitive>) -> Request {
    Request::RecoveryCodes {
        user: user.into(),
        current_code: code,
    }
}

fn codes(r: &Response) -> Vec<Sensitive> {
    match r {
        Response::RecoveryCodes { recovery_codes } | Response::Enrolled { recovery_codes } => {
            recovery_codes.clone()
        }
        _ => vec![],
    }
}

#[test]
fn a_new_set_replaces_the_old_and_leaves_the_authenticator() -> Res {
    let dir = tempfile::tempdir()?;
    let (svc, _) = service(dir.path())?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let root = caller(&svc, 0).await?;
        let first = codes(&enroll(&svc, &root, "ann").await);
        assert_eq!(first.len(), 10);
        let second = codes(&svc.handle(&root, regen("ann", None)).await);
        assert_eq!(second.len(), 10);
        assert!(first.iter().all(|c| !second.contains(c)));
        let r = svc.handle(&root, verify("ann", first[0].clone())).await;
        assert!(
            matches!(r, Response::WrongCode { .. }),
            "an old code still works: {r:?}"
        );
        let r = svc.handle(&root, verify("ann", second[0].clone())).await;
        assert!(
            matches!(
                r,
                Response::Verified {
                    method: mfa_proto::Method::Recovery,
                    recovery_codes_left: Some(9)
                }
            ),
            "{r:?}"
        );
        let r = svc.handle(&root, verify("ann", second[0].clone())).await;
        assert!(
            matches!(r, Response::WrongCode { .. }),
            "a new code worked twice: {r:?}"
        );
        // The authenticator is untouched.
        let r = svc.handle(&root, verify("ann", code_at(T0))).await;
        assert!(
            matches!(
                r,
                Response::Verified {
                    method: mfa_proto::Method::Totp,
                    ..
                }
            ),
            "{r:?}"
        );
        let r = svc.handle(&root, regen("nobody-enrolled", None)).await;
        assert_eq!(r, Response::NotEnrolled);
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}

#[test]
fn ones_own_new_set_needs_proof_and_admins_may_renew_others() -> Res {
    let dir = tempfile::tempdir()?;
    let (svc, _) = service(dir.path())?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let root = caller(&svc, 0).await?;
        for user in ["ann", "adm1", "sudoer", "student"] {
            let e = enroll(&svc, &root, user).await;
            assert!(matches!(e, Response::Enrolled { .. }), "{user}: {e:?}");
        }
        let ann = caller(&svc, 1001).await?;
        let adm1 = caller(&svc, 1101).await?;
        for (who, user) in [(&ann, "ann"), (&adm1, "adm1")] {
            let r = svc.handle(who, regen(user, None)).await;
            assert!(
                matches!(
                    r,
                    Response::Error {
                        code: ErrorCode::PermissionDenied,
                        ..
                    }
                ),
                "{user}: {r:?}"
            );
            let wrong = Sensitive::new("000000");
            let r = svc.handle(who, regen(user, Some(wrong))).await;
            assert!(matches!(r, Response::WrongCode { .. }), "{user}: {r:?}");
        }
        let r = svc.handle(&ann, regen("ann", Some(code_at(T0)))).await;
        assert_eq!(codes(&r).len(), 10, "{r:?}");
        // Someone else's: only the admin group, and not in protected groups.
        let r = svc.handle(&ann, regen("student", None)).await;
        assert!(
            matches!(
                r,
                Response::Error {
                    code: ErrorCode::PermissionDenied,
                    ..
                }
            ),
            "{r:?}"
        );
        let r = svc.handle(&adm1, regen("student", None)).await;
        assert_eq!(codes(&r).len(), 10, "{r:?}");
        let r = svc.handle(&adm1, regen("sudoer", None)).await;
        assert!(
            matches!(
                r,
                Response::Error {
                    code: ErrorCode::PermissionDenied,
                    ..
                }
            ),
            "{r:?}"
        );
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}
