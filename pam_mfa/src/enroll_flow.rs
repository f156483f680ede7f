//! "More information required": mfad found no enrollment and its policy
//! asks for one now, so the login walks the user through it: the QR code,
//! the key and the otpauth URI as text (for a screen reader or a copy and
//! paste), a code from the app, then the recovery codes. Everything that
//! must be seen is followed by a real prompt, because sshd before OpenSSH
//! 10.3 sends PAM messages only with the next prompt.

use crate::args::Options;
use crate::conversation::Conversation;
use crate::flow::{finish, Login, UNAVAILABLE};
use crate::outcome::Outcome;
use mfa_proto::at_login::EnrollOffer;
use mfa_proto::client::ClientError;
use mfa_proto::{ErrorCode, Request, Response, Sensitive};
use std::time::Duration;
use zeroize::Zeroizing;

/// A base32 key in groups of four, the way apps that take a typed key
/// show it.
fn grouped(secret: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(secret.len() * 5 / 4 + 1));
    for (i, c) in secret.chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

#[allow(clippy::too_many_arguments)]
pub fn enroll_at_login<C: Conversation>(
    login: &Login,
    opts: &Options,
    offer: &EnrollOffer,
    conv: &mut C,
    call: &mut dyn FnMut(&Request, Duration) -> Result<Response, ClientError>,
    notice: &mut dyn FnMut(&mut C, &str),
    log: &mut dyn FnMut(&str),
) -> Outcome {
    let (user, t) = (&login.user, opts.timeout);
    let begin = Request::LoginEnrollBegin {
        user: user.clone(),
        context: login.context.clone(),
    };
    let (digits, mut screen) = match call(&begin, t) {
        Ok(Response::Enrollment {
            secret,
            uri,
            qr,
            digits,
            ..
        }) => {
            let mut screen = Zeroizing::new(Vec::new());
            if let Some(qr) = qr {
                screen.push(Zeroizing::new(format!(
                    "Scan this QR code with the app (Aegis, FreeOTP, Google or Microsoft Authenticator):\n{}",
                    qr.expose()
                )));
            }
            screen.push(Zeroizing::new(format!(
                "Or type this key into the app: {}\nor open this otpauth link on the phone:\n{}",
                grouped(secret.expose()).as_str(),
                uri.expose()
            )));
            (digits, screen)
        }
        Ok(Response::Verified { .. }) => {
            log(&format!(
                "user {user:?}: mfad answered an enrollment with success; denying"
            ));
            notice(conv, UNAVAILABLE);
            return Outcome::SystemError;
        }
        Ok(other) => return finish(other, user, opts, conv, notice, log),
        Err(e) => {
            log(&format!(
                "lost mfad starting an enrollment at login: {e}; denying"
            ));
            notice(conv, UNAVAILABLE);
            return Outcome::Unavailable;
        }
    };
    log(&format!(
        "user {user:?}: not enrolled; enrollment at login (skip {})",
        if offer.skip_allowed {
            "allowed"
        } else {
            "refused"
        }
    ));
    let _ = conv.info(&offer.headline());
    for part in screen.drain(..) {
        let _ = conv.info(&part);
    }
    let ask = if offer.skip_allowed {
        format!("Type the {digits}-digit code from the app (or type: skip): ")
    } else {
        format!("Type the {digits}-digit code from the app: ")
    };
    let mut prompt = ask.clone();
    for _ in 0..opts.tries {
        let answer = match conv.prompt_hidden(&prompt) {
            Ok(a) => a,
            Err(_) => return Outcome::Conversation,
        };
        let answer = answer.trim();
        let req = if answer.is_empty() {
            prompt = format!("No code entered. {ask}");
            continue;
        } else if answer.eq_ignore_ascii_case("skip") {
            Request::LoginEnrollSkip {
                user: user.clone(),
                context: login.context.clone(),
            }
        } else {
            Request::LoginEnrollConfirm {
                user: user.clone(),
                code: Sensitive::new(answer),
                context: login.context.clone(),
            }
        };
        match call(&req, t) {
            Ok(Response::Enrolled { recovery_codes }) => {
                log(&format!("user {user:?}: enrolled at login"));
                let mut text = Zeroizing::new(String::from(
                    "Your authenticator app is set up. Each of these recovery codes logs in once if you lose the phone; keep them somewhere safe:",
                ));
                for c in &recovery_codes {
                    text.push_str("\n  ");
                    text.push_str(c.expose());
                }
                let _ = conv.info(&text);
                let _ = conv.prompt_visible("Write the recovery codes down, then press Enter: ");
                return Outcome::Verified;
            }
            Ok(Response::WrongCode { .. }) => prompt = format!("Wrong code, try again. {ask}"),
            Ok(Response::Error {
                code: ErrorCode::PermissionDenied,
                message,
            }) if matches!(req, Request::LoginEnrollSkip { .. }) => {
                prompt = format!("{message} {ask}");
            }
            Ok(Response::Verified { .. }) => {
                log(&format!(
                    "user {user:?}: mfad answered an enrollment step with a login; denying"
                ));
                notice(conv, UNAVAILABLE);
                return Outcome::SystemError;
            }
            Ok(Response::Error {
                code: ErrorCode::NoPendingEnrollment,
                ..
            }) => {
                notice(conv, "The setup took too long; log in again to start over.");
                return Outcome::Denied;
            }
            Ok(other) => return finish(other, user, opts, conv, notice, log),
            Err(e) => {
                log(&format!(
                    "lost mfad during an enrollment at login: {e}; denying"
                ));
                notice(conv, UNAVAILABLE);
                return Outcome::Unavailable;
            }
        }
    }
    log(&format!("user {user:?}: enrollment at login not finished"));
    notice(
        conv,
        "The setup was not finished; log in again to start over.",
    );
    Outcome::Denied
}
