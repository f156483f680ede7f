//! Enrollment: `enroll_begin` makes (or, for root, imports) a secret and
//! keeps it pending, sealed; `enroll_confirm` makes it live once a code
//! from the new authenticator is right: replacing every authenticator,
//! with ten fresh recovery codes, or (`name`) as one more beside them. A
//! user changing their own enrollment proves a current method first.

use super::login::clean_code;
use super::subject::{Need, Subject};
use super::{denied, internal, store_failed, Service};
use crate::audit;
use crate::authz::{Caller, Role};
use crate::clock::Clock;
use crate::login_rule::sealed_context;
use crate::otp::{self, Params};
use crate::recovery;
use crate::store::{Confirm, Enrollment, Expect, Pending, Store, StoreError, FIRST_LABEL};
use mfa_proto::{EnrollParams, ErrorCode, Response, Sensitive};
use std::sync::Arc;
use zeroize::Zeroizing;

impl<S: Store, C: Clock> Service<S, C> {
    /// The account an enrollment acts on. Only root may enroll a name the
    /// name service does not know (an account of another system, a test):
    /// a row under a spelling NSS does not give could later start to
    /// decide logins for an account it turns into an alias of.
    async fn enrollable(
        self: &Arc<Self>,
        caller: &Caller,
        user: &str,
    ) -> Result<Subject, Response> {
        let sub = self.subject(caller, user, Need::OwnOrAdmin).await?;
        if !sub.known && caller.role != Role::Root {
            return Err(denied(
                "no such user: only root may enroll a name the name service does not know",
            ));
        }
        Ok(sub)
    }

    pub(super) async fn enroll_begin(
        self: &Arc<Self>,
        caller: &Caller,
        user: &str,
        p: EnrollParams,
    ) -> Response {
        let sub = match self.enrollable(caller, user).await {
            Ok(s) => s,
            Err(resp) => return resp,
        };
        self.begin(caller.role, &sub.user, p, false).await
    }

    /// Make the pending secret of `user` and what to show for it (with
    /// the QR code drawn as text when `qr`).
    pub(super) async fn begin(
        &self,
        role: Role,
        user: &str,
        p: EnrollParams,
        qr: bool,
    ) -> Response {
        let t = &self.cfg.totp;
        let params = Params {
            algorithm: p.algorithm.unwrap_or(t.algorithm),
            digits: p.digits.unwrap_or(t.digits),
            period: p.period.unwrap_or(t.period),
            skew: t.skew,
        };
        if let Err(resp) = check_shape(params.digits, params.period) {
            return resp;
        }
        let secret = match &p.secret {
            Some(_) if role != Role::Root => {
                return denied("only root may import an existing secret")
            }
            Some(s) => match imported_secret(s) {
                Ok(bytes) => bytes,
                Err(resp) => return resp,
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
            .rule
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
        if let Err(e) = self.store.put_pending(user, &pending).await {
            return store_failed(e);
        }
        let qr = qr
            .then(|| crate::qr::render(&uri))
            .flatten()
            .map(Sensitive::new);
        Response::Enrollment {
            qr,
            secret: Sensitive::new(otp::base32(&secret)),
            uri: Sensitive::new(uri),
            algorithm: params.algorithm,
            digits: params.digits,
            period: params.period,
            expires_in_secs: t.pending_secs,
        }
    }

    pub(super) async fn enroll_confirm(
        self: &Arc<Self>,
        caller: &Caller,
        user: &str,
        code: &Sensitive,
        current: Option<&Sensitive>,
        name: Option<&str>,
    ) -> Response {
        let sub = match self.enrollable(caller, user).await {
            Ok(s) => s,
            Err(resp) => return resp,
        };
        let user = sub.user.as_str();
        let pending = match self.live_pending(user).await {
            Ok(p) => p,
            Err(resp) => return resp,
        };
        let summary = match self.store.summary(user).await {
            Ok(s) => s,
            Err(e) => return store_failed(e),
        };
        let existing = summary.is_some();
        let into = match (name, &summary) {
            (None, s) => Joins::Replace(s.as_ref().map(|s| s.shape())),
            (Some(_), None) => {
                return Response::error(
                    ErrorCode::NotEnrolled,
                    "this account has nothing to add an authenticator beside: enroll without --name first",
                )
            }
            (Some(label), Some(s)) => {
                if let Err(resp) = check_label(label) {
                    return resp;
                }
                if s.authenticators.iter().any(|a| a.label == label) {
                    return Response::error(
                        ErrorCode::InvalidArgument,
                        format!("this account already has an authenticator named {label:?}: choose another name, or rename or remove that one ('mfa methods')"),
                    );
                }
                Joins::Beside(label.to_string())
            }
        };
        // Anyone but root changing their own enrollment proves a current
        // method first (an admin too), so a borrowed unlocked session
        // cannot silently move or add a factor.
        if existing && sub.needs_proof_from(caller) {
            let Some(current) = current else {
                let what = match &into {
                    Joins::Beside(_) => "add an authenticator to it",
                    Joins::Replace(_) => "replace it (or --name LABEL to add one beside it)",
                };
                return Response::error(
                    ErrorCode::AlreadyEnrolled,
                    format!("this account is already enrolled: give a current code (or a recovery code) to {what}"),
                );
            };
            match self.prove(caller, user, current).await {
                Response::Verified { .. } => {}
                other => return other,
            }
        }
        let action = match &into {
            Joins::Beside(label) => format!("add_authenticator label={label:?}"),
            Joins::Replace(_) if existing => "re-enroll".into(),
            Joins::Replace(_) => "enroll".into(),
        };
        match self.finish(user, &pending, code, into).await {
            Ok(codes) => {
                audit::admin(&caller.peer, &action, user);
                Response::Enrolled {
                    recovery_codes: codes,
                }
            }
            Err(resp) => resp,
        }
    }

    /// The pending enrollment of `user`, unless there is none or it expired.
    pub(super) async fn live_pending(&self, user: &str) -> Result<Pending, Response> {
        match self.store.pending(user).await {
            Ok(Some(p)) if p.expires_at >= self.clock.now() => Ok(p),
            Ok(_) => Err(Response::error(
                ErrorCode::NoPendingEnrollment,
                "no enrollment in progress for this account (or it expired): start again",
            )),
            Err(e) => Err(store_failed(e)),
        }
    }

    /// Check `code` against `pending` and make it live as `into` says:
    /// replacing every authenticator, with fresh recovery codes (returned,
    /// to show once), or beside them (no codes).
    pub(super) async fn finish(
        &self,
        user: &str,
        pending: &Pending,
        code: &Sensitive,
        into: Joins,
    ) -> Result<Vec<Sensitive>, Response> {
        let now = self.clock.now();
        let secret = match self
            .rule
            .keys
            .open(&sealed_context("pending", user), &pending.sealed_secret)
        {
            Ok(s) => s,
            Err(e) => return Err(internal(e)),
        };
        let params = Params {
            algorithm: pending.algorithm,
            digits: pending.digits,
            period: pending.period,
            skew: self.cfg.totp.skew,
        };
        let clean = clean_code(code);
        let Some(step) = otp::check(&secret, params, &clean, now) else {
            return Err(Response::WrongCode {
                retry_after_secs: None,
            });
        };
        let sealed = match self.rule.keys.seal(&sealed_context("totp", user), &secret) {
            Ok(s) => s,
            Err(e) => return Err(internal(e)),
        };
        let (codes, change, label) = match into {
            Joins::Replace(replaces) => {
                let (codes, recovery) = self.new_recovery_codes(user)?;
                let change = Confirm::Replace { replaces, recovery };
                (codes, change, FIRST_LABEL.to_string())
            }
            Joins::Beside(label) => (vec![], Confirm::Add, label),
        };
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
            pending: pending.sealed_secret.clone(),
            change,
        };
        match self.store.confirm(user, &label, &enrollment, &expect).await {
            Ok(()) => {}
            // What the proof above was checked against changed meanwhile.
            Err(StoreError::Conflict) => {
                return Err(Response::error(
                    ErrorCode::Conflict,
                    "the enrollment was replaced, removed or expired while being confirmed, or the name was taken meanwhile, so nothing changed (a code given as proof was used up): start again",
                ))
            }
            Err(e) => return Err(store_failed(e)),
        }
        Ok(codes)
    }

    /// A fresh set of recovery codes for `user`: the codes to show once,
    /// and their keyed hashes to store.
    pub(super) fn new_recovery_codes(
        &self,
        user: &str,
    ) -> Result<(Vec<Sensitive>, Vec<[u8; 32]>), Response> {
        let mut codes = Vec::with_capacity(recovery::COUNT);
        let mut hashes = Vec::with_capacity(recovery::COUNT);
        for _ in 0..recovery::COUNT {
            let c = recovery::generate().map_err(internal)?;
            if let Some(n) = recovery::normalize(&c) {
                hashes.push(self.rule.keys.recovery_hash(user, &n));
            }
            codes.push(Sensitive::new(c.as_str()));
        }
        Ok((codes, hashes))
    }
}

/// How a confirmed enrollment joins the account.
pub(super) enum Joins {
    /// Replacing every authenticator and the recovery codes, if the
    /// account's authenticators still are these (None: no account).
    Replace(Option<Vec<Vec<u8>>>),
    /// One more authenticator, under this name.
    Beside(String),
}

/// A method's name: what `mfa methods` shows and takes.
pub(super) fn check_label(label: &str) -> Result<(), Response> {
    if label.trim().is_empty() || label.len() > 64 || label.chars().any(char::is_control) {
        return Err(Response::error(
            ErrorCode::InvalidArgument,
            "the name must be 1 to 64 printable characters",
        ));
    }
    Ok(())
}

/// Digits and period an enrollment may have, as an answer when not.
pub(super) fn check_shape(digits: u8, period: u64) -> Result<(), Response> {
    if !(6..=8).contains(&digits) {
        return Err(Response::error(
            ErrorCode::InvalidArgument,
            "digits must be 6, 7 or 8",
        ));
    }
    if !otp::PERIODS.contains(&period) {
        return Err(Response::error(
            ErrorCode::InvalidArgument,
            format!(
                "the period must be {} to {} seconds, not {period}",
                otp::PERIODS.start(),
                otp::PERIODS.end()
            ),
        ));
    }
    Ok(())
}

/// The bytes of a secret given in base32 for import, if it is long enough.
pub(super) fn imported_secret(s: &Sensitive) -> Result<Zeroizing<Vec<u8>>, Response> {
    match otp::from_base32(s.expose()).map(Zeroizing::new) {
        Some(bytes) if bytes.len() >= otp::MIN_IMPORTED_SECRET => Ok(bytes),
        Some(bytes) => Err(Response::error(
            ErrorCode::InvalidArgument,
            format!(
                "the secret is {} bits; at least 128 are needed (RFC 4226): enroll this account anew",
                bytes.len() * 8
            ),
        )),
        None => Err(Response::error(
            ErrorCode::InvalidArgument,
            "the secret must be base32 and at least 128 bits",
        )),
    }
}
