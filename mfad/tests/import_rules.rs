//! `import` and the period of an enrollment, against the service and a
//! real SQLite store: only root imports; an enrolled account is replaced
//! only when asked; bad periods, digits, secrets and codes are refused
//! with nothing stored; an imported 60 s secret verifies with 60 s codes;
//! the old system's last used step stays spent; 8-digit scratch codes are
//! recovery codes beside an 8-digit TOTP without counting a typed code twice.

mod common;
use common::*;
use mfa_proto::import::{Import, Imported};
use mfa_proto::Method;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn import(user: &str, period: u64, codes: &[&str]) -> Import {
    Import {
        user: user.into(),
        secret: Sensitive::new(mfad::otp::base32(&SECRET)),
        algorithm: Algorithm::Sha1,
        digits: 6,
        period,
        recovery_codes: codes.iter().map(|c| Sensitive::new(*c)).collect(),
        replace: false,
        spent_step: None,
    }
}

/// The code of [`SECRET`] at `t` with `digits` digits and `period` s steps.
fn code(t: i64, digits: u8, period: u64) -> Sensitive {
    let p = mfad::otp::Params {
        algorithm: Algorithm::Sha1,
        digits,
        period,
        skew: 1,
    };
    Sensitive::new(
        mfad::otp::build(&SECRET, p)
            .map(|totp| totp.generate(t as u64).to_string())
            .unwrap_or_default(),
    )
}

fn error(r: &Response, want: ErrorCode, text: &str) -> bool {
    matches!(r, Response::Error { code, message } if *code == want && message.contains(text))
}

async fn enrolled(svc: &Svc, root: &Caller, user: &str) -> Result<bool> {
    match svc.handle(root, status(user)).await {
        Response::Status(s) => Ok(s.enrolled),
        other => Err(format!("status: {other:?}").into()),
    }
}

fn run(test: impl AsyncFnOnce(Svc, Caller) -> Result) -> Result {
    let dir = tempfile::tempdir()?;
    let (svc, _) = service(dir.path())?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let root = caller(&svc, 0).await?;
        test(svc, root).await
    })
}

#[test]
fn only_root_imports_and_a_60_second_secret_verifies_with_60_second_codes() -> Result {
    run(async |svc, root| {
        for uid in [1001, 1101] {
            let who = caller(&svc, uid).await?;
            let r = svc
                .handle(&who, Request::Import(import("ann", 60, &[])))
                .await;
            assert!(denied(&r, "only root may import"), "{uid}: {r:?}");
        }
        assert!(!enrolled(&svc, &root, "ann").await?);
        let r = svc
            .handle(&root, Request::Import(import("ann", 60, &["51500679"])))
            .await;
        let want = Imported {
            user: "ann".into(),
            replaced: false,
            recovery_codes: 1,
            digits: 6,
            period: 60,
            skew: 1,
        };
        assert_eq!(r, Response::Imported(want));
        // T0 sits in a 60 s step of its own: a 30 s code of it is wrong.
        let r = svc.handle(&root, verify("ann", code(T0 + 70, 6, 30))).await;
        assert!(matches!(r, Response::WrongCode { .. }), "{r:?}");
        let r = svc.handle(&root, verify("ann", code(T0, 6, 60))).await;
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
        Ok(())
    })
}

#[test]
fn an_enrolled_account_is_replaced_only_when_asked() -> Result {
    run(async |svc, root| {
        let first = enroll(&svc, &root, "ann").await;
        let Response::Enrolled { recovery_codes } = first else {
            return Err(format!("enroll: {first:?}").into());
        };
        let r = svc
            .handle(&root, Request::Import(import("ann", 60, &[])))
            .await;
        assert!(error(&r, ErrorCode::AlreadyEnrolled, "--force"), "{r:?}");
        // Untouched: the 30 s enrollment and its recovery codes still work.
        let r = svc.handle(&root, verify("ann", code_at(T0))).await;
        assert!(matches!(r, Response::Verified { .. }), "{r:?}");
        let replace = Import {
            replace: true,
            ..import("ann", 60, &["51500679"])
        };
        let r = svc.handle(&root, Request::Import(replace)).await;
        assert!(
            matches!(&r, Response::Imported(i) if i.replaced && i.recovery_codes == 1),
            "{r:?}"
        );
        let r = svc
            .handle(&root, verify("ann", recovery_codes[0].clone()))
            .await;
        assert!(
            matches!(r, Response::WrongCode { .. }),
            "an old code: {r:?}"
        );
        Ok(())
    })
}

#[test]
fn bad_imports_are_refused_and_store_nothing() -> Result {
    run(async |svc, root| {
        let short = Import {
            secret: Sensitive::new("JBSWY3DPEHPK3PXP"),
            ..import("ann", 30, &[])
        };
        let digits = Import {
            digits: 9,
            ..import("ann", 30, &[])
        };
        let cases = [
            (
                import("ann", 10, &[]),
                "period must be 15 to 120 seconds, not 10",
            ),
            (import("ann", 300, &[]), "not 300"),
            (digits, "digits must be 6, 7 or 8"),
            (short, "80 bits"),
            (
                import("ann", 30, &["1234567"]),
                "recovery code 1 is neither",
            ),
            (import("ann", 30, &["51500679", "x"]), "recovery code 2"),
        ];
        for (req, why) in cases {
            let r = svc.handle(&root, Request::Import(req)).await;
            assert!(error(&r, ErrorCode::InvalidArgument, why), "{why}: {r:?}");
        }
        let many = ["51500679"; 21];
        let r = svc
            .handle(&root, Request::Import(import("ann", 30, &many)))
            .await;
        assert!(error(&r, ErrorCode::InvalidArgument, "at most 20"), "{r:?}");
        assert!(!enrolled(&svc, &root, "ann").await?);
        Ok(())
    })
}

#[test]
fn the_old_systems_last_used_step_stays_spent() -> Result {
    run(async |svc, root| {
        let step = T0 as u64 / 30;
        let spent = Import {
            spent_step: Some(step),
            ..import("ann", 30, &[])
        };
        let r = svc.handle(&root, Request::Import(spent)).await;
        assert!(matches!(r, Response::Imported(_)), "{r:?}");
        let r = svc.handle(&root, verify("ann", code_at(T0))).await;
        assert_eq!(r, Response::Replayed);
        let r = svc.handle(&root, verify("ann", code_at(T0 + 30))).await;
        assert!(matches!(r, Response::Verified { .. }), "{r:?}");
        // A step far ahead would refuse every code until then: dropped.
        let ahead = Import {
            user: "adm1".into(),
            spent_step: Some(step + 1000),
            ..import("ann", 30, &[])
        };
        let r = svc.handle(&root, Request::Import(ahead)).await;
        assert!(matches!(r, Response::Imported(_)), "{r:?}");
        let r = svc.handle(&root, verify("adm1", code_at(T0))).await;
        assert!(matches!(r, Response::Verified { .. }), "{r:?}");
        Ok(())
    })
}

#[test]
fn scratch_codes_work_once_beside_eight_digit_codes_and_a_miss_counts_once() -> Result {
    run(async |svc, root| {
        let eight = Import {
            digits: 8,
            ..import("ann", 30, &["51500679", "20161382"])
        };
        let r = svc.handle(&root, Request::Import(eight)).await;
        assert!(matches!(r, Response::Imported(_)), "{r:?}");
        let r = svc.handle(&root, verify("ann", code(T0, 8, 30))).await;
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
        let scratch = Sensitive::new("5150 0679");
        let r = svc.handle(&root, verify("ann", scratch.clone())).await;
        assert_eq!(
            r,
            Response::Verified {
                method: Method::Recovery,
                recovery_codes_left: Some(1)
            }
        );
        let r = svc.handle(&root, verify("ann", scratch)).await;
        assert!(matches!(r, Response::WrongCode { .. }), "used twice: {r:?}");
        match svc.handle(&root, status("ann")).await {
            Response::Status(s) => {
                assert_eq!(s.consecutive_failures, 1, "one typed code, one failure");
                assert_eq!(s.recovery_codes_left, 1);
            }
            other => return Err(format!("status: {other:?}").into()),
        }
        Ok(())
    })
}

#[test]
fn an_enrollment_may_name_its_period_within_the_sites_range() -> Result {
    run(async |svc, root| {
        let begin = |period| Request::EnrollBegin {
            user: "ann".into(),
            params: EnrollParams {
                secret: Some(Sensitive::new(mfad::otp::base32(&SECRET))),
                period: Some(period),
                ..Default::default()
            },
        };
        let r = svc.handle(&root, begin(5)).await;
        assert!(
            error(&r, ErrorCode::InvalidArgument, "15 to 120 seconds"),
            "{r:?}"
        );
        let r = svc.handle(&root, begin(60)).await;
        assert!(
            matches!(r, Response::Enrollment { period: 60, .. }),
            "{r:?}"
        );
        let r = svc.handle(&root, confirm("ann", code(T0, 6, 60))).await;
        assert!(matches!(r, Response::Enrolled { .. }), "{r:?}");
        let r = svc.handle(&root, verify("ann", code(T0 + 60, 6, 60))).await;
        assert!(matches!(r, Response::Verified { .. }), "{r:?}");
        Ok(())
    })
}
