//! Looking at and managing accounts: `status` (own account, or any for
//! root and the admin group), `list`, `remove` and `unlock` (root and the
//! admin group only).

use super::subject::Need;
use super::{denied, store_failed, Service};
use crate::audit;
use crate::authz::Caller;
use crate::backoff::{self, Gate};
use crate::clock::Clock;
use crate::store::Store;
use mfa_proto::{Response, StatusInfo};
use std::sync::Arc;

impl<S: Store, C: Clock> Service<S, C> {
    pub(super) async fn list(self: &Arc<Self>, caller: &Caller, after: &str) -> Response {
        // Sized so a page of long names stays far below the frame limit.
        const PAGE: usize = 200;
        if !caller.role.is_admin() {
            return denied("only root or the admin group may list accounts");
        }
        match self.store.list(after, PAGE + 1).await {
            Ok(mut users) => {
                let more = users.len() > PAGE;
                users.truncate(PAGE);
                Response::Accounts { users, more }
            }
            Err(e) => store_failed(e),
        }
    }

    pub(super) async fn remove(self: &Arc<Self>, caller: &Caller, user: &str) -> Response {
        let user = match self.subject(caller, user, Need::Admin).await {
            Ok(s) => s.user,
            Err(resp) => return resp,
        };
        let done = self.store.remove(&user).await;
        admin_done(caller, "remove", &user, done)
    }

    pub(super) async fn unlock(self: &Arc<Self>, caller: &Caller, user: &str) -> Response {
        let user = match self.subject(caller, user, Need::Admin).await {
            Ok(s) => s.user,
            Err(resp) => return resp,
        };
        let done = self.store.unlock(&user).await;
        admin_done(caller, "unlock", &user, done)
    }

    pub(super) async fn status(self: &Arc<Self>, caller: &Caller, user: &str) -> Response {
        let user = match self.subject(caller, user, Need::OwnOrAdmin).await {
            Ok(s) => s.user,
            Err(resp) => return resp,
        };
        let user = user.as_str();
        let now = self.clock.now();
        match self.store.summary(user).await {
            Ok(None) => Response::Status(StatusInfo {
                user: user.into(),
                enrolled: false,
                algorithm: None,
                digits: None,
                period: None,
                recovery_codes_left: 0,
                consecutive_failures: 0,
                locked: false,
                retry_after_secs: None,
                enrolled_at: None,
                last_login: None,
            }),
            Ok(Some(s)) => {
                let gate = backoff::user_gate(&self.cfg.limits, &s.counters, now);
                let first = s.first().map(|a| &a.totp);
                Response::Status(StatusInfo {
                    user: user.into(),
                    enrolled: true,
                    algorithm: first.map(|e| e.algorithm),
                    digits: first.map(|e| e.digits),
                    period: first.map(|e| e.period),
                    recovery_codes_left: s.recovery_left,
                    consecutive_failures: s.counters.failures,
                    locked: s.counters.locked,
                    retry_after_secs: match gate {
                        Gate::Wait(n) => Some(n),
                        _ => None,
                    },
                    enrolled_at: Some(s.created_at),
                    last_login: s.last_login,
                })
            }
            Err(e) => store_failed(e),
        }
    }
}

/// The answer to an admin's change, audited when it changed something.
fn admin_done(
    caller: &Caller,
    action: &str,
    user: &str,
    done: Result<bool, crate::store::StoreError>,
) -> Response {
    match done {
        Ok(true) => {
            audit::admin(&caller.peer, action, user);
            Response::Done
        }
        Ok(false) => Response::NotEnrolled,
        Err(e) => store_failed(e),
    }
}
