//! Push signals, unicast: `PushPending` and `PushResolved` go only to the
//! connections of the account concerned (the bus delivers a signal with a
//! destination to that connection alone), so no other user learns who is
//! logging in where. The service's push events are hints; this side keeps
//! the pushes it announced and re-reads each one when it may have ended,
//! and all of them now and then, since an expiry wakes nobody.

use super::backend::Backend;
use super::callers::Callers;
use super::convert;
use super::interface::{Mfad1, IFACE, PATH};
use crate::service::PushEvent;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use zbus::names::BusName;
use zbus::object_server::SignalEmitter;
use zbus::OwnedVariant;

/// How often the announced pushes are re-read without a hint.
const SWEEP: Duration = Duration::from_secs(2);

pub(super) async fn forward(
    conn: zbus::Connection,
    backend: Arc<dyn Backend>,
    callers: Arc<Callers>,
) {
    let mut rx = backend.push_events();
    // Announced and not yet resolved: id -> account.
    let mut announced: HashMap<String, String> = HashMap::new();
    let mut sweep = tokio::time::interval(SWEEP);
    loop {
        let recheck: Vec<String> = tokio::select! {
            ev = rx.recv() => match ev {
                Ok(PushEvent::Opened(p)) => {
                    let user = p.view.user.clone();
                    let ems = emitters(&conn, &callers, &user);
                    // Nobody of the account listens: nothing to follow.
                    if ems.is_empty() {
                        continue;
                    }
                    let ctx = convert::pending(&p);
                    for em in ems {
                        if let Err(e) = Mfad1::push_pending(&em, &p.id, &ctx).await {
                            eprintln!("mfad: D-Bus PushPending not sent: {e}");
                        }
                    }
                    invalidate(&conn, &callers, &user, "PendingPushes").await;
                    announced.insert(p.id, user);
                    continue;
                }
                Ok(PushEvent::Changed(id)) if announced.contains_key(&id) => vec![id],
                Ok(PushEvent::Changed(_)) => continue,
                Err(RecvError::Lagged(_)) => announced.keys().cloned().collect(),
                Err(RecvError::Closed) => return,
            },
            _ = sweep.tick() => announced.keys().cloned().collect(),
        };
        for id in recheck {
            let state = backend.push_state(id.clone()).await;
            let ended = match &state {
                Some((_, s)) => !s.is_pending(),
                // Gone from the store (pruned, the account removed).
                None => true,
            };
            if !ended {
                continue;
            }
            let Some(user) = announced.remove(&id) else {
                continue;
            };
            let outcome = state.map(|(_, s)| s.as_str()).unwrap_or("cancelled");
            for em in emitters(&conn, &callers, &user) {
                if let Err(e) = Mfad1::push_resolved(&em, &id, outcome).await {
                    eprintln!("mfad: D-Bus PushResolved not sent: {e}");
                }
            }
            invalidate(&conn, &callers, &user, "PendingPushes").await;
        }
    }
}

/// One emitter per known connection of `user`, each addressed to it.
fn emitters<'a>(conn: &zbus::Connection, callers: &Callers, user: &str) -> Vec<SignalEmitter<'a>> {
    callers
        .names_of(user)
        .into_iter()
        .filter_map(|name| {
            let dest = BusName::try_from(name).ok()?;
            let em = SignalEmitter::new(conn, PATH).ok()?;
            Some(em.set_destination(dest))
        })
        .collect()
}

/// Tell `user`'s connections that their view of `property` changed (its
/// value is per caller, so it is invalidated, not sent).
pub(super) async fn invalidate(
    conn: &zbus::Connection,
    callers: &Callers,
    user: &str,
    property: &str,
) {
    let none: HashMap<&str, OwnedVariant> = HashMap::new();
    for em in emitters(conn, callers, user) {
        let body = (IFACE, &none, vec![property]);
        if let Err(e) = em
            .emit(
                "org.freedesktop.DBus.Properties",
                "PropertiesChanged",
                &body,
            )
            .await
        {
            eprintln!("mfad: D-Bus PropertiesChanged not sent: {e}");
        }
    }
}
