//! Managing push targets: `push_add` (a test push the user approves on
//! the phone, after which the target is saved), `push_list` and
//! `push_remove`, for one's own account, or any for root and the admin
//! group. An enrolled user adding a phone proves the current
//! authenticator first, as for replacing it: a shell left open must not
//! be enough to add a phone that approves later logins.

use super::push::{base64url, topic_context};
use super::push_hub::ConnPushes;
use super::subject::Need;
use super::{denied, internal, store_failed, Service};
use crate::audit;
use crate::authz::Caller;
use crate::clock::Clock;
use crate::crypto::random_bytes;
use crate::store::{MethodRef, PushTarget, Store};
use mfa_proto::push::{Provider, PushEnrollment, PushKind, PushOffer, PushTargetInfo};
use mfa_proto::{ErrorCode, LoginContext, Response, Sensitive};
use std::sync::Arc;

/// A label is shown in lists and on the approval page.
pub(super) fn valid_label(l: &str) -> Result<(), Box<Response>> {
    let ok = (1..=64).contains(&l.len())
        && l.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Box::new(Response::error(
            ErrorCode::InvalidArgument,
            "a push target's name is 1 to 64 letters, digits, spaces, '.', '_' or '-'",
        )))
    }
}

impl<S: Store, C: Clock> Service<S, C> {
    pub(super) async fn push_add(
        self: &Arc<Self>,
        caller: &Caller,
        user: &str,
        provider: Option<Provider>,
        label: Option<String>,
        current_code: Option<&Sensitive>,
        conn: &ConnPushes<S, C>,
    ) -> Response {
        if self.cfg.push.gateway_user.is_empty() {
            return Response::error(
                ErrorCode::Unavailable,
                "push is not configured on this host (push.gateway_user in mfad.toml)",
            );
        }
        let sub = match self.subject(caller, user, Need::OwnOrAdmin).await {
            Ok(s) => s,
            Err(resp) => return resp,
        };
        let label = label.unwrap_or_else(|| "phone".into());
        if let Err(resp) = valid_label(&label) {
            return *resp;
        }
        let Some(gateway) = self.push_hub.gateway() else {
            return Response::error(
                ErrorCode::Unavailable,
                "the push gateway (mfa-gateway) is not running, so no test notification can be sent",
            );
        };
        let provider = match provider.or_else(|| gateway.providers.first().copied()) {
            Some(p) if gateway.providers.contains(&p) => p,
            Some(p) => {
                return Response::error(
                    ErrorCode::InvalidArgument,
                    format!("the push gateway has no {} provider configured", p.as_str()),
                )
            }
            None => {
                return Response::error(ErrorCode::Unavailable, "the push gateway has no provider")
            }
        };
        match self.store.summary(&sub.user).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Response::error(
                    ErrorCode::NotEnrolled,
                    "set up an authenticator first (mfa enroll); a phone for pushes comes on top",
                )
            }
            Err(e) => return store_failed(e),
        }
        match self.store.push_targets(&sub.user).await {
            Ok(t) if t.iter().any(|t| t.label == label) => {
                return Response::error(
                    ErrorCode::InvalidArgument,
                    format!(
                    "a push target named {label:?} exists; remove it first or pick another --name"
                ),
                )
            }
            Ok(_) => {}
            Err(e) => return store_failed(e),
        }
        // Like replacing an enrollment: anyone but root adding a phone to
        // their own account proves the current factor, admins too.
        if sub.needs_proof_from(caller) {
            let Some(code) = current_code else {
                return denied("adding a push target needs a code from your current authenticator");
            };
            match self.prove(caller, &sub.user, code).await {
                Response::Verified { .. } => {}
                other => return other,
            }
        }
        // An ntfy topic is a bearer secret (whoever knows it can
        // subscribe): 144 random bits.
        let topic = match provider {
            Provider::Ntfy => {
                let mut raw = zeroize::Zeroizing::new([0u8; 18]);
                if let Err(e) = random_bytes(&mut raw[..]) {
                    return internal(e);
                }
                Some(zeroize::Zeroizing::new(format!(
                    "mfa-{}",
                    base64url(&raw[..])
                )))
            }
            Provider::Webhook => None,
        };
        let sealed_topic = match topic
            .as_ref()
            .map(|t| self.rule.keys.seal(&topic_context(&sub.user), t.as_bytes()))
        {
            Some(Ok(s)) => Some(s),
            Some(Err(e)) => return internal(e),
            None => None,
        };
        let target = PushTarget {
            label: label.clone(),
            provider,
            sealed_topic,
            created_at: self.clock.now(),
        };
        let ctx = LoginContext {
            service: "mfa-push-add".into(),
            ..Default::default()
        };
        audit::admin(&caller.peer, "push_add_begin", &sub.user);
        match self
            .open_push(&sub.user, &ctx, PushKind::Test, target, conn, caller)
            .await
        {
            PushOffer::Sent {
                id,
                number,
                expires_in_secs,
            } => Response::PushEnroll(Box::new(PushEnrollment {
                id,
                label,
                provider,
                topic: topic.map(|t| Sensitive::new(t.as_str())),
                ntfy_url: gateway.ntfy_url.filter(|_| provider == Provider::Ntfy),
                number,
                expires_in_secs,
            })),
            PushOffer::Unavailable { reason } => Response::error(ErrorCode::RateLimited, reason),
            PushOffer::Available => internal("a push was not sent"),
        }
    }

    pub(super) async fn push_list(self: &Arc<Self>, caller: &Caller, user: &str) -> Response {
        let user = match self.subject(caller, user, Need::OwnOrAdmin).await {
            Ok(s) => s.user,
            Err(resp) => return resp,
        };
        match self.store.push_targets(&user).await {
            Ok(targets) => Response::PushTargets {
                user,
                targets: targets
                    .into_iter()
                    .map(|t| PushTargetInfo {
                        label: t.label,
                        provider: t.provider,
                        created_at: t.created_at,
                    })
                    .collect(),
            },
            Err(e) => store_failed(e),
        }
    }

    pub(super) async fn push_remove(
        self: &Arc<Self>,
        caller: &Caller,
        user: &str,
        label: &str,
    ) -> Response {
        let user = match self.subject(caller, user, Need::OwnOrAdmin).await {
            Ok(s) => s.user,
            Err(resp) => return resp,
        };
        self.remove_one(caller, &user, MethodRef::Push, label).await
    }
}
