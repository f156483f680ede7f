//! The rule for one login attempt, run inside the store's transaction:
//! is the account or host delayed, is the code a valid unused TOTP step or
//! an unused recovery code, and what changes follow. It owns what it needs
//! (keys and limits) so the store can run it on its writer thread, where
//! attempts are serialized and committed in groups.

use crate::backoff::{self, Gate};
use crate::config::LimitsConfig;
use crate::crypto::{self, ct_eq, Keys};
use crate::otp::{self, Params};
use crate::recovery;
use crate::store::{AttemptState, Authenticator, Counters, Effect, Enrollment};
use mfa_proto::Method;

pub fn sealed_context(kind: &str, user: &str) -> String {
    format!("{kind}:{user}")
}

/// The outcome of one verification, before it is turned into an answer.
pub enum Verdict {
    Ok(Method, Option<u32>),
    Wrong(Gate),
    Replayed,
    Limited(Gate),
    NotEnrolled,
    Broken(String),
}

/// What a typed code was checked as (for the audit line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tried {
    Totp,
    Recovery,
    Either,
}

impl Tried {
    pub fn as_str(self) -> &'static str {
        match self {
            Tried::Totp => "totp",
            Tried::Recovery => "recovery",
            Tried::Either => "totp_or_recovery",
        }
    }
}

pub struct LoginRule {
    pub keys: Keys,
    pub limits: LimitsConfig,
    pub skew: u8,
}

impl LoginRule {
    pub fn gate(&self, st: &AttemptState, now: i64) -> Gate {
        let l = &self.limits;
        let host = st
            .host
            .map(|h| backoff::host_gate(l, &h, now))
            .unwrap_or(Gate::Open);
        backoff::combine(backoff::user_gate(l, &st.user, now), host)
    }

    /// What a typed code is checked as for authenticators `auths`: a
    /// TOTP code, a recovery code, or both when it has the shape of each
    /// (a legacy 8-digit scratch code and an 8-digit authenticator).
    pub fn tried(auths: &[Authenticator], code: &str, recovery: Option<&str>) -> Tried {
        match recovery {
            None => Tried::Totp,
            Some(rc)
                if recovery::is_legacy(rc)
                    && auths
                        .iter()
                        .any(|a| usize::from(a.totp.digits) == code.len()) =>
            {
                Tried::Either
            }
            Some(_) => Tried::Recovery,
        }
    }

    /// The core rule, run inside the store's transaction. A code that
    /// could be either kind is tried as a TOTP code first, then as a
    /// recovery code, and fails (counts once) only when it is neither.
    pub fn decide(
        &self,
        user: &str,
        st: &AttemptState,
        code: &str,
        recovery: Option<&str>,
        now: i64,
    ) -> (Verdict, Vec<Effect>) {
        if !st.enrolled {
            return (Verdict::NotEnrolled, vec![]);
        }
        let gate = self.gate(st, now);
        if gate != Gate::Open {
            return (Verdict::Limited(gate), vec![]);
        }
        let success = |v: Verdict, used: Effect| (v, Self::success_effects(st, used, now));
        let tried = Self::tried(&st.authenticators, code, recovery);
        let mut replayed = false;
        // Every authenticator of the account is tried: a code from any of
        // them logs in, and spends only that one's step.
        for a in st
            .authenticators
            .iter()
            .filter(|_| tried != Tried::Recovery)
        {
            let secret = match self
                .keys
                .open(&sealed_context("totp", user), &a.totp.sealed_secret)
            {
                Ok(s) => s,
                Err(err) => return (Verdict::Broken(err.to_string()), vec![]),
            };
            let e = &a.totp;
            let steps = otp::matching_steps(&secret, self.params(e), code, now);
            // The earliest step the code is valid for that is not spent
            // yet; a code shared by a spent step and a later one is the
            // later one.
            let unspent = steps
                .iter()
                .copied()
                .find(|&step| e.last_step.is_none_or(|last| step > last));
            if let Some(step) = unspent {
                return success(
                    Verdict::Ok(Method::Totp, Some(st.recovery_left)),
                    Effect::AcceptStep { id: a.id, step },
                );
            }
            replayed |= !steps.is_empty();
        }
        if let Some(rc) = recovery.filter(|_| tried != Tried::Totp) {
            let hash = self.keys.recovery_hash(user, rc);
            // Codes copied from another mfad match under its subkey.
            let carried = match st.recovery_key.as_deref().map(|k| {
                self.keys
                    .open(&sealed_context("recovery-key", user), k)
                    .map(|sub| crypto::recovery_hash_with(&sub, user, rc))
            }) {
                Some(Err(err)) => return (Verdict::Broken(err.to_string()), vec![]),
                Some(Ok(h)) => Some(h),
                None => None,
            };
            // Compare against every unused code, without stopping early.
            // A temporary code past its time is no code at all.
            let mut found = None;
            for c in &st.recovery {
                let live = c.expires_at.is_none_or(|at| now < at);
                let matches = ct_eq(&c.hash, &hash) | carried.is_some_and(|h| ct_eq(&c.hash, &h));
                if matches && live {
                    found = Some((c.id, c.expires_at.is_some()));
                }
            }
            if let Some((id, temporary)) = found {
                let (method, left) = match temporary {
                    true => (Method::Bypass, st.recovery_left),
                    false => (Method::Recovery, st.recovery_left.saturating_sub(1)),
                };
                return success(Verdict::Ok(method, Some(left)), Effect::UseRecovery(id));
            }
        }
        self.failure(st, now, replayed)
    }

    /// What a successful attempt changes: the code or step `used` is
    /// spent, the account's failures are reset, and they no longer count
    /// against its host (so ten students who each mistype once and then
    /// log in do not delay the lab's NAT).
    pub fn success_effects(st: &AttemptState, used: Effect, now: i64) -> Vec<Effect> {
        let reset = (st.user.failures > 0).then_some(Effect::SetUserCounters(Counters::default()));
        let forgive = st
            .host
            .is_some_and(|h| h.includes_user)
            .then_some(Effect::HostSuccess);
        [Some(used), reset, forgive, Some(Effect::LoggedIn(now))]
            .into_iter()
            .flatten()
            .collect()
    }

    /// Record a failed attempt against the account and the remote host.
    fn failure(&self, st: &AttemptState, now: i64, replayed: bool) -> (Verdict, Vec<Effect>) {
        let l = &self.limits;
        let user = backoff::after_user_failure(l, &st.user, now);
        let mut effects = vec![Effect::SetUserCounters(user)];
        let mut after = AttemptState {
            user,
            ..Default::default()
        };
        if let Some(h) = &st.host {
            effects.push(Effect::HostFailure(now));
            after.host = Some(backoff::after_host_failure(h, now));
        }
        // A reuse is reported as such unless it started a delay or a lock,
        // which the user must be told about.
        let verdict = match self.gate(&after, now) {
            Gate::Open if replayed => Verdict::Replayed,
            gate => Verdict::Wrong(gate),
        };
        (verdict, effects)
    }

    pub fn params(&self, e: &Enrollment) -> Params {
        Params {
            algorithm: e.algorithm,
            digits: e.digits,
            period: e.period,
            skew: self.skew,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LimitsConfig;
    use mfa_proto::Algorithm;

    /// ann enrolled with secret bytes 1..=20, whose codes for steps
    /// 67504915 and 67504916 are both 771631 (see otp's tests).
    fn state(policy: &LoginRule, last_step: u64) -> AttemptState {
        let secret: Vec<u8> = (1..=20).collect();
        let sealed = policy
            .keys
            .seal(&sealed_context("totp", "ann"), &secret)
            .unwrap_or_default();
        AttemptState {
            enrolled: true,
            authenticators: vec![Authenticator {
                id: 1,
                label: "app".into(),
                totp: Enrollment {
                    sealed_secret: sealed,
                    algorithm: Algorithm::Sha1,
                    digits: 6,
                    period: 30,
                    last_step: Some(last_step),
                    created_at: 0,
                },
            }],
            ..Default::default()
        }
    }

    fn rule() -> LoginRule {
        LoginRule {
            keys: Keys::from_master(&[3; 32]),
            limits: LimitsConfig::default(),
            skew: 1,
        }
    }

    /// ann with `digits`-digit codes of secret bytes 1..=20 (nothing
    /// spent), and the legacy scratch code 51500679 as recovery code 7.
    fn with_scratch(policy: &LoginRule, digits: u8) -> AttemptState {
        let mut st = state(policy, 0);
        for a in st.authenticators.iter_mut() {
            a.totp.digits = digits;
            a.totp.last_step = None;
        }
        st.recovery = vec![crate::store::RecoveryCode {
            id: 7,
            hash: policy.keys.recovery_hash("ann", "51500679"),
            expires_at: None,
        }];
        st.recovery_left = 1;
        st
    }

    fn code_at(digits: u8, now: i64) -> String {
        let secret: Vec<u8> = (1..=20).collect();
        let p = Params {
            algorithm: Algorithm::Sha1,
            digits,
            period: 30,
            skew: 0,
        };
        otp::build(&secret, p)
            .map(|t| t.generate(now as u64).to_string())
            .unwrap_or_default()
    }

    #[test]
    fn an_eight_digit_code_is_tried_as_totp_then_as_a_scratch_code_and_fails_once() {
        let policy = rule();
        let now = 2_000_000_010;
        let st = with_scratch(&policy, 8);
        let totp = code_at(8, now);
        assert_eq!(
            LoginRule::tried(&st.authenticators, &totp, Some(&totp)),
            Tried::Either
        );
        let (v, effects) = policy.decide("ann", &st, &totp, Some(&totp), now);
        assert!(matches!(v, Verdict::Ok(Method::Totp, Some(1))));
        assert!(matches!(
            effects.as_slice(),
            [Effect::AcceptStep { .. }, Effect::LoggedIn(_)]
        ));

        let (v, effects) = policy.decide("ann", &st, "51500679", Some("51500679"), now);
        assert!(matches!(v, Verdict::Ok(Method::Recovery, Some(0))));
        assert_eq!(effects, vec![Effect::UseRecovery(7), Effect::LoggedIn(now)]);

        let wrong = if totp == "12345678" {
            "87654321"
        } else {
            "12345678"
        };
        let (v, effects) = policy.decide("ann", &st, wrong, Some(wrong), now);
        assert!(matches!(v, Verdict::Wrong(Gate::Open)));
        // One typed code, one failure, though it was checked both ways.
        assert!(
            matches!(effects.as_slice(), [Effect::SetUserCounters(c)] if c.failures == 1),
            "{effects:?}"
        );
    }

    #[test]
    fn with_six_digit_codes_eight_digits_are_only_a_scratch_code() {
        let policy = rule();
        let now = 2_000_000_010;
        let st = with_scratch(&policy, 6);
        assert_eq!(
            LoginRule::tried(&st.authenticators, "51500679", Some("51500679")),
            Tried::Recovery
        );
        let (v, _) = policy.decide("ann", &st, "51500679", Some("51500679"), now);
        assert!(matches!(v, Verdict::Ok(Method::Recovery, Some(0))));
        // A six-digit code never reaches the recovery codes.
        let six = code_at(6, now);
        assert_eq!(
            LoginRule::tried(&st.authenticators, &six, None),
            Tried::Totp
        );
        let (v, _) = policy.decide("ann", &st, &six, None, now);
        assert!(matches!(v, Verdict::Ok(Method::Totp, Some(1))));
    }

    #[test]
    fn a_code_shared_with_the_spent_step_is_accepted_for_the_next_one() {
        let policy = LoginRule {
            keys: Keys::from_master(&[3; 32]),
            limits: LimitsConfig::default(),
            skew: 1,
        };
        let now = 67_504_916 * 30 + 5;
        let (v, effects) = policy.decide("ann", &state(&policy, 67_504_915), "771631", None, now);
        assert!(matches!(v, Verdict::Ok(Method::Totp, Some(0))));
        assert_eq!(
            effects,
            vec![
                Effect::AcceptStep {
                    id: 1,
                    step: 67_504_916
                },
                Effect::LoggedIn(now)
            ]
        );
        // Once both are spent, the same digits are a replay.
        let (v, effects) = policy.decide("ann", &state(&policy, 67_504_916), "771631", None, now);
        assert!(matches!(v, Verdict::Replayed));
        assert!(matches!(effects.as_slice(), [Effect::SetUserCounters(_)]));
    }
}
