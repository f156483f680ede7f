//! One authentication attempt: ask mfad whether to prompt, prompt, verify,
//! and turn every answer into an [`Outcome`] plus what the user is told.
//! `call` carries one request to mfad; the connection behind it (one per
//! login, reopened if the daemon dropped it while the user typed) is the
//! caller's business.

use crate::args::{Notice, Options};
use crate::conversation::Conversation;
use crate::enroll_flow::enroll_at_login;
pub(crate) use crate::finish::finish;
use crate::outcome::Outcome;
use mfa_proto::client::ClientError;
use mfa_proto::phone::Channel;
use mfa_proto::push::{PushEnd, PushOffer};
use mfa_proto::{Challenge, LoginContext, Method, Request, Response, Sensitive};
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
    /// `phone` are the words for the account's phone channels.
    fn prompt(&self, base: &str, phone: &[&str]) -> String {
        let mut words: Vec<&str> = Vec::new();
        if matches!(self, PushState::Offered) {
            words.push("push");
        }
        words.extend(phone);
        let base = match words.is_empty() {
            true => base.to_string(),
            false => format!(
                "{} (or type: {}): ",
                base.trim_end().trim_end_matches(':'),
                words.join(", ")
            ),
        };
        match self {
            PushState::None | PushState::Offered => base,
            PushState::Waiting { number, .. } => format!(
                "Approve on your phone with number {number}, or type a code, then press Enter: "
            ),
            PushState::Gone(why) => format!("{why} {base}"),
        }
    }
}

/// The word that asks for a code by `channel` at the prompt.
fn phone_word(channel: Channel) -> &'static str {
    match channel {
        Channel::Sms => "sms",
        Channel::Voice => "call",
    }
}

/// The start of the prompt after a code was sent, before the number's
/// last digits.
fn sent_by(channel: Channel) -> &'static str {
    match channel {
        Channel::Sms => "Code sent by text message to the number ending",
        Channel::Voice => "Code read out by a call to the number ending",
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
    let channels: Vec<Channel>;
    let mut push = match call(&challenge, t) {
        Ok(Response::Challenge {
            state: Challenge::Ready,
            push,
            phone,
        }) => {
            *pushed = matches!(push, Some(PushOffer::Sent { .. }));
            channels = phone;
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

    // A channel's word is offered until a code went out by it: one text
    // or call per channel and login, so retyping `sms` cannot run up the
    // bill (the per-account limit is mfad's backstop).
    let mut words: Vec<&str> = channels.iter().map(|c| phone_word(*c)).collect();
    // Why the last phone word sent nothing: the final message if the
    // tries run out on it, not "Too many wrong codes."
    let mut refused: Option<String> = None;
    // After `sms` or `call`: the code sent, and the prompt that asks for it.
    let mut phone_id: Option<String> = None;
    let mut base = opts.prompt.clone();
    let mut prompt = push.prompt(&base, &words);
    let mut tries = 0;
    while tries < opts.tries {
        let answer = match conv.prompt_hidden(&prompt) {
            Ok(a) => a,
            Err(_) => return Outcome::Conversation,
        };
        let answer = answer.trim();
        // Only a send refused on this very answer is the last word.
        refused = None;
        let req = if answer.is_empty() {
            let PushState::Waiting { id, secs, .. } = &push else {
                tries += 1;
                prompt = format!("No code entered. {}", push.prompt(&base, &words));
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
                            prompt = push.prompt(&base, &words);
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
            prompt = format!("{why} {}", push.prompt(&base, &words));
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
            prompt = push.prompt(&base, &words);
            continue;
        } else if ["sms", "call"]
            .iter()
            .any(|w| w.eq_ignore_ascii_case(answer))
            && !channels
                .iter()
                .any(|c| phone_word(*c).eq_ignore_ascii_case(answer))
        {
            // Not a code: never sent to be counted as a wrong one.
            tries += 1;
            prompt = format!(
                "No code by {answer} for this account. {}",
                push.prompt(&base, &words)
            );
            continue;
        } else if let Some(&channel) = channels
            .iter()
            .find(|c| phone_word(**c).eq_ignore_ascii_case(answer))
        {
            let word = phone_word(channel);
            if !words.contains(&word) {
                tries += 1;
                let why = format!("A code was already sent by {word} for this login.");
                prompt = format!("{why} {}", push.prompt(&base, &words));
                refused = Some(why);
                continue;
            }
            let start = Request::PhoneStart {
                user: user.clone(),
                context: login.context.clone(),
                channel,
            };
            match call(&start, t) {
                Ok(Response::PhoneSent(sent)) => {
                    log(&format!(
                        "user {user:?}: a code was sent by {}",
                        channel.as_str()
                    ));
                    base = format!("{} {}: ", sent_by(channel), sent.ending);
                    phone_id = Some(sent.id);
                    words.retain(|w| *w != word);
                    prompt = push.prompt(&base, &words);
                }
                Ok(Response::Error { message, .. }) => {
                    tries += 1;
                    let why = format!("No code sent: {message}.");
                    prompt = format!("{why} {}", push.prompt(&base, &words));
                    refused = Some(why);
                }
                Ok(Response::Verified { .. }) => {
                    log(&format!(
                        "user {user:?}: mfad answered phone_start with success; denying"
                    ));
                    notice(conv, UNAVAILABLE);
                    return Outcome::SystemError;
                }
                Ok(other) => return finish(other, user, opts, conv, &mut notice, log),
                Err(e) => {
                    log(&format!(
                        "lost mfad while sending a phone code: {e}; denying"
                    ));
                    notice(conv, UNAVAILABLE);
                    return Outcome::Unavailable;
                }
            }
            continue;
        } else {
            tries += 1;
            let code = Sensitive::new(answer);
            let context = login.context.clone();
            match &phone_id {
                Some(id) => Request::PhoneVerify {
                    user: user.clone(),
                    id: id.clone(),
                    code,
                    context,
                },
                None => Request::Verify {
                    user: user.clone(),
                    code,
                    context,
                },
            }
        };
        match call(&req, t) {
            Ok(Response::WrongCode {
                retry_after_secs: None,
            }) => {
                prompt = format!("Wrong code, try again. {}", push.prompt(&base, &words));
            }
            Ok(Response::Replayed) => {
                prompt = format!(
                    "That code was already used; wait for the next one. {}",
                    push.prompt(&base, &words)
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
    notice(conv, refused.as_deref().unwrap_or("Too many wrong codes."));
    Outcome::Denied
}

#[cfg(test)]
#[path = "flow_phone_tests.rs"]
mod flow_phone_tests;
#[cfg(test)]
#[path = "flow_tests.rs"]
mod flow_tests;
