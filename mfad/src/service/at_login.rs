//! Site policy on the login path: exemptions decided before a code is
//! asked for, and "more information required", the enrollment of an
//! account with none inside the login itself (`login_enroll_*`). Only
//! root's logins get either: a client running as the user could claim
//! any service or remote host.

use super::subject::{Need, Subject};
use super::{denied, internal, store_failed, Service};
use crate::audit;
use crate::authz::{self, Caller, Role};
use crate::clock::Clock;
use crate::site_policy::{Exemption, ServiceRule};
use crate::store::Store;
use mfa_proto::at_login::EnrollOffer;
use mfa_proto::{Challenge, EnrollParams, ErrorCode, LoginContext, Response, Sensitive};
use std::sync::Arc;

impl<S: Store, C: Clock> Service<S, C> {
    /// The exemption that applies to root's login of `user`, answered and
    /// audited; None when the login must go on. A failed group lookup
    /// refuses the login rather than guess.
    pub(super) async fn exempt_login(
        self: &Arc<Self>,
        user: &str,
        ctx: &LoginContext,
        caller: &Caller,
    ) -> Option<Response> {
        let policy = &self.cfg.policy;
        let found = match policy.exempt_without_groups(&ctx.service, ctx.rhost.as_deref()) {
            Some(e) => Ok(Some(e)),
            None if policy.exempt_groups.is_empty() => Ok(None),
            None => {
                let (svc, name) = (self.clone(), user.to_string());
                tokio::task::spawn_blocking(move || {
                    let Some(account) = svc.dir.user_by_name(&name)? else {
                        return Ok(None);
                    };
                    let groups = &svc.cfg.policy.exempt_groups;
                    authz::member_of_any(&*svc.dir, &account, groups)
                        .map(|g| g.map(Exemption::Group))
                })
                .await
                .unwrap_or_else(|e| Err(format!("group lookup failed: {e}")))
            }
        };
        match found {
            Ok(Some(e)) => {
                let reason = e.reason();
                audit::challenge(user, ctx, &caller.peer, &format!("exempt reason={reason}"));
                Some(Response::Exempt { reason })
            }
            Ok(None) => None,
            Err(e) => Some(internal(e)),
        }
    }

    /// What root's login of an unenrolled account gets instead of "not
    /// enrolled", by the policy for its service: an enrollment now, an
    /// exemption (an optional service), or None (refused, or `nullok`).
    pub(super) fn unenrolled(&self, ctx: &LoginContext) -> Option<Response> {
        let rule = self.cfg.policy.rule(&ctx.service);
        match self.cfg.enrollment.offer(rule, self.clock.now()) {
            Some(offer) => Some(Response::EnrollAtLogin(offer)),
            None if rule == ServiceRule::Optional => Some(Response::Exempt {
                reason: format!("not_enrolled optional_service={:?}", ctx.service),
            }),
            None => None,
        }
    }

    /// The offer a `login_enroll_*` request acts under, decided again now
    /// (the deadline may have passed since the challenge), for an account
    /// the name service knows and that has no enrollment.
    async fn offer_for(
        self: &Arc<Self>,
        caller: &Caller,
        user: &str,
        ctx: &LoginContext,
    ) -> Result<(Subject, EnrollOffer), Response> {
        if caller.role != Role::Root {
            return Err(denied(
                "only root's logins (the PAM module) enroll during a login; use 'mfa enroll'",
            ));
        }
        let sub = self.subject(caller, user, Need::OwnOrAdmin).await?;
        if !sub.known {
            return Err(denied(
                "no such user: only accounts the name service knows enroll at login",
            ));
        }
        let offer = match self.unenrolled(ctx) {
            Some(Response::EnrollAtLogin(o)) => o,
            _ => {
                return Err(denied(format!(
                    "enrollment during a login is off for service {:?} ([enrollment] mode)",
                    ctx.service
                )))
            }
        };
        match self.store.summary(&sub.user).await {
            Ok(None) => Ok((sub, offer)),
            Ok(Some(_)) => Err(Response::error(
                ErrorCode::AlreadyEnrolled,
                "this account has a second factor now: log in again to use it",
            )),
            Err(e) => Err(store_failed(e)),
        }
    }

    pub(super) async fn login_enroll_begin(
        self: &Arc<Self>,
        caller: &Caller,
        user: &str,
        ctx: &LoginContext,
    ) -> Response {
        let (sub, _) = match self.offer_for(caller, user, ctx).await {
            Ok(o) => o,
            Err(resp) => return resp,
        };
        let resp = self
            .begin(Role::Root, &sub.user, EnrollParams::default(), true)
            .await;
        if matches!(resp, Response::Enrollment { .. }) {
            audit::at_login(&sub.user, ctx, &caller.peer, "started");
        }
        resp
    }

    pub(super) async fn login_enroll_confirm(
        self: &Arc<Self>,
        caller: &Caller,
        user: &str,
        code: &Sensitive,
        ctx: &LoginContext,
    ) -> Response {
        let (sub, _) = match self.offer_for(caller, user, ctx).await {
            Ok(o) => o,
            Err(resp) => return resp,
        };
        let user = sub.user.as_str();
        let pending = match self.live_pending(user).await {
            Ok(p) => p,
            Err(resp) => return resp,
        };
        // Replaces nothing: an enrollment made meanwhile (by 'mfa enroll',
        // another login) makes this one fail instead of replacing it.
        match self
            .finish(user, &pending, code, super::enroll::Joins::Replace(None))
            .await
        {
            Ok(codes) => {
                audit::at_login(user, ctx, &caller.peer, "enrolled");
                Response::Enrolled {
                    recovery_codes: codes,
                }
            }
            Err(resp) => {
                let what = match resp {
                    Response::WrongCode { .. } => "wrong_code",
                    _ => "failed",
                };
                audit::at_login(user, ctx, &caller.peer, what);
                resp
            }
        }
    }

    pub(super) async fn login_enroll_skip(
        self: &Arc<Self>,
        caller: &Caller,
        user: &str,
        ctx: &LoginContext,
    ) -> Response {
        let (sub, offer) = match self.offer_for(caller, user, ctx).await {
            Ok(o) => o,
            Err(resp) => return resp,
        };
        if offer.skip_allowed {
            let reason = "enrollment_skipped".to_string();
            audit::challenge(
                &sub.user,
                ctx,
                &caller.peer,
                &format!("exempt reason={reason}"),
            );
            return Response::Exempt { reason };
        }
        audit::at_login(&sub.user, ctx, &caller.peer, "skip_refused");
        let since = offer
            .deadline
            .map(|d| format!(" since {d}"))
            .unwrap_or_default();
        denied(format!(
            "Registration is required{since}: finish the setup to log in."
        ))
    }
}

/// Whether a challenge's answer says "not enrolled".
pub(super) fn is_not_enrolled(r: &Response) -> bool {
    matches!(
        r,
        Response::Challenge {
            state: Challenge::NotEnrolled,
            ..
        }
    )
}
