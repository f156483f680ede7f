//! `recovery_codes`: a new set of recovery codes for an enrolled account,
//! without touching its authenticator; the old set stops working at once.
//! Like replacing the enrollment, anyone but root asking for their own
//! account proves the current factor first: a shell left open must not be
//! enough to mint codes that log in later.

use super::subject::Need;
use super::{store_failed, Service};
use crate::audit;
use crate::authz::Caller;
use crate::clock::Clock;
use crate::store::{Store, StoreError};
use mfa_proto::{ErrorCode, Response, Sensitive};
use std::sync::Arc;

impl<S: Store, C: Clock> Service<S, C> {
    pub(super) async fn recovery_codes(
        self: &Arc<Self>,
        caller: &Caller,
        user: &str,
        current: Option<&Sensitive>,
    ) -> Response {
        let sub = match self.subject(caller, user, Need::OwnOrAdmin).await {
            Ok(s) => s,
            Err(resp) => return resp,
        };
        let user = sub.user.as_str();
        let secret = match self.store.summary(user).await {
            Ok(Some(s)) => s.shape(),
            Ok(None) => return Response::NotEnrolled,
            Err(e) => return store_failed(e),
        };
        if sub.needs_proof_from(caller) {
            let Some(current) = current else {
                return Response::error(
                    ErrorCode::PermissionDenied,
                    "a new set of recovery codes needs a code from your current authenticator (or a recovery code)",
                );
            };
            match self.prove(caller, user, current).await {
                Response::Verified { .. } => {}
                other => return other,
            }
        }
        let (codes, hashes) = match self.new_recovery_codes(user) {
            Ok(c) => c,
            Err(resp) => return resp,
        };
        match self.store.replace_recovery(user, &hashes, &secret).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => return Response::error(
                ErrorCode::Conflict,
                "the enrollment was replaced or removed meanwhile, so nothing changed: start again",
            ),
            Err(e) => return store_failed(e),
        }
        audit::admin(&caller.peer, "recovery_codes", user);
        Response::RecoveryCodes {
            recovery_codes: codes,
        }
    }
}
