//! `org.pam_mfa.Mfad1`: each method finds its caller from the bus, turns
//! into the socket's request and answers with what the service said.
//! "Own account" methods act on the caller's account and take no user
//! name; the help-desk methods are for root and the admin group, and the
//! service then applies the socket's rules (protected groups, root's own).

use super::backend::Backend;
use super::callers::Callers;
use super::convert::{self, access_denied, invalid_args, unexpected, Dict, Mfad1Error};
use super::turns::Turns;
use crate::authz::{Caller, Role};
use crate::pacing::Pacer;
use mfa_proto::push::{Decided, Decision};
use mfa_proto::{EnrollParams, Request, Response, Sensitive};
use std::sync::Arc;
use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::{fdo, interface};

pub const NAME: &str = "org.pam_mfa.Mfad1";
pub const PATH: &str = "/org/pam_mfa/Mfad1";
pub const IFACE: &str = "org.pam_mfa.Mfad1";

pub(super) struct Mfad1 {
    backend: Arc<dyn Backend>,
    callers: Arc<Callers>,
    turns: Turns,
}

impl Mfad1 {
    pub(super) fn new(backend: Arc<dyn Backend>, callers: Arc<Callers>, pacer: Pacer) -> Mfad1 {
        Mfad1 {
            backend,
            callers,
            turns: Turns::new(pacer),
        }
    }

    /// The message's sender, resolved as the socket resolves a peer, and
    /// its account's name. Anything that goes wrong on the way is a
    /// refusal, never a default identity.
    async fn who(&self, hdr: &Header<'_>) -> Result<(Caller, Option<String>), Mfad1Error> {
        let (name, peer) = self.callers.peer(hdr).await.map_err(|e| {
            eprintln!("mfad: D-Bus call refused: {e}");
            access_denied(format!("mfad cannot tell who is calling: {e}"))
        })?;
        let caller = self.backend.caller(peer).await.map_err(|resp| {
            eprintln!("mfad: D-Bus call refused: uid {} not resolved", peer.uid);
            match resp {
                Response::Error { message, .. } => access_denied(message),
                _ => access_denied("mfad cannot tell who is calling"),
            }
        })?;
        let user = match caller.role {
            Role::Root => Some("root".to_string()),
            _ => caller.account.as_ref().map(|a| a.name.clone()),
        };
        // Only connections of an account hear its signals.
        if let Some(u) = &user {
            self.callers.remember(name, peer, u.clone()).await;
        }
        Ok((caller, user))
    }

    /// [`Mfad1::who`] for methods on the caller's own account.
    async fn own(&self, hdr: &Header<'_>) -> Result<(Caller, String), Mfad1Error> {
        match self.who(hdr).await? {
            (c, Some(user)) => Ok((c, user)),
            (c, None) => Err(access_denied(format!(
                "uid {} is not an account this machine knows",
                c.peer.uid
            ))),
        }
    }

    /// [`Mfad1::own`] for a property read: a read with no caller (not
    /// from the bus) reads nobody's account.
    async fn own_reading(&self, hdr: Option<Header<'_>>) -> fdo::Result<(Caller, String)> {
        let hdr = hdr.ok_or_else(|| fdo::Error::Failed("no caller".into()))?;
        self.own(&hdr).await.map_err(to_fdo)
    }

    /// [`Mfad1::who`] for the help-desk methods.
    async fn admin(&self, hdr: &Header<'_>) -> Result<Caller, Mfad1Error> {
        let (caller, _) = self.who(hdr).await?;
        if !caller.role.is_admin() {
            return Err(access_denied("only root or the admin group may do that"));
        }
        Ok(caller)
    }

    async fn ask(&self, caller: &Caller, req: Request) -> Response {
        let _turn = match self.turns.take(caller).await {
            Ok(t) => t,
            Err(busy) => return busy,
        };
        self.backend.handle(caller.clone(), req).await
    }

    async fn status_of(&self, caller: &Caller, user: String) -> Result<Dict, Mfad1Error> {
        let st = match self
            .ask(caller, Request::Status { user: user.clone() })
            .await
        {
            Response::Status(st) => st,
            other => return Err(unexpected(other)),
        };
        let methods = match self.ask(caller, Request::Methods { user }).await {
            Response::Methods { methods, .. } => methods,
            _ => Vec::new(),
        };
        Ok(convert::status(&st, &methods))
    }

    async fn pending_of(&self, caller: &Caller, user: String) -> Result<Vec<Dict>, Mfad1Error> {
        match self.ask(caller, Request::PushPending { user }).await {
            Response::PushPending { pushes, .. } => {
                Ok(pushes.iter().map(convert::pending).collect())
            }
            other => Err(unexpected(other)),
        }
    }
}

#[interface(name = "org.pam_mfa.Mfad1")]
impl Mfad1 {
    /// The caller's account: enrolled, methods, recovery_codes_left,
    /// locked, retry_after_secs (0: no wait), and more.
    async fn get_status(&self, #[zbus(header)] hdr: Header<'_>) -> Result<Dict, Mfad1Error> {
        let (caller, user) = self.own(&hdr).await?;
        self.status_of(&caller, user).await
    }

    /// The caller's methods: kind, label, default, created_at, left.
    async fn list_methods(&self, #[zbus(header)] hdr: Header<'_>) -> Result<Vec<Dict>, Mfad1Error> {
        let (caller, user) = self.own(&hdr).await?;
        match self.ask(&caller, Request::Methods { user }).await {
            Response::Methods { methods, .. } => Ok(methods.iter().map(convert::method).collect()),
            other => Err(unexpected(other)),
        }
    }

    /// Start enrolling an authenticator app: (otpauth URI, base32 secret).
    async fn begin_enrollment(
        &self,
        #[zbus(header)] hdr: Header<'_>,
    ) -> Result<(String, String), Mfad1Error> {
        let (caller, user) = self.own(&hdr).await?;
        let req = Request::EnrollBegin {
            user,
            params: EnrollParams::default(),
        };
        match self.ask(&caller, req).await {
            Response::Enrollment { secret, uri, .. } => {
                Ok((uri.expose().to_string(), secret.expose().to_string()))
            }
            other => Err(unexpected(other)),
        }
    }

    /// Confirm the enrollment with a code from the app: the recovery codes.
    async fn confirm_enrollment(
        &self,
        code: String,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<Vec<String>, Mfad1Error> {
        let (caller, user) = self.own(&hdr).await?;
        let req = Request::EnrollConfirm {
            user: user.clone(),
            code: Sensitive::new(code),
            current_code: None,
            name: None,
        };
        match self.ask(&caller, req).await {
            Response::Enrolled { recovery_codes } => {
                super::signals::invalidate(emitter.connection(), &self.callers, &user, "Enrolled")
                    .await;
                Ok(recovery_codes
                    .iter()
                    .map(|c| c.expose().to_string())
                    .collect())
            }
            other => Err(unexpected(other)),
        }
    }

    /// The caller's login pushes waiting for an answer: id, host,
    /// service, rhost, created (and user, label, expires, number_digits).
    async fn list_pending_pushes(
        &self,
        #[zbus(header)] hdr: Header<'_>,
    ) -> Result<Vec<Dict>, Mfad1Error> {
        let (caller, user) = self.own(&hdr).await?;
        self.pending_of(&caller, user).await
    }

    /// Answer one of the caller's pushes as on the approval page:
    /// `decision` is approve (with the number the login shows), deny or
    /// report. True only when the push was approved.
    async fn answer_push(
        &self,
        id: String,
        number: String,
        decision: String,
        #[zbus(header)] hdr: Header<'_>,
    ) -> Result<bool, Mfad1Error> {
        let number = Sensitive::new(number);
        let decision = match decision.as_str() {
            "approve" => Decision::Approve,
            "deny" => Decision::Deny,
            "report" => Decision::Report,
            other => {
                return Err(invalid_args(format!(
                    "decision must be approve, deny or report, not {other:?}"
                )))
            }
        };
        let (caller, user) = self.own(&hdr).await?;
        let req = Request::PushAnswer {
            user,
            id,
            number,
            decision,
        };
        match self.ask(&caller, req).await {
            Response::PushDecided { outcome } => Ok(outcome == Decided::Approved),
            other => Err(unexpected(other)),
        }
    }

    /// Every enrolled account (root and the admin group).
    async fn list_users(&self, #[zbus(header)] hdr: Header<'_>) -> Result<Vec<String>, Mfad1Error> {
        let caller = self.admin(&hdr).await?;
        let mut all = Vec::new();
        loop {
            let after = all.last().cloned().unwrap_or_default();
            let req = Request::List {
                after,
                details: false,
            };
            match self.ask(&caller, req).await {
                Response::Accounts { users, more } => {
                    let got = users.len();
                    all.extend(users);
                    if !more || got == 0 {
                        return Ok(all);
                    }
                }
                other => return Err(unexpected(other)),
            }
        }
    }

    /// Another account's status (root and the admin group).
    async fn get_user_status(
        &self,
        user: String,
        #[zbus(header)] hdr: Header<'_>,
    ) -> Result<Dict, Mfad1Error> {
        let caller = self.admin(&hdr).await?;
        self.status_of(&caller, user).await
    }

    /// Clear an account's failures and lock (root and the admin group).
    async fn unlock(
        &self,
        user: String,
        #[zbus(header)] hdr: Header<'_>,
    ) -> Result<(), Mfad1Error> {
        let caller = self.admin(&hdr).await?;
        match self.ask(&caller, Request::Unlock { user }).await {
            Response::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Remove an account's enrollment, so it enrolls again (root and the
    /// admin group): `mfa remove`.
    async fn reset(
        &self,
        user: String,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), Mfad1Error> {
        let caller = self.admin(&hdr).await?;
        match self
            .ask(&caller, Request::Remove { user: user.clone() })
            .await
        {
            Response::Done => {
                super::signals::invalidate(emitter.connection(), &self.callers, &user, "Enrolled")
                    .await;
                Ok(())
            }
            other => Err(unexpected(other)),
        }
    }

    /// Whether the caller's account is enrolled. Changes are signalled
    /// (invalidated) to the account's own connections only.
    #[zbus(property(emits_changed_signal = "invalidates"))]
    async fn enrolled(&self, #[zbus(header)] hdr: Option<Header<'_>>) -> fdo::Result<bool> {
        let (caller, user) = self.own_reading(hdr).await?;
        match self.ask(&caller, Request::Status { user }).await {
            Response::Status(st) => Ok(st.enrolled),
            other => Err(to_fdo(unexpected(other))),
        }
    }

    /// How many of the caller's pushes wait for an answer.
    #[zbus(property(emits_changed_signal = "invalidates"))]
    async fn pending_pushes(&self, #[zbus(header)] hdr: Option<Header<'_>>) -> fdo::Result<u32> {
        let (caller, user) = self.own_reading(hdr).await?;
        let n = self.pending_of(&caller, user).await.map_err(to_fdo)?.len();
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// A push waits for the account's answer (sent to its connections only).
    #[zbus(signal)]
    pub(super) async fn push_pending(
        emitter: &SignalEmitter<'_>,
        id: &str,
        context: &Dict,
    ) -> zbus::Result<()>;

    /// A push ended: approved, denied, wrong_number, reported, expired,
    /// cancelled or failed (sent to the account's connections only).
    #[zbus(signal)]
    pub(super) async fn push_resolved(
        emitter: &SignalEmitter<'_>,
        id: &str,
        outcome: &str,
    ) -> zbus::Result<()>;
}

fn to_fdo(e: Mfad1Error) -> fdo::Error {
    match e {
        Mfad1Error::ZBus(zbus::Error::FDO(f)) => *f,
        other => fdo::Error::Failed(other.to_string()),
    }
}
