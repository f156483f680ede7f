//! The help desk in the service: a temporary code works once and only
//! until it expires, only root or the admin group give one (never to
//! themselves), and `methods` / `list` with details show what each
//! account has, never a secret, with the last successful login.

mod common;
use common::*;
use mfa_proto::methods::MethodKind;
use mfa_proto::Method;

fn bypass(user: &str, minutes: Option<u32>) -> Request {
    Request::Bypass {
        user: user.into(),
        minutes,
    }
}

fn issued(r: Response) -> Result<Sensitive, String> {
    match r {
        Response::Bypass {
            code,
            expires_in_secs,
        } if expires_in_secs > 0 => Ok(code),
        other => Err(format!("{other:?}")),
    }
}

#[test]
fn a_temporary_code_works_once_until_it_expires_and_only_from_someone_else() -> Res {
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(T0);
    let (svc, _) = service_at(dir.path(), clock.clone(), |_| {})?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let root = caller(&svc, 0).await?;
        for u in ["student", "adm1"] {
            let e = enroll(&svc, &root, u).await;
            assert!(matches!(e, Response::Enrolled { .. }), "{e:?}");
        }
        let adm = caller(&svc, 1101).await?;
        let own = caller(&svc, 1104).await?;
        let r = svc.handle(&own, bypass("student", None)).await;
        assert!(denied(&r, "only root or the admin group"), "{r:?}");
        let r = svc.handle(&adm, bypass("adm1", None)).await;
        assert!(denied(&r, "another administrator"), "{r:?}");
        let r = svc.handle(&adm, bypass("student", Some(0))).await;
        assert!(
            matches!(
                r,
                Response::Error {
                    code: ErrorCode::InvalidArgument,
                    ..
                }
            ),
            "{r:?}"
        );
        let r = svc.handle(&adm, bypass("ann", None)).await;
        assert_eq!(r, Response::NotEnrolled);

        let code = issued(svc.handle(&adm, bypass("student", Some(10))).await)?;
        let ok = svc.handle(&root, verify("student", code.clone())).await;
        assert_eq!(
            ok,
            Response::Verified {
                method: Method::Bypass,
                recovery_codes_left: Some(10)
            }
        );
        let again = svc.handle(&root, verify("student", code)).await;
        assert!(matches!(again, Response::WrongCode { .. }), "{again:?}");

        // Past its time it is no code; a newer one replaces an older one.
        let old = issued(svc.handle(&adm, bypass("student", Some(10))).await)?;
        let late = issued(svc.handle(&adm, bypass("student", Some(10))).await)?;
        let r = svc.handle(&root, verify("student", old)).await;
        assert!(matches!(r, Response::WrongCode { .. }), "{r:?}");
        clock.advance(601);
        let r = svc.handle(&root, verify("student", late)).await;
        assert!(matches!(r, Response::WrongCode { .. }), "{r:?}");
        // Temporary codes are not recovery codes.
        let st = svc.handle(&root, status("student")).await;
        assert!(
            matches!(&st, Response::Status(s) if s.recovery_codes_left == 10),
            "{st:?}"
        );
        svc.handle(&root, unlock("student")).await;
        Ok(())
    })
}

#[test]
fn methods_and_the_account_list_show_kinds_labels_and_the_last_login() -> Res {
    let dir = tempfile::tempdir()?;
    let (svc, _) = service(dir.path())?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let root = caller(&svc, 0).await?;
        let e = enroll(&svc, &root, "student").await;
        assert!(matches!(e, Response::Enrolled { .. }), "{e:?}");
        let own = caller(&svc, 1104).await?;
        let r = svc
            .handle(&own, Request::Methods { user: "student".into() })
            .await;
        let Response::Methods { methods, .. } = r else {
            return Err(format!("{r:?}").into());
        };
        let kinds: Vec<MethodKind> = methods.iter().map(|m| m.kind).collect();
        assert_eq!(kinds, [MethodKind::Totp, MethodKind::Recovery]);
        assert_eq!(methods[1].left, Some(10));
        let json = serde_json::to_string(&methods)?;
        assert!(json.contains(r#""kind":"totp""#) && json.contains(r#""label":"#), "{json}");
        // Someone else's methods: not for an ordinary user.
        let r = svc
            .handle(&own, Request::Methods { user: "ann".into() })
            .await;
        assert!(denied(&r, "may act only on its own account"), "{r:?}");

        let list = Request::List {
            after: String::new(),
            details: true,
        };
        let before = svc.handle(&root, list.clone()).await;
        assert!(
            matches!(&before, Response::AccountDetails { accounts, .. } if accounts[0].last_login.is_none()),
            "{before:?}"
        );
        let ok = svc.handle(&root, verify("student", code_at(T0))).await;
        assert!(
            matches!(ok, Response::Verified { method: Method::Totp, recovery_codes_left: Some(10) }),
            "{ok:?}"
        );
        let after = svc.handle(&root, list.clone()).await;
        assert!(
            matches!(&after, Response::AccountDetails { accounts, more: false }
                if accounts.len() == 1 && accounts[0].last_login == Some(T0)),
            "{after:?}"
        );
        let r = svc.handle(&own, list).await;
        assert!(denied(&r, "only root or the admin group"), "{r:?}");
        Ok(())
    })
}
