//! The two requests on every login's path, `challenge` and `verify`. They
//! run on the async threads: the store's writer thread wakes the
//! connection's task directly when the attempt is committed.
//!
//! Root's logins (sshd, login, su, sudo) name the account as the user
//! typed it. Enrolled names are stored as NSS spells them, so a name that
//! is enrolled exactly as given is checked without asking NSS, which keeps
//! the name service (LDAP, sssd, nss-systemd) off the hot path. Any other
//! name is resolved through NSS and, if NSS spells it differently, tried
//! again under that spelling, so "ANN" still cannot dodge ann's enrollment.

use super::at_login::is_not_enrolled;
use super::subject::Need;
use super::{internal, store_failed, Service};
use crate::audit;
use crate::authz::{Caller, Role};
use crate::backoff::{self, Gate};
use crate::clock::Clock;
use crate::login_rule::{LoginRule, Tried, Verdict};
use crate::recovery;
use crate::store::{AttemptFor, AttemptState, Effect, Store, StoreError};
use mfa_proto::{Challenge, LoginContext, Response, Sensitive};
use std::sync::Arc;
use zeroize::Zeroizing;

/// A challenge or a verify: the code as typed minus whitespace, and its
/// normal form if it has the shape of a recovery code.
pub(super) enum Step {
    Challenge,
    Verify {
        code: Zeroizing<String>,
        recovery: Option<Zeroizing<String>>,
        /// The phone code this answers (`phone_verify`).
        phone: Option<String>,
    },
}

impl Step {
    pub(super) fn verify(code: &Sensitive) -> Step {
        let code = clean_code(code);
        let recovery = recovery::normalize(&code);
        Step::Verify {
            code,
            recovery,
            phone: None,
        }
    }

    /// A code typed after a phone code was sent (`id`).
    pub(super) fn verify_phone(code: &Sensitive, id: &str) -> Step {
        match Step::verify(code) {
            Step::Verify { code, recovery, .. } => Step::Verify {
                code,
                recovery,
                phone: Some(id.to_string()),
            },
            other => other,
        }
    }
}

/// A code as typed, without the spaces people put in or apps show.
pub(super) fn clean_code(code: &Sensitive) -> Zeroizing<String> {
    Zeroizing::new(
        code.expose()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect(),
    )
}

/// What a step decided inside the store; a verify also says what the
/// code was checked as.
pub(super) enum Decided {
    Challenge(Response),
    Verify(Verdict, Tried),
}

/// The decision a step runs inside the store's transaction.
type Decision = Box<dyn FnOnce(&AttemptState) -> (Decided, Vec<Effect>) + Send>;

fn not_enrolled(res: &Result<Decided, StoreError>) -> bool {
    matches!(
        res,
        Ok(Decided::Verify(Verdict::NotEnrolled, _))
            | Ok(Decided::Challenge(Response::Challenge {
                state: Challenge::NotEnrolled,
                ..
            }))
    )
}

impl<S: Store, C: Clock> Service<S, C> {
    /// A login step for `caller` on the account `user` names; also the
    /// name the account was found under.
    pub(super) async fn login(
        self: &Arc<Self>,
        caller: &Caller,
        user: &str,
        step: Step,
        ctx: LoginContext,
    ) -> (Response, String) {
        if let Err(msg) = crate::authz::valid_user_name(user) {
            return (
                Response::error(mfa_proto::ErrorCode::InvalidUser, msg),
                user.into(),
            );
        }
        if caller.role == Role::Root {
            if let Step::Challenge = step {
                if let Some(resp) = self.exempt_login(user, &ctx, caller).await {
                    return (resp, user.into());
                }
            }
            let ctx = super::relayed::counted(caller, ctx);
            return self.root_login(caller, user, &step, &ctx).await;
        }
        let sub = match self.subject(caller, user, Need::OwnOrAdmin).await {
            Ok(s) => s,
            Err(resp) => return (resp, user.into()),
        };
        // An ordinary uid may only speak for itself: what it says about the
        // remote host would let it charge failures to someone else's.
        // Nor is its word taken for an exemption in the audit log.
        let ctx = match caller.role {
            Role::User => LoginContext {
                rhost: None,
                nullok: false,
                ..ctx
            },
            _ => ctx,
        };
        let ctx = super::relayed::counted(caller, ctx);
        let res = self.attempt(&sub.user, &step, &ctx).await;
        let resp = self.answer(&sub.user, &step, &ctx, caller, res);
        (resp, sub.user)
    }

    /// A verify of a code given as proof of the current enrollment (to
    /// replace it), through the same path as a login.
    pub(super) async fn prove(&self, caller: &Caller, user: &str, code: &Sensitive) -> Response {
        let step = Step::verify(code);
        let ctx = LoginContext {
            service: "mfa-enroll".into(),
            ..Default::default()
        };
        let res = self.attempt(user, &step, &ctx).await;
        self.answer(user, &step, &ctx, caller, res)
    }

    /// The decision to run in the store for `step` on account `user`.
    fn decision(&self, user: &str, step: &Step) -> (bool, Decision) {
        let now = self.clock.now();
        let rule = self.rule.clone();
        match step {
            Step::Challenge => (
                false,
                Box::new(move |st| {
                    let r = match (st.enrolled, rule.gate(st, now)) {
                        (false, _) => Response::Challenge {
                            state: Challenge::NotEnrolled,
                            push: None,
                            phone: vec![],
                        },
                        (true, Gate::Locked) => Response::Locked,
                        (true, Gate::Wait(n)) => Response::RateLimited {
                            retry_after_secs: n,
                        },
                        (true, Gate::Open) => Response::Challenge {
                            state: Challenge::Ready,
                            push: None,
                            phone: vec![],
                        },
                    };
                    (Decided::Challenge(r), vec![])
                }),
            ),
            Step::Verify { code, recovery, .. } => {
                let (code, recovery) = (code.clone(), recovery.clone());
                let owner = user.to_string();
                (
                    recovery.is_some(),
                    Box::new(move |st| {
                        let recovery = recovery.as_deref().map(String::as_str);
                        let (v, effects) = rule.decide_phone(&owner, st, &code, recovery, now);
                        let tried = LoginRule::tried(&st.authenticators, &code, recovery);
                        (Decided::Verify(v, tried), effects)
                    }),
                )
            }
        }
    }

    /// Run `step` for `user` and wait for the durable result.
    async fn attempt(
        &self,
        user: &str,
        step: &Step,
        ctx: &LoginContext,
    ) -> Result<Decided, StoreError> {
        let (want_recovery, decision) = self.decision(user, step);
        let about = AttemptFor {
            user: user.to_string(),
            rhost: ctx.rhost.clone(),
            want_recovery,
            count_recovery: matches!(step, Step::Verify { .. }),
            phone_code: match step {
                Step::Verify { phone, .. } => phone.clone(),
                Step::Challenge => None,
            },
            now: self.clock.now(),
            hosts_since: backoff::hosts_since(&self.cfg.limits, self.clock.now()),
        };
        self.store.attempt(about, decision).await
    }

    /// Turn what the store decided into the answer, auditing every verify.
    pub(super) fn answer(
        &self,
        user: &str,
        step: &Step,
        ctx: &LoginContext,
        caller: &Caller,
        res: Result<Decided, StoreError>,
    ) -> Response {
        let Step::Verify { recovery, .. } = step else {
            return match res {
                Ok(Decided::Challenge(r)) => {
                    // Site policy decides what root's login of an account
                    // with no enrollment gets: it outranks `nullok`.
                    let r = match caller.role {
                        Role::Root if is_not_enrolled(&r) => self.unenrolled(ctx).unwrap_or(r),
                        _ => r,
                    };
                    let outcome = match &r {
                        Response::Exempt { reason } => Some(format!("exempt reason={reason}")),
                        Response::EnrollAtLogin(o) => {
                            Some(format!("enroll_offered skip_allowed={}", o.skip_allowed))
                        }
                        r if is_not_enrolled(r) && ctx.nullok => {
                            Some("exempt reason=nullok_not_enrolled".into())
                        }
                        r if is_not_enrolled(r) => Some("not_enrolled".into()),
                        Response::Locked => Some("locked".into()),
                        Response::RateLimited { .. } => Some("rate_limited".into()),
                        _ => None,
                    };
                    if let Some(outcome) = outcome {
                        audit::challenge(user, ctx, &caller.peer, &outcome);
                    }
                    r
                }
                Ok(Decided::Verify(..)) => internal("a challenge came back as a verify"),
                Err(e) => store_failed(e),
            };
        };
        let shape = if recovery.is_some() {
            Tried::Recovery
        } else {
            Tried::Totp
        };
        let (verdict, tried) = match res {
            Ok(Decided::Verify(v, tried)) => (v, tried),
            Ok(Decided::Challenge(_)) => (
                Verdict::Broken("a verify came back as a challenge".into()),
                shape,
            ),
            // A lost race on the conditional update means another login
            // used this very step or code first.
            Err(StoreError::Conflict) => (Verdict::Replayed, shape),
            Err(e) if e.is_unavailable() => {
                audit::attempt(user, ctx, &caller.peer, shape.as_str(), "unavailable");
                return store_failed(e);
            }
            Err(e) => (Verdict::Broken(e.to_string()), shape),
        };
        let method = match &verdict {
            Verdict::Ok(m, _) => audit::method_name(*m),
            _ => tried.as_str(),
        };
        let outcome = match verdict {
            // The module lets this one through (PAM_IGNORE): an exemption.
            Verdict::NotEnrolled if ctx.nullok => "exempt reason=nullok_not_enrolled",
            _ => verdict_name(&verdict),
        };
        audit::attempt(user, ctx, &caller.peer, method, outcome);
        match verdict {
            Verdict::Ok(method, left) => Response::Verified {
                method,
                recovery_codes_left: left,
            },
            Verdict::Wrong(Gate::Locked) | Verdict::Limited(Gate::Locked) => Response::Locked,
            Verdict::Wrong(Gate::Wait(n)) => Response::WrongCode {
                retry_after_secs: Some(n),
            },
            Verdict::Wrong(Gate::Open) => Response::WrongCode {
                retry_after_secs: None,
            },
            Verdict::Limited(Gate::Wait(n)) => Response::RateLimited {
                retry_after_secs: n,
            },
            Verdict::Limited(Gate::Open) => Response::RateLimited {
                retry_after_secs: 1,
            },
            Verdict::Replayed => Response::Replayed,
            Verdict::NotEnrolled => Response::NotEnrolled,
            Verdict::Broken(e) => internal(e),
        }
    }

    /// A step from root. The NSS lookup (which may block on a directory
    /// server) runs on the blocking pool, and only when the name is not
    /// enrolled as given.
    async fn root_login(
        self: &Arc<Self>,
        caller: &Caller,
        user: &str,
        step: &Step,
        ctx: &LoginContext,
    ) -> (Response, String) {
        let res = self.attempt(user, step, ctx).await;
        if !not_enrolled(&res) {
            return (self.answer(user, step, ctx, caller, res), user.into());
        }
        let (dir, name) = (self.dir.clone(), user.to_string());
        match tokio::task::spawn_blocking(move || dir.user_by_name(&name)).await {
            Ok(Ok(Some(canon))) if canon.name != user => {
                let res = self.attempt(&canon.name, step, ctx).await;
                let resp = self.answer(&canon.name, step, ctx, caller, res);
                (resp, canon.name)
            }
            Ok(Ok(_)) => (self.answer(user, step, ctx, caller, res), user.into()),
            // Not "not enrolled": with nullok that would let the login in.
            Ok(Err(e)) => (internal(e), user.into()),
            Err(e) => (internal(format!("name lookup failed: {e}")), user.into()),
        }
    }
}

fn verdict_name(v: &Verdict) -> &'static str {
    match v {
        Verdict::Ok(..) => "success",
        Verdict::Wrong(Gate::Locked) => "wrong_code_locked",
        Verdict::Wrong(_) => "wrong_code",
        Verdict::Replayed => "replayed",
        Verdict::Limited(Gate::Locked) => "locked",
        Verdict::Limited(_) => "rate_limited",
        Verdict::NotEnrolled => "not_enrolled",
        Verdict::Broken(_) => "error",
    }
}
