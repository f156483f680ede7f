//! The central mfad's TLS listener for lab machines (`[remote]`). Every
//! connection must present a client certificate from `remote.client_ca`
//! (rustls checks it, and the CRLs); the host it names is the lab machine,
//! refused if it is in `remote.deny_hosts`. The relay's first frame says
//! whose connection it carries ([`mfa_proto::relay::OnBehalf`], read from
//! the lab machine's kernel); after that the connection speaks the same
//! protocol as a local socket and is served by the same state machine,
//! with the caller marked as relayed (see `service::relayed`). Each lab
//! machine has its own cap on connections and its own request pace, so
//! one busy or hostile machine cannot crowd out the others.

use super::connection::Connection;
use super::slots::PerUid;
use super::{admit, Paced, Shared};
use crate::audit;
use crate::authz::{Peer, Via};
use crate::clock::Clock;
use crate::config::RemoteConfig;
use crate::pacing::Pacer;
use crate::store::Store;
use crate::tls::{self, TlsError};
use mfa_proto::codec::tokio::{read_frame, write_frame};
use mfa_proto::relay::{OnBehalf, RELAY_VERSION};
use mfa_proto::{ErrorCode, Response};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

/// A bound TCP socket and the TLS setup its connections need.
pub struct RemoteListener {
    listener: TcpListener,
    acceptor: TlsAcceptor,
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

impl RemoteListener {
    /// Read the certificates and bind `remote.listen`.
    pub async fn bind(cfg: &RemoteConfig) -> Result<RemoteListener, RemoteError> {
        let acceptor = tls::acceptor(cfg)?;
        let listener =
            TcpListener::bind(&cfg.listen)
                .await
                .map_err(|source| RemoteError::Bind {
                    addr: cfg.listen.clone(),
                    source,
                })?;
        Ok(RemoteListener { listener, acceptor })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// TLS handshakes at once, before a peer has proved it is a lab machine.
const HANDSHAKES: usize = 128;

/// A lab machine's key in the per-host pace and connection caps (FNV-1a
/// of its name: two names sharing a key only share a budget).
fn host_key(host: &str) -> u32 {
    host.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

fn refused(addr: SocketAddr, host: &str, reason: &str) {
    eprintln!("mfad: audit remote outcome=refused host={host:?} addr=\"{addr}\" reason={reason:?}");
}

pub(super) async fn accept_loop<S: Store, C: Clock>(
    remote: RemoteListener,
    shared: Arc<Shared<S, C>>,
) {
    let cfg = Arc::new(shared.service.config().remote.clone());
    // Lab machines share one budget of their own, apart from local users'.
    let pacer = Arc::new(std::sync::Mutex::new(Pacer::new(
        cfg.host_rate,
        cfg.host_burst,
        1_000_000,
    )));
    let per_host = PerUid::new(cfg.max_connections_per_host);
    let pool = Arc::new(Semaphore::new(cfg.max_connections));
    // Handshakes in progress have a small pool of their own, so unknown
    // peers cannot take the connections of lab machines that proved
    // who they are.
    let handshakes = Arc::new(Semaphore::new(HANDSHAKES));
    let handshake = Duration::from_secs(shared.service.config().server.frame_timeout_secs);
    loop {
        let (tcp, addr) = match remote.listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("mfad: remote accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(shaking) = handshakes.clone().try_acquire_owned() else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        // A lab machine that vanishes without a word frees its slot.
        let ka = socket2::TcpKeepalive::new()
            .with_time(Duration::from_secs(30))
            .with_interval(Duration::from_secs(10))
            .with_retries(3);
        let _ = socket2::SockRef::from(&tcp).set_tcp_keepalive(&ka);
        // Not `shared` itself: a task holding it would keep the shutdown
        // channel open, and stopping would wait for it forever.
        let (acceptor, service, cfg) =
            (remote.acceptor.clone(), shared.service.clone(), cfg.clone());
        let (shutdown, done) = (shared.notify.subscribe(), shared.done.clone());
        let (pacer, per_host, pool) = (pacer.clone(), per_host.clone(), pool.clone());
        tokio::spawn(async move {
            let mut tls = match timeout(handshake, acceptor.accept(tcp)).await {
                Ok(Ok(t)) => t,
                Ok(Err(e)) => return refused(addr, "", &format!("TLS: {e}")),
                Err(_) => return refused(addr, "", "TLS handshake timed out"),
            };
            let named = match tls.get_ref().1.peer_certificates() {
                Some([cert, ..]) => tls::host_of(cert),
                _ => Err("no client certificate".into()),
            };
            let host = match named {
                Ok(h) => h,
                Err(e) => return refused(addr, "", &e),
            };
            drop(shaking);
            let Ok(_permit) = pool.try_acquire_owned() else {
                return refused(addr, &host, "over remote.max_connections");
            };
            if RemoteConfig::names(&cfg.deny_hosts, &host) {
                return refused(addr, &host, "in remote.deny_hosts");
            }
            let key = host_key(&host);
            let who = format!("lab machine {host:?}");
            let Some(_slot) = per_host.take(key) else {
                return refused(addr, &host, "over remote.max_connections_per_host");
            };
            if admit(&pacer, key, Paced::Connection, Some(&who)).is_some() {
                return;
            }
            let on_behalf = match timeout(handshake, read_frame::<_, OnBehalf>(&mut tls)).await {
                Ok(Ok(p)) if p.version == RELAY_VERSION => p,
                Ok(Ok(p)) => {
                    let msg = format!(
                        "relay protocol version {} is not supported; this mfad speaks {RELAY_VERSION}",
                        p.version
                    );
                    let resp = Response::error(ErrorCode::VersionMismatch, msg);
                    let _ = timeout(handshake, write_frame(&mut tls, &resp)).await;
                    return;
                }
                _ => return refused(addr, &host, "no relay preamble"),
            };
            let peer = Peer {
                uid: on_behalf.uid,
                gid: on_behalf.gid,
                pid: on_behalf.pid,
            };
            let via = Arc::new(Via {
                admin: RemoteConfig::names(&cfg.admin_hosts, &host),
                enroll: cfg.enroll_hosts.is_empty()
                    || RemoteConfig::names(&cfg.enroll_hosts, &host),
                host: host.clone(),
            });
            let caller = match service.caller(peer).await {
                Ok(c) => c.relayed(via.clone()),
                Err(resp) => {
                    let _ = timeout(handshake, write_frame(&mut tls, &resp)).await;
                    return;
                }
            };
            let conn = Connection {
                service,
                pacer,
                shutdown,
                _done: done,
                via: Some((via, key)),
            };
            audit::relayed_by(host.into(), conn.run(tls, caller)).await;
        });
    }
}
