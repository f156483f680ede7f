//! `import` (root only): make a secret and recovery codes that another
//! system issued (google-authenticator-libpam) an account's enrollment at
//! once, so its users keep their phones and printed codes. There is no
//! confirming code: the user's app already has the secret. It goes
//! through the same store operations as an enrollment (a pending entry,
//! then `confirm` with what it expects to replace), so an import that
//! races with an enrollment or a removal changes nothing.

use super::enroll::{check_shape, imported_secret};
use super::subject::Need;
use super::{denied, internal, store_failed, Service};
use crate::audit;
use crate::authz::{Caller, Role};
use crate::clock::Clock;
use crate::login_rule::sealed_context;
use crate::recovery;
use crate::store::{Confirm, Enrollment, Expect, Pending, Store, StoreError, FIRST_LABEL};
use mfa_proto::import::{Import, Imported};
use mfa_proto::{ErrorCode, Response};
use std::sync::Arc;

/// More recovery codes than any real file holds (google-authenticator
/// makes at most 10): a bound on what one request may store.
const MAX_CODES: usize = 20;

/// How long the pending entry an import writes lives. It is confirmed
/// right after; one left by a lost race expires soon.
const PENDING_SECS: i64 = 30;

impl<S: Store, C: Clock> Service<S, C> {
    pub(super) async fn import(self: &Arc<Self>, caller: &Caller, req: Import) -> Response {
        // Checked before anything else, so other callers learn nothing
        // about the account or the request.
        if caller.role != Role::Root {
            return denied("only root may import an existing secret");
        }
        let sub = match self.subject(caller, &req.user, Need::OwnOrAdmin).await {
            Ok(s) => s,
            Err(resp) => return resp,
        };
        let user = sub.user.as_str();
        if let Err(resp) = check_shape(req.digits, req.period) {
            return resp;
        }
        let secret = match imported_secret(&req.secret) {
            Ok(s) => s,
            Err(resp) => return resp,
        };
        let hashes = match self.imported_codes(user, &req) {
            Ok(h) => h,
            Err(resp) => return resp,
        };
        let replaces = match self.store.summary(user).await {
            Ok(s) => s.map(|s| s.shape()),
            Err(e) => return store_failed(e),
        };
        let replaced = replaces.is_some();
        if replaced && !req.replace {
            return Response::error(
                ErrorCode::AlreadyEnrolled,
                format!("{user} is already enrolled; not replaced (replacing it needs --force)"),
            );
        }
        let now = self.clock.now();
        let keys = &self.rule.keys;
        let (pending, sealed) = match (
            keys.seal(&sealed_context("pending", user), &secret),
            keys.seal(&sealed_context("totp", user), &secret),
        ) {
            (Ok(p), Ok(s)) => (p, s),
            (Err(e), _) | (_, Err(e)) => return internal(e),
        };
        let p = Pending {
            sealed_secret: pending,
            algorithm: req.algorithm,
            digits: req.digits,
            period: req.period,
            expires_at: now + PENDING_SECS,
        };
        if let Err(e) = self.store.put_pending(user, &p).await {
            return store_failed(e);
        }
        let enrollment = Enrollment {
            sealed_secret: sealed,
            algorithm: req.algorithm,
            digits: req.digits,
            period: req.period,
            last_step: self.still_spent(req.spent_step, req.period, now),
            created_at: now,
        };
        let expect = Expect {
            pending: p.sealed_secret,
            change: Confirm::Replace {
                replaces,
                recovery: hashes.clone(),
            },
        };
        match self.store.confirm(user, FIRST_LABEL, &enrollment, &expect).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                return Response::error(
                    ErrorCode::Conflict,
                    "the account was enrolled, re-enrolled or removed while being imported, so nothing changed: run the import again",
                )
            }
            Err(e) => return store_failed(e),
        }
        audit::admin(&caller.peer, "import", user);
        Response::Imported(Imported {
            user: user.to_string(),
            replaced,
            recovery_codes: hashes.len() as u32,
            digits: req.digits,
            period: req.period,
            skew: self.cfg.totp.skew,
        })
    }

    /// The keyed hashes of the imported recovery codes, each once.
    fn imported_codes(&self, user: &str, req: &Import) -> Result<Vec<[u8; 32]>, Response> {
        if req.recovery_codes.len() > MAX_CODES {
            return Err(Response::error(
                ErrorCode::InvalidArgument,
                format!("at most {MAX_CODES} recovery codes may be imported"),
            ));
        }
        let mut hashes: Vec<[u8; 32]> = Vec::with_capacity(req.recovery_codes.len());
        for (i, code) in req.recovery_codes.iter().enumerate() {
            let Some(n) = recovery::normalize(code.expose()) else {
                return Err(Response::error(
                    ErrorCode::InvalidArgument,
                    format!(
                        "recovery code {} is neither 8 digits nor a 12-letter recovery code",
                        i + 1
                    ),
                ));
            };
            let hash = self.rule.keys.recovery_hash(user, &n);
            if !hashes.contains(&hash) {
                hashes.push(hash);
            }
        }
        Ok(hashes)
    }

    /// The old system's last used step, if it can still matter: within the
    /// steps a code is accepted for now. A step beyond them would refuse
    /// every code until then, so it is dropped rather than trusted.
    fn still_spent(&self, step: Option<u64>, period: u64, now: i64) -> Option<u64> {
        let origin = now.max(0) as u64 / period.max(1);
        let skew = u64::from(self.cfg.totp.skew);
        step.filter(|&s| s + skew >= origin && s <= origin + skew)
    }
}
