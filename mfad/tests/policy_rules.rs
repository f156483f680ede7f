//! Site policy in the service: exemptions (groups, trusted networks,
//! services) only on root's word, failing closed when the directory
//! cannot answer, and the enrollment during a login, which only root's
//! logins may start and which never replaces an enrollment.

mod common;
use common::*;
use mfad::site_policy::{EnrollMode, ServiceRule};

fn ctx(service: &str, rhost: Option<&str>) -> LoginContext {
    LoginContext {
        service: service.into(),
        rhost: rhost.map(Into::into),
        ..Default::default()
    }
}

fn challenge_in(user: &str, c: LoginContext) -> Request {
    Request::Challenge {
        user: user.into(),
        context: c,
        push: Default::default(),
    }
}

fn exempt(r: &Response, why: &str) -> bool {
    matches!(r, Response::Exempt { reason } if reason.contains(why))
}

#[test]
fn exemptions_come_from_root_logins_only_and_fail_closed() -> Res {
    let dir = tempfile::tempdir()?;
    let (svc, _) = service_with(dir.path(), |c| {
        c.policy.exempt_groups = vec!["sudo".into()];
        c.policy.trusted_networks = vec!["192.0.2.0/24".into()];
        c.policy.services.insert("cron".into(), ServiceRule::Exempt);
    })?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let root = caller(&svc, 0).await?;
        let r = svc
            .handle(&root, challenge_in("sudoer", ctx("sshd", None)))
            .await;
        assert!(exempt(&r, "exempt_group=\"sudo\""), "{r:?}");
        let r = svc
            .handle(&root, challenge_in("ann", ctx("sshd", Some("192.0.2.44"))))
            .await;
        assert!(exempt(&r, "trusted_network=\"192.0.2.0/24\""), "{r:?}");
        let r = svc
            .handle(&root, challenge_in("ann", ctx("cron", None)))
            .await;
        assert!(exempt(&r, "service=\"cron\""), "{r:?}");
        // Neither a host name nor another network.
        for rhost in ["lab1.example.edu", "198.51.100.4"] {
            let r = svc
                .handle(&root, challenge_in("ann", ctx("sshd", Some(rhost))))
                .await;
            assert_eq!(r, NOT_ENROLLED, "{rhost}");
        }
        // The directory cannot answer: an error, never an exemption.
        let r = svc
            .handle(&root, challenge_in("broken", ctx("sshd", None)))
            .await;
        assert!(internal(&r), "{r:?}");

        // A client running as the user claims a trusted host and a group
        // exemption: it is asked for a code all the same.
        let e = enroll(&svc, &root, "sudoer").await;
        assert!(matches!(e, Response::Enrolled { .. }), "{e:?}");
        let own = caller(&svc, 1103).await?;
        let r = svc
            .handle(
                &own,
                challenge_in("sudoer", ctx("cron", Some("192.0.2.44"))),
            )
            .await;
        assert_eq!(r, READY);
        Ok(())
    })
}

fn login_begin(user: &str) -> Request {
    Request::LoginEnrollBegin {
        user: user.into(),
        context: ctx("sshd", None),
    }
}

fn login_confirm(user: &str, code: Sensitive) -> Request {
    Request::LoginEnrollConfirm {
        user: user.into(),
        code,
        context: ctx("sshd", None),
    }
}

fn began_secret(r: Response) -> Result<Vec<u8>, String> {
    match r {
        Response::Enrollment { secret, qr, .. } => {
            if qr.is_none() {
                return Err("no QR code for the login".into());
            }
            mfad::otp::from_base32(secret.expose()).ok_or_else(|| "bad base32".into())
        }
        other => Err(format!("{other:?}")),
    }
}

#[test]
fn enrollment_at_login_is_root_only_and_never_replaces_an_enrollment() -> Res {
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(T0);
    let (svc, _) = service_at(dir.path(), clock.clone(), |c| {
        c.enrollment.mode = EnrollMode::Required;
        c.enrollment.deadline = "2033-05-19".into(); // T0 is 2033-05-18 03:33 UTC
    })?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let root = caller(&svc, 0).await?;
        let r = svc.handle(&root, challenge_in("student", ctx("sshd", None))).await;
        assert!(
            matches!(&r, Response::EnrollAtLogin(o) if o.skip_allowed && o.deadline.as_deref() == Some("2033-05-19")),
            "{r:?}"
        );
        // Not from the user's own client, and only for accounts NSS knows.
        let own = caller(&svc, 1104).await?;
        let r = svc.handle(&own, login_begin("student")).await;
        assert!(denied(&r, "only root's logins"), "{r:?}");
        let r = svc.handle(&root, login_begin("ghost")).await;
        assert!(denied(&r, "no such user"), "{r:?}");

        let secret = began_secret(svc.handle(&root, login_begin("student")).await)?;
        let wrong = svc.handle(&root, login_confirm("student", Sensitive::new("000000"))).await;
        assert!(matches!(wrong, Response::WrongCode { .. }), "{wrong:?}");
        let ok = svc.handle(&root, login_confirm("student", code_with(&secret, T0))).await;
        assert!(matches!(&ok, Response::Enrolled { recovery_codes } if recovery_codes.len() == 10), "{ok:?}");
        // Enrolled now: no second enrollment at login, no skip.
        let again = svc.handle(&root, login_begin("student")).await;
        assert!(matches!(&again, Response::Error { code: ErrorCode::AlreadyEnrolled, .. }), "{again:?}");

        // An enrollment made meanwhile by other means wins.
        let secret = began_secret(svc.handle(&root, login_begin("ann")).await)?;
        let e = enroll(&svc, &root, "ann").await;
        assert!(matches!(e, Response::Enrolled { .. }), "{e:?}");
        let late = svc.handle(&root, login_confirm("ann", code_with(&secret, T0))).await;
        assert!(matches!(&late, Response::Error { code: ErrorCode::AlreadyEnrolled, .. }), "{late:?}");

        // Skip: allowed before the deadline, refused from it on.
        let skip = Request::LoginEnrollSkip {
            user: "adm1".into(),
            context: ctx("sshd", None),
        };
        let r = svc.handle(&root, skip.clone()).await;
        assert!(exempt(&r, "enrollment_skipped"), "{r:?}");
        clock.advance(86_400);
        let r = svc.handle(&root, skip).await;
        assert!(denied(&r, "Registration is required since 2033-05-19"), "{r:?}");
        Ok(())
    })
}

#[test]
fn with_enrollment_off_an_optional_service_exempts_the_unenrolled_only() -> Res {
    let dir = tempfile::tempdir()?;
    let (svc, _) = service_with(dir.path(), |c| {
        c.policy
            .services
            .insert("login".into(), ServiceRule::Optional);
    })?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let root = caller(&svc, 0).await?;
        let r = svc
            .handle(&root, challenge_in("student", ctx("login", None)))
            .await;
        assert!(exempt(&r, "optional_service=\"login\""), "{r:?}");
        let r = svc
            .handle(&root, challenge_in("student", ctx("sshd", None)))
            .await;
        assert_eq!(r, NOT_ENROLLED);
        let r = svc.handle(&root, login_begin("student")).await;
        assert!(denied(&r, "enrollment during a login is off"), "{r:?}");
        let e = enroll(&svc, &root, "student").await;
        assert!(matches!(e, Response::Enrolled { .. }), "{e:?}");
        let r = svc
            .handle(&root, challenge_in("student", ctx("login", None)))
            .await;
        assert_eq!(r, READY);
        Ok(())
    })
}
