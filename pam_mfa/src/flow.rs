//! One authentication attempt: ask mfad whether to prompt, prompt, verify,
//! and turn every answer into an [`Outcome`] plus what the user is told.
//! `call` carries one request to mfad; the connection behind it (one per
//! login, reopened if the daemon dropped it while the user typed) is the
//! caller's business.

use crate::args::{Notice, Options};
use crate::conversation::Conversation;
use crate::outcome::Outcome;
use mfa_proto::client::ClientError;
use mfa_proto::{Challenge, ErrorCode, LoginContext, Method, Request, Response, Sensitive};

/// Who is logging in, as PAM reports it.
#[derive(Debug, Clone, Default)]
pub struct Login {
    pub user: String,
    pub context: LoginContext,
}

const UNAVAILABLE: &str =
    "The second-factor service is not available, so this login cannot be verified. Please tell your administrator.";

/// Run the attempt. `call` sends one request to mfad. `log` receives
/// lines for syslog (never a code).
pub fn authenticate<C: Conversation>(
    login: &Login,
    opts: &Options,
    conv: &mut C,
    call: &mut dyn FnMut(&Request) -> Result<Response, ClientError>,
    log: &mut dyn FnMut(&str),
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

    let challenge = Request::Challenge {
        user: user.clone(),
        context: login.context.clone(),
    };
    match call(&challenge) {
        Ok(Response::Challenge {
            state: Challenge::Ready,
        }) => {}
        // Only a verify can verify: success here is a fault.
        Ok(Response::Verified { .. }) => {
            log(&format!(
                "user {user:?}: mfad answered a challenge with success; denying"
            ));
            notice(conv, UNAVAILABLE);
            return Outcome::SystemError;
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
    }

    let mut prompt = opts.prompt.clone();
    for _ in 0..opts.tries {
        let answer = match conv.prompt_hidden(&prompt) {
            Ok(a) => a,
            Err(_) => return Outcome::Conversation,
        };
        if answer.trim().is_empty() {
            prompt = format!("No code entered. {}", opts.prompt);
            continue;
        }
        let req = Request::Verify {
            user: user.clone(),
            code: Sensitive::new(answer.trim()),
            context: login.context.clone(),
        };
        match call(&req) {
            Ok(Response::WrongCode {
                retry_after_secs: None,
            }) => {
                prompt = format!("Wrong code, try again. {}", opts.prompt);
            }
            Ok(Response::Replayed) => {
                prompt = format!(
                    "That code was already used; wait for the next one. {}",
                    opts.prompt
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
fn finish<C: Conversation>(
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
            if method == Method::Recovery {
                let left = recovery_codes_left.unwrap_or(0);
                let _ = conv.info(&format!(
                    "Recovery code accepted; {left} left. Run 'mfa enroll' to set up your authenticator again."
                ));
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
        Response::NotEnrolled
        | Response::Challenge {
            state: Challenge::NotEnrolled,
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
mod tests {
    use super::*;
    use crate::ConvError;
    use std::collections::VecDeque;
    use zeroize::Zeroizing;

    #[derive(Default)]
    struct Script {
        answers: VecDeque<&'static str>,
        seen: Vec<String>,
    }

    impl Conversation for Script {
        fn prompt_hidden(&mut self, text: &str) -> Result<Zeroizing<String>, ConvError> {
            self.seen.push(format!("hidden:{text}"));
            self.answers
                .pop_front()
                .map(|a| Zeroizing::new(a.to_string()))
                .ok_or(ConvError)
        }
        fn prompt_visible(&mut self, text: &str) -> Result<Zeroizing<String>, ConvError> {
            self.seen.push(format!("visible:{text}"));
            Ok(Zeroizing::new(String::new()))
        }
        fn error(&mut self, text: &str) -> Result<(), ConvError> {
            self.seen.push(format!("error:{text}"));
            Ok(())
        }
        fn info(&mut self, text: &str) -> Result<(), ConvError> {
            self.seen.push(format!("info:{text}"));
            Ok(())
        }
    }

    fn run(
        service: &str,
        opts: Options,
        answers: &[&'static str],
        mut daemon: Vec<Result<Response, ClientError>>,
    ) -> (Outcome, Vec<String>, Vec<Request>) {
        let login = Login {
            user: "ann".into(),
            context: LoginContext {
                service: service.into(),
                ..Default::default()
            },
        };
        let mut conv = Script {
            answers: answers.iter().copied().collect(),
            seen: vec![],
        };
        daemon.reverse();
        let mut sent = Vec::new();
        let mut call = |r: &Request| {
            sent.push(r.clone());
            daemon.pop().unwrap_or(Err(ClientError::TimedOut))
        };
        let out = authenticate(&login, &opts, &mut conv, &mut call, &mut |_| {});
        (out, conv.seen, sent)
    }

    fn ready() -> Result<Response, ClientError> {
        Ok(Response::Challenge {
            state: Challenge::Ready,
        })
    }

    #[test]
    fn wrong_then_right_code_succeeds_with_the_reason_in_the_prompt() {
        let (out, seen, sent) = run(
            "login",
            Options::default(),
            &["111111", "222222"],
            vec![
                ready(),
                Ok(Response::WrongCode {
                    retry_after_secs: None,
                }),
                Ok(Response::Verified {
                    method: Method::Totp,
                    recovery_codes_left: None,
                }),
            ],
        );
        assert_eq!(out, Outcome::Verified);
        assert_eq!(
            seen,
            vec![
                "hidden:Verification code: ",
                "hidden:Wrong code, try again. Verification code: "
            ]
        );
        assert!(matches!(&sent[2], Request::Verify { code, .. } if code.expose() == "222222"));
    }

    #[test]
    fn rate_limit_is_shown_as_a_prompt_over_ssh_and_as_a_message_elsewhere() {
        let limited = || {
            vec![Ok(Response::RateLimited {
                retry_after_secs: 42,
            })]
        };
        let (out, seen, _) = run("sshd", Options::default(), &[], limited());
        assert_eq!(out, Outcome::TooManyAttempts);
        assert_eq!(
            seen,
            vec!["visible:Too many attempts, try again in 42 s. (press Enter)"]
        );
        let (_, seen, _) = run("sudo", Options::default(), &[], limited());
        assert_eq!(seen, vec!["error:Too many attempts, try again in 42 s."]);
    }

    #[test]
    fn not_enrolled_is_ignore_only_with_nullok() {
        let ne = || {
            vec![Ok(Response::Challenge {
                state: Challenge::NotEnrolled,
            })]
        };
        assert_eq!(
            run("login", Options::default(), &[], ne()).0,
            Outcome::NotEnrolled
        );
        let nullok = Options {
            nullok: true,
            ..Default::default()
        };
        let (out, seen, _) = run("login", nullok, &[], ne());
        assert_eq!(out, Outcome::Exempt);
        assert!(seen.is_empty());
    }

    #[test]
    fn daemon_down_fails_closed_with_a_message() {
        let (out, seen, _) = run("login", Options::default(), &[], vec![]);
        assert_eq!(out, Outcome::Unavailable);
        assert_eq!(seen, vec![format!("error:{UNAVAILABLE}")]);
    }

    #[test]
    fn conversation_failure_is_conv_error_and_sends_nothing() {
        let (out, _, sent) = run("login", Options::default(), &[], vec![ready()]);
        assert_eq!(out, Outcome::Conversation);
        assert_eq!(sent.len(), 1);
    }

    #[test]
    fn success_without_a_prompted_code_is_refused() {
        let ok = Ok(Response::Verified {
            method: Method::Totp,
            recovery_codes_left: None,
        });
        let (out, _, sent) = run("login", Options::default(), &[], vec![ok]);
        assert_eq!(out, Outcome::SystemError);
        assert_eq!(sent.len(), 1);
    }

    #[test]
    fn tries_are_bounded() {
        let wrong = || {
            Ok(Response::WrongCode {
                retry_after_secs: None,
            })
        };
        let opts = Options {
            tries: 2,
            ..Default::default()
        };
        let (out, _, sent) = run(
            "login",
            opts,
            &["1", "2", "3"],
            vec![ready(), wrong(), wrong(), wrong()],
        );
        assert_eq!(out, Outcome::Denied);
        assert_eq!(sent.len(), 3);
    }
}
