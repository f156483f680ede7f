//! The end of an attempt: one table from mfad's final answer to an
//! [`Outcome`], with what the user is told and what syslog gets.

use crate::args::Options;
use crate::conversation::Conversation;
use crate::flow::UNAVAILABLE;
use crate::outcome::Outcome;
use mfa_proto::{Challenge, ErrorCode, Method, Response};

/// Turn a final answer into an outcome, telling the user what happened.
pub(crate) fn finish<C: Conversation>(
    resp: Response,
    user: &str,
    opts: &Options,
    conv: &mut C,
    notice: &mut dyn FnMut(&mut C, &str),
    log: &mut dyn FnMut(&str),
) -> Outcome {
    match resp {
        Response::Verified {
            method,
            recovery_codes_left,
        } => {
            let left = recovery_codes_left.unwrap_or(0);
            match method {
                Method::Recovery => {
                    let renew = if left < 3 {
                        " Run 'mfa recovery-codes' for a new set."
                    } else {
                        ""
                    };
                    let _ = conv.info(&format!(
                        "Recovery code accepted; {left} left.{renew} Run 'mfa enroll' to set up your authenticator again if it is lost."
                    ));
                }
                Method::Bypass => {
                    let _ = conv.info(
                        "Temporary code accepted. Set up your authenticator again now: mfa enroll",
                    );
                }
                // Counted: warn while there is still time to renew them.
                _ if recovery_codes_left.is_some() && left < 3 => {
                    let _ = conv.info(&format!(
                        "Only {left} recovery codes left: run 'mfa recovery-codes' for a new set."
                    ));
                }
                _ => {}
            }
            log(&format!("user {user:?}: verified by {method:?}"));
            Outcome::Verified
        }
        // This failure started a delay: like a delay met at the start.
        Response::WrongCode { retry_after_secs } => {
            let wait = retry_after_secs.unwrap_or(0);
            log(&format!(
                "user {user:?}: wrong code; rate limited for {wait} s"
            ));
            notice(
                conv,
                &format!("Wrong code. Too many attempts, try again in {wait} s."),
            );
            Outcome::TooManyAttempts
        }
        Response::RateLimited { retry_after_secs } => {
            log(&format!(
                "user {user:?}: rate limited for {retry_after_secs} s"
            ));
            notice(
                conv,
                &format!("Too many attempts, try again in {retry_after_secs} s."),
            );
            Outcome::TooManyAttempts
        }
        Response::Locked => {
            log(&format!("user {user:?}: locked"));
            notice(
                conv,
                "Too many failed codes: this account is locked. Ask an administrator to unlock it (mfa unlock).",
            );
            Outcome::TooManyAttempts
        }
        // Site policy: the rest of the stack decides, never this module.
        Response::Exempt { reason } => {
            log(&format!(
                "user {user:?}: exempt by mfad's site policy ({reason}): ignored (PAM_IGNORE)"
            ));
            Outcome::Exempt
        }
        Response::NotEnrolled
        | Response::Challenge {
            state: Challenge::NotEnrolled,
            ..
        } => {
            if opts.nullok {
                log(&format!(
                    "user {user:?}: not enrolled; nullok: ignored (PAM_IGNORE), the rest of the stack decides"
                ));
                Outcome::Exempt
            } else {
                log(&format!("user {user:?}: not enrolled; denying (no nullok)"));
                notice(conv, "No second factor is set up for this account. Ask an administrator, or run 'mfa enroll'.");
                Outcome::NotEnrolled
            }
        }
        // mfad runs but cannot decide now (its database is down): the
        // same as a stopped mfad for the user and for PAM.
        Response::Error {
            code: ErrorCode::Unavailable,
            message,
        } => {
            log(&format!(
                "user {user:?}: mfad is unavailable: {message}; denying"
            ));
            notice(conv, UNAVAILABLE);
            Outcome::Unavailable
        }
        Response::Error {
            code: ErrorCode::PermissionDenied,
            message,
        } => {
            log(&format!(
                "user {user:?}: mfad refused this process: {message}"
            ));
            notice(conv, "This program may not verify codes for that account.");
            Outcome::Refused
        }
        other => {
            log(&format!(
                "user {user:?}: unexpected answer from mfad: {other:?}"
            ));
            notice(conv, UNAVAILABLE);
            Outcome::SystemError
        }
    }
}
