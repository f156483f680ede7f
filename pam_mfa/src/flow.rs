//! One authentication attempt: ask mfad whether to prompt, prompt, verify,
//! and turn every answer into an [`Outcome`] plus what the user is told.
//! `call` carries one request to mfad; the connection behind it (one per
//! login, reopened if the daemon dropped it while the user typed) is the
//! caller's business.

use crate::args::{Notice, Options};
use crate::conversation::Conversation;
use crate::enroll_flow::enroll_at_login;
use crate::outcome::Outcome;
use mfa_proto::client::ClientError;
use mfa_proto::push::{PushEnd, PushOffer};
use mfa_proto::{Challenge, ErrorCode, LoginContext, Method, Request, Response, Sensitive};
use std::time::Duration;

/// Who is logging in, as PAM reports it.
#[derive(Debug, Clone, Default)]
pub struct Login {
    pub user: String,
    pub context: LoginContext,
}

pub(crate) const UNAVAILABLE: &str =
    "The second-factor service is not available, so this login cannot be verified. Please tell your administrator.";

/// Where the login stands with push: what the prompt offers.
enum PushState {
    /// No push for this login (no target, or `push=off`).
    None,
    /// `push` at the prompt sends one.
    Offered,
    /// Sent: Enter alone waits for the decision.
    Waiting {
        id: String,
        number: String,
        secs: u64,
    },
    /// Not possible now (or already used), for this reason.
    Gone(String),
}

impl PushState {
    fn from_offer(offer: Option<PushOffer>) -> PushState {
        match offer {
            None => PushState::None,
            Some(PushOffer::Available) => PushState::Offered,
            Some(PushOffer::Sent {
                id,
                number,
                expires_in_secs,
            }) => PushState::Waiting {
                id,
                number,
                secs: expires_in_secs,
            },
            Some(PushOffer::Unavailable { reason }) => {
                PushState::Gone(format!("Push is not available: {reason}."))
            }
        }
    }

    /// The prompt for this state. Everything the user must see is in the
    /// prompt itself: OpenSSH before 10.3 holds plain messages back.
    fn prompt(&self, base: &str) -> String {
        match self {
            PushState::None => base.to_string(),
            PushState::Offered => format!(
                "{} (or type: push): ",
                base.trim_end().trim_end_matches(':')
            ),
            PushState::Waiting { number, .. } => format!(
                "Approve on your phone with number {number}, or type a code, then press Enter: "
            ),
            PushState::Gone(why) => format!("{why} {base}"),
        }
    }
}

/// Run the attempt. `call` sends one request to mfad, allowing it the
/// given time. `log` receives lines for syslog (never a code). `pushed`
/// is set when a push went out, which the caller remembers for the rest
/// of the PAM transaction.
pub fn authenticate<C: Conversation>(
    login: &Login,
    opts: &Options,
    conv: &mut C,
    call: &mut dyn FnMut(&Request, Duration) -> Result<Response, ClientError>,
    log: &mut dyn FnMut(&str),
    pushed: &mut bool,
) -> Outcome {
    let notice_style = opts.notice.unwrap_or(if login.context.service == "sshd" {
        Notice::Prompt
    } else {
        Notice::Message
    });
    let mut notice = |conv: &mut C, text: &str| match notice_style {
        Notice::Message => {
            let _ = conv.error(text);
        }
        Notice::Prompt => {
            let _ = conv.prompt_visible(&format!("{text} (press Enter)"));
        }
    };
    let user = &login.user;
    let t = opts.timeout;

    let challenge = Request::Challenge {
        user: user.clone(),
        context: login.context.clone(),
        push: opts.push,
    };
    let mut push = match call(&challenge, t) {
        Ok(Response::Challenge {
            state: Challenge::Ready,
            push,
        }) => {
            *pushed = matches!(push, Some(PushOffer::Sent { .. }));
            PushState::from_offer(push)
        }
        // Only a verify can verify: success here is a fault.
        Ok(Response::Verified { .. }) => {
            log(&format!(
                "user {user:?}: mfad answered a challenge with success; denying"
            ));
            notice(conv, UNAVAILABLE);
            return Outcome::SystemError;
        }
        Ok(Response::EnrollAtLogin(offer)) => {
            return enroll_at_login(login, opts, &offer, conv, call, &mut notice, log)
        }
        Ok(other) => return finish(other, user, opts, conv, &mut notice, log),
        Err(e) => {
            log(&format!(
                "cannot reach mfad at {}: {e}; denying",
                opts.socket.display()
            ));
            notice(conv, UNAVAILABLE);
            return Outcome::Unavailable;
        }
    };

    let mut prompt = push.prompt(&opts.prompt);
    let mut tries = 0;
    while tries < opts.tries {
        let answer = match conv.prompt_hidden(&prompt) {
            Ok(a) => a,
            Err(_) => return Outcome::Conversation,
        };
        let answer = answer.trim();
        let req = if answer.is_empty() {
            let PushState::Waiting { id, secs, .. } = &push else {
                tries += 1;
                prompt = format!("No code entered. {}", push.prompt(&opts.prompt));
                continue;
            };
            // The wait is mfad's to end (at the push's expiry); the
            // module's deadline only guards against a daemon that hangs.
            let wait = Request::PushWait { id: id.clone() };
            match call(&wait, t + Duration::from_secs(*secs)) {
                Ok(Response::PushEnded { end, message }) => {
                    log(&format!("user {user:?}: push ended: {end:?}"));
                    match end {
                        PushEnd::DeliveryFailed | PushEnd::Cancelled => {
                            push = PushState::Gone(message);
                            prompt = push.prompt(&opts.prompt);
                            continue;
                        }
                        _ => {
                            notice(conv, &message);
                            return Outcome::Denied;
                        }
                    }
                }
                Ok(Response::Verified {
                    method: Method::Push,
                    recovery_codes_left,
                }) => {
                    let approved = Response::Verified {
                        method: Method::Push,
                        recovery_codes_left,
                    };
                    return finish(approved, user, opts, conv, &mut notice, log);
                }
                // A wait ends in a push's decision: any other success is a fault.
                Ok(Response::Verified { .. }) => {
                    log(&format!(
                        "user {user:?}: mfad answered a push wait with another method; denying"
                    ));
                    notice(conv, UNAVAILABLE);
                    return Outcome::SystemError;
                }
                Ok(other) => return finish(other, user, opts, conv, &mut notice, log),
                Err(e) => {
                    log(&format!("lost mfad while waiting for a push: {e}; denying"));
                    notice(conv, UNAVAILABLE);
                    return Outcome::Unavailable;
                }
            }
        } else if answer.eq_ignore_ascii_case("push") && !matches!(push, PushState::Offered) {
            // Not a code: never sent to be counted as a wrong one.
            tries += 1;
            let why = match push {
                PushState::None => "No push for this login.",
                _ => "No further push for this login.",
            };
            prompt = format!("{why} {}", push.prompt(&opts.prompt));
            continue;
        } else if answer.eq_ignore_ascii_case("push") {
            let start = Request::PushStart {
                user: user.clone(),
                context: login.context.clone(),
            };
            // At most one push per login, whatever happens to this one.
            push = match call(&start, t) {
                Ok(Response::Push(offer)) => {
                    *pushed = matches!(offer, PushOffer::Sent { .. });
                    PushState::from_offer(Some(offer))
                }
                Ok(Response::Error { message, .. }) => {
                    PushState::Gone(format!("No push: {message}."))
                }
                // Starting a push verifies nothing.
                Ok(Response::Verified { .. }) => {
                    log(&format!(
                        "user {user:?}: mfad answered push_start with success; denying"
                    ));
                    notice(conv, UNAVAILABLE);
                    return Outcome::SystemError;
                }
                Ok(other) => return finish(other, user, opts, conv, &mut notice, log),
                Err(e) => {
                    log(&format!("lost mfad while sending a push: {e}; denying"));
                    notice(conv, UNAVAILABLE);
                    return Outcome::Unavailable;
                }
            };
            prompt = push.prompt(&opts.prompt);
            continue;
        } else {
            tries += 1;
            Request::Verify {
                user: user.clone(),
                code: Sensitive::new(answer),
                context: login.context.clone(),
            }
        };
        match call(&req, t) {
            Ok(Response::WrongCode {
                retry_after_secs: None,
            }) => {
                prompt = format!("Wrong code, try again. {}", push.prompt(&opts.prompt));
            }
            Ok(Response::Replayed) => {
                prompt = format!(
                    "That code was already used; wait for the next one. {}",
                    push.prompt(&opts.prompt)
                );
            }
            Ok(other) => return finish(other, user, opts, conv, &mut notice, log),
            Err(e) => {
                log(&format!(
                    "lost mfad at {} while verifying: {e}; denying",
                    opts.socket.display()
                ));
                notice(conv, UNAVAILABLE);
                return Outcome::Unavailable;
            }
        }
    }
    log(&format!(
        "user {user:?}: no valid code after {} tries",
        opts.tries
    ));
    notice(conv, "Too many wrong codes.");
    Outcome::Denied
}

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

#[cfg(test)]
#[path = "flow_tests.rs"]
mod tests;
