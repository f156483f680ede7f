//! The two requests on every login's path, `challenge` and `verify`, in a
//! blocking form ([`Service::handle`]: non-root callers on the blocking
//! pool, and tests) and an async form (root's logins in the server, so a
//! login costs no hand-off to a blocking thread: the store's writer thread
//! wakes the connection's task directly). Both forms share every decision
//! and are tested against each other.
//!
//! Root's logins (sshd, login, su, sudo) name the account as the user
//! typed it. Enrolled names are stored as NSS spells them, so a name that
//! is enrolled exactly as given is checked without asking NSS, which keeps
//! the name service (LDAP, sssd, nss-systemd) off the hot path. Any other
//! name is resolved through NSS and, if NSS spells it differently, tried
//! again under that spelling, so "ANN" still cannot dodge ann's enrollment.

use super::{internal, Service};
use crate::audit;
use crate::authz::Peer;
use crate::clock::Clock;
use crate::limits::Gate;
use crate::policy::Verdict;
use crate::recovery;
use crate::store::{AttemptState, Effect, Store, StoreError};
use mfa_proto::{Challenge, LoginContext, Method, Response, Sensitive};
use std::sync::Arc;
use zeroize::Zeroizing;

/// A challenge or a verify: the code as typed minus whitespace, and its
/// normal form if it has the shape of a recovery code.
pub(super) enum Step {
    Challenge,
    Verify {
        code: Zeroizing<String>,
        recovery: Option<Zeroizing<String>>,
    },
}

impl Step {
    pub(super) fn verify(code: &Sensitive) -> Step {
        let code = clean_code(code);
        let recovery = recovery::normalize(&code);
        Step::Verify { code, recovery }
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
            Step::Verify { code, recovery } => {
                let (code, recovery) = (code.clone(), recovery.clone());
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
        rx.await.map_err(|_| StoreError::NotRun)?
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
        let Step::Verify { recovery, .. } = step else {
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
        let method = if recovery.is_some() {
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
        let res = self.attempt(user, step, ctx);
        if !not_enrolled(&res) {
            return self.answer(user, step, ctx, peer, res);
        }
        match (self.names)(user) {
            Ok(Some(canon)) if canon.name != user => {
                let res = self.attempt(&canon.name, step, ctx);
                self.answer(&canon.name, step, ctx, peer, res)
            }
            Ok(_) => self.answer(user, step, ctx, peer, res),
            // Not "not enrolled": with nullok that would let the login in.
            Err(e) => internal(e),
        }
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
        let res = self.attempt_async(user, step, ctx).await;
        if !not_enrolled(&res) {
            return self.answer(user, step, ctx, peer, res);
        }
        let (names, name) = (self.names, user.to_string());
        match tokio::task::spawn_blocking(move || names(&name)).await {
            Ok(Ok(Some(canon))) if canon.name != user => {
                let res = self.attempt_async(&canon.name, step, ctx).await;
                self.answer(&canon.name, step, ctx, peer, res)
            }
            Ok(Ok(_)) => self.answer(user, step, ctx, peer, res),
            // Not "not enrolled": with nullok that would let the login in.
            Ok(Err(e)) => internal(e),
            Err(e) => internal(format!("name lookup failed: {e}")),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::Account;
    use crate::clock::ManualClock;
    use crate::config::Config;
    use crate::crypto::Keys;
    use crate::store::SqliteStore;
    use mfa_proto::{EnrollParams, ErrorCode, Request};

    const T0: i64 = 2_000_000_010;
    const SECRET: [u8; 20] = [7; 20];

    /// A directory where "ANN" is another spelling of ann and one name
    /// makes the directory fail.
    fn directory(name: &str) -> Result<Option<Account>, String> {
        match name {
            "ann" | "ANN" => Ok(Some(Account {
                name: "ann".into(),
                uid: 1001,
            })),
            "broken" => Err("the directory server is down".into()),
            _ => Ok(None),
        }
    }

    type Svc = Arc<Service<SqliteStore, ManualClock>>;

    fn service(dir: &std::path::Path) -> Result<Svc, Box<dyn std::error::Error>> {
        let cfg = Config {
            admin_group: "root".into(),
            ..Config::default()
        };
        let store = SqliteStore::open(dir)?;
        let keys = Keys::from_master(&[1; 32]);
        let svc = Service::new(store, keys, cfg, ManualClock::new(T0)).with_lookup(directory);
        Ok(Arc::new(svc))
    }

    const ROOT: Peer = Peer {
        uid: 0,
        gid: 0,
        pid: None,
    };

    fn code_at(t: i64) -> Sensitive {
        let p = crate::otp::Params {
            algorithm: mfa_proto::Algorithm::Sha1,
            digits: 6,
            period: 30,
            skew: 1,
        };
        // An unbuildable TOTP yields a code that cannot verify.
        Sensitive::new(
            crate::otp::build(&SECRET, p)
                .map(|totp| totp.generate(t as u64).to_string())
                .unwrap_or_default(),
        )
    }

    /// Ask through the blocking path or through the server's async path.
    fn ask(svc: &Svc, peer: Peer, req: Request, via_async: bool) -> Response {
        if !via_async {
            return svc.handle(&peer, req);
        }
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt.block_on(svc.handle_async(peer, req)),
            Err(e) => Response::error(ErrorCode::Internal, format!("no runtime: {e}")),
        }
    }

    fn enroll(svc: &Svc, user: &str) -> Response {
        let begin = Request::EnrollBegin {
            user: user.into(),
            params: EnrollParams {
                secret: Some(Sensitive::new(crate::otp::base32(&SECRET))),
                ..Default::default()
            },
        };
        assert!(matches!(
            svc.handle(&ROOT, begin),
            Response::Enrollment { .. }
        ));
        // The previous step's code confirms, so the current one is fresh.
        svc.handle(
            &ROOT,
            Request::EnrollConfirm {
                user: user.into(),
                code: code_at(T0 - 30),
                current_code: None,
            },
        )
    }

    fn verify(user: &str, code: Sensitive) -> Request {
        Request::Verify {
            user: user.into(),
            code,
            context: LoginContext {
                service: "sshd".into(),
                ..Default::default()
            },
        }
    }

    fn challenge(user: &str) -> Request {
        Request::Challenge {
            user: user.into(),
            context: Default::default(),
        }
    }

    fn is_internal(r: &Response) -> bool {
        matches!(
            r,
            Response::Error {
                code: ErrorCode::Internal,
                ..
            }
        )
    }

    #[test]
    fn root_logins_reach_the_account_nss_names_and_fail_closed_when_it_cannot_answer(
    ) -> Result<(), Box<dyn std::error::Error>> {
        for via_async in [false, true] {
            let dir = tempfile::tempdir()?;
            let svc = service(dir.path())?;
            // Enrolled under NSS's spelling, whatever spelling was given.
            assert!(matches!(enroll(&svc, "ANN"), Response::Enrolled { .. }));
            assert!(svc.store().summary("ann")?.is_some());
            assert!(svc.store().summary("ANN")?.is_none());

            // "ANN" is not enrolled as given, so it is resolved to ann.
            let ready = ask(&svc, ROOT, challenge("ANN"), via_async);
            assert!(
                matches!(
                    ready,
                    Response::Challenge {
                        state: Challenge::Ready
                    }
                ),
                "{ready:?}"
            );
            let ok = ask(&svc, ROOT, verify("ANN", code_at(T0)), via_async);
            assert!(matches!(ok, Response::Verified { .. }), "{ok:?}");
            // It was ann's step that was spent, whichever spelling asks.
            let again = ask(&svc, ROOT, verify("ann", code_at(T0)), via_async);
            assert_eq!(again, Response::Replayed);
            let next = ask(&svc, ROOT, verify("ann", code_at(T0 + 30)), via_async);
            assert!(matches!(next, Response::Verified { .. }), "{next:?}");

            // Unknown to NSS and not enrolled: not enrolled.
            let none = ask(&svc, ROOT, challenge("nobody"), via_async);
            assert!(matches!(
                none,
                Response::Challenge {
                    state: Challenge::NotEnrolled
                }
            ));
            assert_eq!(
                ask(&svc, ROOT, verify("nobody", code_at(T0)), via_async),
                Response::NotEnrolled
            );
            // A directory that cannot answer must not read as "not
            // enrolled", which nullok would let in.
            let c = ask(&svc, ROOT, challenge("broken"), via_async);
            assert!(is_internal(&c), "{c:?}");
            let v = ask(&svc, ROOT, verify("broken", code_at(T0)), via_async);
            assert!(is_internal(&v), "{v:?}");
        }
        Ok(())
    }

    #[test]
    fn only_root_enrolls_names_the_directory_does_not_know(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let svc = service(dir.path())?;
        // gid 0 is the admin group ("root") in this configuration.
        let admin = Peer {
            uid: 1002,
            gid: 0,
            pid: None,
        };
        let begin = |user: &str| Request::EnrollBegin {
            user: user.into(),
            params: EnrollParams::default(),
        };
        let refused = svc.handle(&admin, begin("ghost"));
        assert!(
            matches!(
                &refused,
                Response::Error {
                    code: ErrorCode::PermissionDenied,
                    message
                } if message.contains("no such user")
            ),
            "{refused:?}"
        );
        // Nor finish one that root started for such a name.
        assert!(matches!(
            svc.handle(&ROOT, begin("ghost")),
            Response::Enrollment { .. }
        ));
        let confirm = Request::EnrollConfirm {
            user: "ghost".into(),
            code: code_at(T0),
            current_code: None,
        };
        assert!(matches!(
            svc.handle(&admin, confirm),
            Response::Error {
                code: ErrorCode::PermissionDenied,
                ..
            }
        ));
        assert!(matches!(
            svc.handle(&admin, begin("ANN")),
            Response::Enrollment { .. }
        ));
        assert!(matches!(enroll(&svc, "ghost"), Response::Enrolled { .. }));
        // Root's own row for a name NSS does not know is used as given.
        let ok = svc.handle(&ROOT, verify("ghost", code_at(T0)));
        assert!(matches!(ok, Response::Verified { .. }), "{ok:?}");
        Ok(())
    }
}
