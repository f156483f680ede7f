//! Rate-limit arithmetic, kept pure so every rule is tested with plain
//! numbers: a few free failures, then a delay that doubles with each further
//! failure up to a cap, and a hard lock after `lockout_failures` consecutive
//! failures. Remote hosts get delays but never a lock, so one noisy NAT
//! cannot lock a whole lab out.

use crate::config::LimitsConfig;
use crate::store::Counters;

/// Whether an attempt may proceed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Open,
    Wait(u64),
    Locked,
}

fn delay(free: u32, base: u64, max: u64, failures: u32) -> u64 {
    if failures < free || failures == 0 {
        return 0;
    }
    let doublings = (failures - free).min(32);
    base.saturating_mul(1u64 << doublings).min(max)
}

fn wait_left(delay: u64, last_failure: i64, now: i64) -> u64 {
    let until = last_failure.saturating_add(delay as i64);
    until.saturating_sub(now).max(0) as u64
}

pub fn user_gate(cfg: &LimitsConfig, c: &Counters, now: i64) -> Gate {
    if c.locked {
        return Gate::Locked;
    }
    match wait_left(
        delay(
            cfg.free_failures,
            cfg.delay_secs,
            cfg.max_delay_secs,
            c.failures,
        ),
        c.last_failure,
        now,
    ) {
        0 => Gate::Open,
        n => Gate::Wait(n),
    }
}

/// A host's failures count until `host_window_secs` after its delay has
/// run out, so the counter can never reset the moment the longest delay
/// ends and hand out a fresh batch of free guesses.
fn host_failures(cfg: &LimitsConfig, c: &Counters, now: i64) -> u32 {
    let d = delay(
        cfg.host_free_failures,
        cfg.delay_secs,
        cfg.max_delay_secs,
        c.failures,
    );
    let forget_at = c
        .last_failure
        .saturating_add(d as i64)
        .saturating_add(cfg.host_window_secs as i64);
    if now >= forget_at {
        0
    } else {
        c.failures
    }
}

pub fn host_gate(cfg: &LimitsConfig, c: &Counters, now: i64) -> Gate {
    let f = host_failures(cfg, c, now);
    match wait_left(
        delay(
            cfg.host_free_failures,
            cfg.delay_secs,
            cfg.max_delay_secs,
            f,
        ),
        c.last_failure,
        now,
    ) {
        0 => Gate::Open,
        n => Gate::Wait(n),
    }
}

/// The stricter of two gates.
pub fn combine(a: Gate, b: Gate) -> Gate {
    match (a, b) {
        (Gate::Locked, _) | (_, Gate::Locked) => Gate::Locked,
        (Gate::Wait(x), Gate::Wait(y)) => Gate::Wait(x.max(y)),
        (Gate::Wait(x), Gate::Open) | (Gate::Open, Gate::Wait(x)) => Gate::Wait(x),
        (Gate::Open, Gate::Open) => Gate::Open,
    }
}

pub fn after_user_failure(cfg: &LimitsConfig, c: &Counters, now: i64) -> Counters {
    let failures = c.failures.saturating_add(1);
    Counters {
        failures,
        last_failure: now,
        locked: failures >= cfg.lockout_failures,
    }
}

pub fn after_host_failure(cfg: &LimitsConfig, c: &Counters, now: i64) -> Counters {
    Counters {
        failures: host_failures(cfg, c, now).saturating_add(1),
        last_failure: now,
        locked: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail_n(cfg: &LimitsConfig, n: u32, now: i64) -> Counters {
        (0..n).fold(Counters::default(), |c, _| after_user_failure(cfg, &c, now))
    }

    #[test]
    fn three_free_failures_then_thirty_seconds_doubling() {
        let cfg = LimitsConfig::default();
        assert_eq!(user_gate(&cfg, &fail_n(&cfg, 2, 100), 100), Gate::Open);
        assert_eq!(user_gate(&cfg, &fail_n(&cfg, 3, 100), 100), Gate::Wait(30));
        assert_eq!(user_gate(&cfg, &fail_n(&cfg, 3, 100), 120), Gate::Wait(10));
        assert_eq!(user_gate(&cfg, &fail_n(&cfg, 3, 100), 130), Gate::Open);
        assert_eq!(user_gate(&cfg, &fail_n(&cfg, 4, 100), 100), Gate::Wait(60));
        assert_eq!(user_gate(&cfg, &fail_n(&cfg, 5, 100), 100), Gate::Wait(120));
        assert_eq!(
            user_gate(&cfg, &fail_n(&cfg, 40, 100), 100),
            Gate::Wait(3600)
        );
    }

    #[test]
    fn lock_after_lockout_failures_and_not_before() {
        let cfg = LimitsConfig {
            lockout_failures: 5,
            ..Default::default()
        };
        assert_ne!(
            user_gate(&cfg, &fail_n(&cfg, 4, 0), 1_000_000),
            Gate::Locked
        );
        assert_eq!(
            user_gate(&cfg, &fail_n(&cfg, 5, 0), 1_000_000),
            Gate::Locked
        );
    }

    #[test]
    fn host_failures_are_forgotten_after_the_window() {
        let cfg = LimitsConfig::default();
        let c = (0..10).fold(Counters::default(), |c, _| after_host_failure(&cfg, &c, 0));
        assert_eq!(host_gate(&cfg, &c, 0), Gate::Wait(30));
        assert_eq!(host_gate(&cfg, &c, 30), Gate::Open);
        // Remembered for the window after the delay ended, then forgotten.
        assert_eq!(after_host_failure(&cfg, &c, 3629).failures, 11);
        assert_eq!(after_host_failure(&cfg, &c, 3630).failures, 1);
    }

    #[test]
    fn a_host_at_the_longest_delay_does_not_get_fresh_free_guesses() {
        let cfg = LimitsConfig::default();
        let c = (0..40).fold(Counters::default(), |c, _| after_host_failure(&cfg, &c, 0));
        assert_eq!(host_gate(&cfg, &c, 0), Gate::Wait(3600));
        // When the hour is up, one more failure waits another hour.
        let next = after_host_failure(&cfg, &c, 3600);
        assert_eq!(host_gate(&cfg, &next, 3600), Gate::Wait(3600));
    }

    #[test]
    fn combine_takes_the_stricter() {
        assert_eq!(combine(Gate::Open, Gate::Wait(3)), Gate::Wait(3));
        assert_eq!(combine(Gate::Wait(9), Gate::Wait(3)), Gate::Wait(9));
        assert_eq!(combine(Gate::Wait(9), Gate::Locked), Gate::Locked);
    }
}
