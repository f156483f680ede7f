//! The JSON shape of the protocol: readable, tagged, stable error codes,
//! and no code in any Debug output.

use mfa_proto::{ErrorCode, LoginContext, Request, Response, Sensitive};

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
