//! A lab machine's mfad with `[upstream]`: the same Unix sockets as a
//! single host, so pam_mfa and `mfa` need no change, but no store, no key
//! and no enrollment. Each local connection becomes one TLS connection to
//! the first central mfad in `upstream.servers` that answers, opened by a
//! preamble naming the caller as this machine's kernel reports it
//! (SO_PEERCRED); from then on the bytes pass through unchanged and the
//! central mfad decides everything. When no central mfad answers, the
//! caller's `hello` is answered with "unavailable", which the module turns
//! into PAM_AUTHINFO_UNAVAIL and the stopped-daemon message; the next
//! connection tries again, so service resumes by itself.

use super::slots::PerUid;
use super::{admit, Paced};
use crate::config::{Config, UpstreamConfig};
use crate::pacing::Pacer;
use crate::tls::{self, TlsError};
use mfa_proto::codec::tokio::{read_first_byte, read_rest, write_frame};
use mfa_proto::relay::{OnBehalf, RELAY_VERSION};
use mfa_proto::{encode, ErrorCode, Response};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, Semaphore};
use tokio::time::timeout;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

/// Where and how to reach the central mfads.
pub struct Upstream {
    connector: TlsConnector,
    servers: Vec<(String, ServerName<'static>)>,
    connect: Duration,
}

impl Upstream {
    /// Read the certificates (at start, so a bad file stops mfad).
    pub fn new(cfg: &UpstreamConfig) -> Result<Upstream, TlsError> {
        let servers = cfg
            .servers
            .iter()
            .map(|s| Ok((s.clone(), tls::server_name(s)?)))
            .collect::<Result<_, TlsError>>()?;
        Ok(Upstream {
            connector: tls::connector(cfg)?,
            servers,
            connect: Duration::from_millis(cfg.connect_timeout_ms),
        })
    }

    /// The first server that accepts a TLS connection, in order; else
    /// what went wrong with each.
    async fn connect(&self) -> Result<TlsStream<TcpStream>, String> {
        let mut why = Vec::new();
        for (addr, name) in &self.servers {
            let attempt = async {
                let tcp = TcpStream::connect(addr.as_str()).await?;
                let _ = tcp.set_nodelay(true);
                keepalive(&tcp);
                self.connector.connect(name.clone(), tcp).await
            };
            match timeout(self.connect, attempt).await {
                Ok(Ok(s)) => return Ok(s),
                Ok(Err(e)) => why.push(format!("{addr}: {e}")),
                Err(_) => why.push(format!("{addr}: no answer within {:?}", self.connect)),
            }
        }
        Err(why.join("; "))
    }
}

/// Probe an idle connection to a central mfad after 30 s, every 10 s,
/// and give up after 3 probes unanswered: about a minute.
fn keepalive(tcp: &TcpStream) {
    let ka = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(30))
        .with_interval(Duration::from_secs(10))
        .with_retries(3);
    if let Err(e) = socket2::SockRef::from(tcp).set_tcp_keepalive(&ka) {
        eprintln!("mfad: cannot set TCP keepalive: {e}");
    }
}

/// Relay every connection on `listeners` until `shutdown` completes, then
/// wait for open ones to end. Local callers are capped and paced as on a
/// single host (root apart), so no local user can take root's turn.
pub async fn serve_relay(
    listeners: Vec<UnixListener>,
    upstream: Arc<Upstream>,
    cfg: Config,
    shutdown: impl Future<Output = ()>,
) {
    let (notify, _) = broadcast::channel::<()>(1);
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let sc = cfg.server.clone();
    let local = Arc::new(Local {
        upstream,
        root: Arc::new(Semaphore::new(sc.max_connections)),
        users: Arc::new(Semaphore::new(sc.max_connections)),
        per_uid: PerUid::new(sc.max_connections_per_uid),
        pacer: std::sync::Mutex::new(Pacer::new(sc.user_rate, sc.user_burst, sc.users_rate)),
        idle: Duration::from_secs(sc.idle_timeout_secs),
        frame: Duration::from_secs(sc.frame_timeout_secs),
    });
    let loops: Vec<_> = listeners
        .into_iter()
        .map(|l| {
            let (local, notify, done) = (local.clone(), notify.clone(), done_tx.clone());
            tokio::spawn(accept_loop(l, local, notify, done))
        })
        .collect();
    shutdown.await;
    for l in &loops {
        l.abort();
    }
    for l in loops {
        let _ = l.await;
    }
    drop(notify);
    drop(done_tx);
    let _ = done_rx.recv().await;
}

struct Local {
    upstream: Arc<Upstream>,
    root: Arc<Semaphore>,
    users: Arc<Semaphore>,
    per_uid: PerUid,
    pacer: std::sync::Mutex<Pacer>,
    idle: Duration,
    frame: Duration,
}

async fn accept_loop(
    listener: UnixListener,
    local: Arc<Local>,
    notify: broadcast::Sender<()>,
    done: mpsc::Sender<()>,
) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                eprintln!("mfad: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(cred) = stream.peer_cred() else {
            continue;
        };
        let on_behalf = OnBehalf {
            version: RELAY_VERSION,
            uid: cred.uid(),
            gid: cred.gid(),
            pid: cred.pid(),
        };
        let slot = if on_behalf.uid == 0 {
            let Ok(permit) = local.root.clone().try_acquire_owned() else {
                continue;
            };
            (None, permit)
        } else {
            let uid = on_behalf.uid;
            if admit(&local.pacer, uid, Paced::Connection, None).is_some() {
                continue;
            }
            let Some(s) = local.per_uid.take(uid) else {
                continue;
            };
            let Ok(permit) = local.users.clone().try_acquire_owned() else {
                continue;
            };
            (Some(s), permit)
        };
        let (local, mut shutdown, done) = (local.clone(), notify.subscribe(), done.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let _done = done;
            tokio::select! {
                _ = relay_one(&local, stream, on_behalf) => {}
                _ = shutdown.recv() => {}
            }
        });
    }
}

/// Carry one local connection to a central mfad and back.
async fn relay_one(local: &Local, mut stream: UnixStream, on_behalf: OnBehalf) {
    // The caller's hello is read first, so a failure to reach a central
    // mfad can be answered in the protocol rather than by hanging up.
    let hello = match timeout(local.idle, read_first_byte(&mut stream)).await {
        Ok(Ok(first)) => match timeout(local.frame, read_rest(&mut stream, first)).await {
            Ok(Ok(body)) => body,
            _ => return,
        },
        _ => return,
    };
    if on_behalf.uid != 0 && admit(&local.pacer, on_behalf.uid, Paced::Request, None).is_some() {
        let resp = Response::error(ErrorCode::Unavailable, "too many requests; try again");
        let _ = timeout(local.frame, write_frame(&mut stream, &resp)).await;
        return;
    }
    let mut up = match local.upstream.connect().await {
        Ok(up) => up,
        Err(why) => {
            eprintln!(
                "mfad: cannot reach a central mfad ({why}); refusing uid {}",
                on_behalf.uid
            );
            let resp = Response::error(
                ErrorCode::Unavailable,
                "this machine cannot reach the central mfad; try again later",
            );
            let _ = timeout(local.frame, write_frame(&mut stream, &resp)).await;
            return;
        }
    };
    let Ok(preamble) = encode(&on_behalf) else {
        return;
    };
    let mut framed_hello = zeroize::Zeroizing::new(Vec::with_capacity(hello.len() + 4));
    framed_hello.extend_from_slice(&(hello.len() as u32).to_be_bytes());
    framed_hello.extend_from_slice(&hello);
    let sent = async {
        up.write_all(&preamble).await?;
        up.write_all(&framed_hello).await?;
        up.flush().await
    };
    if timeout(local.frame, sent)
        .await
        .map_or(true, |r| r.is_err())
    {
        return;
    }
    // The central mfad keeps the deadlines (idle, half frames, waits):
    // an end of stream on either side is passed on as a shutdown to the
    // other, which then closes too. A central that vanishes without a word
    // (a cut cable) is found by TCP keepalive, so no slot is held forever.
    let _ = tokio::io::copy_bidirectional(&mut stream, &mut up).await;
}
