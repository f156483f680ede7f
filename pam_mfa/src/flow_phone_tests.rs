//! Tests of `sms` and `call` at the prompt against a scripted daemon: the
//! prompt lists them, the word sends a code, the next prompt says where
//! it went, and what is typed then is checked against that code; one
//! code per channel and login; a refused send is the last word when it
//! used the last try.
use super::flow_tests::run;
use super::*;
use mfa_proto::phone::PhoneSent;

fn ready_with(phone: Vec<Channel>) -> Result<Response, ClientError> {
    Ok(Response::Challenge {
        state: Challenge::Ready,
        push: Some(PushOffer::Available),
        phone,
    })
}

fn sent_sms() -> Result<Response, ClientError> {
    Ok(Response::PhoneSent(PhoneSent {
        id: "ph-1".into(),
        channel: Channel::Sms,
        ending: "67".into(),
        expires_in_secs: 300,
    }))
}

#[test]
fn sms_sends_a_code_and_the_next_prompt_says_where_it_went() {
    let (out, seen, requests) = run(
        "sshd",
        Options {
            push: mfa_proto::push::PushMode::Ask,
            ..Options::default()
        },
        &["sms", "482913"],
        vec![
            ready_with(vec![Channel::Sms, Channel::Voice]),
            sent_sms(),
            Ok(Response::Verified {
                method: Method::Phone,
                recovery_codes_left: Some(10),
            }),
        ],
    );
    assert_eq!(out, Outcome::Verified);
    assert_eq!(
        seen,
        vec![
            "hidden:Verification code (or type: push, sms, call): ",
            // sms is no longer offered: one text per login.
            "hidden:Code sent by text message to the number ending 67 (or type: push, call): ",
        ]
    );
    assert!(matches!(
        &requests[1],
        Request::PhoneStart {
            channel: Channel::Sms,
            ..
        }
    ));
    assert!(
        matches!(&requests[2], Request::PhoneVerify { id, code, .. } if id == "ph-1" && code.expose() == "482913")
    );
}

#[test]
fn a_word_for_a_channel_the_account_lacks_is_a_code_and_a_refused_send_says_why() {
    let (out, seen, requests) = run(
        "login",
        Options::default(),
        &["call", "sms"],
        vec![
            ready_with(vec![Channel::Sms]),
            Ok(Response::error(
                mfa_proto::ErrorCode::RateLimited,
                "too many codes were sent to this account; try again in 40 min",
            )),
        ],
    );
    assert_eq!(out, Outcome::Conversation);
    // "call" is no code: nothing went to mfad for it.
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(
        seen[1].starts_with("hidden:No code by call for this account."),
        "{seen:?}"
    );
    assert!(
        matches!(&requests[1], Request::PhoneStart { .. }),
        "{requests:?}"
    );
    assert!(
        seen[2].contains(
            "No code sent: too many codes were sent to this account; try again in 40 min."
        ),
        "{seen:?}"
    );
}

#[test]
fn sms_typed_again_sends_no_second_text_but_call_still_can() {
    let (out, seen, requests) = run(
        "login",
        Options::default(),
        &["sms", "sms", "call"],
        vec![
            ready_with(vec![Channel::Sms, Channel::Voice]),
            sent_sms(),
            Ok(Response::PhoneSent(PhoneSent {
                id: "ph-2".into(),
                channel: Channel::Voice,
                ending: "58".into(),
                expires_in_secs: 300,
            })),
        ],
    );
    // A send is no try: the script ends at the prompt after the call.
    assert_eq!(out, Outcome::Conversation, "{seen:?}");
    let starts: Vec<_> = requests
        .iter()
        .filter_map(|r| match r {
            Request::PhoneStart { channel, .. } => Some(*channel),
            _ => None,
        })
        .collect();
    assert_eq!(starts, vec![Channel::Sms, Channel::Voice], "{requests:?}");
    assert_eq!(
        seen[2],
        "hidden:A code was already sent by sms for this login. \
         Code sent by text message to the number ending 67 (or type: push, call): "
    );
    assert_eq!(
        seen[3],
        "hidden:Code read out by a call to the number ending 58 (or type: push): "
    );
}

/// How a login with `tries` and these answers ends, and the last thing
/// it showed.
fn last_word(
    tries: u32,
    answers: &[&'static str],
    daemon: Vec<Result<Response, ClientError>>,
) -> (Outcome, Option<String>) {
    let opts = Options {
        tries,
        ..Options::default()
    };
    let (out, seen, _) = run("login", opts, answers, daemon);
    (out, seen.last().cloned())
}

#[test]
fn a_refused_send_on_the_last_try_is_what_the_user_is_told() {
    let refused = || {
        Ok(Response::error(
            mfa_proto::ErrorCode::RateLimited,
            "too many codes were sent to this account; try again in 40 min",
        ))
    };
    let sms = || ready_with(vec![Channel::Sms]);
    let too_many = Some("error:Too many wrong codes.".to_string());
    assert_eq!(
        last_word(1, &["sms"], vec![sms(), refused()]),
        (
            Outcome::Denied,
            Some(
                "error:No code sent: too many codes were sent to this account; \
                 try again in 40 min."
                    .to_string()
            )
        )
    );
    // An empty answer after a refused send: the refusal is not the last word.
    assert_eq!(
        last_word(2, &["sms", ""], vec![sms(), refused()]),
        (Outcome::Denied, too_many.clone())
    );
    // A wrong code after a refused send: the code is the last word.
    let wrong = Ok(Response::WrongCode {
        retry_after_secs: None,
    });
    assert_eq!(
        last_word(2, &["sms", "000000"], vec![sms(), refused(), wrong]),
        (Outcome::Denied, too_many)
    );
}
