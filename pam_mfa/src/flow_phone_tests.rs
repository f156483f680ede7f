//! Tests of `sms` and `call` at the prompt against a scripted daemon: the
//! prompt lists them, the word sends a code, the next prompt says where
//! it went, and what is typed then is checked against that code.
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

#[test]
fn sms_sends_a_code_and_the_next_prompt_says_where_it_went() {
    let sent = PhoneSent {
        id: "ph-1".into(),
        channel: Channel::Sms,
        ending: "67".into(),
        expires_in_secs: 300,
    };
    let (out, seen, requests) = run(
        "sshd",
        Options {
            push: mfa_proto::push::PushMode::Ask,
            ..Options::default()
        },
        &["sms", "482913"],
        vec![
            ready_with(vec![Channel::Sms, Channel::Voice]),
            Ok(Response::PhoneSent(sent)),
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
            "hidden:Code sent by text message to the number ending 67 (or type: push, sms, call): ",
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
