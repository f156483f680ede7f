//! The one place the CLI asks for proof of a current method: a command
//! that adds or replaces a way to log in sends its request, and when mfad
//! answers that a current code is needed and standard input is a
//! terminal, it asks for one and sends the request once more.

use crate::{read_line, text, Fail};
use mfa_proto::client::Client;
use mfa_proto::{ErrorCode, Request, Response, Sensitive};
use std::io::IsTerminal;

/// Where a request that needs proof carries it.
fn proof_of(req: &mut Request) -> Option<&mut Option<Sensitive>> {
    match req {
        Request::EnrollConfirm { current_code, .. }
        | Request::RecoveryCodes { current_code, .. }
        | Request::PhoneAdd { current_code, .. }
        | Request::PushAdd { current_code, .. } => Some(current_code),
        _ => None,
    }
}

/// Whether mfad refused `resp` for want of a current code.
fn wants_proof(resp: &Response) -> Option<&str> {
    match resp {
        Response::Error {
            code: ErrorCode::AlreadyEnrolled,
            message,
        } => Some(message),
        Response::Error {
            code: ErrorCode::PermissionDenied,
            message,
        } if message.contains("current authenticator") || message.contains("current code") => {
            Some(message)
        }
        _ => None,
    }
}

/// Send `req` on `client`, asking on a terminal for a current code when
/// mfad wants one (never when one was given already).
pub fn call_proving(client: &mut Client, mut req: Request) -> Result<Response, Fail> {
    let resp = client.call(&req).map_err(|e| Fail(3, e.to_string()))?;
    let given = proof_of(&mut req).is_some_and(|p| p.is_some());
    let Some(message) = wants_proof(&resp) else {
        return Ok(resp);
    };
    if given || !std::io::stdin().is_terminal() {
        return Ok(resp);
    }
    println!("{}", text::wrap(message, 80, ""));
    let code = read_line("Code from your current authenticator (or a recovery code): ")?;
    match proof_of(&mut req) {
        Some(slot) => *slot = Some(Sensitive::new(code)),
        None => return Ok(resp),
    }
    client.call(&req).map_err(|e| Fail(3, e.to_string()))
}
