//! The blocking client, for the PAM module and the CLI: connect, check
//! that root is on the other end, say hello, and keep one deadline over the
//! whole exchange. No runtime, no threads, so a stuck daemon can never hang
//! sshd or login, and no signal: std's `UnixStream` sends with
//! `MSG_NOSIGNAL`, so a daemon that goes away is an EPIPE error here, never
//! a SIGPIPE that would kill a C host program (login, su, sudo).

use crate::codec::sync::{read_frame, write_frame};
use crate::{encode, FrameError, Request, Response, PROTOCOL_VERSION};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// Why a call to the daemon failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to mfad at {path}: {source}")]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("mfad did not answer in time")]
    TimedOut,
    #[error("protocol error talking to mfad: {0}")]
    Frame(FrameError),
    #[error("mfad refused the protocol handshake: {0}")]
    Handshake(String),
    /// Whoever listens there is not the daemon: only root's answers count.
    #[error("the socket {path} is served by uid {uid}, not root: refusing to trust it")]
    UntrustedPeer { path: String, uid: u32 },
}

impl From<FrameError> for ClientError {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::TimedOut => ClientError::TimedOut,
            e => ClientError::Frame(e),
        }
    }
}

/// A connection to mfad that has completed the `hello` exchange.
pub struct Client {
    stream: UnixStream,
    timeout: Duration,
    server: String,
}

impl Client {
    /// Connect, check the peer, then exchange `hello`. `timeout` bounds the
    /// connect and the hello together, and then every later call as a
    /// whole (not each read), so a daemon that trickles bytes cannot
    /// stretch it.
    pub fn connect(path: &Path, timeout: Duration, client: &str) -> Result<Self, ClientError> {
        let deadline = Instant::now() + timeout;
        let mut c = Self::open(path, deadline, timeout)?;
        c.send_hello(client, deadline)?;
        c.read_hello(deadline)?;
        Ok(c)
    }

    /// A connected socket whose peer is root, nothing sent yet.
    fn open(path: &Path, deadline: Instant, timeout: Duration) -> Result<Self, ClientError> {
        let connect_err = |source| ClientError::Connect {
            path: path.display().to_string(),
            source,
        };
        let addr = socket2::SockAddr::unix(path).map_err(connect_err)?;
        // socket2 opens with SOCK_CLOEXEC, so the fd never leaks into a
        // process that sshd or login spawns.
        let sock = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)
            .map_err(connect_err)?;
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ClientError::TimedOut);
        }
        // A blocking connect waits (up to SO_SNDTIMEO) for room in the
        // daemon's listen queue. A non-blocking one fails at once with
        // EAGAIN when the queue is full, which anyone who can reach the
        // socket can cause by connecting in a loop.
        sock.set_write_timeout(Some(left)).map_err(connect_err)?;
        match sock.connect(&addr) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return Err(ClientError::TimedOut)
            }
            Err(e) => return Err(connect_err(e)),
        }
        let stream: UnixStream = sock.into();
        // Before a single byte goes out: a user who managed to put a socket
        // where this client looks (a writable directory in `socket=`)
        // could otherwise answer "verified" to every login.
        let uid = peer_uid(&stream).map_err(connect_err)?;
        if uid != 0 {
            return Err(ClientError::UntrustedPeer {
                path: path.display().to_string(),
                uid,
            });
        }
        Ok(Client {
            stream,
            timeout,
            server: String::new(),
        })
    }

    fn send_hello(&mut self, client: &str, deadline: Instant) -> Result<(), ClientError> {
        let hello = Request::Hello {
            version: PROTOCOL_VERSION,
            client: client.into(),
        };
        write_frame(&mut self.io(deadline), &hello)?;
        Ok(())
    }

    fn read_hello(&mut self, deadline: Instant) -> Result<(), ClientError> {
        match read_frame(&mut self.io(deadline))? {
            Response::Hello { version, server } if version == PROTOCOL_VERSION => {
                self.server = server;
                Ok(())
            }
            Response::Hello { version, .. } => Err(ClientError::Handshake(format!(
                "server speaks protocol version {version}"
            ))),
            Response::Error { code, message } => {
                Err(ClientError::Handshake(format!("{message} ({code:?})")))
            }
            other => Err(ClientError::Handshake(format!(
                "unexpected answer {other:?}"
            ))),
        }
    }

    /// The daemon's self-description from `hello` (name and version).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Change the deadline for later calls (e.g. longer for an enrollment).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Send one request and wait for its answer, within the timeout.
    pub fn call(&mut self, req: &Request) -> Result<Response, ClientError> {
        match self.call_by(req, Instant::now() + self.timeout) {
            Ok(resp) => Ok(resp),
            Err(CallError::Gone(e)) => Err(e.into()),
            Err(CallError::Failed(e)) => Err(e),
        }
    }

    fn io(&self, deadline: Instant) -> DeadlineStream<'_> {
        DeadlineStream {
            stream: &self.stream,
            deadline,
        }
    }
}

/// The uid of the process at the other end of `stream`, from the kernel
/// (SO_PEERCRED), as it was when that process bound or connected.
fn peer_uid(stream: &UnixStream) -> std::io::Result<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: u32::MAX,
        gid: u32::MAX,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`, which is
    // a live, properly sized and aligned ucred.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(cred.uid)
}

/// One request on a fresh connection, with `timeout` bounding everything
/// (connect, `hello` and the request together).
pub fn request_once(
    path: &Path,
    timeout: Duration,
    client: &str,
    req: &Request,
) -> Result<Response, ClientError> {
    let deadline = Instant::now() + timeout;
    let (_, resp) = Client::open_with(path, deadline, timeout, client, req)?;
    Ok(resp)
}

impl Client {
    /// Connect and send `hello` and `req` in one write, then read both
    /// answers: one round trip. A daemon that refuses the hello closes the
    /// connection and never acts on the request.
    pub(crate) fn open_with(
        path: &Path,
        deadline: Instant,
        timeout: Duration,
        client: &str,
        req: &Request,
    ) -> Result<(Client, Response), ClientError> {
        let mut c = Client::open(path, deadline, timeout)?;
        let hello = encode(&Request::Hello {
            version: PROTOCOL_VERSION,
            client: client.into(),
        })?;
        let body = encode(req)?;
        let mut both = zeroize::Zeroizing::new(Vec::with_capacity(hello.len() + body.len()));
        both.extend_from_slice(&hello);
        both.extend_from_slice(&body);
        c.io(deadline).write_all(&both).map_err(FrameError::from)?;
        c.read_hello(deadline)?;
        let resp = read_frame(&mut c.io(deadline))?;
        Ok((c, resp))
    }

    /// Send `req` on this connection, and read its answer, by `deadline`.
    pub(crate) fn call_by(
        &mut self,
        req: &Request,
        deadline: Instant,
    ) -> Result<Response, CallError> {
        // Only errors that prove the daemon never took the request: a
        // write refused (EPIPE, ECONNRESET), or a reset on read, which Linux
        // reports when the peer closed with the request still unread. A
        // clean end of stream after the write means the daemon read the
        // request and went away before answering: it may have acted on it.
        let reset = |e: &FrameError, or_pipe: bool| match e {
            FrameError::Io(e) => {
                e.kind() == std::io::ErrorKind::ConnectionReset
                    || (or_pipe && e.kind() == std::io::ErrorKind::BrokenPipe)
            }
            _ => false,
        };
        let mut io = self.io(deadline);
        if let Err(e) = write_frame(&mut io, req) {
            return Err(if reset(&e, true) {
                CallError::Gone(e)
            } else {
                CallError::Failed(e.into())
            });
        }
        match read_frame(&mut io) {
            Ok(resp) => Ok(resp),
            Err(e) if reset(&e, false) => Err(CallError::Gone(e)),
            Err(e) => Err(CallError::Failed(e.into())),
        }
    }
}

/// How a call on an open connection failed.
pub(crate) enum CallError {
    /// The daemon was gone before it took the request: it could not be
    /// sent (EPIPE, ECONNRESET), or the connection was reset with it unread.
    Gone(FrameError),
    Failed(ClientError),
}

/// Run `f` on root's own socket when `as_root` (see
/// [`crate::root_socket_for`]), else, or when root's socket does not exist
/// (an mfad older than it), on `public`. Root's socket has a listen queue
/// no local user can fill, so sshd still gets in during a connection flood.
pub fn via_socket_for<T>(
    public: &Path,
    as_root: bool,
    mut f: impl FnMut(&Path) -> Result<T, ClientError>,
) -> Result<T, ClientError> {
    if as_root {
        match f(&crate::root_socket_for(public)) {
            Err(ClientError::Connect { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound => {}
            other => return other,
        }
    }
    f(public)
}

/// Applies what is left of one overall deadline to every read and write.
struct DeadlineStream<'a> {
    stream: &'a UnixStream,
    deadline: Instant,
}

impl DeadlineStream<'_> {
    fn arm(&self, read: bool) -> std::io::Result<()> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        if read {
            self.stream.set_read_timeout(Some(left))
        } else {
            self.stream.set_write_timeout(Some(left))
        }
    }
}

impl Read for DeadlineStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.arm(true)?;
        (&*self.stream).read(buf)
    }
}

impl Write for DeadlineStream<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.arm(false)?;
        (&*self.stream).write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
