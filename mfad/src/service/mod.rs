//! Every policy decision: who may do what, how a code is checked, when an
//! attempt is refused. [`Service::handle`] is synchronous, so tests call it
//! directly; the server uses [`Service::handle_async`], which answers
//! root's logins without leaving the async threads and runs everything
//! else on the blocking pool.

mod login;

use crate::audit;
use crate::authz::{self, Peer, Role};
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::Keys;
use crate::limits::{self, Gate};
use crate::otp::{self, Params};
use crate::policy::{sealed_context, Policy};
use crate::recovery;
use crate::store::{Enrollment, Expect, Pending, Store, StoreError};
use login::Step;
use mfa_proto::{EnrollParams, ErrorCode, LoginContext, Request, Response, Sensitive, StatusInfo};
use std::sync::Arc;
use zeroize::Zeroizing;

pub struct Service<S, C> {
    store: S,
    policy: Arc<Policy>,
    cfg: Config,
    clock: C,
    hostname: String,
    names: authz::Lookup,
}

/// Root's `challenge` or `verify` as a login step (see [`login`]); None
/// for anything else, which goes through [`Service::subject`].
fn root_login_step<'a>(
    peer: &Peer,
    req: &'a Request,
) -> Option<Result<(&'a str, Step, &'a LoginContext), Response>> {
    if peer.uid != 0 {
        return None;
    }
    let (user, step, ctx) = match req {
        Request::Challenge { user, context } => (user, Step::Challenge, context),
        Request::Verify {
            user,
            code,
            context,
        } => (user, Step::verify(code), context),
        _ => return None,
    };
    Some(
        authz::valid_user_name(user)
            .map(|()| (user.as_str(), step, ctx))
            .map_err(|msg| Response::error(ErrorCode::InvalidUser, msg)),
    )
}

fn internal(e: impl std::fmt::Display) -> Response {
    eprintln!("mfad: internal error: {e}");
    Response::error(ErrorCode::Internal, "internal error in mfad; see its log")
}

fn denied(msg: impl Into<String>) -> Response {
    Response::error(ErrorCode::PermissionDenied, msg)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    OwnOrAdmin,
    Admin,
}

/// The caller's role and the canonical name of the account it acts on.
struct Subject {
    role: Role,
    user: String,
    /// Whether the name service knows the account.
    known: bool,
}

impl<S: Store, C: Clock> Service<S, C> {
    pub fn new(store: S, keys: Keys, cfg: Config, clock: C) -> Self {
        let hostname = if cfg.hostname.is_empty() {
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "localhost".into())
        } else {
            cfg.hostname.clone()
        };
        let policy = Arc::new(Policy {
            keys,
            limits: cfg.limits.clone(),
            skew: cfg.totp.skew,
        });
        Service {
            store,
            policy,
            cfg,
            clock,
            hostname,
            names: authz::lookup,
        }
    }

    /// Resolve account names with `names` instead of NSS (for tests).
    pub fn with_lookup(mut self, names: authz::Lookup) -> Self {
        self.names = names;
        self
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Answer one request from `peer`, on the async threads when it is one
    /// of root's logins and on the blocking pool otherwise.
    pub async fn handle_async(self: &Arc<Self>, peer: Peer, req: Request) -> Response {
        match root_login_step(&peer, &req) {
            Some(Ok((user, step, ctx))) => self.root_login_async(&peer, user, &step, ctx).await,
            Some(Err(resp)) => resp,
            None => {
                let service = self.clone();
                tokio::task::spawn_blocking(move || service.handle(&peer, req))
                    .await
                    .unwrap_or_else(|e| internal(format!("request handler failed: {e}")))
            }
        }
    }

    /// Answer one request from `peer`. `hello` is the server's business.
    pub fn handle(&self, peer: &Peer, req: Request) -> Response {
        if let Request::List { after } = &req {
            return self.list(peer, after);
        }
        match root_login_step(peer, &req) {
            Some(Ok((user, step, ctx))) => return self.root_login(peer, user, &step, ctx),
            Some(Err(resp)) => return resp,
            None => {}
        }
        let (user, need) = match &req {
            Request::Hello { .. } | Request::List { .. } => {
                return Response::error(ErrorCode::BadRequest, "hello was already exchanged")
            }
            Request::Remove { user } | Request::Unlock { user } => (user, Need::Admin),
            Request::Challenge { user, .. }
            | Request::Verify { user, .. }
            | Request::EnrollBegin { user, .. }
            | Request::EnrollConfirm { user, .. }
            | Request::Status { user } => (user, Need::OwnOrAdmin),
        };
        let sub = match self.subject(peer, user, need) {
            Ok(s) => s,
            Err(resp) => return resp,
        };
        let user = sub.user.as_str();
        // An ordinary uid may only speak for itself: what it says about the
        // remote host would let it charge failures to someone else's.
        let own_context = |ctx: LoginContext| match sub.role {
            Role::User => LoginContext { rhost: None, ..ctx },
            _ => ctx,
        };
        match req {
            Request::Challenge { context, .. } => {
                self.login(user, &Step::Challenge, &own_context(context), peer)
            }
            Request::Verify { code, context, .. } => {
                self.login(user, &Step::verify(&code), &own_context(context), peer)
            }
            // Only root may enroll a name the name service does not know
            // (an account of another system, a test): a row under a
            // spelling NSS does not give could later start to decide
            // logins for an account it turns into an alias of.
            Request::EnrollBegin { .. } | Request::EnrollConfirm { .. }
                if !sub.known && sub.role != Role::Root =>
            {
                denied("no such user: only root may enroll a name the name service does not know")
            }
            Request::EnrollBegin { params, .. } => self.enroll_begin(sub.role, user, params),
            Request::EnrollConfirm {
                code, current_code, ..
            } => self.enroll_confirm(sub.role, user, &code, current_code.as_ref(), peer),
            Request::Status { .. } => self.status(user),
            Request::Remove { .. } => match self.store.remove(user) {
                Ok(true) => {
                    audit::admin(peer, "remove", user);
                    Response::Done
                }
                Ok(false) => Response::NotEnrolled,
                Err(e) => internal(e),
            },
            Request::Unlock { .. } => match self.store.unlock(user) {
                Ok(true) => {
                    audit::admin(peer, "unlock", user);
                    Response::Done
                }
                Ok(false) => Response::NotEnrolled,
                Err(e) => internal(e),
            },
            Request::Hello { .. } | Request::List { .. } => {
                Response::error(ErrorCode::BadRequest, "hello was already exchanged")
            }
        }
    }

    fn list(&self, peer: &Peer, after: &str) -> Response {
        // Sized so a page of long names stays far below the frame limit.
        const PAGE: usize = 200;
        if !authz::role(peer, &self.cfg.admin_group).is_admin() {
            return denied("only root or the admin group may list accounts");
        }
        match self.store.list(after, PAGE + 1) {
            Ok(mut users) => {
                let more = users.len() > PAGE;
                users.truncate(PAGE);
                Response::Accounts { users, more }
            }
            Err(e) => internal(e),
        }
    }

    /// Resolve the account a request names and decide whether `peer` may
    /// act on it: root on anyone; the admin group on anyone but root;
    /// others on their own account only, and never on admin-only requests.
    fn subject(&self, peer: &Peer, user: &str, need: Need) -> Result<Subject, Response> {
        authz::valid_user_name(user).map_err(|msg| Response::error(ErrorCode::InvalidUser, msg))?;
        let account = (self.names)(user).map_err(internal)?;
        let own = account.as_ref().is_some_and(|a| a.uid == peer.uid);
        let role = authz::role(peer, &self.cfg.admin_group);
        let allowed = match role {
            Role::Root => true,
            Role::Admin => own || account.as_ref().is_none_or(|a| a.uid != 0),
            Role::User => own && need == Need::OwnOrAdmin,
        };
        if !allowed {
            return Err(denied(match (role, need) {
                (Role::Admin, _) => "the admin group may not act on root's account".to_string(),
                (_, Need::Admin) => "only root or the admin group may do that".to_string(),
                _ => format!("uid {} may act only on its own account", peer.uid),
            }));
        }
        // Names the name service knows are keyed as it spells them, so
        // "ANN" cannot dodge ann's enrollment (and nullok) on a
        // case-insensitive directory.
        let known = account.is_some();
        let user = account.map(|a| a.name).unwrap_or_else(|| user.to_string());
        Ok(Subject { role, user, known })
    }

    /// A login step on an account already resolved by [`Service::subject`].
    fn login(&self, user: &str, step: &Step, ctx: &LoginContext, peer: &Peer) -> Response {
        let res = self.attempt(user, step, ctx);
        self.answer(user, step, ctx, peer, res)
    }

    fn enroll_begin(&self, role: Role, user: &str, p: EnrollParams) -> Response {
        let t = &self.cfg.totp;
        let params = Params {
            algorithm: p.algorithm.unwrap_or(t.algorithm),
            digits: p.digits.unwrap_or(t.digits),
            period: t.period,
            skew: t.skew,
        };
        if !(6..=8).contains(&params.digits) {
            return Response::error(ErrorCode::InvalidArgument, "digits must be 6, 7 or 8");
        }
        let secret = match &p.secret {
            Some(_) if role != Role::Root => {
                return denied("only root may import an existing secret")
            }
            Some(s) => match otp::from_base32(s.expose()) {
                Some(bytes) if bytes.len() >= 16 => Zeroizing::new(bytes),
                _ => {
                    return Response::error(
                        ErrorCode::InvalidArgument,
                        "the secret must be base32 and at least 128 bits",
                    )
                }
            },
            None => {
                let mut bytes = Zeroizing::new(vec![0u8; otp::SECRET_LEN]);
                if let Err(e) = crate::crypto::random_bytes(&mut bytes) {
                    return internal(e);
                }
                bytes
            }
        };
        let account = format!("{user}@{}", self.hostname);
        let uri = match otp::uri(&secret, params, &self.cfg.issuer, &account) {
            Ok(u) => u,
            Err(e) => {
                return Response::error(
                    ErrorCode::InvalidArgument,
                    format!("cannot make an otpauth URI: {e}"),
                )
            }
        };
        let sealed = match self
            .policy
            .keys
            .seal(&sealed_context("pending", user), &secret)
        {
            Ok(s) => s,
            Err(e) => return internal(e),
        };
        let pending = Pending {
            sealed_secret: sealed,
            algorithm: params.algorithm,
            digits: params.digits,
            period: params.period,
            expires_at: self.clock.now() + t.pending_secs as i64,
        };
        if let Err(e) = self.store.put_pending(user, &pending) {
            return internal(e);
        }
        Response::Enrollment {
            secret: Sensitive::new(otp::base32(&secret)),
            uri: Sensitive::new(uri),
            algorithm: params.algorithm,
            digits: params.digits,
            period: params.period,
            expires_in_secs: t.pending_secs,
        }
    }

    fn enroll_confirm(
        &self,
        role: Role,
        user: &str,
        code: &Sensitive,
        current: Option<&Sensitive>,
        peer: &Peer,
    ) -> Response {
        let now = self.clock.now();
        let pending = match self.store.pending(user) {
            Ok(Some(p)) if p.expires_at >= now => p,
            Ok(_) => {
                return Response::error(
                    ErrorCode::NoPendingEnrollment,
                    "no enrollment in progress for this account (or it expired): start again",
                )
            }
            Err(e) => return internal(e),
        };
        let replaces = match self.store.summary(user) {
            Ok(s) => s.map(|s| s.enrollment.sealed_secret),
            Err(e) => return internal(e),
        };
        let existing = replaces.is_some();
        // A user replacing their own enrollment proves the old one first, so
        // a borrowed unlocked session cannot silently move the factor.
        if existing && !role.is_admin() {
            let Some(current) = current else {
                return Response::error(
                    ErrorCode::AlreadyEnrolled,
                    "this account is already enrolled: give a current code (or a recovery code) to replace it",
                );
            };
            let ctx = LoginContext {
                service: "mfa-enroll".into(),
                ..Default::default()
            };
            match self.login(user, &Step::verify(current), &ctx, peer) {
                Response::Verified { .. } => {}
                other => return other,
            }
        }
        let secret = match self
            .policy
            .keys
            .open(&sealed_context("pending", user), &pending.sealed_secret)
        {
            Ok(s) => s,
            Err(e) => return internal(e),
        };
        let params = Params {
            algorithm: pending.algorithm,
            digits: pending.digits,
            period: pending.period,
            skew: self.cfg.totp.skew,
        };
        let clean = login::clean_code(code);
        let Some(step) = otp::check(&secret, params, &clean, now) else {
            return Response::WrongCode {
                retry_after_secs: None,
            };
        };
        let sealed = match self
            .policy
            .keys
            .seal(&sealed_context("totp", user), &secret)
        {
            Ok(s) => s,
            Err(e) => return internal(e),
        };
        let mut codes = Vec::with_capacity(recovery::COUNT);
        let mut hashes = Vec::with_capacity(recovery::COUNT);
        for _ in 0..recovery::COUNT {
            let c = match recovery::generate() {
                Ok(c) => c,
                Err(e) => return internal(e),
            };
            if let Some(n) = recovery::normalize(&c) {
                hashes.push(self.policy.keys.recovery_hash(user, &n));
            }
            codes.push(Sensitive::new(c.as_str()));
        }
        let enrollment = Enrollment {
            sealed_secret: sealed,
            algorithm: params.algorithm,
            digits: params.digits,
            period: params.period,
            // The confirming code is spent: it cannot also open a session.
            last_step: Some(step),
            created_at: now,
        };
        let expect = Expect {
            pending: pending.sealed_secret,
            replaces,
        };
        match self.store.confirm(user, &enrollment, &hashes, &expect) {
            Ok(()) => {}
            // What the proof above was checked against changed meanwhile.
            Err(StoreError::Conflict) => {
                return Response::error(
                    ErrorCode::Conflict,
                    "the enrollment was replaced, removed or expired while being confirmed, so nothing changed (a code given as proof of the old enrollment was used up): start again",
                )
            }
            Err(e) => return internal(e),
        }
        audit::admin(peer, if existing { "re-enroll" } else { "enroll" }, user);
        Response::Enrolled {
            recovery_codes: codes,
        }
    }

    fn status(&self, user: &str) -> Response {
        let now = self.clock.now();
        match self.store.summary(user) {
            Ok(None) => Response::Status(StatusInfo {
                user: user.into(),
                enrolled: false,
                algorithm: None,
                digits: None,
                recovery_codes_left: 0,
                consecutive_failures: 0,
                locked: false,
                retry_after_secs: None,
                enrolled_at: None,
            }),
            Ok(Some(s)) => {
                let gate = limits::user_gate(&self.cfg.limits, &s.counters, now);
                Response::Status(StatusInfo {
                    user: user.into(),
                    enrolled: true,
                    algorithm: Some(s.enrollment.algorithm),
                    digits: Some(s.enrollment.digits),
                    recovery_codes_left: s.recovery_left,
                    consecutive_failures: s.counters.failures,
                    locked: s.counters.locked,
                    retry_after_secs: match gate {
                        Gate::Wait(n) => Some(n),
                        _ => None,
                    },
                    enrolled_at: Some(s.enrollment.created_at),
                })
            }
            Err(e) => internal(e),
        }
    }
}
