//! The blocking client against small servers that misbehave in time: one
//! deadline bounds connect, hello and the request together; a full listen
//! queue makes connect wait, not fail; a silent server times out. Tests
//! run as root (the client trusts only a root peer); CI runs as root.

use mfa_proto::client::{request_once, Client, ClientError};
use mfa_proto::codec::sync::{read_frame, write_frame};
use mfa_proto::{Request, Response, PROTOCOL_VERSION};
use std::path::Path;
use std::time::{Duration, Instant};

#[test]
fn connect_to_missing_socket_fails_fast() {
    let err = Client::connect(
        Path::new("/nonexistent/mfad.sock"),
        Duration::from_secs(1),
        "t",
    );
    assert!(matches!(err, Err(ClientError::Connect { .. })));
}

/// A server that answers every frame after `delay`.
fn slow_server(path: &Path, delay: Duration) -> std::io::Result<std::thread::JoinHandle<()>> {
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    Ok(std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        while let Ok(req) = read_frame::<_, Request>(&mut s) {
            std::thread::sleep(delay);
            let resp = match req {
                Request::Hello { .. } => Response::Hello {
                    version: PROTOCOL_VERSION,
                    server: "slow".into(),
                },
                _ => Response::NotEnrolled,
            };
            if write_frame(&mut s, &resp).is_err() {
                return;
            }
        }
    }))
}

#[test]
fn one_timeout_bounds_connect_hello_and_request_together() -> Result<(), Box<dyn std::error::Error>>
{
    let dir = tempfile_dir("total")?;
    let path = dir.join("s.sock");
    let req = Request::Status { user: "ann".into() };
    // Each answer comes after 400 ms: hello plus the request take 800 ms,
    // over the 600 ms timeout though each alone is under it.
    let server = slow_server(&path, Duration::from_millis(400))?;
    let started = Instant::now();
    let err = request_once(&path, Duration::from_millis(600), "t", &req);
    assert!(matches!(err, Err(ClientError::TimedOut)), "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(750));
    server.join().map_err(|_| "server thread panicked")?;
    // With room for both, the same exchange succeeds.
    std::fs::remove_file(&path)?;
    let server = slow_server(&path, Duration::from_millis(100))?;
    let ok = request_once(&path, Duration::from_secs(2), "t", &req)?;
    assert_eq!(ok, Response::NotEnrolled);
    drop(server);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn tempfile_dir(tag: &str) -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("mfa-proto-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[test]
fn a_full_listen_queue_makes_connect_wait_for_room_not_fail(
) -> Result<(), Box<dyn std::error::Error>> {
    use socket2::{Domain, SockAddr, Socket, Type};
    let dir = tempfile_dir("queue")?;
    let path = dir.join("s.sock");
    let listener = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    listener.bind(&SockAddr::unix(&path)?)?;
    listener.listen(2)?;
    // Fill the queue the way a local user looping over connect() can.
    let mut fillers = Vec::new();
    loop {
        let s = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        s.set_nonblocking(true)?;
        match s.connect(&SockAddr::unix(&path)?) {
            Ok(()) => fillers.push(s),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e.into()),
        }
    }
    // With the queue full and nobody accepting, connect waits out its
    // deadline rather than failing at once.
    let started = Instant::now();
    let full = Client::connect(&path, Duration::from_millis(400), "t");
    assert!(
        matches!(full, Err(ClientError::TimedOut)),
        "{:?}",
        full.err()
    );
    assert!(started.elapsed() >= Duration::from_millis(350));
    // The daemon catches up after 300 ms: the waiting connect gets in.
    let server = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let listener: std::os::unix::net::UnixListener = listener.into();
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = stream;
                if let Ok(Request::Hello { .. }) = read_frame::<_, Request>(&mut s) {
                    let hello = Response::Hello {
                        version: PROTOCOL_VERSION,
                        server: "late".into(),
                    };
                    let _ = write_frame(&mut s, &hello);
                }
            });
        }
    });
    let c = Client::connect(&path, Duration::from_secs(5), "t")?;
    assert_eq!(c.server(), "late");
    drop(fillers);
    drop(server);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn silent_server_times_out() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile_dir("silent")?;
    let path = dir.join("s.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path)?;
    let started = Instant::now();
    let err = Client::connect(&path, Duration::from_millis(300), "t");
    assert!(matches!(err, Err(ClientError::TimedOut)), "{:?}", err.err());
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(listener);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
