//! fakemfad: something that is not mfad listening where the PAM module
//! looks, for the tests of what the module trusts and survives.
//!
//! ```text
//! fakemfad --socket PATH --behaviour yes|stop-reading
//! ```
//!
//! `yes` answers every request with success (hello, a ready challenge, a
//! verified code): run as an ordinary uid, it is the impostor the module
//! must refuse. `stop-reading` answers the first connection's `hello` and
//! `challenge`, but shuts its reading side before it answers them, so the
//! `verify` the module then writes on that connection fails with EPIPE; a
//! later connection gets its `hello` answered, then nothing, and is closed
//! a second later. It prints `listening` once it is, then `connection N`
//! for each connection it accepts, and runs until killed.

use mfa_proto::codec::sync::{read_frame, write_frame};
use mfa_proto::{Challenge, Method, Request, Response, PROTOCOL_VERSION};
use std::io::Write;
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

fn hello() -> Response {
    Response::Hello {
        version: PROTOCOL_VERSION,
        server: "fakemfad".into(),
    }
}

fn yes(mut s: UnixStream) {
    while let Ok(req) = read_frame::<_, Request>(&mut s) {
        let resp = match req {
            Request::Hello { .. } => hello(),
            Request::Challenge { .. } => Response::Challenge {
                state: Challenge::Ready,
                push: None,
                phone: vec![],
            },
            _ => Response::Verified {
                method: Method::Totp,
                recovery_codes_left: None,
            },
        };
        if write_frame(&mut s, &resp).is_err() {
            return;
        }
    }
}

fn stop_reading(mut s: UnixStream, first: bool) {
    // Frames are read exactly (prefix, then body), so nothing past them
    // is taken off the socket.
    let mut answers = Vec::new();
    while let Ok(req) = read_frame::<_, Request>(&mut s) {
        match req {
            Request::Hello { .. } => answers.push(hello()),
            Request::Challenge { .. } => answers.push(Response::Challenge {
                state: Challenge::Ready,
                push: None,
                phone: vec![],
            }),
            _ => break,
        }
        if answers.len() == if first { 2 } else { 1 } {
            break;
        }
    }
    let _ = s.shutdown(Shutdown::Read);
    for a in &answers {
        let _ = write_frame(&mut s, a);
    }
    std::thread::sleep(Duration::from_secs(1));
}

fn main() {
    let mut socket = None;
    let mut behaviour = String::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--socket" => socket = args.next(),
            "--behaviour" => behaviour = args.next().unwrap_or_default(),
            _ => {
                eprintln!("fakemfad: unknown argument {a}");
                std::process::exit(2);
            }
        }
    }
    let Some(socket) = socket else {
        eprintln!("fakemfad: --socket is required");
        std::process::exit(2);
    };
    let listener = match UnixListener::bind(&socket) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("fakemfad: cannot bind {socket}: {e}");
            std::process::exit(1);
        }
    };
    println!("listening");
    let _ = std::io::stdout().flush();
    for (n, stream) in listener.incoming().flatten().enumerate() {
        println!("connection {}", n + 1);
        let _ = std::io::stdout().flush();
        match behaviour.as_str() {
            "yes" => {
                std::thread::spawn(move || yes(stream));
            }
            _ => {
                std::thread::spawn(move || stop_reading(stream, n == 0));
            }
        }
    }
}
