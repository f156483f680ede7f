//! The requests only the push gateway may send, authorized by its uid
//! (`push.gateway_user`): fetch the next push to deliver, say how the
//! delivery went, show a pending push for its link, and forward a
//! decision. mfad checks the number itself: the gateway carries what was
//! typed and can answer only pushes that are pending, each once.

use super::phone::sealed_code_context;
use super::push::{token_context, token_hash, topic_context};
use super::{denied, internal, store_failed, Service};
use crate::audit;
use crate::authz::Caller;
use crate::clock::Clock;
use crate::store::{PhoneCode, PushKey, PushRecord, Store};
use mfa_proto::phone::PhoneDelivery;
use mfa_proto::push::{Decision, Delivery, GatewayInfo, PushView};
use mfa_proto::{ErrorCode, Response, Sensitive};
use std::sync::Arc;
use std::time::Duration;

/// The longest a poll is held open.
const MAX_POLL: u64 = 30;

pub(super) fn gone() -> Response {
    Response::error(
        ErrorCode::NotFound,
        "this link has expired or was already used",
    )
}

/// Whether `token` has the shape of a link token, checked before any
/// store work so garbage costs nothing.
fn token_shape(token: &Sensitive) -> bool {
    let t = token.expose();
    t.len() == 43
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl<S: Store, C: Clock> Service<S, C> {
    /// Refuse anyone but the gateway's account.
    pub(super) fn gateway_only(&self, caller: &Caller) -> Result<(), Box<Response>> {
        let gw = &self.cfg.push.gateway_user;
        if self.is_gateway(caller) {
            return Ok(());
        }
        if gw.is_empty() {
            return Err(Box::new(Response::error(
                ErrorCode::Unavailable,
                "push is not configured (push.gateway_user is empty)",
            )));
        }
        // is_gateway is the only test: it also refuses the gateway's uid
        // claimed by a lab machine through a relay.
        Err(Box::new(denied(format!(
            "only the push gateway ({gw}), on the central mfad's own machine, may send gateway requests"
        ))))
    }

    pub(super) async fn gateway_poll(&self, info: GatewayInfo, wait_secs: u64) -> Response {
        let _seen = self.push_hub.polling(info);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait_secs.min(MAX_POLL));
        loop {
            match self.store.next_phone_delivery(self.clock.now()).await {
                Ok(Some(code)) => return self.phone_delivery(code).await,
                Ok(None) => {}
                Err(e) => return store_failed(e),
            }
            match self.store.next_delivery(self.clock.now()).await {
                Ok(Some(rec)) => return self.delivery(rec).await,
                Ok(None) => {}
                Err(e) => return store_failed(e),
            }
            let nap = tokio::time::sleep_until(deadline);
            tokio::select! {
                _ = nap => return Response::Idle,
                _ = self.push_hub.deliveries.notified() => {}
                // Re-read now and then: a push queued by another mfad on
                // a shared store wakes nobody here.
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
    }

    /// Hand `rec` to the gateway, with its token and topic unsealed.
    async fn delivery(&self, rec: PushRecord) -> Response {
        let keys = &self.rule.keys;
        let token = match keys.open(&token_context(&rec.id), &rec.sealed_token) {
            Ok(t) => t,
            Err(e) => return self.undeliverable(&rec.id, e).await,
        };
        let topic = match rec
            .target
            .sealed_topic
            .as_deref()
            .map(|s| keys.open(&topic_context(&rec.user), s))
        {
            Some(Ok(t)) => Some(t),
            Some(Err(e)) => return self.undeliverable(&rec.id, e).await,
            None => None,
        };
        let text = |b: &[u8]| Sensitive::new(String::from_utf8_lossy(b).into_owned());
        Response::Delivery(Box::new(Delivery {
            id: rec.id,
            token: text(&token),
            kind: rec.kind,
            provider: rec.target.provider,
            topic: topic.as_deref().map(|t| text(t)),
            label: rec.target.label,
            user: rec.user,
            host: rec.host,
            service: rec.service,
            rhost: rec.rhost,
            created_at: rec.created_at,
            expires_at: rec.expires_at,
        }))
    }

    /// Hand phone code `code` to the gateway, unsealed, once.
    async fn phone_delivery(&self, code: PhoneCode) -> Response {
        let opened = code
            .sealed_code
            .as_deref()
            .map(|s| self.rule.keys.open(&sealed_code_context(&code.id), s));
        let plain = match opened {
            Some(Ok(p)) => p,
            Some(Err(e)) => return self.undeliverable(&code.id, e).await,
            None => return self.undeliverable(&code.id, "no sealed code").await,
        };
        let now = self.clock.now();
        Response::PhoneDelivery(Box::new(PhoneDelivery {
            id: code.id,
            channel: code.channel,
            to: code.number,
            code: Sensitive::new(String::from_utf8_lossy(&plain).into_owned()),
            purpose: code.purpose,
            host: code.host,
            expires_in_secs: (code.expires_at - now).max(1) as u64,
        }))
    }

    async fn undeliverable(&self, id: &str, e: impl std::fmt::Display) -> Response {
        eprintln!("mfad: push {id} cannot be unsealed: {e}");
        let _ = self.report_result(id, false).await;
        self.push_hub.wake(id);
        internal(e)
    }

    /// Record a delivery's result: a phone code's (`ph-…`) or a push's.
    async fn report_result(
        &self,
        id: &str,
        delivered: bool,
    ) -> Result<bool, crate::store::StoreError> {
        if id.starts_with("ph-") {
            self.store.phone_delivery_result(id, delivered).await
        } else {
            self.store.delivery_result(id, delivered).await
        }
    }

    pub(super) async fn gateway_report(
        &self,
        id: &str,
        delivered: bool,
        error: Option<String>,
    ) -> Response {
        match self.report_result(id, delivered).await {
            Ok(_) => {
                let what = match (delivered, error) {
                    (true, _) => "delivered".to_string(),
                    (false, e) => {
                        let e: String = e
                            .unwrap_or_default()
                            .chars()
                            .filter(|c| !c.is_control())
                            .take(200)
                            .collect();
                        format!("delivery_failed error={e:?}")
                    }
                };
                audit::push_event(id, &what);
                self.push_hub.wake(id);
                Response::Done
            }
            Err(e) => store_failed(e),
        }
    }

    pub(super) async fn gateway_view(&self, token: &Sensitive) -> Response {
        if !token_shape(token) {
            return gone();
        }
        let now = self.clock.now();
        match self.store.push_by_token(token_hash(token.expose())).await {
            Ok(Some(p)) if p.state.is_pending() && p.expires_at > now => {
                Response::PushPage(Box::new(PushView {
                    kind: p.kind,
                    label: p.target.label,
                    user: p.user,
                    host: p.host,
                    service: p.service,
                    rhost: p.rhost,
                    created_at: p.created_at,
                    expires_at: p.expires_at,
                    number_digits: p.number.len() as u8,
                }))
            }
            Ok(_) => gone(),
            Err(e) => store_failed(e),
        }
    }

    pub(super) async fn gateway_decide(
        self: &Arc<Self>,
        token: &Sensitive,
        number: &Sensitive,
        decision: Decision,
    ) -> Response {
        if !token_shape(token) {
            return gone();
        }
        self.decide(PushKey::Token(token_hash(token.expose())), number, decision)
            .await
    }
}
