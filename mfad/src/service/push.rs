//! Push approval on the login's side: a push is opened at the challenge
//! (module option `push=auto`) or when the user types `push`, and the
//! login waits for it on the same connection. The store holds each push
//! (so a shared backend can carry it across hosts); this hub only wakes
//! whoever waits, and remembers whether the gateway is polling. A push
//! belongs to the connection that opened it: only that connection may
//! wait for it, and closing the connection cancels it, so a login that
//! went away leaves no link that still works.

use super::push_answer::pending_of;
use super::push_hub::{ConnPushes, PushEvent};
use super::{store_failed, Service};
use crate::audit;
use crate::authz::Caller;
use crate::clock::Clock;
use crate::crypto::{ct_eq, random_bytes};
use crate::store::{Fatigue, Opened, PushRecord, PushState, PushTarget, Store};
use mfa_proto::push::{PushEnd, PushKind, PushOffer};
use mfa_proto::{ErrorCode, LoginContext, Method, Response};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// A one-time token for a link: 32 random bytes, base64url without
/// padding (43 characters), and the hash it is found by.
pub(super) fn new_token() -> Result<(zeroize::Zeroizing<String>, [u8; 32]), String> {
    let mut raw = zeroize::Zeroizing::new([0u8; 32]);
    random_bytes(&mut raw[..]).map_err(|e| e.to_string())?;
    let token = zeroize::Zeroizing::new(base64url(&raw[..]));
    let hash = token_hash(&token);
    Ok((token, hash))
}

/// What a push's sealed token is bound to.
pub(super) fn token_context(id: &str) -> String {
    format!("push-token:{id}")
}

/// What an account's sealed ntfy topics are bound to.
pub(super) fn topic_context(user: &str) -> String {
    format!("push-topic:{user}")
}

pub(super) fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// URL-safe base64 without padding (RFC 4648 §5).
pub(super) fn base64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// A random number of `digits` digits without a leading zero.
fn new_number(digits: u8) -> Result<String, String> {
    let low = 10u32.pow(u32::from(digits) - 1);
    let span = 9 * low;
    // Rejection sampling keeps every number equally likely.
    let limit = u32::MAX - u32::MAX % span;
    loop {
        let mut b = [0u8; 4];
        random_bytes(&mut b).map_err(|e| e.to_string())?;
        let n = u32::from_le_bytes(b);
        if n < limit {
            return Ok((low + n % span).to_string());
        }
    }
}

pub(super) fn numbers_match(typed: &str, number: &str) -> bool {
    ct_eq(typed.trim().as_bytes(), number.as_bytes())
}

impl<S: Store, C: Clock> Service<S, C> {
    fn push_enabled(&self) -> bool {
        !self.cfg.push.gateway_user.is_empty()
    }

    /// What a ready challenge offers for push: None when the account has
    /// no push target (or push is off).
    pub(super) async fn push_offer(
        &self,
        user: &str,
        ctx: &LoginContext,
        send: bool,
        conn: &ConnPushes<S, C>,
        by: &Caller,
    ) -> Option<PushOffer> {
        if !self.push_enabled() {
            return None;
        }
        let target = match self.store.push_targets(user).await {
            Ok(t) => t.into_iter().next()?,
            Err(e) => {
                eprintln!("mfad: cannot read push targets: {e}");
                return Some(unavailable("push is not available right now"));
            }
        };
        if !send {
            return Some(PushOffer::Available);
        }
        Some(
            self.open_push(user, ctx, PushKind::Login, target, conn, by)
                .await,
        )
    }

    /// Queue a push of `kind` to `target`, within the fatigue limits.
    pub(super) async fn open_push(
        &self,
        user: &str,
        ctx: &LoginContext,
        kind: PushKind,
        target: PushTarget,
        conn: &ConnPushes<S, C>,
        by: &Caller,
    ) -> PushOffer {
        if self.push_hub.gateway().is_none() {
            audit::push(
                user,
                ctx,
                &by.peer,
                "unavailable reason=gateway_not_running",
            );
            return unavailable("the push service is not running");
        }
        let p = &self.cfg.push;
        let now = self.clock.now();
        // A test push leaves time to install the app and subscribe.
        let ttl = match kind {
            PushKind::Login => p.timeout_secs,
            PushKind::Test => p.timeout_secs.max(180),
        };
        let made = (|| -> Result<_, String> {
            let (token, token_hash) = new_token()?;
            let mut id = [0u8; 12];
            random_bytes(&mut id).map_err(|e| e.to_string())?;
            let id = base64url(&id);
            // Bound to its push: a sealed token moved to another row
            // does not open.
            let sealed_token = self
                .rule
                .keys
                .seal(&token_context(&id), token.as_bytes())
                .map_err(|e| e.to_string())?;
            Ok((id, token_hash, sealed_token, new_number(p.number_digits)?))
        })();
        let (id, token_hash, sealed_token, number) = match made {
            Ok(m) => m,
            Err(e) => {
                eprintln!("mfad: cannot make a push: {e}");
                return unavailable("push is not available right now");
            }
        };
        let record = PushRecord {
            id: id.clone(),
            token_hash,
            sealed_token,
            user: user.to_string(),
            kind,
            target,
            number: number.clone(),
            // What the phone shows: the lab machine the login is on.
            host: match &by.via {
                Some(via) => via.host.clone(),
                None => self.hostname.clone(),
            },
            service: ctx.service.clone(),
            rhost: ctx.rhost.clone(),
            created_at: now,
            expires_at: now + ttl as i64,
            state: PushState::Queued,
        };
        let fatigue = Fatigue {
            now,
            since: now - p.window_secs as i64,
            max: p.max_per_window,
        };
        let event = (kind == PushKind::Login).then(|| pending_of(&record));
        match self.store.open_push(record, fatigue).await {
            Ok(Opened::Opened) => {
                conn.add(&id);
                if let Some(e) = event {
                    let _ = self.push_hub.events.0.send(PushEvent::Opened(e));
                }
                audit::push(user, ctx, &by.peer, &format!("sent id={id} kind={kind:?}"));
                self.push_hub.deliveries.notify_one();
                PushOffer::Sent {
                    id,
                    number,
                    expires_in_secs: ttl,
                }
            }
            Ok(Opened::Blocked { until, reason }) => {
                audit::push(
                    user,
                    ctx,
                    &by.peer,
                    &format!("refused reason=blocked_{reason}"),
                );
                let mins = (until - now).max(60) / 60;
                let why = match reason.as_str() {
                    "reported" => "you reported a push as not yours",
                    "wrong_number" => "a push was answered with the wrong number",
                    _ => "a push was denied",
                };
                unavailable(&format!("pushes are paused for {mins} min because {why}"))
            }
            Ok(Opened::TooMany { oldest }) => {
                audit::push(user, ctx, &by.peer, "refused reason=too_many");
                let secs = (oldest + p.window_secs as i64 - now).max(1);
                unavailable(&format!(
                    "too many pushes lately (try again in {} min)",
                    (secs + 59) / 60
                ))
            }
            Err(e) => {
                eprintln!("mfad: cannot store a push: {e}");
                unavailable("push is not available right now")
            }
        }
    }

    /// `push_start`: the user typed `push`.
    pub(super) async fn push_start(
        self: &Arc<Self>,
        caller: &Caller,
        user: &str,
        ctx: LoginContext,
        conn: &ConnPushes<S, C>,
    ) -> Response {
        let (resp, user) = self
            .login(caller, user, super::login::Step::Challenge, ctx.clone())
            .await;
        match resp {
            Response::Challenge {
                state: mfa_proto::Challenge::Ready,
                ..
            } => {}
            other => return other,
        }
        match self.push_offer(&user, &ctx, true, conn, caller).await {
            Some(offer) => Response::Push(offer),
            None => Response::error(ErrorCode::NotFound, "this account has no push target"),
        }
    }

    /// `push_wait`: until push `id` of this connection is decided or ends.
    pub(super) async fn push_wait(&self, id: &str, conn: &ConnPushes<S, C>) -> Response {
        if !conn.owns(id) {
            return Response::error(ErrorCode::NotFound, "no such push on this connection");
        }
        self.push_hub.follow(&self.store);
        let wake = self.push_hub.waiter(id);
        let reread = Duration::from_secs(self.cfg.push.reread_secs);
        // The push's expiry, once read: until then a database that is
        // down for a moment (a restart, a failover) does not end the wait.
        let mut expires_at = None;
        let state = loop {
            let rec = match self.store.push(id).await {
                Ok(Some(r)) => r,
                Ok(None) => break PushState::Cancelled,
                Err(e)
                    if e.is_unavailable() && expires_at.is_some_and(|t| self.clock.now() < t) =>
                {
                    eprintln!("mfad: push {id}: cannot re-read it, trying again: {e}");
                    let nap = reread.min(Duration::from_secs(1));
                    let _ = tokio::time::timeout(nap, wake.notified()).await;
                    continue;
                }
                Err(e) => return store_failed(e),
            };
            expires_at = Some(rec.expires_at);
            if !rec.state.is_pending() {
                break rec.state;
            }
            // Nobody will ever fetch it: say so now, so the user types a
            // code instead of waiting for the expiry.
            if rec.state == PushState::Queued && self.push_hub.gateway().is_none() {
                if let Ok(true) = self.store.end_push(id, PushState::Failed).await {
                    audit::push_event(id, "delivery_failed error=\"gateway not running\"");
                    break PushState::Failed;
                }
                continue;
            }
            let left = rec.expires_at - self.clock.now();
            if left <= 0 {
                match self.store.end_push(id, PushState::Expired).await {
                    Ok(true) => {
                        audit::push_event(id, "expired");
                        break PushState::Expired;
                    }
                    Ok(false) => continue,
                    Err(e) => return store_failed(e),
                }
            }
            let nap = reread.min(Duration::from_secs(left as u64));
            let _ = tokio::time::timeout(nap, wake.notified()).await;
        };
        conn.take(id);
        self.push_hub.forget(id);
        ended(state)
    }
}

fn unavailable(reason: &str) -> PushOffer {
    PushOffer::Unavailable {
        reason: reason.to_string(),
    }
}

/// The answer for a push that reached `state`.
fn ended(state: PushState) -> Response {
    let (end, message) = match state {
        PushState::Approved => {
            return Response::Verified {
                method: Method::Push,
                recovery_codes_left: None,
            }
        }
        PushState::Denied => (PushEnd::Denied, "The login was denied on the phone."),
        PushState::WrongNumber => (
            PushEnd::WrongNumber,
            "The number typed on the phone did not match, so the login was denied.",
        ),
        PushState::Reported => (
            PushEnd::Reported,
            "You reported this login as not yours: it was denied, and pushes to your account are paused.",
        ),
        PushState::Expired => (PushEnd::Expired, "The push was not answered in time."),
        PushState::Failed => (
            PushEnd::DeliveryFailed,
            "The push could not be delivered to your phone.",
        ),
        PushState::Cancelled | PushState::Queued | PushState::Sending | PushState::Sent => {
            (PushEnd::Cancelled, "The push was cancelled.")
        }
    };
    Response::PushEnded {
        end,
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_rfc4648() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(b"foob"), "Zm9vYg");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
        assert_eq!(base64url(&[0u8; 32]).len(), 43);
    }

    #[test]
    fn numbers_have_their_digits_and_no_leading_zero() -> Result<(), String> {
        for d in 2..=6u8 {
            for _ in 0..200 {
                let n = new_number(d)?;
                assert_eq!(n.len(), usize::from(d), "{n}");
                assert!(!n.starts_with('0'));
            }
        }
        assert!(numbers_match(" 42 ", "42"));
        assert!(!numbers_match("24", "42"));
        assert!(!numbers_match("", "42"));
        Ok(())
    }
}
