//! Which account a request may act on, and under what name: root on
//! anyone; the admin group on anyone but root and members of protected
//! groups; anyone else on its own account only, checked against the
//! caller's own name without asking the name service about the name sent.

use super::{denied, internal, Service};
use crate::authz::{self, Caller, Role};
use crate::clock::Clock;
use crate::store::Store;
use mfa_proto::{ErrorCode, Response};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Need {
    OwnOrAdmin,
    Admin,
}

impl Subject {
    /// Whether `caller` must prove the account's current factor before
    /// changing what logs it in (replacing the enrollment, new recovery
    /// codes, a new phone): anyone but root acting on their own account,
    /// admins too, so a borrowed unlocked session cannot move the factor.
    pub fn needs_proof_from(&self, caller: &Caller) -> bool {
        caller.role != Role::Root && (self.own || caller.role == Role::User)
    }
}

/// The canonical name of the account a request acts on.
pub(super) struct Subject {
    pub user: String,
    /// Whether the name service knows the account.
    pub known: bool,
    /// Whether it is the caller's own account.
    pub own: bool,
}

impl<S: Store, C: Clock> Service<S, C> {
    /// Resolve the account `user` names for `caller`, or the refusal. An
    /// ordinary caller is decided at once; root and the admin group need
    /// the name service, which may block (LDAP), so it is asked on the
    /// blocking pool.
    pub(super) async fn subject(
        self: &Arc<Self>,
        caller: &Caller,
        user: &str,
        need: Need,
    ) -> Result<Subject, Response> {
        if caller.role == Role::User {
            return self.decide_subject(caller, user, need);
        }
        let (svc, c, u) = (self.clone(), caller.clone(), user.to_string());
        tokio::task::spawn_blocking(move || svc.decide_subject(&c, &u, need))
            .await
            .unwrap_or_else(|e| Err(internal(format!("name lookup failed: {e}"))))
    }

    fn decide_subject(&self, caller: &Caller, user: &str, need: Need) -> Result<Subject, Response> {
        authz::valid_user_name(user).map_err(|msg| Response::error(ErrorCode::InvalidUser, msg))?;
        if caller.role == Role::User {
            let own = caller.account.as_ref().filter(|a| a.name == user);
            return match (own, need) {
                (_, Need::Admin) => Err(denied("only root or the admin group may do that")),
                (Some(a), Need::OwnOrAdmin) => Ok(Subject {
                    user: a.name.clone(),
                    known: true,
                    own: true,
                }),
                (None, _) => Err(denied(format!(
                    "uid {} may act only on its own account",
                    caller.peer.uid
                ))),
            };
        }
        let account = self.dir.user_by_name(user).map_err(internal)?;
        let own = account.as_ref().is_some_and(|a| a.uid == caller.peer.uid);
        if caller.role == Role::Admin {
            if let Some(target) = account.as_ref().filter(|_| !own) {
                if target.uid == 0 {
                    return Err(denied("the admin group may not act on root's account"));
                }
                let protected = self.cfg.protected();
                if let Some(g) =
                    authz::member_of_any(&*self.dir, target, &protected).map_err(internal)?
                {
                    return Err(denied(format!(
                        "{} is in the protected group {g:?}: only root may manage that account",
                        target.name
                    )));
                }
            }
        }
        // Names the name service knows are keyed as it spells them, so
        // "ANN" cannot dodge ann's enrollment (and nullok) on a
        // case-insensitive directory.
        Ok(Subject {
            known: account.is_some(),
            user: account.map(|a| a.name).unwrap_or_else(|| user.to_string()),
            own,
        })
    }
}
