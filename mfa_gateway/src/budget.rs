//! How often page requests may ask mfad. mfad does not pace the
//! gateway's uid as it paces users (a class approving its logins at once
//! would not fit in a user's 20 requests a second), so this budget is
//! what keeps a flood of well-formed random links from turning into a
//! flood of requests to mfad. Page requests over it are answered 429
//! here, without asking mfad; the poller never waits behind them.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Page requests to mfad per second, and at once: a class of 100 opening
/// and answering its links within a few seconds fits; mfad answers many
/// times this.
pub const PAGE_RATE: u32 = 50;
pub const PAGE_BURST: u32 = 100;

/// A token bucket over an injected `Instant`.
pub struct Budget {
    rate: u32,
    burst: u32,
    state: Mutex<(f64, Instant)>,
}

impl Budget {
    pub fn new(rate: u32, burst: u32, now: Instant) -> Self {
        Budget {
            rate,
            burst,
            state: Mutex::new((f64::from(burst), now)),
        }
    }

    /// Take one request's share at `now`; false when there is none left.
    pub fn take(&self, now: Instant) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let rested = now.saturating_duration_since(s.1).as_secs_f64();
        s.0 = (s.0 + rested * f64::from(self.rate)).min(f64::from(self.burst));
        s.1 = now;
        if s.0 >= 1.0 {
            s.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget::new(PAGE_RATE, PAGE_BURST, Instant::now())
    }
}

/// How long until a share is back, for `Retry-After`.
pub const RETRY_AFTER: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let t0 = Instant::now();
        let b = Budget::new(5, 10, t0);
        assert_eq!((0..20).filter(|_| b.take(t0)).count(), 10);
        assert!(!b.take(t0 + Duration::from_millis(100)));
        assert!(b.take(t0 + Duration::from_millis(250)));
        // A long rest refills only up to the burst.
        let later = t0 + Duration::from_secs(60);
        assert_eq!((0..20).filter(|_| b.take(later)).count(), 10);
    }
}
