//! The help desk's overview (`list` with details) and its
//! temporary code (`bypass`): one code, valid once for a short time, for
//! a student who lost the phone and the recovery codes. Every bypass is
//! audited; nobody but root may give one to their own account.

use super::subject::Need;
use super::{denied, internal, store_failed, Service};
use crate::audit;
use crate::authz::{Caller, Role};
use crate::clock::Clock;
use crate::recovery;
use crate::store::Store;
use mfa_proto::{ErrorCode, Response, Sensitive};
use std::sync::Arc;

/// How long a temporary code lives unless the help desk says otherwise,
/// and at most.
const BYPASS_DEFAULT_MINUTES: u32 = 30;
const BYPASS_MAX_MINUTES: u32 = 24 * 60;

impl<S: Store, C: Clock> Service<S, C> {
    /// One page of accounts with their methods (root and the admin group).
    pub(super) async fn list_details(self: &Arc<Self>, caller: &Caller, after: &str) -> Response {
        // Each account costs a few rows: a smaller page than names alone.
        const PAGE: usize = 50;
        if !caller.role.is_admin() {
            return denied("only root or the admin group may list accounts");
        }
        let mut users = match self.store.list(after, PAGE + 1).await {
            Ok(u) => u,
            Err(e) => return store_failed(e),
        };
        let more = users.len() > PAGE;
        users.truncate(PAGE);
        let mut accounts = Vec::with_capacity(users.len());
        for user in users {
            match self.account_info(&user).await {
                Ok(Some(info)) => accounts.push(info),
                // Removed since the page was read.
                Ok(None) => {}
                Err(resp) => return resp,
            }
        }
        Response::AccountDetails { accounts, more }
    }

    pub(super) async fn bypass(
        self: &Arc<Self>,
        caller: &Caller,
        user: &str,
        minutes: Option<u32>,
    ) -> Response {
        let sub = match self.subject(caller, user, Need::Admin).await {
            Ok(s) => s,
            Err(resp) => return resp,
        };
        if sub.own && caller.role != Role::Root {
            return denied(
                "a temporary code for your own account must come from another administrator",
            );
        }
        let minutes = minutes.unwrap_or(BYPASS_DEFAULT_MINUTES);
        if !(1..=BYPASS_MAX_MINUTES).contains(&minutes) {
            return Response::error(
                ErrorCode::InvalidArgument,
                format!("--minutes must be 1..={BYPASS_MAX_MINUTES}"),
            );
        }
        let code = match recovery::generate() {
            Ok(c) => c,
            Err(e) => return internal(e),
        };
        let Some(normal) = recovery::normalize(&code) else {
            return internal("a generated code did not normalize");
        };
        let hash = self.rule.keys.recovery_hash(&sub.user, &normal);
        let secs = u64::from(minutes) * 60;
        let expires_at = self.clock.now() + secs as i64;
        match self.store.add_bypass(&sub.user, hash, expires_at).await {
            Ok(true) => {
                audit::admin(
                    &caller.peer,
                    &format!("bypass minutes={minutes}"),
                    &sub.user,
                );
                Response::Bypass {
                    code: Sensitive::new(code.as_str()),
                    expires_in_secs: secs,
                }
            }
            Ok(false) => Response::NotEnrolled,
            Err(e) => store_failed(e),
        }
    }
}
