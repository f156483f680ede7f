//! `mfa enroll`: show the new secret (QR code, URI, text), then confirm
//! it with a code from the app, proving the current one where needed; and
//! `mfa recovery-codes`, a new set of recovery codes for an enrollment.

use crate::proof::call_proving;
use crate::{call, code_name, connect, read_line, text, unexpected, CmdResult, Fail};
use mfa_proto::{EnrollParams, Request, Response, Sensitive};
use mfad::qr;
use std::path::Path;

pub fn enroll(
    socket: &Path,
    user: &str,
    params: EnrollParams,
    confirm: Option<String>,
    current_code: Option<String>,
    name: Option<String>,
) -> CmdResult {
    let importing = params.secret.is_some();
    // `--confirm` alone finishes an enrollment begun earlier; otherwise begin one now.
    if importing || confirm.is_none() {
        match call(
            socket,
            &Request::EnrollBegin {
                user: user.into(),
                params,
            },
        )? {
            Response::Enrollment {
                secret,
                uri,
                algorithm,
                digits,
                period,
                expires_in_secs,
                ..
            } => {
                if !importing {
                    println!("Scan this QR code with your authenticator app");
                    println!("(Aegis, FreeOTP, Google or Microsoft Authenticator):\n");
                    let uri = uri.expose();
                    match qr::render(uri) {
                        Some(q) => println!("{q}"),
                        None => println!("(the URI is too long for a QR code)"),
                    }
                    println!("Or add it by hand:");
                    println!("  Secret: {}", secret.expose());
                    println!(
                        "  Type: time-based, {}, {digits} digits, every {period} s",
                        algorithm.as_str()
                    );
                    println!("  URI, in pieces to join into one line:");
                    for piece in text::uri_pieces(uri, 76) {
                        println!("    {piece}");
                    }
                    println!("This enrollment waits {expires_in_secs} s for its first code.\n");
                }
            }
            other => return Err(unexpected(other)),
        }
    }
    let code = match confirm {
        Some(c) => c,
        None => read_line("Enter the code shown by the app to confirm: ")?,
    };
    let req = Request::EnrollConfirm {
        user: user.into(),
        code: Sensitive::new(code),
        current_code: current_code.map(Sensitive::new),
        name: name.clone(),
    };
    let resp = call_proving(&mut connect(socket)?, req)?;
    match resp {
        Response::Enrolled { .. } if name.is_some() => {
            let name = name.unwrap_or_default();
            println!("Added the authenticator {name:?} to {user}, beside the others; a code from any of them logs in.");
            println!("The recovery codes are unchanged.");
            Ok(())
        }
        Response::Enrolled { recovery_codes } => {
            println!("Enrolled {user}. From now on a login asks for the code from the app.\n");
            println!("Recovery codes: each works once, in place of a code, if the phone is lost.");
            println!("They are shown only now. Print them or keep them somewhere safe:\n");
            for c in &recovery_codes {
                println!("    {}", c.expose());
            }
            Ok(())
        }
        Response::WrongCode { .. } => Err(Fail(
            1,
            "wrong code: nothing was saved. Check the phone's clock and run mfa enroll --confirm CODE with a new code".into(),
        )),
        Response::Error { code, message } => Err(Fail(2, format!("{message} [{}]", code_name(code)))),
        other => Err(unexpected(other)),
    }
}

/// `mfa recovery-codes`: ask for a new set, proving the current factor
/// when mfad says so (asked for on a terminal), and print it once.
pub fn recovery_codes(socket: &Path, user: &str, current_code: Option<String>) -> CmdResult {
    let req = Request::RecoveryCodes {
        user: user.into(),
        current_code: current_code.map(Sensitive::new),
    };
    let resp = call_proving(&mut connect(socket)?, req)?;
    match resp {
        Response::RecoveryCodes { recovery_codes } => {
            println!("New recovery codes for {user}; the old ones no longer work.");
            println!("They are shown only now. Print them or keep them somewhere safe:\n");
            for c in &recovery_codes {
                println!("    {}", c.expose());
            }
            Ok(())
        }
        Response::Error { code, message } => {
            Err(Fail(2, format!("{message} [{}]", code_name(code))))
        }
        other => Err(unexpected(other)),
    }
}
