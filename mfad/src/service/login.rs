//! The two requests on every login's path, `challenge` and `verify`, in a
//! blocking form (for tests and the blocking pool) and an async form (for
//! the server, so a login costs no hand-off to a blocking thread: the
//! store's writer thread wakes the connection's task directly).
//!
//! Root's logins (sshd, login, su, sudo) name the account as the user
//! typed it. Enrolled names are stored as NSS spells them, so a name that
//! is enrolled exactly as given is checked without asking NSS, which keeps
//! the name service (LDAP, sssd, nss-systemd) off the hot path. Any other
//! name is resolved through NSS and, if NSS spells it differently, tried
//! again under that spelling, so "ANN" still cannot dodge ann's enrollment.

use super::{internal, Service};
use crate::audit;
use crate::authz::{self, Peer};
use crate::clock::Clock;
use crate::limits::Gate;
use crate::policy::Verdict;
use crate::recovery;
use crate::store::{AttemptState, Effect, Store, StoreError};
use mfa_proto::{Challenge, LoginContext, Method, Response, Sensitive};
use std::sync::Arc;
use zeroize::Zeroizing;

/// A challenge or a verify, with the code as typed minus whitespace.
pub(super) enum Step {
    Challenge,
    Verify(Zeroizing<String>),
}

impl Step {
    pub(super) fn verify(code: &Sensitive) -> Step {
        Step::Verify(Zeroizing::new(
            code.expose()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect(),
        ))
    }
}

/// What a step decided inside the store.
pub(super) enum Decided {
    Challenge(Response),
    Verify(Verdict),
}

type Job = Box<dyn FnOnce(&AttemptState) -> (Decided, Vec<Effect>) + Send>;

fn not_enrolled(res: &Result<Decided, StoreError>) -> bool {
    matches!(
        res,
        Ok(Decided::Verify(Verdict::NotEnrolled))
            | Ok(Decided::Challenge(Response::Challenge {
                state: Challenge::NotEnrolled
            }))
    )
}

impl<S: Store, C: Clock> Service<S, C> {
    /// The decision to run in the store for `step` on account `user`.
    fn job(&self, user: &str, step: &Step) -> (bool, Job) {
        let now = self.clock.now();
        let policy = self.policy.clone();
        match step {
            Step::Challenge => (
                false,
                Box::new(move |st| {
                    let r = match (&st.enrollment, policy.gate(st, now)) {
                        (None, _) => Response::Challenge {
                            state: Challenge::NotEnrolled,
                        },
                        (Some(_), Gate::Locked) => Response::Locked,
                        (Some(_), Gate::Wait(n)) => Response::RateLimited {
                            retry_after_secs: n,
                        },
                        (Some(_), Gate::Open) => Response::Challenge {
                            state: Challenge::Ready,
                        },
                    };
                    (Decided::Challenge(r), vec![])
                }),
            ),
            Step::Verify(code) => {
                let code = code.clone();
                let recovery = recovery::normalize(&code);
                let owner = user.to_string();
                (
                    recovery.is_some(),
                    Box::new(move |st| {
                        let (v, effects) = policy.decide(
                            &owner,
                            st,
                            &code,
                            recovery.as_deref().map(String::as_str),
                            now,
                        );
                        (Decided::Verify(v), effects)
                    }),
                )
            }
        }
    }

    /// Run `step` for `user` and wait for the durable result.
    pub(super) fn attempt(
        &self,
        user: &str,
        step: &Step,
        ctx: &LoginContext,
    ) -> Result<Decided, StoreError> {
        let (want_recovery, job) = self.job(user, step);
        self.store
            .attempt(user, ctx.rhost.as_deref(), want_recovery, job)
    }

    async fn attempt_async(
        &self,
        user: &str,
        step: &Step,
        ctx: &LoginContext,
    ) -> Result<Decided, StoreError> {
        let (want_recovery, job) = self.job(user, step);
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.store
            .attempt_then(user, ctx.rhost.as_deref(), want_recovery, job, move |r| {
                let _ = tx.send(r);
            });
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Turn what the store decided into the answer, auditing every verify.
    pub(super) fn answer(
        &self,
        user: &str,
        step: &Step,
        ctx: &LoginContext,
        peer: &Peer,
        res: Result<Decided, StoreError>,
    ) -> Response {
        let Step::Verify(code) = step else {
            return match res {
                Ok(Decided::Challenge(r)) => r,
                Ok(Decided::Verify(_)) => internal("a challenge came back as a verify"),
                Err(e) => internal(e),
            };
        };
        let verdict = match res {
            Ok(Decided::Verify(v)) => v,
            Ok(Decided::Challenge(_)) => {
                Verdict::Broken("a verify came back as a challenge".into())
            }
            // A lost race on the conditional update means another login
            // used this very step or code first.
            Err(StoreError::Conflict) => Verdict::Replayed,
            Err(e) => Verdict::Broken(e.to_string()),
        };
        let method = if recovery::normalize(code).is_some() {
            Method::Recovery
        } else {
            Method::Totp
        };
        audit::attempt(user, ctx, peer, method, verdict_name(&verdict));
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

    /// A step from root, blocking.
    pub(super) fn root_login(
        &self,
        peer: &Peer,
        user: &str,
        step: &Step,
        ctx: &LoginContext,
    ) -> Response {
        let mut res = self.attempt(user, step, ctx);
        if not_enrolled(&res) {
            if let Some(canon) = authz::lookup(user).filter(|a| a.name != user) {
                res = self.attempt(&canon.name, step, ctx);
                return self.answer(&canon.name, step, ctx, peer, res);
            }
        }
        self.answer(user, step, ctx, peer, res)
    }

    /// A step from root, for the server: the NSS lookup (which may block on
    /// a directory server) runs on the blocking pool, and only when the
    /// name is not enrolled as given.
    pub(super) async fn root_login_async(
        self: &Arc<Self>,
        peer: &Peer,
        user: &str,
        step: &Step,
        ctx: &LoginContext,
    ) -> Response {
        let mut res = self.attempt_async(user, step, ctx).await;
        if not_enrolled(&res) {
            let name = user.to_string();
            let found = tokio::task::spawn_blocking(move || authz::lookup(&name)).await;
            if let Ok(Some(canon)) = found.map(|a| a.filter(|a| a.name != user)) {
                res = self.attempt_async(&canon.name, step, ctx).await;
                return self.answer(&canon.name, step, ctx, peer, res);
            }
        }
        self.answer(user, step, ctx, peer, res)
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
