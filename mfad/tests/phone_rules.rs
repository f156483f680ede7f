//! Phone codes inside mfad, with the test playing the gateway's uid: a
//! number is added only once the code sent to it is typed back, a login's
//! code works once and only in time, three wrong tries burn it, and the
//! limits per account and per number hold, so nobody can make mfad text a
//! stranger in a loop.

mod common;
use common::phone::*;
use common::*;
use mfa_proto::phone::{Channel, PhonePurpose};
use mfa_proto::Method;

/// ann adds +1 555 123 4567 the way `mfa phone add` does.
async fn add_number(w: &World) -> Res {
    let own = caller(&w.svc, 1001).await?;
    let r = w
        .svc
        .handle(&own, add("ann", "+1 555 123 4567", None))
        .await;
    assert!(
        matches!(
            &r,
            Response::Error {
                code: ErrorCode::AlreadyEnrolled,
                ..
            }
        ),
        "{r:?}"
    );
    let r = w
        .svc
        .handle(&own, add("ann", "+1 555 123 4567", Some(code_at(T0))))
        .await;
    assert!(
        matches!(&r, Response::PhoneSent(s) if s.ending == "67"),
        "{r:?}"
    );
    let d = delivered(w).await?;
    assert_eq!(
        (d.to.as_str(), d.purpose),
        ("+15551234567", PhonePurpose::AddNumber)
    );
    let confirm = |code: &str| Request::PhoneConfirm {
        user: "ann".into(),
        code: Sensitive::new(code),
    };
    let wrong = if d.code.expose() == "000000" {
        "111111"
    } else {
        "000000"
    };
    let r = w.svc.handle(&own, confirm(wrong)).await;
    assert!(matches!(r, Response::WrongCode { .. }), "{r:?}");
    let r = w.svc.handle(&own, confirm(d.code.expose())).await;
    assert!(
        matches!(&r, Response::Phones { phones, .. } if phones[0].masked.ends_with("67")),
        "{r:?}"
    );
    Ok(())
}

#[test]
fn a_number_is_added_by_its_code_and_a_login_code_works_once_in_time() -> Res {
    let dir = tempfile::tempdir()?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let w = world(dir.path(), |_| {}).await?;
        let r = w.svc.handle(&w.root, start("ann")).await;
        assert!(
            matches!(
                &r,
                Response::Error {
                    code: ErrorCode::NotFound,
                    ..
                }
            ),
            "{r:?}"
        );
        add_number(&w).await?;
        let ch = Request::Challenge {
            user: "ann".into(),
            context: ctx(),
            push: Default::default(),
        };
        let r = w.svc.handle(&w.root, ch).await;
        assert!(
            matches!(&r, Response::Challenge { phone, .. } if phone == &[Channel::Sms]),
            "{r:?}"
        );

        let id = sent_id(&w.svc.handle(&w.root, start("ann")).await)?;
        let d = delivered(&w).await?;
        assert_eq!(
            (d.id.as_str(), d.purpose),
            (id.as_str(), PhonePurpose::Login)
        );
        let ok = w
            .svc
            .handle(&w.root, phone_verify("ann", &id, d.code.expose()))
            .await;
        assert!(
            matches!(
                ok,
                Response::Verified {
                    method: Method::Phone,
                    ..
                }
            ),
            "{ok:?}"
        );
        let again = w
            .svc
            .handle(&w.root, phone_verify("ann", &id, d.code.expose()))
            .await;
        assert!(matches!(again, Response::WrongCode { .. }), "{again:?}");

        // Past its five minutes it is no code.
        let id = sent_id(&w.svc.handle(&w.root, start("ann")).await)?;
        let d = delivered(&w).await?;
        w.clock.advance(301);
        let late = w
            .svc
            .handle(&w.root, phone_verify("ann", &id, d.code.expose()))
            .await;
        assert!(matches!(late, Response::WrongCode { .. }), "{late:?}");
        // A code for one account is not one for another.
        w.svc.handle(&w.root, unlock("ann")).await;
        Ok(())
    })
}

#[test]
fn three_wrong_tries_burn_a_code_and_the_limits_per_account_and_number_hold() -> Res {
    let dir = tempfile::tempdir()?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let w = world(dir.path(), |c| {
            c.limits.free_failures = 10;
            c.phone.max_per_user = 3;
            c.phone.max_per_number = 4;
        })
        .await?;
        add_number(&w).await?;
        let id = sent_id(&w.svc.handle(&w.root, start("ann")).await)?;
        let d = delivered(&w).await?;
        for wrong in ["000001", "000002", "000003"] {
            let r = w.svc.handle(&w.root, phone_verify("ann", &id, wrong)).await;
            assert!(matches!(r, Response::WrongCode { .. }), "{r:?}");
        }
        let burned = w.svc.handle(&w.root, phone_verify("ann", &id, d.code.expose())).await;
        assert!(matches!(burned, Response::WrongCode { .. }), "{burned:?}");

        // ann has had 2 of her 3 sends; the third goes, the fourth not.
        sent_id(&w.svc.handle(&w.root, start("ann")).await)?;
        let r = w.svc.handle(&w.root, start("ann")).await;
        assert!(
            matches!(&r, Response::Error { code: ErrorCode::RateLimited, message } if message.contains("this account")),
            "{r:?}"
        );
        // The number has had 3 of its 4: student may start one add to
        // it, and then nobody may text it any more within the hour.
        let st = caller(&w.svc, 1104).await?;
        let r = w.svc.handle(&st, add("student", "+15551234567", Some(code_at(T0)))).await;
        assert!(matches!(r, Response::PhoneSent(_)), "{r:?}");
        let r = w.svc.handle(&st, add("student", "+15551234567", Some(code_at(T0 + 30)))).await;
        assert!(
            matches!(&r, Response::Error { code: ErrorCode::RateLimited, message } if message.contains("that number")),
            "{r:?}"
        );
        // An hour on, sends are allowed again.
        w.clock.advance(3601);
        sent_id(&w.svc.handle(&w.root, start("ann")).await)?;
        Ok(())
    })
}

#[test]
fn numbers_must_be_international_and_need_a_gateway_that_sends_them() -> Res {
    let dir = tempfile::tempdir()?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let w = world(dir.path(), |_| {}).await?;
        let r = w.svc.handle(&w.root, add("ann", "020 7946 0958", None)).await;
        assert!(
            matches!(&r, Response::Error { code: ErrorCode::InvalidArgument, message } if message.contains("international form")),
            "{r:?}"
        );
        let voice = Request::PhoneAdd {
            user: "ann".into(),
            number: "+442079460958".into(),
            channel: Channel::Voice,
            label: None,
            current_code: None,
        };
        let r = w.svc.handle(&w.root, voice).await;
        assert!(matches!(&r, Response::Error { code: ErrorCode::Unavailable, .. }), "{r:?}");
        Ok(())
    })
}
