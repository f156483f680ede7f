//! The in-memory side of pushes: wake-ups for logins waiting on a push
//! and for the gateway's poll, whether the gateway is polling, and which
//! pushes a connection opened (cancelled when it closes). A store shared
//! with other mfads also hands over their wake-ups ([`Store::wakeups`]).
//! The store is the truth; a lost wake-up costs at most one re-read
//! interval (`push.reread_secs`).

use super::Service;
use crate::audit;
use crate::clock::Clock;
use crate::store::{PushState, Store, Wakeup};
use mfa_proto::push::{GatewayInfo, PendingPush};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// In-memory wake-ups. The store is the truth; a lost wake-up costs at
/// most one re-read interval.
#[derive(Default)]
pub(super) struct PushHub {
    waiters: Arc<Waiters>,
    /// For the account's desktop sessions (D-Bus).
    pub(super) events: Events,
    /// Whether the store's wake-ups are being followed.
    following: Mutex<bool>,
    pub(super) deliveries: Notify,
    gateway: Mutex<GatewaySeen>,
}

type Waiters = Mutex<HashMap<String, Arc<Notify>>>;

/// What the account's desktop sessions hear about its pushes (D-Bus).
/// Only hints, as wake-ups are: a listener that falls behind re-reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushEvent {
    /// A login push was opened; it waits for `.view.user`'s answer.
    Opened(PendingPush),
    /// Push `id` may have ended: re-read it.
    Changed(String),
}

pub(super) struct Events(pub(super) tokio::sync::broadcast::Sender<PushEvent>);

impl Default for Events {
    fn default() -> Self {
        Events(tokio::sync::broadcast::channel(256).0)
    }
}

#[derive(Default)]
struct GatewaySeen {
    polling: usize,
    last: Option<Instant>,
    info: GatewayInfo,
}

/// A gateway not polling for this long counts as not running. It polls
/// again as soon as a poll is answered, and reconnects within a second or
/// so after an error, so a longer gap means it is down.
const GATEWAY_GONE: Duration = Duration::from_secs(5);

impl PushHub {
    pub(super) fn waiter(&self, id: &str) -> Arc<Notify> {
        let mut w = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        w.entry(id.to_string()).or_default().clone()
    }
    pub(super) fn forget(&self, id: &str) {
        let mut w = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        w.remove(id);
    }
    pub(super) fn wake(&self, id: &str) {
        wake(&self.waiters, &Wakeup::Push(id.to_string()));
        // Nobody listening is no error.
        let _ = self.events.0.send(PushEvent::Changed(id.to_string()));
    }

    /// Pass the wake-ups of other mfads sharing `store` to the waiters
    /// here, from the first call on (from inside the runtime).
    pub(super) fn follow<S: Store>(&self, store: &S) {
        let mut following = self.following.lock().unwrap_or_else(|p| p.into_inner());
        if *following {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        *following = true;
        let Some(mut rx) = store.wakeups() else {
            return;
        };
        let waiters: Weak<Waiters> = Arc::downgrade(&self.waiters);
        rt.spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                let hint = match rx.recv().await {
                    Ok(hint) => hint,
                    // Some were dropped: which ones is unknown.
                    Err(RecvError::Lagged(_)) => Wakeup::All,
                    Err(RecvError::Closed) => return,
                };
                let Some(waiters) = waiters.upgrade() else {
                    return;
                };
                wake(&waiters, &hint);
            }
        });
    }
    pub(super) fn polling(&self, info: GatewayInfo) -> PollGuard<'_> {
        let mut g = self.gateway.lock().unwrap_or_else(|p| p.into_inner());
        g.polling += 1;
        g.info = info;
        g.last = Some(Instant::now());
        PollGuard(self)
    }
    /// What the gateway said it delivers through, if it is running.
    pub(super) fn gateway(&self) -> Option<GatewayInfo> {
        let g = self.gateway.lock().unwrap_or_else(|p| p.into_inner());
        let alive = g.polling > 0 || g.last.is_some_and(|t| t.elapsed() < GATEWAY_GONE);
        alive.then(|| g.info.clone())
    }
}

/// Wake the waiter of the push `hint` names, or every waiter. A wake-up
/// with nobody waiting yet is kept (Notify's permit), so one that comes
/// between a waiter's read and its wait is not lost.
fn wake(waiters: &Waiters, hint: &Wakeup) {
    let w = waiters.lock().unwrap_or_else(|p| p.into_inner());
    match hint {
        Wakeup::Push(id) => {
            if let Some(n) = w.get(id) {
                n.notify_one();
            }
        }
        Wakeup::All => w.values().for_each(|n| n.notify_one()),
    }
}

pub(super) struct PollGuard<'a>(&'a PushHub);

impl Drop for PollGuard<'_> {
    fn drop(&mut self) {
        let mut g = self.0.gateway.lock().unwrap_or_else(|p| p.into_inner());
        g.polling = g.polling.saturating_sub(1);
        g.last = Some(Instant::now());
    }
}

/// The pushes one connection opened; dropping it (the connection closed)
/// cancels those still pending.
pub struct ConnPushes<S: Store, C: Clock> {
    svc: Arc<Service<S, C>>,
    ids: Mutex<Vec<String>>,
}

impl<S: Store, C: Clock> ConnPushes<S, C> {
    pub fn new(svc: Arc<Service<S, C>>) -> Self {
        ConnPushes {
            svc,
            ids: Mutex::new(Vec::new()),
        }
    }
    pub(super) fn add(&self, id: &str) {
        self.ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(id.to_string());
    }
    /// Take `id` from this connection's pushes; false if it is not one.
    pub(super) fn take(&self, id: &str) -> bool {
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        let before = ids.len();
        ids.retain(|i| i != id);
        ids.len() != before
    }
    pub(super) fn owns(&self, id: &str) -> bool {
        let ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        ids.iter().any(|i| i == id)
    }
}

impl<S: Store, C: Clock> Drop for ConnPushes<S, C> {
    fn drop(&mut self) {
        let ids = std::mem::take(self.ids.get_mut().unwrap_or_else(|p| p.into_inner()));
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        for id in ids {
            let svc = self.svc.clone();
            rt.spawn(async move {
                if let Ok(true) = svc.store.end_push(&id, PushState::Cancelled).await {
                    audit::push_event(&id, "cancelled reason=login_gone");
                    svc.push_hub.wake(&id);
                }
                svc.push_hub.forget(&id);
            });
        }
    }
}
