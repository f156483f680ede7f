//! The socket's answers in D-Bus terms: dictionaries (`a{sv}`) with the
//! JSON protocol's field names, and its error codes as D-Bus errors
//! (`org.pam_mfa.Mfad1.Error.*`, with the standard AccessDenied and
//! InvalidArgs where they fit), each with mfad's own message.

use mfa_proto::methods::MethodInfo;
use mfa_proto::push::PendingPush;
use mfa_proto::{ErrorCode, Response, StatusInfo};
use std::collections::HashMap;
use zbus::fdo;
use zbus::{OwnedVariant, Str};

pub(super) type Dict = HashMap<String, OwnedVariant>;

#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "org.pam_mfa.Mfad1.Error")]
pub enum Mfad1Error {
    /// The standard errors (AccessDenied, InvalidArgs) and zbus's own.
    #[zbus(error)]
    ZBus(zbus::Error),
    NotEnrolled(String),
    NoPendingEnrollment(String),
    AlreadyEnrolled(String),
    NotFound(String),
    Conflict(String),
    Unavailable(String),
    RateLimited(String),
    Failed(String),
}

pub(super) fn access_denied(msg: impl Into<String>) -> Mfad1Error {
    Mfad1Error::ZBus(zbus::Error::FDO(Box::new(fdo::Error::AccessDenied(
        msg.into(),
    ))))
}

pub(super) fn invalid_args(msg: impl Into<String>) -> Mfad1Error {
    Mfad1Error::ZBus(zbus::Error::FDO(Box::new(fdo::Error::InvalidArgs(
        msg.into(),
    ))))
}

/// The D-Bus error for the socket's error answer.
pub(super) fn error(code: ErrorCode, message: String) -> Mfad1Error {
    match code {
        ErrorCode::PermissionDenied => access_denied(message),
        ErrorCode::InvalidUser | ErrorCode::InvalidArgument | ErrorCode::BadRequest => {
            invalid_args(message)
        }
        ErrorCode::NotEnrolled => Mfad1Error::NotEnrolled(message),
        ErrorCode::NoPendingEnrollment => Mfad1Error::NoPendingEnrollment(message),
        ErrorCode::AlreadyEnrolled => Mfad1Error::AlreadyEnrolled(message),
        ErrorCode::NotFound => Mfad1Error::NotFound(message),
        ErrorCode::Conflict => Mfad1Error::Conflict(message),
        ErrorCode::Unavailable => Mfad1Error::Unavailable(message),
        ErrorCode::RateLimited => Mfad1Error::RateLimited(message),
        _ => Mfad1Error::Failed(message),
    }
}

/// Any answer the method did not expect (an error is passed on).
pub(super) fn unexpected(resp: Response) -> Mfad1Error {
    match resp {
        Response::Error { code, message } => error(code, message),
        Response::NotEnrolled => Mfad1Error::NotEnrolled("the account is not enrolled".into()),
        other => {
            eprintln!("mfad: D-Bus got an answer it did not expect: {other:?}");
            Mfad1Error::Failed("internal error in mfad; see its log".into())
        }
    }
}

pub(super) fn s(v: &str) -> OwnedVariant {
    OwnedVariant::from(Str::from(v.to_string()))
}

pub(super) fn status(st: &StatusInfo, methods: &[MethodInfo]) -> Dict {
    let mut d = Dict::new();
    d.insert("user".into(), s(&st.user));
    d.insert("enrolled".into(), st.enrolled.into());
    let labels: Vec<String> = methods.iter().map(|m| m.label.clone()).collect();
    if let Ok(v) = OwnedVariant::try_from(zbus::Variant::from(labels)) {
        d.insert("methods".into(), v);
    }
    d.insert("recovery_codes_left".into(), st.recovery_codes_left.into());
    d.insert(
        "consecutive_failures".into(),
        st.consecutive_failures.into(),
    );
    d.insert("locked".into(), st.locked.into());
    // 0: no wait.
    d.insert(
        "retry_after_secs".into(),
        st.retry_after_secs.unwrap_or(0).into(),
    );
    if let Some(t) = st.enrolled_at {
        d.insert("enrolled_at".into(), t.into());
    }
    if let Some(t) = st.last_login {
        d.insert("last_login".into(), t.into());
    }
    d
}

pub(super) fn method(m: &MethodInfo) -> Dict {
    let mut d = Dict::new();
    d.insert("kind".into(), s(&kind_name(&m.kind)));
    d.insert("label".into(), s(&m.label));
    d.insert("default".into(), m.default.into());
    if let Some(t) = m.created_at {
        d.insert("created_at".into(), t.into());
    }
    if let Some(n) = m.left {
        d.insert("left".into(), n.into());
    }
    d
}

/// A kind as the JSON protocol spells it ("totp", "push", ...).
fn kind_name(k: &mfa_proto::methods::MethodKind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// A pending push: what the approval page shows, never the number.
pub(super) fn pending(p: &PendingPush) -> Dict {
    let v = &p.view;
    let mut d = Dict::new();
    d.insert("id".into(), s(&p.id));
    d.insert("user".into(), s(&v.user));
    d.insert("host".into(), s(&v.host));
    d.insert("service".into(), s(&v.service));
    d.insert("rhost".into(), s(v.rhost.as_deref().unwrap_or("")));
    d.insert("label".into(), s(&v.label));
    d.insert("created".into(), v.created_at.into());
    d.insert("expires".into(), v.expires_at.into());
    d.insert("number_digits".into(), v.number_digits.into());
    d
}
