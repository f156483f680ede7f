//! Whose turn it is on the bus: callers other than root are paced as on
//! the socket (`[server] user_rate` and friends, with a budget of their
//! own), and at most a few requests of one uid are answered at once,
//! since zbus starts a task for every call and a flood must not become
//! unbounded tasks. Past a short wait the answer is "try again".

use crate::authz::{Caller, Role};
use crate::pacing::Pacer;
use mfa_proto::{ErrorCode, Response};
use std::collections::HashMap;
use std::sync::Mutex;

pub(super) struct Turns {
    pacer: Mutex<Pacer>,
    /// Requests being answered, per pacing key.
    in_flight: Mutex<HashMap<u32, usize>>,
}

/// Requests one uid may have answered at once (zbus starts a task for
/// each call, so a flood must not become unbounded tasks).
const IN_FLIGHT: usize = 4;
/// The longest a request waits for its turn before it is refused.
const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// One request being answered; its slot is given back when dropped.
pub(super) struct InFlight<'a> {
    map: &'a Mutex<HashMap<u32, usize>>,
    key: u32,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.key);
            }
        }
    }
}

impl Turns {
    pub(super) fn new(pacer: Pacer) -> Turns {
        Turns {
            pacer: Mutex::new(pacer),
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// Wait for `caller`'s turn: at most [`IN_FLIGHT`] of its requests at
    /// once, each paced as on the socket; past [`MAX_WAIT`] it is told to
    /// come back instead of queueing. Root is never held back.
    pub(super) async fn take(&self, caller: &Caller) -> Result<Option<InFlight<'_>>, Response> {
        if caller.role == Role::Root {
            return Ok(None);
        }
        let key = caller.pace_key();
        let busy = || {
            Response::error(
                ErrorCode::RateLimited,
                format!(
                    "too many D-Bus requests from uid {}; try again in a moment",
                    caller.peer.uid
                ),
            )
        };
        let turn = {
            let mut m = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            let n = m.entry(key).or_insert(0);
            if *n >= IN_FLIGHT {
                return Err(busy());
            }
            *n += 1;
            InFlight {
                map: &self.in_flight,
                key,
            }
        };
        let now = std::time::Instant::now();
        let admission = self
            .pacer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .admit(key, now);
        if admission.report {
            eprintln!(
                "mfad: uid {} sends D-Bus requests faster than its share; answering it more slowly",
                caller.peer.uid
            );
        }
        if admission.run_at > now + MAX_WAIT {
            return Err(busy());
        }
        if admission.run_at > now {
            tokio::time::sleep_until(tokio::time::Instant::from_std(admission.run_at)).await;
        }
        Ok(Some(turn))
    }
}
