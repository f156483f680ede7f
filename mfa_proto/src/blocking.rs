//! Blocking codec and client, for the PAM module and the CLI. No runtime, no
//! threads: every read and write has a deadline, so a stuck daemon can never
//! hang sshd or login.

use crate::frame::body_len;
use crate::{decode_body, encode, FrameError, Request, Response, PROTOCOL_VERSION};
use serde::{de::DeserializeOwned, Serialize};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// Write one frame.
pub fn write_frame<W: Write, T: Serialize>(w: &mut W, msg: &T) -> Result<(), FrameError> {
    w.write_all(&encode(msg)?)?;
    w.flush()?;
    Ok(())
}

/// Read one frame. A clean end of stream before the first byte is `Closed`;
/// an end inside the frame is `Truncated`.
pub fn read_frame<R: Read, T: DeserializeOwned>(r: &mut R) -> Result<T, FrameError> {
    let mut prefix = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut prefix[got..]) {
            Ok(0) if got == 0 => return Err(FrameError::Closed),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut body = vec![0u8; body_len(prefix)?];
    r.read_exact(&mut body)?;
    decode_body(&body)
}

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
    /// Connect, then exchange `hello`. `timeout` bounds the connect and every
    /// later call as a whole (not each read), so a daemon that trickles
    /// bytes cannot stretch it.
    pub fn connect(path: &Path, timeout: Duration, client: &str) -> Result<Self, ClientError> {
        let connect_err = |source| ClientError::Connect {
            path: path.display().to_string(),
            source,
        };
        let addr = socket2::SockAddr::unix(path).map_err(connect_err)?;
        // socket2 opens with SOCK_CLOEXEC, so the fd never leaks into a
        // process that sshd or login spawns.
        let sock = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)
            .map_err(connect_err)?;
        sock.connect_timeout(&addr, timeout).map_err(connect_err)?;
        let mut c = Client {
            stream: sock.into(),
            timeout,
            server: String::new(),
        };
        match c.call(&Request::Hello {
            version: PROTOCOL_VERSION,
            client: client.into(),
        })? {
            Response::Hello { version, server } if version == PROTOCOL_VERSION => {
                c.server = server;
                Ok(c)
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

    /// Send one request and wait for its answer, within the deadline.
    pub fn call(&mut self, req: &Request) -> Result<Response, ClientError> {
        let deadline = Instant::now() + self.timeout;
        let mut io = DeadlineStream {
            stream: &self.stream,
            deadline,
        };
        write_frame(&mut io, req)?;
        Ok(read_frame(&mut io)?)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Sensitive;

    #[test]
    fn roundtrip_through_a_buffer() -> Result<(), FrameError> {
        let mut buf = Vec::new();
        let req = Request::Verify {
            user: "ann".into(),
            code: Sensitive::new("123456"),
            context: Default::default(),
        };
        write_frame(&mut buf, &req)?;
        let back: Request = read_frame(&mut buf.as_slice())?;
        assert_eq!(back, req);
        Ok(())
    }

    #[test]
    fn truncated_and_closed_are_told_apart() {
        let empty: &[u8] = &[];
        assert!(matches!(
            read_frame::<_, Request>(&mut &*empty),
            Err(FrameError::Closed)
        ));
        let half: &[u8] = &[0, 0];
        assert!(matches!(
            read_frame::<_, Request>(&mut &*half),
            Err(FrameError::Truncated)
        ));
        let short_body: &[u8] = &[0, 0, 0, 10, b'{'];
        assert!(matches!(
            read_frame::<_, Request>(&mut &*short_body),
            Err(FrameError::Truncated)
        ));
    }

    #[test]
    fn connect_to_missing_socket_fails_fast() {
        let err = Client::connect(
            Path::new("/nonexistent/mfad.sock"),
            Duration::from_secs(1),
            "t",
        );
        assert!(matches!(err, Err(ClientError::Connect { .. })));
    }

    #[test]
    fn silent_server_times_out() -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("mfa-proto-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("s.sock");
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path)?;
        let started = Instant::now();
        let err = Client::connect(&path, Duration::from_millis(300), "t");
        assert!(matches!(err, Err(ClientError::TimedOut)), "{:?}", err.err());
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(listener);
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
