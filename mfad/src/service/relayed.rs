//! What a lab machine may ask on behalf of its callers. A lab machine's
//! root is only as trustworthy as the machine (a student can boot it from
//! a USB stick), so through a relay: root may only log users in, not
//! manage accounts, unless the host is in `remote.admin_hosts`; the admin
//! group is an ordinary user there too (`Caller::relayed`); nobody there
//! may remove a method (it takes no code, and the uid is the lab
//! machine's claim); a first enrollment may be limited to
//! `remote.enroll_hosts`; and failures are
//! counted per lab machine, so one cannot spread guesses under made-up
//! client addresses. Replacing an enrollment still needs a current code,
//! as on one host.

use super::{denied, store_failed, Service};
use crate::authz::{Caller, Role};
use crate::clock::Clock;
use crate::store::Store;
use mfa_proto::{LoginContext, Request, Response};
use std::sync::Arc;

/// What a login needs: all a relayed root may ask from a host that is
/// not an admin host.
fn login_path(req: &Request) -> bool {
    matches!(
        req,
        Request::Hello { .. }
            | Request::Challenge { .. }
            | Request::Verify { .. }
            | Request::PushStart { .. }
            | Request::PushWait { .. }
            | Request::LoginEnrollBegin { .. }
            | Request::LoginEnrollConfirm { .. }
            | Request::LoginEnrollSkip { .. }
            | Request::PhoneStart { .. }
            | Request::PhoneVerify { .. }
    )
}

/// Whether a request takes a way in away from an account. It needs no
/// code (it adds no way in), so through a relay it would be the lab
/// machine's word alone about whose account it is.
fn removes(req: &Request) -> bool {
    matches!(
        req,
        Request::MethodChange {
            change: mfa_proto::methods::MethodChange::Remove,
            ..
        } | Request::PhoneRemove { .. }
            | Request::PushRemove { .. }
    )
}

/// The account a request would give a first way in, if it can.
fn first_way_in(req: &Request) -> Option<&str> {
    match req {
        Request::EnrollBegin { user, .. }
        | Request::LoginEnrollBegin { user, .. }
        | Request::PhoneAdd { user, .. }
        | Request::PushAdd { user, .. } => Some(user),
        _ => None,
    }
}

impl<S: Store, C: Clock> Service<S, C> {
    /// Refuse what `req` may not do through the relay `caller` came by.
    pub(super) async fn relay_allows(
        self: &Arc<Self>,
        caller: &Caller,
        req: &Request,
    ) -> Result<(), Response> {
        let Some(via) = &caller.via else {
            return Ok(());
        };
        // Whoever is root on a lab machine can claim any uid, and with a
        // stolen password see the number its own login shows: answering
        // a push through a relay would skip the second factor.
        if matches!(
            req,
            Request::PushPending { .. } | Request::PushAnswer { .. }
        ) {
            return Err(denied(format!(
                "pushes cannot be seen or answered through lab machine {}: answer on your phone",
                via.host
            )));
        }
        if caller.role == Role::Root && !via.admin && !login_path(req) {
            return Err(denied(format!(
                "root on lab machine {} may only log users in; manage accounts on a central mfad, or from a host in its [remote] admin_hosts",
                via.host
            )));
        }
        if !via.admin && removes(req) {
            return Err(denied(format!(
                "methods cannot be removed from lab machine {}: a lab machine can claim to be anyone; use a central mfad or a host in its [remote] admin_hosts",
                via.host
            )));
        }
        if let (false, Some(user)) = (via.enroll, first_way_in(req)) {
            let enrolled = match self.store.summary(user).await {
                Ok(s) => s.is_some(),
                Err(e) => return Err(store_failed(e)),
            };
            if !enrolled {
                eprintln!(
                    "mfad: audit: action=first-enrollment outcome=refused user={user:?} via={:?} reason=not-in-enroll_hosts",
                    via.host
                );
                return Err(denied(format!(
                    "{user} has no second factor yet, and a first one cannot be set up from lab machine {}; ask the help desk where to enroll",
                    via.host
                )));
            }
        }
        Ok(())
    }
}

/// The context a relayed login's failures are counted under: the client
/// address as the lab machine reports it, qualified by the lab machine
/// that reported it (console logins: the lab machine alone). A lab
/// machine's word about the address is all there is; qualifying it keeps
/// one machine from charging failures to an address seen elsewhere.
pub(super) fn counted(caller: &Caller, ctx: LoginContext) -> LoginContext {
    let Some(via) = &caller.via else {
        return ctx;
    };
    let rhost = match &ctx.rhost {
        Some(r) => format!("{r}@{}", via.host),
        None => format!("@{}", via.host),
    };
    LoginContext {
        rhost: Some(rhost),
        ..ctx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::{Peer, Via};

    fn caller(via: Option<&str>) -> Caller {
        Caller {
            peer: Peer {
                uid: 0,
                gid: 0,
                pid: None,
            },
            role: Role::Root,
            account: None,
            via: via.map(|h| {
                Arc::new(Via {
                    host: h.into(),
                    admin: false,
                    enroll: true,
                })
            }),
        }
    }

    #[test]
    fn failures_through_a_relay_are_counted_under_its_name() {
        let ctx = |rhost: Option<&str>| LoginContext {
            rhost: rhost.map(str::to_string),
            ..Default::default()
        };
        let lab = caller(Some("lab-17"));
        assert_eq!(
            counted(&lab, ctx(Some("10.1.2.3"))).rhost.as_deref(),
            Some("10.1.2.3@lab-17")
        );
        assert_eq!(counted(&lab, ctx(None)).rhost.as_deref(), Some("@lab-17"));
        let local = caller(None);
        assert_eq!(
            counted(&local, ctx(Some("10.1.2.3"))).rhost.as_deref(),
            Some("10.1.2.3")
        );
        assert_eq!(counted(&local, ctx(None)).rhost, None);
    }
}
