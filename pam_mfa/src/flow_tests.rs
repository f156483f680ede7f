//! Tests of the login flow against a scripted conversation and daemon.
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

pub(super) fn run(
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
    let mut call = |r: &Request, _: Duration| {
        sent.push(r.clone());
        daemon.pop().unwrap_or(Err(ClientError::TimedOut))
    };
    let mut pushed = false;
    let out = authenticate(
        &login,
        &opts,
        &mut conv,
        &mut call,
        &mut |_| {},
        &mut pushed,
    );
    (out, conv.seen, sent)
}

fn ready() -> Result<Response, ClientError> {
    Ok(Response::Challenge {
        state: Challenge::Ready,
        push: None,
        phone: vec![],
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
            push: None,
            phone: vec![],
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
fn a_daemon_without_its_database_fails_closed_like_a_stopped_one() {
    let down = || {
        Ok(Response::error(
            mfa_proto::ErrorCode::Unavailable,
            "no database",
        ))
    };
    // At the challenge, and at the code.
    for answers in [vec![down()], vec![ready(), down()]] {
        let (out, seen, _) = run("login", Options::default(), &["123456"], answers);
        assert_eq!(out, Outcome::Unavailable);
        assert_eq!(seen.last(), Some(&format!("error:{UNAVAILABLE}")));
    }
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

fn offered(offer: PushOffer) -> Result<Response, ClientError> {
    Ok(Response::Challenge {
        state: Challenge::Ready,
        push: Some(offer),
        phone: vec![],
    })
}

fn sent() -> PushOffer {
    PushOffer::Sent {
        id: "p1".into(),
        number: "42".into(),
        expires_in_secs: 60,
    }
}

#[test]
fn enter_alone_waits_for_the_push_shown_with_its_number_in_the_prompt() {
    let approved = Ok(Response::Verified {
        method: Method::Push,
        recovery_codes_left: None,
    });
    let (out, seen, sent_reqs) = run(
        "sshd",
        Options::default(),
        &[""],
        vec![offered(sent()), approved],
    );
    assert_eq!(out, Outcome::Verified);
    assert_eq!(
        seen,
        vec!["hidden:Approve on your phone with number 42, or type a code, then press Enter: "]
    );
    assert!(matches!(
        &sent_reqs[0],
        Request::Challenge {
            push: mfa_proto::push::PushMode::Auto,
            ..
        }
    ));
    assert!(matches!(&sent_reqs[1], Request::PushWait { id } if id == "p1"));
}

#[test]
fn a_denied_push_is_auth_err_with_the_reason_and_a_failed_one_falls_back_to_a_code() {
    let ended = |end, m: &str| {
        Ok(Response::PushEnded {
            end,
            message: m.into(),
        })
    };
    let (out, seen, _) = run(
        "sshd",
        Options::default(),
        &[""],
        vec![
            offered(sent()),
            ended(PushEnd::Denied, "Denied on the phone."),
        ],
    );
    assert_eq!(out, Outcome::Denied);
    assert_eq!(seen[1], "visible:Denied on the phone. (press Enter)");
    let ok = Ok(Response::Verified {
        method: Method::Totp,
        recovery_codes_left: None,
    });
    let (out, seen, _) = run(
        "sshd",
        Options::default(),
        &["", "123456"],
        vec![
            offered(sent()),
            ended(PushEnd::DeliveryFailed, "Not delivered."),
            ok,
        ],
    );
    assert_eq!(out, Outcome::Verified);
    assert_eq!(seen[1], "hidden:Not delivered. Verification code: ");
}

#[test]
fn push_typed_sends_one_push_once_and_is_never_verified_as_a_code() {
    let (out, seen, reqs) = run(
        "sshd",
        Options::default(),
        &["push", "push", ""],
        vec![
            offered(PushOffer::Available),
            Ok(Response::Push(sent())),
            Ok(Response::Verified {
                method: Method::Push,
                recovery_codes_left: None,
            }),
        ],
    );
    assert_eq!(out, Outcome::Verified);
    assert_eq!(seen[0], "hidden:Verification code (or type: push): ");
    assert!(seen[2].starts_with(
        "hidden:No further push for this login. Approve on your phone with number 42"
    ));
    assert!(matches!(&reqs[1], Request::PushStart { .. }));
    assert_eq!(reqs.len(), 3);
    assert!(!reqs.iter().any(|r| matches!(r, Request::Verify { .. })));
}

#[test]
fn only_a_push_approval_ends_a_push_wait_or_start_in_success() {
    let totp = || {
        Ok(Response::Verified {
            method: Method::Totp,
            recovery_codes_left: None,
        })
    };
    let (out, _, _) = run(
        "sshd",
        Options::default(),
        &[""],
        vec![offered(sent()), totp()],
    );
    assert_eq!(out, Outcome::SystemError);
    let (out, _, _) = run(
        "sshd",
        Options::default(),
        &["push"],
        vec![offered(PushOffer::Available), totp()],
    );
    assert_eq!(out, Outcome::SystemError);
}
