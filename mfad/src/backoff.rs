//! Delays and locks, as pure arithmetic so every rule is tested with plain
//! numbers: a few free failures, then a delay that doubles with each further
//! failure up to a cap, and a hard lock after `lockout_failures` consecutive
//! failures. Remote hosts are counted by the accounts that failed from
//! them, get delays but never a lock, and one account's failures alone
//! never delay its host, so one student behind a lab's NAT cannot keep the
//! others out.

use crate::config::LimitsConfig;
use crate::store::{Counters, HostFailures};

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

/// Seconds until `delay` after the last failure has passed; never more
/// than the delay itself and nothing when no delay is due. A failure can
/// be recorded "later" than an attempt's `now`: the clock was read before
/// the attempt waited for the account's lock, or another central mfad's
/// clock runs ahead. That must not turn a free failure into a wait.
fn wait_left(delay: u64, last_failure: i64, now: i64) -> u64 {
    if delay == 0 {
        return 0;
    }
    let until = last_failure.saturating_add(delay as i64);
    (until.saturating_sub(now).max(0) as u64).min(delay)
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

/// How long before an attempt host failures stop counting: the window
/// after the longest delay, so a host that reached it cannot come back to
/// fresh free failures the moment that delay ends.
pub fn hosts_since(cfg: &LimitsConfig, now: i64) -> i64 {
    now.saturating_sub((cfg.host_window_secs + cfg.max_delay_secs) as i64)
}

pub fn host_gate(cfg: &LimitsConfig, h: &HostFailures, now: i64) -> Gate {
    match wait_left(
        delay(
            cfg.host_free_accounts,
            cfg.delay_secs,
            cfg.max_delay_secs,
            h.accounts,
        ),
        h.last_failure,
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

/// The host's failures once the attempt's account has failed from it now:
/// one more account only if it had not failed from there already.
pub fn after_host_failure(h: &HostFailures, now: i64) -> HostFailures {
    HostFailures {
        accounts: h.accounts + u32::from(!h.includes_user),
        last_failure: now,
        includes_user: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_recorded_after_now_delays_no_more_than_due() {
        assert_eq!(wait_left(0, 1_005, 1_000), 0);
        assert_eq!(wait_left(30, 1_005, 1_000), 30);
        assert_eq!(wait_left(30, 1_000, 1_010), 20);
        assert_eq!(wait_left(30, 1_000, 1_031), 0);
    }

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

    /// `n` distinct accounts failing from one host at `now`.
    fn host_after(n: u32, now: i64) -> HostFailures {
        (0..n).fold(HostFailures::default(), |h, _| {
            let h = HostFailures {
                includes_user: false,
                ..h
            };
            after_host_failure(&h, now)
        })
    }

    #[test]
    fn one_account_failing_again_and_again_never_delays_its_host() {
        let cfg = LimitsConfig::default();
        let mut h = HostFailures::default();
        for _ in 0..500 {
            h = after_host_failure(&h, 0);
        }
        assert_eq!(h.accounts, 1);
        assert_eq!(host_gate(&cfg, &h, 0), Gate::Open);
    }

    #[test]
    fn ten_accounts_failing_from_one_host_delay_it_doubling() {
        let cfg = LimitsConfig::default();
        assert_eq!(host_gate(&cfg, &host_after(9, 0), 0), Gate::Open);
        assert_eq!(host_gate(&cfg, &host_after(10, 0), 0), Gate::Wait(30));
        assert_eq!(host_gate(&cfg, &host_after(10, 0), 30), Gate::Open);
        assert_eq!(host_gate(&cfg, &host_after(11, 0), 0), Gate::Wait(60));
        assert_eq!(host_gate(&cfg, &host_after(40, 0), 0), Gate::Wait(3600));
        // Counted from the window after the longest delay.
        assert_eq!(hosts_since(&cfg, 10_000), 10_000 - 7200);
    }

    #[test]
    fn combine_takes_the_stricter() {
        assert_eq!(combine(Gate::Open, Gate::Wait(3)), Gate::Wait(3));
        assert_eq!(combine(Gate::Wait(9), Gate::Wait(3)), Gate::Wait(9));
        assert_eq!(combine(Gate::Wait(9), Gate::Locked), Gate::Locked);
    }
}
