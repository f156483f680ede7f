//! Every policy decision: who may do what, how a code is checked, when an
//! attempt is refused. [`Service::handle`] answers one request from a
//! caller the server resolved once per connection ([`Service::caller`]).
//! Each request family has its own file: `login` (challenge and verify),
//! `enroll`, `import` (root's import of a secret issued elsewhere),
//! `at_login` (site policy: exemptions and enrollment during a login),
//! `helpdesk` (methods, bypass) and `accounts` (status, list, remove,
//! unlock); `subject`
//! decides which account a request may act on. Every request runs on the
//! async threads and awaits the store; only name-service lookups, which
//! may block, go to the blocking pool.

mod accounts;
mod at_login;
mod enroll;
mod helpdesk;
mod import;
mod login;
mod methods;
mod phone;
mod push;
mod push_answer;
mod push_gateway;
mod push_hub;
mod push_targets;
mod recovery_codes;
mod relayed;
mod subject;

pub use push_hub::{ConnPushes, PushEvent};

use crate::authz::{self, Caller, Peer};
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::Keys;
use crate::directory::{Directory, Nss};
use crate::login_rule::LoginRule;
use crate::store::Store;
use login::Step;
use mfa_proto::push::PushMode;
use mfa_proto::{Challenge, ErrorCode, Request, Response};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Service<S, C> {
    store: S,
    rule: Arc<LoginRule>,
    cfg: Config,
    clock: C,
    hostname: String,
    dir: Arc<dyn Directory>,
    /// Resolved callers by (uid, gid).
    callers: Mutex<HashMap<(u32, u32), (Instant, Caller)>>,
    /// Callers being resolved through the name service at once.
    resolving: tokio::sync::Semaphore,
    push_hub: push_hub::PushHub,
}

/// How long a resolved caller is kept (its groups may change).
const CALLER_TTL: Duration = Duration::from_secs(10);

fn internal(e: impl std::fmt::Display) -> Response {
    eprintln!("mfad: internal error: {e}");
    Response::error(ErrorCode::Internal, "internal error in mfad; see its log")
}

/// The answer to a failed store operation. A database that is down or
/// too slow makes the login "unavailable": the module fails closed with
/// PAM_AUTHINFO_UNAVAIL and the same words as for a stopped mfad.
fn store_failed(e: crate::store::StoreError) -> Response {
    if e.is_unavailable() {
        eprintln!("mfad: the database is unavailable: {e}");
        return Response::error(
            ErrorCode::Unavailable,
            "mfad cannot reach its database; try again later",
        );
    }
    internal(e)
}

fn denied(msg: impl Into<String>) -> Response {
    Response::error(ErrorCode::PermissionDenied, msg)
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
        let rule = Arc::new(LoginRule {
            keys,
            limits: cfg.limits.clone(),
            skew: cfg.totp.skew,
        });
        Service {
            store,
            rule,
            cfg,
            clock,
            hostname,
            dir: Arc::new(Nss::default()),
            callers: Mutex::new(HashMap::new()),
            resolving: tokio::sync::Semaphore::new(4),
            push_hub: push_hub::PushHub::default(),
        }
    }

    /// Ask `dir` instead of NSS (for tests).
    pub fn with_directory(mut self, dir: Arc<dyn Directory>) -> Self {
        self.dir = dir;
        self
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Resolve a connection's peer once: its account, groups and role,
    /// kept for a few seconds per peer. The name service may block (LDAP),
    /// so it is asked on the blocking pool. An error is a refusal.
    pub async fn caller(self: &Arc<Self>, peer: Peer) -> Result<Caller, Response> {
        if peer.uid == 0 {
            return authz::resolve(&*self.dir, peer, &self.cfg.admin_group).map_err(internal);
        }
        if let Some((at, c)) = self.cached_caller(&peer) {
            if at.elapsed() < CALLER_TTL {
                return Ok(Caller { peer, ..c });
            }
        }
        // A few lookups at a time: uids that change with every connection
        // (a range of subordinate uids) queue here instead of filling the
        // blocking pool with directory requests.
        let _turn = self
            .resolving
            .acquire()
            .await
            .map_err(|e| internal(format!("caller lookup stopped: {e}")))?;
        let svc = self.clone();
        let resolved = tokio::task::spawn_blocking(move || {
            authz::resolve(&*svc.dir, peer, &svc.cfg.admin_group)
        })
        .await
        .map_err(|e| internal(format!("caller lookup failed: {e}")))?
        .map_err(internal)?;
        let mut callers = self.callers.lock().unwrap_or_else(|p| p.into_inner());
        if callers.len() >= 4096 {
            callers.clear();
        }
        callers.insert((peer.uid, peer.gid), (Instant::now(), resolved.clone()));
        Ok(resolved)
    }

    /// The key `peer` is paced under, as far as is known without asking
    /// the name service: its resolved caller's if cached, else its uid.
    pub fn pace_key_hint(&self, peer: &Peer) -> u32 {
        self.cached_caller(peer)
            .map(|(_, c)| c.pace_key())
            .unwrap_or(peer.uid)
    }

    /// Whether `caller` is the push gateway (`push.gateway_user`).
    pub fn is_gateway(&self, caller: &Caller) -> bool {
        let gw = &self.cfg.push.gateway_user;
        // The gateway runs beside a central mfad, never behind a relay.
        caller.via.is_none()
            && !gw.is_empty()
            && caller.account.as_ref().is_some_and(|a| &a.name == gw)
    }

    /// [`Service::is_gateway`] for a peer, as far as is known without
    /// asking the name service (its cached caller).
    pub fn is_gateway_hint(&self, peer: &Peer) -> bool {
        self.cached_caller(peer)
            .is_some_and(|(_, c)| self.is_gateway(&c))
    }

    fn cached_caller(&self, peer: &Peer) -> Option<(Instant, Caller)> {
        let callers = self.callers.lock().unwrap_or_else(|p| p.into_inner());
        callers.get(&(peer.uid, peer.gid)).cloned()
    }

    /// The pushes' comings and goings, for the desktop sessions (D-Bus).
    pub fn push_events(&self) -> tokio::sync::broadcast::Receiver<PushEvent> {
        self.push_hub.events.0.subscribe()
    }

    /// Whose push `id` is and where it stands, for a listener that heard
    /// it changed.
    pub async fn push_state(
        &self,
        id: &str,
    ) -> Result<Option<(String, crate::store::PushState)>, crate::store::StoreError> {
        let now = self.clock.now();
        Ok(self.store.push(id).await?.map(|p| {
            // Past its time it is over, whether or not anyone ended it.
            let expired = p.state.is_pending() && p.expires_at <= now;
            let state = if expired {
                crate::store::PushState::Expired
            } else {
                p.state
            };
            (p.user, state)
        }))
    }

    /// Answer one request outside a connection (tests): a push it opens
    /// is cancelled once the answer is back.
    pub async fn handle(self: &Arc<Self>, caller: &Caller, req: Request) -> Response {
        let conn = ConnPushes::new(self.clone());
        self.handle_in(caller, &conn, req).await
    }

    /// Answer one request on a connection whose pushes `conn` tracks.
    /// `hello` is the server's business.
    pub async fn handle_in(
        self: &Arc<Self>,
        caller: &Caller,
        conn: &ConnPushes<S, C>,
        req: Request,
    ) -> Response {
        if let Err(resp) = self.relay_allows(caller, &req).await {
            return resp;
        }
        match req {
            Request::Hello { .. } => {
                Response::error(ErrorCode::BadRequest, "hello was already exchanged")
            }
            Request::Challenge {
                user,
                context,
                push,
            } => {
                let (resp, user) = self
                    .login(caller, &user, Step::Challenge, context.clone())
                    .await;
                let Response::Challenge {
                    state: Challenge::Ready,
                    ..
                } = resp
                else {
                    return resp;
                };
                let push = match push {
                    PushMode::Off => None,
                    mode => {
                        self.push_offer(&user, &context, mode == PushMode::Auto, conn, caller)
                            .await
                    }
                };
                Response::Challenge {
                    state: Challenge::Ready,
                    push,
                    phone: self.phone_channels(&user).await,
                }
            }
            Request::Verify {
                user,
                code,
                context,
            } => {
                self.login(caller, &user, Step::verify(&code), context)
                    .await
                    .0
            }
            Request::List {
                after,
                details: false,
            } => self.list(caller, &after).await,
            Request::List {
                after,
                details: true,
            } => self.list_details(caller, &after).await,
            Request::Methods { user } => self.methods(caller, &user).await,
            Request::Bypass { user, minutes } => self.bypass(caller, &user, minutes).await,
            Request::EnrollBegin { user, params } => self.enroll_begin(caller, &user, params).await,
            Request::EnrollConfirm {
                user,
                code,
                current_code,
                name,
            } => {
                self.enroll_confirm(caller, &user, &code, current_code.as_ref(), name.as_deref())
                    .await
            }
            Request::MethodChange {
                user,
                kind,
                label,
                change,
            } => {
                self.method_change(caller, &user, kind, &label, change)
                    .await
            }
            Request::Import(req) => self.import(caller, req).await,
            Request::Status { user } => self.status(caller, &user).await,
            Request::Remove { user } => self.remove(caller, &user).await,
            Request::Unlock { user } => self.unlock(caller, &user).await,
            Request::RecoveryCodes { user, current_code } => {
                self.recovery_codes(caller, &user, current_code.as_ref())
                    .await
            }
            Request::LoginEnrollBegin { user, context } => {
                self.login_enroll_begin(caller, &user, &context).await
            }
            Request::LoginEnrollConfirm {
                user,
                code,
                context,
            } => {
                self.login_enroll_confirm(caller, &user, &code, &context)
                    .await
            }
            Request::LoginEnrollSkip { user, context } => {
                self.login_enroll_skip(caller, &user, &context).await
            }
            Request::PhoneStart {
                user,
                context,
                channel,
            } => self.phone_start(caller, &user, context, channel).await,
            Request::PhoneVerify {
                user,
                id,
                code,
                context,
            } => self.phone_verify(caller, &user, &id, &code, context).await,
            Request::PhoneAdd {
                user,
                number,
                channel,
                label,
                current_code,
            } => {
                self.phone_add(
                    caller,
                    &user,
                    &number,
                    channel,
                    label,
                    current_code.as_ref(),
                )
                .await
            }
            Request::PhoneConfirm { user, code } => self.phone_confirm(caller, &user, &code).await,
            Request::PhoneList { user } => self.phone_list(caller, &user).await,
            Request::PhoneRemove { user, label } => self.phone_remove(caller, &user, &label).await,
            Request::PushStart { user, context } => {
                self.push_start(caller, &user, context, conn).await
            }
            Request::PushWait { id } => self.push_wait(&id, conn).await,
            Request::PushAdd {
                user,
                provider,
                label,
                current_code,
            } => {
                self.push_add(caller, &user, provider, label, current_code.as_ref(), conn)
                    .await
            }
            Request::PushList { user } => self.push_list(caller, &user).await,
            Request::PushRemove { user, label } => self.push_remove(caller, &user, &label).await,
            Request::PushPending { user } => self.push_pending(caller, &user).await,
            Request::PushAnswer {
                user,
                id,
                number,
                decision,
            } => {
                self.push_answer(caller, &user, &id, &number, decision)
                    .await
            }
            gw => self.gateway_request(caller, gw).await,
        }
    }

    async fn gateway_request(self: &Arc<Self>, caller: &Caller, req: Request) -> Response {
        if let Err(resp) = self.gateway_only(caller) {
            return *resp;
        }
        match req {
            Request::GatewayPoll { info, wait_secs } => self.gateway_poll(info, wait_secs).await,
            Request::GatewayReport {
                id,
                delivered,
                error,
            } => self.gateway_report(&id, delivered, error).await,
            Request::GatewayView { token } => self.gateway_view(&token).await,
            Request::GatewayDecide {
                token,
                number,
                decision,
            } => self.gateway_decide(&token, &number, decision).await,
            _ => Response::error(ErrorCode::BadRequest, "not a gateway request"),
        }
    }
}
