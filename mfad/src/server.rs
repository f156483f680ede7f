//! The accept loop and the per-connection protocol state machine, after
//! mini-redis: the listener and the shutdown signal come in as arguments,
//! semaphores cap connections (root's and everyone else's separately, and
//! a few per non-root uid, so no local user can starve sshd), and a
//! broadcast channel tells every connection to finish when the daemon stops.
//!
//! Requests from uids other than root are paced ([`crate::pacing`]): a
//! uid that sends faster than its share is answered later.
//!
//! Each connection gets two deadlines: a long idle one between frames (a
//! person typing a code) and a short one for a frame that has started, so a
//! client that sends half a frame and stalls is dropped.

mod connection;
mod relay;
mod remote;
mod slots;

use crate::authz::Peer;
use crate::clock::Clock;
use crate::pacing::Pacer;
use crate::service::Service;
use crate::store::Store;
use connection::Connection;
pub use relay::{serve_relay, Upstream};
pub use remote::{RemoteError, RemoteListener};
use slots::PerUid;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UnixListener;
use tokio::sync::{broadcast, mpsc, Semaphore};

/// Serve on every listener until `shutdown` completes, then wait for open
/// connections to finish their current request. The listeners share every
/// limit; a socket only root can open (see [`mfa_proto::root_socket_for`])
/// has its own listen queue, which is what keeps root's logins out of a
/// flood of connections on the public one.
pub async fn serve<S: Store, C: Clock>(
    listeners: Vec<UnixListener>,
    service: Arc<Service<S, C>>,
    shutdown: impl Future<Output = ()>,
) {
    serve_with(listeners, None, service, shutdown).await
}

/// [`serve`], and with `remote` also lab machines' relays over TLS.
pub async fn serve_with<S: Store, C: Clock>(
    listeners: Vec<UnixListener>,
    remote: Option<RemoteListener>,
    service: Arc<Service<S, C>>,
    shutdown: impl Future<Output = ()>,
) {
    let (notify, _) = broadcast::channel::<()>(1);
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let max = service.config().server.max_connections;
    // Two pools of the same size: root's (sshd, login, su) and everyone
    // else's, so no user can take the connections logins need.
    let pools = Pools {
        root: Arc::new(Semaphore::new(max)),
        users: Arc::new(Semaphore::new(max)),
    };
    let sc = &service.config().server;
    let shared = Arc::new(Shared {
        service: service.clone(),
        pools,
        per_uid: PerUid::new(sc.max_connections_per_uid),
        pacer: Arc::new(std::sync::Mutex::new(Pacer::new(
            sc.user_rate,
            sc.user_burst,
            sc.users_rate,
        ))),
        notify: notify.clone(),
        done: done_tx.clone(),
    });
    // One task per listener, so a flood on one cannot take the others'
    // turn to accept.
    let mut loops: Vec<_> = listeners
        .into_iter()
        .map(|l| tokio::spawn(accept_loop(l, shared.clone())))
        .collect();
    if let Some(remote) = remote {
        loops.push(tokio::spawn(remote::accept_loop(remote, shared.clone())));
    }
    drop(shared);
    shutdown.await;
    for l in &loops {
        l.abort();
    }
    for l in loops {
        let _ = l.await;
    }
    drop(notify);
    drop(done_tx);
    // Every connection holds a sender; recv returns None when all are gone.
    let _ = done_rx.recv().await;
}

/// What every accept loop shares.
struct Shared<S, C> {
    service: Arc<Service<S, C>>,
    pools: Pools,
    per_uid: PerUid,
    pacer: Arc<std::sync::Mutex<Pacer>>,
    notify: broadcast::Sender<()>,
    done: mpsc::Sender<()>,
}

async fn accept_loop<S: Store, C: Clock>(listener: UnixListener, shared: Arc<Shared<S, C>>) {
    let Shared {
        service,
        pools,
        per_uid,
        pacer,
        notify,
        done,
    } = &*shared;
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // Typically EMFILE: back off instead of spinning.
                eprintln!("mfad: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let peer = match stream.peer_cred() {
            Ok(c) => Peer {
                uid: c.uid(),
                gid: c.gid(),
                pid: c.pid(),
            },
            Err(e) => {
                eprintln!("mfad: cannot read peer credentials: {e}");
                continue;
            }
        };
        // Over a cap the connection is closed at once rather than queued:
        // a waiting accept would hold up every other caller.
        let slot = if peer.uid == 0 {
            let Ok(permit) = pools.root.clone().try_acquire_owned() else {
                continue;
            };
            (None, permit)
        } else {
            // A new connection costs a request's share of the caller's
            // pace; one that is over it is closed here, before any task
            // exists for it, so connecting in a loop cannot crowd root's
            // work. Until the caller is resolved, its key is its uid.
            let key = service.pace_key_hint(&peer);
            // The push gateway is held to a budget of its own (it asks
            // mfad for page requests at a bounded rate, and deliveries are
            // bounded by the fatigue limits): pacing it like a user would
            // make a class approving at once fail.
            if !service.is_gateway_hint(&peer)
                && admit(pacer, key, Paced::Connection, None).is_some()
            {
                continue;
            }
            let Some(uid_slot) = per_uid.take(key) else {
                continue;
            };
            let Ok(permit) = pools.users.clone().try_acquire_owned() else {
                continue;
            };
            (Some(uid_slot), permit)
        };
        let conn = Connection {
            service: service.clone(),
            pacer: pacer.clone(),
            shutdown: notify.subscribe(),
            _done: done.clone(),
            via: None,
        };
        let per_uid = per_uid.clone();
        tokio::spawn(async move {
            let (uid_slot, _permit) = slot;
            let Ok(caller) = conn.service.caller(peer).await else {
                return;
            };
            // The caller may be paced under another key than its uid (see
            // Caller::pace_key): move its connection slot there.
            let _uid_slot = match uid_slot {
                Some(s) if s.uid != caller.pace_key() => {
                    // Charged to the key it really belongs to, like any
                    // other connection of that key.
                    if admit(&conn.pacer, caller.pace_key(), Paced::Connection, None).is_some() {
                        return;
                    }
                    match per_uid.take(caller.pace_key()) {
                        Some(moved) => Some(moved),
                        None => return,
                    }
                }
                other => other,
            };
            conn.run(stream, caller).await;
        });
    }
}

/// Connection slots: root's and everyone else's.
struct Pools {
    root: Arc<Semaphore>,
    users: Arc<Semaphore>,
}

/// What a non-root uid, or a lab machine, is paced for.
#[derive(Clone, Copy)]
enum Paced {
    Connection,
    Request,
}

/// Charge `uid` (a pacing key, see `Caller::pace_key`) for a connection or
/// a request arriving now: None if it is within the key's share, else when
/// it would be. Says so in the log once a minute per key over its share,
/// naming it as `who` (a lab machine) or else by its uid.
fn admit(
    pacer: &std::sync::Mutex<Pacer>,
    uid: u32,
    what: Paced,
    who: Option<&str>,
) -> Option<std::time::Instant> {
    let now = std::time::Instant::now();
    // The lock is not held while logging.
    let admission = {
        let mut pacer = pacer.lock().unwrap_or_else(|p| p.into_inner());
        match what {
            Paced::Connection => pacer.admit_connection(uid, now),
            Paced::Request => pacer.admit(uid, now),
        }
    };
    if admission.report {
        let (doing, answer) = match what {
            Paced::Connection => ("opens connections", "closing them"),
            Paced::Request => ("sends requests", "answering it more slowly"),
        };
        match who {
            Some(who) => eprintln!("mfad: {who} {doing} faster than its share; {answer}"),
            None => eprintln!("mfad: uid {uid} {doing} faster than its share; {answer}"),
        }
    }
    (admission.run_at > now).then_some(admission.run_at)
}
