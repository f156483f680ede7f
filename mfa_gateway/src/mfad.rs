//! The gateway's side of mfad's socket: connect, check that root serves
//! it (before a byte is sent, the rule of `mfa_proto::client`), greet, and
//! ask. Page requests use short connections, at most [`MAX_CALLS`] at once
//! since mfad paces each uid; the poller keeps one long connection.

use mfa_proto::codec::tokio::{read_frame, write_frame};
use mfa_proto::{encode, FrameError, Request, Response, PROTOCOL_VERSION};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

/// The name the gateway gives in `hello`.
pub const CLIENT_NAME: &str = "mfa-gateway";
/// Short connections to mfad open at once.
pub const MAX_CALLS: usize = 4;
/// Bound on one short call as a whole, waiting for a slot included.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum MfadError {
    #[error("cannot connect to mfad at {path}: {source}")]
    Connect {
        path: String,
        source: std::io::Error,
    },
    /// Whoever listens there is not mfad: only root's answers count.
    #[error("the socket {path} is served by uid {uid}, not root: refusing to trust it")]
    UntrustedPeer { path: String, uid: u32 },
    #[error("mfad did not answer in time")]
    TimedOut,
    #[error("protocol error talking to mfad: {0}")]
    Frame(FrameError),
    /// Said without the text around the error, which could be a token.
    #[error("mfad sent a message the gateway cannot read ({0})")]
    Malformed(String),
    #[error("mfad refused the handshake: {0}")]
    Handshake(String),
}

impl From<FrameError> for MfadError {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::TimedOut => MfadError::TimedOut,
            FrameError::Json(j) => {
                MfadError::Malformed(format!("{:?} at column {}", j.classify(), j.column()))
            }
            e => MfadError::Frame(e),
        }
    }
}

/// How to reach mfad.
pub struct Mfad {
    socket: PathBuf,
    calls: Semaphore,
    timeout: Duration,
}

/// A connection that has completed `hello`.
pub struct Conn {
    stream: UnixStream,
}

impl Mfad {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Mfad {
            socket: socket.into(),
            calls: Semaphore::new(MAX_CALLS),
            timeout: CALL_TIMEOUT,
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// One request on a connection of its own: `hello` and the request go
    /// out in one write, then both answers are read, all within the call
    /// timeout (the wait for a free slot included).
    pub async fn call(&self, req: &Request) -> Result<Response, MfadError> {
        tokio::time::timeout(self.timeout, async {
            let _slot = self
                .calls
                .acquire()
                .await
                .map_err(|_| MfadError::TimedOut)?;
            let mut stream = self.connect().await?;
            let mut out = Zeroizing::new(Vec::with_capacity(512));
            out.extend_from_slice(&encode(&hello())?);
            out.extend_from_slice(&encode(req)?);
            stream.write_all(&out).await.map_err(FrameError::from)?;
            read_hello(&mut stream).await?;
            Ok(read_frame(&mut stream).await?)
        })
        .await
        .map_err(|_| MfadError::TimedOut)?
    }

    /// A long-lived connection, greeted, for the poller.
    pub async fn open(&self) -> Result<Conn, MfadError> {
        tokio::time::timeout(self.timeout, async {
            let mut stream = self.connect().await?;
            write_frame(&mut stream, &hello()).await?;
            read_hello(&mut stream).await?;
            Ok(Conn { stream })
        })
        .await
        .map_err(|_| MfadError::TimedOut)?
    }

    /// Connect and check the peer before anything is sent: a user who put
    /// a socket where the gateway looks could otherwise hand it fake
    /// pushes or read the decisions typed on the page.
    async fn connect(&self) -> Result<UnixStream, MfadError> {
        let connect_err = |source| MfadError::Connect {
            path: self.socket.display().to_string(),
            source,
        };
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(connect_err)?;
        let uid = stream.peer_cred().map_err(connect_err)?.uid();
        if uid != 0 {
            return Err(MfadError::UntrustedPeer {
                path: self.socket.display().to_string(),
                uid,
            });
        }
        Ok(stream)
    }
}

impl Conn {
    /// Send one request and wait up to `within` for its answer.
    pub async fn call(&mut self, req: &Request, within: Duration) -> Result<Response, MfadError> {
        tokio::time::timeout(within, async {
            write_frame(&mut self.stream, req).await?;
            Ok(read_frame(&mut self.stream).await?)
        })
        .await
        .map_err(|_| MfadError::TimedOut)?
    }
}

fn hello() -> Request {
    Request::Hello {
        version: PROTOCOL_VERSION,
        client: CLIENT_NAME.into(),
    }
}

async fn read_hello(stream: &mut UnixStream) -> Result<(), MfadError> {
    match read_frame(stream).await? {
        Response::Hello { version, .. } if version == PROTOCOL_VERSION => Ok(()),
        Response::Hello { version, .. } => Err(MfadError::Handshake(format!(
            "mfad speaks protocol version {version}, the gateway {PROTOCOL_VERSION}"
        ))),
        Response::Error { code, message } => {
            Err(MfadError::Handshake(format!("{message} ({code:?})")))
        }
        _ => Err(MfadError::Handshake("unexpected answer to hello".into())),
    }
}
