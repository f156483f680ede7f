//! The rule for one login attempt, run inside the store's transaction:
//! is the account or host delayed, is the code a valid unused TOTP step or
//! an unused recovery code, and what changes follow. It owns what it needs
//! (keys and limits) so the store can run it on its writer thread, where
//! attempts are serialized and committed in groups.

use crate::backoff::{self, Gate};
use crate::config::LimitsConfig;
use crate::crypto::{ct_eq, Keys};
use crate::otp::{self, Params};
use crate::store::{AttemptState, Counters, Effect, Enrollment};
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

    /// The core rule, run inside the store's transaction.
    pub fn decide(
        &self,
        user: &str,
        st: &AttemptState,
        code: &str,
        recovery: Option<&str>,
        now: i64,
    ) -> (Verdict, Vec<Effect>) {
        let Some(e) = &st.enrollment else {
            return (Verdict::NotEnrolled, vec![]);
        };
        let gate = self.gate(st, now);
        if gate != Gate::Open {
            return (Verdict::Limited(gate), vec![]);
        }
        let reset = (st.user.failures > 0).then_some(Effect::SetUserCounters(Counters::default()));
        // A success takes the account's failures off its host too, so ten
        // students who each mistype once and then log in do not delay the
        // lab's NAT.
        let forgive = st
            .host
            .is_some_and(|h| h.includes_user)
            .then_some(Effect::HostSuccess);
        if let Some(rc) = recovery {
            let hash = self.keys.recovery_hash(user, rc);
            // Compare against every unused code, without stopping early.
            // A temporary code past its time is no code at all.
            let mut found = None;
            for c in &st.recovery {
                let live = c.expires_at.is_none_or(|at| now < at);
                if ct_eq(&c.hash, &hash) && live {
                    found = Some((c.id, c.expires_at.is_some()));
                }
            }
            if let Some((id, temporary)) = found {
                let (method, left) = match temporary {
                    true => (Method::Bypass, st.recovery_left),
                    false => (Method::Recovery, st.recovery_left.saturating_sub(1)),
                };
                return (
                    Verdict::Ok(method, Some(left)),
                    [
                        Some(Effect::UseRecovery(id)),
                        reset,
                        forgive,
                        Some(Effect::LoggedIn(now)),
                    ]
                    .into_iter()
                    .flatten()
                    .collect(),
                );
            }
            return self.failure(st, now, false);
        }
        let secret = match self
            .keys
            .open(&sealed_context("totp", user), &e.sealed_secret)
        {
            Ok(s) => s,
            Err(err) => return (Verdict::Broken(err.to_string()), vec![]),
        };
        let steps = otp::matching_steps(&secret, self.params(e), code, now);
        // The earliest step the code is valid for that is not spent yet;
        // a code shared by a spent step and a later one is the later one.
        let unspent = steps
            .iter()
            .copied()
            .find(|&step| e.last_step.is_none_or(|last| step > last));
        match unspent {
            Some(step) => (
                Verdict::Ok(Method::Totp, Some(st.recovery_left)),
                [
                    Some(Effect::AcceptStep(step)),
                    reset,
                    forgive,
                    Some(Effect::LoggedIn(now)),
                ]
                .into_iter()
                .flatten()
                .collect(),
            ),
            None if !steps.is_empty() => self.failure(st, now, true),
            None => self.failure(st, now, false),
        }
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
            enrollment: Some(Enrollment {
                sealed_secret: sealed,
                algorithm: Algorithm::Sha1,
                digits: 6,
                period: 30,
                last_step: Some(last_step),
                created_at: 0,
            }),
            ..Default::default()
        }
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
            vec![Effect::AcceptStep(67_504_916), Effect::LoggedIn(now)]
        );
        // Once both are spent, the same digits are a replay.
        let (v, effects) = policy.decide("ann", &state(&policy, 67_504_916), "771631", None, now);
        assert!(matches!(v, Verdict::Replayed));
        assert!(matches!(effects.as_slice(), [Effect::SetUserCounters(_)]));
    }
}
