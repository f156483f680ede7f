//! Request pacing for callers other than root. Each uid may send
//! `user_rate` requests a second with bursts of `user_burst`, and all such
//! uids together `users_rate`; a request beyond that is answered later,
//! not refused. A local user flooding mfad then costs it almost nothing
//! (its connections just wait, and there are at most a few per uid), so
//! root's logins keep the CPU, while a person running `mfa` never notices.
//!
//! The rule is the generic cell rate algorithm in its scheduling form:
//! every request reserves the next slot, so a uid's waiting requests run
//! in order. Time comes in as an argument, so tests need no sleeping.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A rate with a burst: one slot every `interval`, and up to `tolerance`
/// of slots taken ahead of time.
#[derive(Debug, Clone, Copy)]
struct Rate {
    interval: Duration,
    tolerance: Duration,
}

impl Rate {
    fn new(per_sec: u32, burst: u32) -> Rate {
        let interval = Duration::from_secs(1) / per_sec.max(1);
        Rate {
            interval,
            tolerance: interval * burst.max(1).saturating_sub(1),
        }
    }

    /// Reserve a slot for a request that arrives at `at`, given the
    /// theoretical arrival time `tat`; returns when it may run.
    fn reserve(&self, tat: &mut Instant, at: Instant) -> Instant {
        let due = (*tat).max(at);
        let run = at.max(due.checked_sub(self.tolerance).unwrap_or(at));
        *tat = due + self.interval;
        run
    }
}

/// What [`Pacer::admit`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// When the request may run (its arrival time if it is within limits).
    pub run_at: Instant,
    /// True the first time in a minute that this uid is slowed down, so
    /// the log says so once rather than once per request.
    pub report: bool,
}

struct UidState {
    tat: Instant,
    reported: Option<Instant>,
}

pub struct Pacer {
    user: Rate,
    all: Rate,
    all_tat: Option<Instant>,
    uids: HashMap<u32, UidState>,
}

impl Pacer {
    pub fn new(user_rate: u32, user_burst: u32, users_rate: u32) -> Pacer {
        Pacer {
            user: Rate::new(user_rate, user_burst),
            // All users together may burst as much as a second's worth.
            all: Rate::new(users_rate, users_rate),
            all_tat: None,
            uids: HashMap::new(),
        }
    }

    /// A request from `uid` (never root: root is not paced) arriving at `now`.
    pub fn admit(&mut self, uid: u32, now: Instant) -> Admission {
        self.admit_as(uid, now, true)
    }

    /// A new connection from `uid`: it costs a request's share of the
    /// uid's own pace, but not of everyone's, so one uid connecting in a
    /// loop cannot get other uids' connections refused. A connection over
    /// the share is closed, not queued, so it costs nothing: otherwise a
    /// flood of refused connections would push the uid's next turn ever
    /// further away, long after the flood ended.
    pub fn admit_connection(&mut self, uid: u32, now: Instant) -> Admission {
        let before = self.uids.get(&uid).map(|s| s.tat);
        let admission = self.admit_as(uid, now, false);
        if admission.run_at > now {
            if let (Some(state), Some(tat)) = (self.uids.get_mut(&uid), before) {
                state.tat = tat;
            }
        }
        admission
    }

    fn admit_as(&mut self, uid: u32, now: Instant, shared: bool) -> Admission {
        const REPORT_EVERY: Duration = Duration::from_secs(60);
        if self.uids.len() >= 4096 {
            // Forget uids that are fully rested: they start fresh anyway.
            self.uids.retain(|_, s| s.tat > now);
        }
        let state = self.uids.entry(uid).or_insert(UidState {
            tat: now,
            reported: None,
        });
        let own = self.user.reserve(&mut state.tat, now);
        let run_at = if shared {
            // The shared slot is taken as of now, not as of this uid's own
            // turn: one uid's backlog must not push everyone else back.
            let all_tat = self.all_tat.get_or_insert(now);
            own.max(self.all.reserve(all_tat, now))
        } else {
            own
        };
        let slowed = run_at > now;
        let report = slowed
            && state
                .reported
                .is_none_or(|at| now.duration_since(at) >= REPORT_EVERY);
        if report {
            state.reported = Some(now);
        }
        Admission { run_at, report }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn refused_connections_do_not_push_the_next_turn_away() {
        let t0 = Instant::now();
        let mut p = Pacer::new(20, 5, 1000);
        for _ in 0..5 {
            assert_eq!(p.admit_connection(7, t0).run_at, t0);
        }
        // Thousands of connections over the share are refused...
        for _ in 0..5000 {
            assert!(p.admit_connection(7, t0).run_at > t0);
        }
        // ...and cost nothing: one interval later there is a turn again.
        let later = t0 + 50 * MS;
        assert_eq!(p.admit_connection(7, later).run_at, later);
    }

    #[test]
    fn a_burst_runs_at_once_then_requests_are_spaced_at_the_rate() {
        let t0 = Instant::now();
        let mut p = Pacer::new(20, 5, 1000);
        for _ in 0..5 {
            assert_eq!(p.admit(7, t0).run_at, t0);
        }
        // The sixth waits one interval (50 ms at 20/s), the seventh two.
        let sixth = p.admit(7, t0);
        assert_eq!(sixth.run_at, t0 + 50 * MS);
        assert!(sixth.report);
        let seventh = p.admit(7, t0);
        assert_eq!(seventh.run_at, t0 + 100 * MS);
        assert!(!seventh.report, "reported once, not per request");
        // Another uid is not held up by the first one's backlog.
        assert_eq!(p.admit(8, t0).run_at, t0);
    }

    #[test]
    fn connections_count_against_their_uid_only() {
        let t0 = Instant::now();
        let mut p = Pacer::new(10, 2, 1);
        // Everyone's budget (1/s) is spent by uid 7's request...
        assert_eq!(p.admit(7, t0).run_at, t0);
        assert!(p.admit(8, t0).run_at > t0);
        // ...but uid 9 may still connect, and uid 7 within its own burst.
        assert_eq!(p.admit_connection(9, t0).run_at, t0);
        assert_eq!(p.admit_connection(7, t0).run_at, t0);
        assert!(p.admit_connection(7, t0).run_at > t0);
    }

    #[test]
    fn one_uids_backlog_does_not_hold_up_the_others() {
        let t0 = Instant::now();
        let mut p = Pacer::new(1, 1, 1000);
        for _ in 0..8 {
            p.admit(7, t0);
        }
        assert!(p.admit(7, t0).run_at >= t0 + Duration::from_secs(8));
        assert_eq!(p.admit(8, t0).run_at, t0);
    }

    #[test]
    fn a_rested_uid_gets_its_burst_back() {
        let t0 = Instant::now();
        let mut p = Pacer::new(10, 3, 1000);
        for _ in 0..3 {
            p.admit(7, t0);
        }
        assert!(p.admit(7, t0).run_at > t0);
        let later = t0 + Duration::from_secs(2);
        for _ in 0..3 {
            assert_eq!(p.admit(7, later).run_at, later);
        }
    }

    #[test]
    fn many_uids_together_are_held_to_the_total_rate() {
        let t0 = Instant::now();
        let mut p = Pacer::new(100, 100, 50);
        // 200 different uids, one request each, all at once: the first
        // second's worth (50) runs now, the rest is spread at 50/s.
        let runs: Vec<Instant> = (0..200).map(|uid| p.admit(uid, t0).run_at).collect();
        assert_eq!(runs.iter().filter(|r| **r == t0).count(), 50);
        let last = runs.iter().max().copied().unwrap_or(t0);
        assert_eq!(last, t0 + 150 * 20 * MS);
    }

    #[test]
    fn the_report_repeats_after_a_minute_of_pacing() {
        let t0 = Instant::now();
        let mut p = Pacer::new(1, 1, 1000);
        // Two at once: the second is slowed down, and reported.
        let mut pair = |at: Instant| {
            let first = p.admit(7, at);
            (first, p.admit(7, at))
        };
        let (first, second) = pair(t0);
        assert!(!first.report && second.report && second.run_at > t0);
        let at = t0 + Duration::from_secs(30);
        let (_, second) = pair(at);
        assert!(second.run_at > at && !second.report);
        let at = t0 + Duration::from_secs(61);
        let (_, second) = pair(at);
        assert!(second.run_at > at && second.report);
    }

    #[test]
    fn state_stays_bounded_under_many_uids() {
        let t0 = Instant::now();
        let mut p = Pacer::new(10, 10, 1_000_000);
        for uid in 0..10_000u32 {
            p.admit(uid, t0 + Duration::from_secs(uid as u64));
        }
        assert!(p.uids.len() <= 4096, "{} uids remembered", p.uids.len());
    }
}
