//! One connection's protocol state machine, the same for a local Unix
//! socket and a lab machine's relayed TLS connection: `hello` first, then
//! one request at a time, each under two deadlines (a long idle one
//! between frames, for a person typing a code, and a short one for a frame
//! that has started, so a client that sends half a frame and stalls is
//! dropped). The caller is resolved again once its cached form is stale,
//! so a connection kept open keeps no role its uid has lost.

use super::{admit, Paced};
use crate::authz::{Caller, Via};
use crate::clock::Clock;
use crate::pacing::Pacer;
use crate::service::{ConnPushes, Service};
use crate::store::Store;
use mfa_proto::codec::tokio::{read_first_byte, read_rest, write_frame};
use mfa_proto::{decode_body, ErrorCode, FrameError, Request, Response, PROTOCOL_VERSION};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::{broadcast, mpsc};
use tokio::time::timeout;

pub(super) struct Connection<S, C> {
    pub(super) service: Arc<Service<S, C>>,
    pub(super) pacer: Arc<std::sync::Mutex<Pacer>>,
    pub(super) shutdown: broadcast::Receiver<()>,
    pub(super) _done: mpsc::Sender<()>,
    /// A relayed connection: the lab machine, and the key its requests
    /// are paced under in `pacer` (every request, root's too: a lab
    /// machine's root is one host among hundreds).
    pub(super) via: Option<(Arc<Via>, u32)>,
}

/// Requests that may wait a long time for something else to happen.
fn waits(req: &Request) -> bool {
    matches!(req, Request::PushWait { .. } | Request::GatewayPoll { .. })
}

/// Resolves when the client closes its end (or sends during a wait,
/// which the protocol does not allow).
async fn hangup<R: AsyncRead + Unpin>(r: &mut R) {
    let mut byte = [0u8; 1];
    let _ = r.read(&mut byte).await;
}

impl<S: Store, C: Clock> Connection<S, C> {
    pub(super) async fn run<T>(mut self, stream: T, caller: Caller)
    where
        T: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let (mut rd, mut wr) = tokio::io::split(stream);
        let peer = caller.peer;
        let sc = self.service.config().server.clone();
        let idle = Duration::from_secs(sc.idle_timeout_secs);
        let frame = Duration::from_secs(sc.frame_timeout_secs);
        let mut greeted = false;
        // Dropped when this connection ends, which cancels its pushes.
        let pushes = ConnPushes::new(self.service.clone());
        loop {
            let first = tokio::select! {
                r = timeout(idle, read_first_byte(&mut rd)) => match r {
                    Ok(Ok(b)) => b,
                    _ => return,
                },
                _ = self.shutdown.recv() => return,
            };
            let body = match timeout(frame, read_rest(&mut rd, first)).await {
                Ok(Ok(body)) => body,
                Ok(Err(FrameError::TooLarge(n))) => {
                    // The body cannot be skipped safely, so answer and close.
                    let msg = format!(
                        "frame of {n} bytes exceeds the {} byte limit",
                        mfa_proto::MAX_FRAME
                    );
                    let resp = Response::error(ErrorCode::FrameTooLarge, msg);
                    let _ = reply(&mut wr, frame, &resp).await;
                    return;
                }
                // Stalled half-frame, truncated frame or I/O error: drop it.
                _ => return,
            };
            let pace_key = match &self.via {
                Some((_, key)) => Some(*key),
                None if peer.uid != 0 && !self.service.is_gateway(&caller) => {
                    Some(caller.pace_key())
                }
                None => None,
            };
            if let Some(key) = pace_key {
                if !self.pace(key).await {
                    return;
                }
            }
            let (resp, keep) = match decode_body::<Request>(&body) {
                Err(e) => {
                    eprintln!(
                        "mfad: bad request from uid {} (pid {:?})",
                        peer.uid, peer.pid
                    );
                    (Response::error(ErrorCode::BadRequest, e.to_string()), true)
                }
                Ok(Request::Hello { version, .. }) if !greeted => {
                    if version == PROTOCOL_VERSION {
                        greeted = true;
                        let server = format!("mfad {}", env!("CARGO_PKG_VERSION"));
                        (
                            Response::Hello {
                                version: PROTOCOL_VERSION,
                                server,
                            },
                            true,
                        )
                    } else {
                        let msg = format!("protocol version {version} is not supported; this mfad speaks {PROTOCOL_VERSION}");
                        (Response::error(ErrorCode::VersionMismatch, msg), false)
                    }
                }
                Ok(_) if !greeted => (
                    Response::error(
                        ErrorCode::VersionMismatch,
                        "the first request must be hello",
                    ),
                    false,
                ),
                Ok(req) => {
                    let now = self.service.caller(peer).await.map(|c| match &self.via {
                        Some((via, _)) => c.relayed(via.clone()),
                        None => c,
                    });
                    match now {
                        Ok(now) if waits(&req) => {
                            // A long wait ends early if the client hangs up
                            // (ssh disconnected): then its push is cancelled.
                            tokio::select! {
                                resp = self.service.handle_in(&now, &pushes, req) => (resp, true),
                                _ = hangup(&mut rd) => return,
                                _ = self.shutdown.recv() => return,
                            }
                        }
                        Ok(now) => (self.service.handle_in(&now, &pushes, req).await, true),
                        Err(resp) => (resp, false),
                    }
                }
            };
            if reply(&mut wr, frame, &resp).await.is_err() || !keep {
                return;
            }
        }
    }

    /// Wait until a request under pacing key `key` may run; false if mfad
    /// is stopping.
    async fn pace(&mut self, key: u32) -> bool {
        let who = self
            .via
            .as_ref()
            .map(|(via, _)| format!("lab machine {:?}", via.host));
        let Some(run_at) = admit(&self.pacer, key, Paced::Request, who.as_deref()) else {
            return true;
        };
        let at = tokio::time::Instant::from_std(run_at);
        tokio::select! {
            _ = tokio::time::sleep_until(at) => true,
            _ = self.shutdown.recv() => false,
        }
    }
}

async fn reply<W: AsyncWrite + Unpin>(
    w: &mut W,
    limit: Duration,
    resp: &Response,
) -> Result<(), FrameError> {
    timeout(limit, write_frame(w, resp))
        .await
        .map_err(|_| FrameError::TimedOut)?
}
