//! Deciding a pending push: the one rule for the approval page (the
//! gateway forwards what was typed, by the link's token) and for the
//! account's own desktop session (D-Bus, `mfa agent`, by the push's id).
//! Either way mfad checks the number itself, a push is decided once, and
//! a wrong number, a denial or a report pauses or blocks further pushes.

use super::push::numbers_match;
use super::push_gateway::gone;
use super::subject::Need;
use super::{store_failed, Service};
use crate::audit;
use crate::authz::Caller;
use crate::clock::Clock;
use crate::store::{PushKey, PushRecord, PushState, PushVerdict, Store};
use mfa_proto::push::{Decided, Decision, PendingPush, PushKind, PushView};
use mfa_proto::{ErrorCode, Response, Sensitive};
use std::sync::Arc;

/// The answer for an id that names no push of the caller's waiting for
/// an answer, whatever the reason, so ids reveal nothing.
fn no_such_push() -> Response {
    Response::error(
        ErrorCode::NotFound,
        "no such push is waiting for you: it expired, was already answered, or is not yours",
    )
}

/// A push as its owner's session sees it: never the number or the link.
pub(super) fn pending_of(p: &PushRecord) -> PendingPush {
    PendingPush {
        id: p.id.clone(),
        view: PushView {
            kind: p.kind,
            label: p.target.label.clone(),
            user: p.user.clone(),
            host: p.host.clone(),
            service: p.service.clone(),
            rhost: p.rhost.clone(),
            created_at: p.created_at,
            expires_at: p.expires_at,
            number_digits: p.number.len() as u8,
        },
    }
}

impl<S: Store, C: Clock> Service<S, C> {
    /// Judge the pending push `key` names with what was typed.
    pub(super) async fn decide(
        self: &Arc<Self>,
        key: PushKey,
        number: &Sensitive,
        decision: Decision,
    ) -> Response {
        // Not a guess worth spending the push on (the page checks the
        // same): nothing is decided.
        let t = number.expose().trim();
        if decision == Decision::Approve
            && (t.is_empty() || t.len() > 12 || !t.bytes().all(|b| b.is_ascii_digit()))
        {
            return Response::error(
                ErrorCode::InvalidArgument,
                "type the number shown at the login prompt, digits only; nothing was decided",
            );
        }
        let now = self.clock.now();
        let p = self.cfg.push.clone();
        let typed = zeroize::Zeroizing::new(t.to_string());
        let res = self
            .store
            .decide_push(key, move |rec| {
                let block =
                    |secs: u64, why: &str| (secs > 0).then(|| (now + secs as i64, why.to_string()));
                let (outcome, state, block) = if rec.expires_at <= now {
                    (None, PushState::Expired, None)
                } else {
                    match decision {
                        Decision::Approve if numbers_match(&typed, &rec.number) => {
                            (Some(Decided::Approved), PushState::Approved, None)
                        }
                        // Someone who did not start the login typed a
                        // guess, or the user mistyped: either way a Deny.
                        Decision::Approve => (
                            Some(Decided::WrongNumber),
                            PushState::WrongNumber,
                            block(p.deny_block_secs, "wrong_number"),
                        ),
                        Decision::Deny => (
                            Some(Decided::Denied),
                            PushState::Denied,
                            block(p.deny_block_secs, "denied"),
                        ),
                        Decision::Report => (
                            Some(Decided::Reported),
                            PushState::Reported,
                            block(p.report_block_secs, "reported"),
                        ),
                    }
                };
                let saved = (rec.kind == PushKind::Test && state == PushState::Approved)
                    .then(|| rec.target.label.clone());
                (
                    (rec.id.clone(), rec.user.clone(), outcome, state, saved),
                    PushVerdict { state, block },
                )
            })
            .await;
        match res {
            Ok(Some((id, user, outcome, state, saved))) => {
                audit::push_decision(&id, &user, state.as_str());
                if let Some(label) = saved {
                    audit::push_event(
                        &id,
                        &format!("push_target_saved user={user:?} label={label:?}"),
                    );
                }
                self.push_hub.wake(&id);
                match outcome {
                    Some(outcome) => Response::PushDecided { outcome },
                    None => gone(),
                }
            }
            Ok(None) => gone(),
            // Decided at the same moment by another request: it was used.
            Err(crate::store::StoreError::Conflict) => gone(),
            Err(e) => store_failed(e),
        }
    }

    /// The login pushes waiting for the caller's own answer. Only the
    /// account's own sessions see them: nobody else learns who is logging
    /// in where, not even an admin.
    pub(super) async fn push_pending(self: &Arc<Self>, caller: &Caller, user: &str) -> Response {
        let user = match self.own_account(caller, user).await {
            Ok(u) => u,
            Err(resp) => return resp,
        };
        match self.store.pending_pushes(&user, self.clock.now()).await {
            Ok(pushes) => Response::PushPending {
                user,
                pushes: pushes.iter().map(pending_of).collect(),
            },
            Err(e) => super::store_failed(e),
        }
    }

    /// The caller answers its own pending login push `id` as on the
    /// approval page. Someone else's push, a test push and an unknown id
    /// get the same answer as a used one.
    pub(super) async fn push_answer(
        self: &Arc<Self>,
        caller: &Caller,
        user: &str,
        id: &str,
        number: &Sensitive,
        decision: Decision,
    ) -> Response {
        let user = match self.own_account(caller, user).await {
            Ok(u) => u,
            Err(resp) => return resp,
        };
        // Ids are 16 characters; a longer one is nobody's.
        if id.len() > 64 {
            return no_such_push();
        }
        match self.store.push(id).await {
            Ok(Some(p)) if p.user == user && p.kind == PushKind::Login => {}
            Ok(_) => return no_such_push(),
            Err(e) => return super::store_failed(e),
        }
        audit::push_event(
            id,
            &format!("answered_by_session user={user:?} uid={}", caller.peer.uid),
        );
        match self
            .decide(PushKey::Id(id.to_string()), number, decision)
            .await
        {
            Response::Error {
                code: ErrorCode::NotFound,
                ..
            } => no_such_push(),
            other => other,
        }
    }

    /// `user` if it is the caller's own account, else the refusal.
    async fn own_account(
        self: &Arc<Self>,
        caller: &Caller,
        user: &str,
    ) -> Result<String, Response> {
        // Also refused in relay_allows: a lab machine's word about the uid
        // must never answer a push.
        if caller.via.is_some() {
            return Err(Response::error(
                ErrorCode::PermissionDenied,
                "pushes cannot be seen or answered through a lab machine",
            ));
        }
        let sub = self.subject(caller, user, Need::OwnOrAdmin).await?;
        if !sub.own {
            return Err(Response::error(
                ErrorCode::PermissionDenied,
                "only the account's own sessions may see or answer its pushes",
            ));
        }
        Ok(sub.user)
    }
}
