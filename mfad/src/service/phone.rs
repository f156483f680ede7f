//! One-time codes by text message or voice call: `phone_start` sends one
//! for a login (the user typed `sms` or `call`), `phone_verify` checks
//! what was typed next, `phone_add` / `phone_confirm` add a number only
//! once a code sent to it is typed back, and `phone_list` / `phone_remove`.
//! mfad makes, seals and checks every code; the gateway only delivers.
//! Sends are limited per account and per number, in the transaction that
//! queues them.

use super::login::{clean_code, Step};
use super::push::base64url;
use super::subject::Need;
use super::{denied, internal, store_failed, Service};
use crate::audit;
use crate::authz::Caller;
use crate::clock::Clock;
use crate::phone_number::{normalize_e164, random_code};
use crate::phone_rule::code_hash;
use crate::store::{
    CodeState, Confirmed, MethodRef, Phone, PhoneCode, SendLimits, SendOpened, Store,
};
use mfa_proto::phone::{self, Channel, PhoneInfo, PhonePurpose, PhoneSent};
use mfa_proto::{Challenge, ErrorCode, LoginContext, Response, Sensitive};
use std::sync::Arc;

/// The context a phone code is sealed under until the gateway has it.
pub(super) fn sealed_code_context(id: &str) -> String {
    format!("phone-code\u{0}{id}")
}

fn info(p: &Phone) -> PhoneInfo {
    PhoneInfo {
        label: p.label.clone(),
        channel: p.channel,
        masked: phone::mask(&p.number),
        created_at: p.created_at,
    }
}

fn channel_word(c: Channel) -> &'static str {
    match c {
        Channel::Sms => "text message",
        Channel::Voice => "voice call",
    }
}

impl<S: Store, C: Clock> Service<S, C> {
    /// The channels `user` can get a code by now: a number of that kind,
    /// and a gateway that runs and delivers it.
    pub(super) async fn phone_channels(&self, user: &str) -> Vec<Channel> {
        let Some(gw) = self.push_hub.gateway().filter(|g| !g.phone.is_empty()) else {
            return vec![];
        };
        let phones = self.store.phones(user).await.unwrap_or_default();
        [Channel::Sms, Channel::Voice]
            .into_iter()
            .filter(|c| gw.phone.contains(c) && phones.iter().any(|p| p.channel == *c))
            .collect()
    }

    /// Make, seal and queue one code for `phone`, within the limits.
    async fn send_code(
        &self,
        user: &str,
        number: &str,
        channel: Channel,
        purpose: PhonePurpose,
        label: &str,
    ) -> Response {
        let gateway_has = self
            .push_hub
            .gateway()
            .is_some_and(|g| g.phone.contains(&channel));
        if !gateway_has {
            return Response::error(
                ErrorCode::Unavailable,
                format!(
                    "no {} can be sent now (the gateway is not running, or has no provider for it)",
                    channel_word(channel)
                ),
            );
        }
        let p = &self.cfg.phone;
        let now = self.clock.now();
        let mut raw = [0u8; 12];
        let id = match crate::crypto::random_bytes(&mut raw) {
            Ok(()) => format!("ph-{}", base64url(&raw)),
            Err(e) => return internal(e),
        };
        let code = match random_code(p.code_digits) {
            Ok(c) => c,
            Err(e) => return internal(e),
        };
        let sealed = match self
            .rule
            .keys
            .seal(&sealed_code_context(&id), code.as_bytes())
        {
            Ok(s) => s,
            Err(e) => return internal(e),
        };
        let rec = PhoneCode {
            id: id.clone(),
            user: user.to_string(),
            number: number.to_string(),
            channel,
            purpose,
            label: label.to_string(),
            code_hash: code_hash(&self.rule.keys, user, &id, &code),
            sealed_code: Some(sealed),
            host: self.hostname.clone(),
            created_at: now,
            expires_at: now + p.code_secs as i64,
            state: CodeState::Queued,
            tries: 0,
        };
        let limits = SendLimits {
            per_user: p.max_per_user,
            per_number: p.max_per_number,
            since: now - p.window_secs as i64,
        };
        let wait = |oldest: i64| (oldest + p.window_secs as i64 - now).max(1) as u64;
        match self.store.open_phone_code(rec, limits).await {
            Ok(SendOpened::Queued) => {
                self.push_hub.deliveries.notify_one();
                audit::push_event(
                    &id,
                    &format!(
                        "phone_code queued channel={} user={user:?} to=\"{}\"",
                        channel.as_str(),
                        phone::mask(number)
                    ),
                );
                Response::PhoneSent(PhoneSent {
                    id,
                    channel,
                    ending: phone::ending(number, 2),
                    expires_in_secs: p.code_secs,
                })
            }
            Ok(SendOpened::UserLimit { oldest }) => {
                audit::push_event(
                    &id,
                    &format!("phone_code refused reason=user_limit user={user:?}"),
                );
                Response::error(
                    ErrorCode::RateLimited,
                    format!(
                        "too many codes were sent to this account; try again in {} min",
                        wait(oldest).div_ceil(60)
                    ),
                )
            }
            Ok(SendOpened::NumberLimit { oldest }) => {
                audit::push_event(
                    &id,
                    &format!(
                        "phone_code refused reason=number_limit user={user:?} to=\"{}\"",
                        phone::mask(number)
                    ),
                );
                Response::error(
                    ErrorCode::RateLimited,
                    format!(
                        "too many codes were sent to that number; try again in {} min",
                        wait(oldest).div_ceil(60)
                    ),
                )
            }
            Err(e) => store_failed(e),
        }
    }

    pub(super) async fn phone_start(
        self: &Arc<Self>,
        caller: &Caller,
        user: &str,
        ctx: LoginContext,
        channel: Channel,
    ) -> Response {
        let (resp, user) = self.login(caller, user, Step::Challenge, ctx).await;
        match resp {
            Response::Challenge {
                state: Challenge::Ready,
                ..
            } => {}
            other => return other,
        }
        let phones = match self.store.phones(&user).await {
            Ok(p) => p,
            Err(e) => return store_failed(e),
        };
        let Some(p) = phones.iter().find(|p| p.channel == channel) else {
            return Response::error(
                ErrorCode::NotFound,
                format!("this account has no number for a {}", channel_word(channel)),
            );
        };
        self.send_code(&user, &p.number, channel, PhonePurpose::Login, &p.label)
            .await
    }

    pub(super) async fn phone_verify(
        self: &Arc<Self>,
        caller: &Caller,
        user: &str,
        id: &str,
        code: &Sensitive,
        ctx: LoginContext,
    ) -> Response {
        self.login(caller, user, Step::verify_phone(code, id), ctx)
            .await
            .0
    }

    pub(super) async fn phone_add(
        self: &Arc<Self>,
        caller: &Caller,
        user: &str,
        number: &str,
        channel: Channel,
        label: Option<String>,
        current: Option<&Sensitive>,
    ) -> Response {
        let sub = match self.subject(caller, user, Need::OwnOrAdmin).await {
            Ok(s) => s,
            Err(resp) => return resp,
        };
        let number = match normalize_e164(number) {
            Ok(n) => n,
            Err(msg) => return Response::error(ErrorCode::InvalidArgument, msg),
        };
        // A first method (an account that logs in by phone only) is like a
        // first enrollment: only for a name the name service knows, but
        // with nothing to prove.
        let enrolled = match self.store.summary(&sub.user).await {
            Ok(s) => s.is_some(),
            Err(e) => return store_failed(e),
        };
        if !enrolled && !sub.known && caller.role != crate::authz::Role::Root {
            return denied(
                "no such user: only root may set up a name the name service does not know",
            );
        }
        let label = label.unwrap_or_else(|| {
            format!("{} ending {}", channel.as_str(), phone::ending(&number, 2))
        });
        if let Err(resp) = super::enroll::check_label(&label) {
            return resp;
        }
        // Checked before any proof is spent; the store refuses it too.
        match self.store.phones(&sub.user).await {
            Ok(p) if p.iter().any(|p| p.label == label) => {
                return Response::error(
                    ErrorCode::InvalidArgument,
                    format!("{} already has a phone named {label:?}: remove it first ('mfa phone remove') or pick another --name", sub.user),
                )
            }
            Ok(_) => {}
            Err(e) => return store_failed(e),
        }
        if enrolled && sub.needs_proof_from(caller) {
            let Some(current) = current else {
                return Response::error(
                    ErrorCode::AlreadyEnrolled,
                    "give a current code (or a recovery code) to add a phone to this account",
                );
            };
            match self.prove(caller, &sub.user, current).await {
                Response::Verified { .. } => {}
                other => return other,
            }
        }
        self.send_code(&sub.user, &number, channel, PhonePurpose::AddNumber, &label)
            .await
    }

    pub(super) async fn phone_confirm(
        self: &Arc<Self>,
        caller: &Caller,
        user: &str,
        code: &Sensitive,
    ) -> Response {
        let sub = match self.subject(caller, user, Need::OwnOrAdmin).await {
            Ok(s) => s,
            Err(resp) => return resp,
        };
        let (rule, owner, typed) = (self.rule.clone(), sub.user.clone(), clean_code(code));
        let hash_of = move |pc: &PhoneCode| code_hash(&rule.keys, &owner, &pc.id, &typed);
        // Used only if the number turns out to be the account's first
        // method: an account with no codes is locked out by a lost phone.
        let (mut codes, hashes) = match self.new_recovery_codes(&sub.user) {
            Ok(c) => c,
            Err(resp) => return resp,
        };
        let now = self.clock.now();
        match self.store.confirm_phone(&sub.user, hash_of, hashes, now).await {
            Ok(Confirmed::Added { phone: p, created }) => {
                let what = format!("phone_add label={:?} channel={}", p.label, p.channel.as_str());
                audit::admin(&caller.peer, &what, &sub.user);
                if !created {
                    codes.clear();
                }
                Response::Phones {
                    user: sub.user,
                    phones: vec![info(&p)],
                    recovery_codes: codes,
                }
            }
            Ok(Confirmed::Wrong) => Response::WrongCode {
                retry_after_secs: None,
            },
            Ok(Confirmed::NoCode) => Response::error(
                ErrorCode::NotFound,
                "no phone number is being added to this account (or its code expired or was mistyped 3 times): run 'mfa phone add' again",
            ),
            Err(crate::store::StoreError::Conflict) => Response::error(
                ErrorCode::Conflict,
                "a phone of that name was added meanwhile, so nothing changed: run 'mfa phone add' again with another --name",
            ),
            Err(e) => store_failed(e),
        }
    }

    pub(super) async fn phone_list(self: &Arc<Self>, caller: &Caller, user: &str) -> Response {
        let user = match self.subject(caller, user, Need::OwnOrAdmin).await {
            Ok(s) => s.user,
            Err(resp) => return resp,
        };
        match self.store.phones(&user).await {
            Ok(p) => Response::Phones {
                user,
                phones: p.iter().map(info).collect(),
                recovery_codes: vec![],
            },
            Err(e) => store_failed(e),
        }
    }

    pub(super) async fn phone_remove(
        self: &Arc<Self>,
        caller: &Caller,
        user: &str,
        label: &str,
    ) -> Response {
        let user = match self.subject(caller, user, Need::OwnOrAdmin).await {
            Ok(s) => s.user,
            Err(resp) => return resp,
        };
        self.remove_one(caller, &user, MethodRef::Phone, label)
            .await
    }
}
