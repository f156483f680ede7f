//! How a code typed after `sms` or `call` is checked: against the phone
//! code the login asked for (constant time, once), and failing that as
//! any other code, behind the same delays and lock, so a wrong phone code
//! counts as one failure and three of them burn the code.

use crate::backoff::Gate;
use crate::crypto::{ct_eq, Keys};
use crate::login_rule::{LoginRule, Verdict};
use crate::store::{AttemptState, Effect};
use mfa_proto::Method;

/// The keyed hash of a phone code, bound to its account and to the code's
/// id, so a code cannot be checked against another send.
pub fn code_hash(keys: &Keys, user: &str, id: &str, code: &str) -> [u8; 32] {
    keys.recovery_hash(&format!("phone\u{0}{user}\u{0}{id}"), code)
}

impl LoginRule {
    /// [`LoginRule::decide`], with the attempt's phone code tried first.
    pub fn decide_phone(
        &self,
        user: &str,
        st: &AttemptState,
        code: &str,
        recovery: Option<&str>,
        now: i64,
    ) -> (Verdict, Vec<Effect>) {
        let Some(pc) = &st.phone else {
            return self.decide(user, st, code, recovery, now);
        };
        if st.enrolled && self.gate(st, now) == Gate::Open {
            let hash = code_hash(&self.keys, user, &pc.id, code);
            if ct_eq(&hash, &pc.code_hash) {
                let used = Effect::UsePhoneCode(pc.id.clone());
                let effects = Self::success_effects(st, used, now);
                return (Verdict::Ok(Method::Phone, Some(st.recovery_left)), effects);
            }
        }
        let (v, mut effects) = self.decide(user, st, code, recovery, now);
        if matches!(v, Verdict::Wrong(_) | Verdict::Replayed) {
            effects.push(Effect::PhoneMiss(pc.id.clone()));
        }
        (v, effects)
    }
}
