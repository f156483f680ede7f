//! Several methods per account in the service: a second authenticator
//! (added with proof of a current one) logs in beside the first and
//! spends only its own step; removing one leaves the other; the last way
//! to log in cannot be removed but by `mfa remove`; renaming and the
//! default; and an account that logs in by phone alone.

mod common;
use common::phone::*;
use common::*;
use mfa_proto::methods::{MethodChange, MethodInfo, MethodKind};
use mfa_proto::phone::Channel;
use mfa_proto::Method;

fn change(user: &str, label: &str, change: MethodChange) -> Request {
    Request::MethodChange {
        user: user.into(),
        kind: None,
        label: label.into(),
        change,
    }
}

async fn methods(svc: &Svc, who: &Caller, user: &str) -> Result<Vec<MethodInfo>, String> {
    match svc
        .handle(who, Request::Methods { user: user.into() })
        .await
    {
        Response::Methods { methods, .. } => Ok(methods),
        other => Err(format!("{other:?}")),
    }
}

fn labels(ms: &[MethodInfo], kind: MethodKind) -> Vec<(String, bool)> {
    ms.iter()
        .filter(|m| m.kind == kind)
        .map(|m| (m.label.clone(), m.default))
        .collect()
}

fn error(r: &Response, want: ErrorCode, text: &str) -> bool {
    matches!(r, Response::Error { code, message } if *code == want && message.contains(text))
}

/// `who` adds an authenticator named `name` to `user`, proving with
/// `current`; its secret, when added.
async fn add_authenticator(
    svc: &Svc,
    who: &Caller,
    user: &str,
    name: &str,
    current: Option<Sensitive>,
) -> Result<(Vec<u8>, Response), String> {
    let secret = match svc.handle(who, begin(user, None)).await {
        Response::Enrollment { secret, .. } => {
            mfad::otp::from_base32(secret.expose()).ok_or("not base32")?
        }
        other => return Err(format!("{other:?}")),
    };
    let req = Request::EnrollConfirm {
        user: user.into(),
        code: code_with(&secret, T0),
        current_code: current,
        name: Some(name.into()),
    };
    Ok((secret, svc.handle(who, req).await))
}

#[test]
fn a_second_authenticator_logs_in_beside_the_first_and_removing_one_leaves_the_other() -> Res {
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(T0);
    let (svc, _) = service_at(dir.path(), clock.clone(), |_| {})?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let root = caller(&svc, 0).await?;
        let own = caller(&svc, 1104).await?;
        let ann = caller(&svc, 1001).await?;
        let e = enroll(&svc, &root, "student").await;
        assert!(matches!(e, Response::Enrolled { .. }), "{e:?}");

        // Without proof of a current method nothing is added.
        let (_, r) = add_authenticator(&svc, &own, "student", "laptop", None).await?;
        assert!(
            error(&r, ErrorCode::AlreadyEnrolled, "add an authenticator"),
            "{r:?}"
        );
        let (laptop, r) =
            add_authenticator(&svc, &own, "student", "laptop", Some(code_at(T0))).await?;
        assert_eq!(
            r,
            Response::Enrolled {
                recovery_codes: vec![]
            }
        );
        // A name is taken once.
        let (_, r) =
            add_authenticator(&svc, &own, "student", "laptop", Some(code_at(T0 + 30))).await?;
        assert!(
            error(
                &r,
                ErrorCode::InvalidArgument,
                "already has an authenticator"
            ),
            "{r:?}"
        );
        let ms = methods(&svc, &own, "student").await?;
        assert_eq!(
            labels(&ms, MethodKind::Totp),
            [("authenticator app".into(), true), ("laptop".into(), false)]
        );
        // The recovery codes were not touched.
        assert!(ms
            .iter()
            .any(|m| m.kind == MethodKind::Recovery && m.left == Some(10)));

        // Either logs in; each spends only its own step.
        clock.advance(90);
        let r = svc
            .handle(&root, verify("student", code_with(&laptop, T0 + 90)))
            .await;
        assert!(
            matches!(
                r,
                Response::Verified {
                    method: Method::Totp,
                    ..
                }
            ),
            "{r:?}"
        );
        let r = svc
            .handle(&root, verify("student", code_with(&laptop, T0 + 90)))
            .await;
        assert!(
            matches!(r, Response::Replayed | Response::WrongCode { .. }),
            "{r:?}"
        );
        let r = svc.handle(&root, verify("student", code_at(T0 + 90))).await;
        assert!(
            matches!(
                r,
                Response::Verified {
                    method: Method::Totp,
                    ..
                }
            ),
            "{r:?}"
        );

        // Someone else cannot touch the account's methods.
        let r = svc
            .handle(&ann, change("student", "laptop", MethodChange::Remove))
            .await;
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

        let r = svc
            .handle(
                &own,
                change("student", "authenticator app", MethodChange::Remove),
            )
            .await;
        assert_eq!(r, Response::Done);
        clock.advance(30);
        let r = svc
            .handle(&root, verify("student", code_at(T0 + 120)))
            .await;
        assert!(matches!(r, Response::WrongCode { .. }), "{r:?}");
        let r = svc
            .handle(&root, verify("student", code_with(&laptop, T0 + 120)))
            .await;
        assert!(
            matches!(
                r,
                Response::Verified {
                    method: Method::Totp,
                    ..
                }
            ),
            "{r:?}"
        );

        // The last way in stays; an admin's 'mfa remove' takes everything.
        let r = svc
            .handle(&own, change("student", "laptop", MethodChange::Remove))
            .await;
        assert!(error(&r, ErrorCode::PermissionDenied, "last way"), "{r:?}");
        let r = svc
            .handle(&root, change("student", "laptop", MethodChange::Remove))
            .await;
        assert!(
            error(&r, ErrorCode::PermissionDenied, "mfa remove --user student"),
            "{r:?}"
        );
        let r = svc
            .handle(&own, change("student", "nothing", MethodChange::Remove))
            .await;
        assert!(error(&r, ErrorCode::NotFound, "no method named"), "{r:?}");
        let r = svc
            .handle(
                &own,
                change("student", "recovery codes", MethodChange::Remove),
            )
            .await;
        assert!(
            error(&r, ErrorCode::InvalidArgument, "mfa recovery-codes"),
            "{r:?}"
        );
        assert_eq!(svc.handle(&root, remove("student")).await, Response::Done);
        assert_eq!(svc.handle(&root, challenge("student")).await, NOT_ENROLLED);
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}

#[test]
fn methods_are_renamed_and_a_default_chosen_within_their_kind() -> Res {
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(T0);
    let (svc, _) = service_at(dir.path(), clock.clone(), |_| {})?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let root = caller(&svc, 0).await?;
        let own = caller(&svc, 1104).await?;
        let e = enroll(&svc, &root, "student").await;
        assert!(matches!(e, Response::Enrolled { .. }), "{e:?}");
        // Root adds without proof.
        let (_, r) = add_authenticator(&svc, &root, "student", "tablet", None).await?;
        assert_eq!(
            r,
            Response::Enrolled {
                recovery_codes: vec![]
            }
        );

        let rename = |from: &str, to: &str| {
            change(
                "student",
                from,
                MethodChange::Rename {
                    new_label: to.into(),
                },
            )
        };
        let r = svc
            .handle(&own, rename("tablet", "authenticator app"))
            .await;
        assert!(
            error(&r, ErrorCode::InvalidArgument, "already has"),
            "{r:?}"
        );
        let r = svc.handle(&own, rename("tablet", "")).await;
        assert!(error(&r, ErrorCode::InvalidArgument, "1 to 64"), "{r:?}");
        assert_eq!(
            svc.handle(&own, rename("authenticator app", "phone")).await,
            Response::Done
        );
        assert_eq!(
            svc.handle(&own, change("student", "tablet", MethodChange::Default))
                .await,
            Response::Done
        );
        let ms = methods(&svc, &own, "student").await?;
        assert_eq!(
            labels(&ms, MethodKind::Totp),
            [("tablet".into(), true), ("phone".into(), false)]
        );
        // The status reports the default authenticator.
        let st = svc.handle(&own, status("student")).await;
        assert!(
            matches!(st, Response::Status(ref s) if s.enrolled && s.digits == Some(6)),
            "{st:?}"
        );
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}

#[test]
fn an_account_can_log_in_by_phone_alone_and_keeps_its_last_number() -> Res {
    let dir = tempfile::tempdir()?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let w = world(dir.path(), |_| {}).await?;
        let own = caller(&w.svc, 1101).await?;
        // adm1 has no authenticator: a first number needs no proof.
        let r = w.svc.handle(&own, add("adm1", "+44 7700 900123", None)).await;
        assert!(matches!(&r, Response::PhoneSent(s) if s.ending == "23"), "{r:?}");
        let d = delivered(&w).await?;
        let confirm = Request::PhoneConfirm {
            user: "adm1".into(),
            code: d.code.clone(),
        };
        let codes = match w.svc.handle(&own, confirm).await {
            Response::Phones { recovery_codes, .. } => recovery_codes,
            other => return Err(format!("{other:?}").into()),
        };
        assert_eq!(codes.len(), 10);
        let ms = methods(&w.svc, &own, "adm1").await?;
        assert!(labels(&ms, MethodKind::Totp).is_empty());
        assert_eq!(labels(&ms, MethodKind::Sms).len(), 1);

        let ch = Request::Challenge {
            user: "adm1".into(),
            context: ctx(),
            push: Default::default(),
        };
        let r = w.svc.handle(&w.root, ch).await;
        assert!(
            matches!(&r, Response::Challenge { state: Challenge::Ready, phone, .. } if phone == &[Channel::Sms]),
            "{r:?}"
        );
        let id = sent_id(&w.svc.handle(&w.root, start("adm1")).await)?;
        let d = delivered(&w).await?;
        assert_eq!(d.to, "+447700900123");
        let ok = w.svc.handle(&w.root, phone_verify("adm1", &id, d.code.expose())).await;
        assert!(matches!(ok, Response::Verified { method: Method::Phone, .. }), "{ok:?}");
        // A recovery code works too; a TOTP-shaped guess is a failure.
        let r = w.svc.handle(&w.root, verify("adm1", codes[0].clone())).await;
        assert!(matches!(r, Response::Verified { method: Method::Recovery, .. }), "{r:?}");
        let r = w.svc.handle(&w.root, verify("adm1", code_at(T0))).await;
        assert!(matches!(r, Response::WrongCode { .. }), "{r:?}");

        // The only number stays, by either command.
        let label = labels(&ms, MethodKind::Sms).remove(0).0;
        let rm = Request::PhoneRemove {
            user: "adm1".into(),
            label: label.clone(),
        };
        let r = w.svc.handle(&own, rm).await;
        assert!(error(&r, ErrorCode::PermissionDenied, "last way"), "{r:?}");
        let r = w.svc.handle(&own, change("adm1", &label, MethodChange::Remove)).await;
        assert!(error(&r, ErrorCode::PermissionDenied, "last way"), "{r:?}");
        Ok(())
    })
}

#[test]
fn a_text_goes_to_the_default_number() -> Res {
    let dir = tempfile::tempdir()?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let w = world(dir.path(), |_| {}).await?;
        let own = caller(&w.svc, 1001).await?;
        for (i, number) in ["+1 555 123 4567", "+1 555 765 4321"].iter().enumerate() {
            let current = code_at(T0 + 30 * i as i64);
            w.clock.set(T0 + 30 * i as i64);
            let r = w.svc.handle(&own, add("ann", number, Some(current))).await;
            assert!(matches!(r, Response::PhoneSent(_)), "{r:?}");
            let d = delivered(&w).await?;
            let confirm = Request::PhoneConfirm {
                user: "ann".into(),
                code: d.code.clone(),
            };
            let r = w.svc.handle(&own, confirm).await;
            assert!(
                matches!(&r, Response::Phones { recovery_codes, .. } if recovery_codes.is_empty()),
                "{r:?}"
            );
        }
        // Another number ending in 67 would take the first one's name: it
        // is refused before anything is sent, instead of replacing it.
        let r = w
            .svc
            .handle(&own, add("ann", "+1 555 000 0067", None))
            .await;
        assert!(
            error(
                &r,
                ErrorCode::InvalidArgument,
                "already has a phone named \"sms ending 67\""
            ),
            "{r:?}"
        );
        let first_to = |w: &World| {
            let (svc, root) = (w.svc.clone(), w.root.clone());
            async move {
                let r = svc.handle(&root, start("ann")).await;
                sent_id(&r)
            }
        };
        first_to(&w).await?;
        assert_eq!(delivered(&w).await?.to, "+15551234567");
        let r = w
            .svc
            .handle(&own, change("ann", "sms ending 21", MethodChange::Default))
            .await;
        assert_eq!(r, Response::Done);
        first_to(&w).await?;
        assert_eq!(delivered(&w).await?.to, "+15557654321");
        let ms = methods(&w.svc, &own, "ann").await?;
        assert_eq!(
            labels(&ms, MethodKind::Sms),
            [
                ("sms ending 21".into(), true),
                ("sms ending 67".into(), false)
            ]
        );
        Ok(())
    })
}
