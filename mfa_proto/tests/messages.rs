//! The JSON shape of requests and responses: tagged, snake_case, stable
//! error codes, and no code or secret in `Debug` output.

use mfa_proto::import::{Import, Imported};
use mfa_proto::{Algorithm, EnrollParams, ErrorCode, LoginContext, Request, Response, Sensitive};

#[test]
fn requests_are_readable_tagged_json() -> Result<(), serde_json::Error> {
    let r = Request::Verify {
        user: "ann".into(),
        code: Sensitive::new("123456"),
        context: LoginContext {
            service: "sshd".into(),
            rhost: Some("10.0.0.1".into()),
            tty: None,
            nullok: false,
        },
    };
    let json = serde_json::to_string(&r)?;
    assert_eq!(
        json,
        r#"{"type":"verify","user":"ann","code":"123456","context":{"service":"sshd","rhost":"10.0.0.1","tty":null}}"#
    );
    assert_eq!(serde_json::from_str::<Request>(&json)?, r);
    Ok(())
}

#[test]
fn debug_output_never_shows_a_code() {
    let r = Request::Verify {
        user: "ann".into(),
        code: Sensitive::new("987654"),
        context: LoginContext::default(),
    };
    let dbg = format!("{r:?}");
    assert!(!dbg.contains("987654"), "{dbg}");
    assert!(dbg.contains("[redacted]"));
}

#[test]
fn unknown_type_is_an_error() {
    assert!(serde_json::from_str::<Request>(r#"{"type":"format_disk"}"#).is_err());
}

#[test]
fn error_codes_are_stable_strings() -> Result<(), serde_json::Error> {
    let r = Response::error(ErrorCode::PermissionDenied, "no");
    assert_eq!(
        serde_json::to_string(&r)?,
        r#"{"type":"error","code":"permission_denied","message":"no"}"#
    );
    Ok(())
}

#[test]
fn an_error_code_from_a_newer_daemon_still_decodes() -> Result<(), serde_json::Error> {
    let r: Response =
        serde_json::from_str(r#"{"type":"error","code":"quota_exceeded","message":"m"}"#)?;
    assert_eq!(r, Response::error(ErrorCode::Unknown, "m"));
    Ok(())
}

fn import() -> Request {
    Request::Import(Import {
        user: "ann".into(),
        secret: Sensitive::new("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"),
        algorithm: Algorithm::Sha1,
        digits: 6,
        period: 60,
        recovery_codes: vec![Sensitive::new("51500679")],
        replace: false,
        spent_step: None,
    })
}

#[test]
fn import_is_one_flat_tagged_object() -> Result<(), serde_json::Error> {
    let json = serde_json::to_string(&import())?;
    assert_eq!(
        json,
        r#"{"type":"import","user":"ann","secret":"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP","algorithm":"SHA1","digits":6,"period":60,"recovery_codes":["51500679"],"replace":false}"#
    );
    assert_eq!(serde_json::from_str::<Request>(&json)?, import());
    // What may be left out: the algorithm, the codes, replace, spent_step.
    let short = r#"{"type":"import","user":"ann","secret":"S","digits":6,"period":30}"#;
    assert!(matches!(
        serde_json::from_str::<Request>(short)?,
        Request::Import(Import { replace: false, ref recovery_codes, .. }) if recovery_codes.is_empty()
    ));
    let answer = Response::Imported(Imported {
        user: "ann".into(),
        replaced: true,
        recovery_codes: 5,
        digits: 6,
        period: 60,
        skew: 1,
    });
    let json = serde_json::to_string(&answer)?;
    assert_eq!(
        json,
        r#"{"type":"imported","user":"ann","replaced":true,"recovery_codes":5,"digits":6,"period":60,"skew":1}"#
    );
    assert_eq!(serde_json::from_str::<Response>(&json)?, answer);
    Ok(())
}

#[test]
fn an_import_shows_neither_its_secret_nor_its_codes_in_debug() {
    let dbg = format!("{:?}", import());
    assert!(
        !dbg.contains("JBSWY3DP") && !dbg.contains("51500679"),
        "{dbg}"
    );
}

#[test]
fn an_enrollment_period_is_optional_and_omitted_when_absent() -> Result<(), serde_json::Error> {
    let p = EnrollParams::default();
    assert_eq!(
        serde_json::to_string(&p)?,
        r#"{"secret":null,"algorithm":null,"digits":null}"#
    );
    let p: EnrollParams = serde_json::from_str(r#"{"period":60}"#)?;
    assert_eq!(p.period, Some(60));
    Ok(())
}
