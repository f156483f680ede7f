//! Connection slots per pacing key: a few open connections per non-root
//! uid (or per shared key, see `Caller::pace_key`), released when a
//! connection's slot drops.

use std::collections::HashMap;
use std::sync::Arc;

/// Open connections per pacing key (see `Caller::pace_key`), released
/// when a connection's slot drops.
#[derive(Clone)]
pub(super) struct PerUid {
    max: usize,
    open: Arc<std::sync::Mutex<HashMap<u32, usize>>>,
}

pub(super) struct UidSlot {
    pub(super) uid: u32,
    open: Arc<std::sync::Mutex<HashMap<u32, usize>>>,
}

impl PerUid {
    pub(super) fn new(max: usize) -> Self {
        PerUid {
            max,
            open: Default::default(),
        }
    }

    pub(super) fn take(&self, uid: u32) -> Option<UidSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(uid).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(UidSlot {
            uid,
            open: self.open.clone(),
        })
    }
}

impl Drop for UidSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.uid) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.uid);
            }
        }
    }
}
