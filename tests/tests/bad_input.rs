//! Hostile and broken clients: each gets an error answer or a closed
//! connection, and the daemon keeps serving everyone else.

use anyhow::Result;
use mfa_proto::codec::sync::{read_frame, write_frame};
use mfa_proto::{ErrorCode, LoginContext, Request, Response, Sensitive, PROTOCOL_VERSION};
use mfa_tests::{rc, Daemon, Stack};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

fn raw(d: &Daemon) -> Result<UnixStream> {
    let s = UnixStream::connect(&d.socket)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok(s)
}

fn greeted(d: &Daemon) -> Result<UnixStream> {
    let mut s = raw(d)?;
    write_frame(
        &mut s,
        &Request::Hello {
            version: PROTOCOL_VERSION,
            client: "test".into(),
        },
    )?;
    assert!(matches!(
        read_frame::<_, Response>(&mut s)?,
        Response::Hello { .. }
    ));
    Ok(s)
}

/// True when the daemon closed the connection (read returns EOF).
fn closed(s: &mut UnixStream) -> bool {
    let mut b = [0u8; 1];
    matches!(s.read(&mut b), Ok(0) | Err(_))
}

fn error_code(r: Response) -> Option<ErrorCode> {
    match r {
        Response::Error { code, .. } => Some(code),
        _ => None,
    }
}

/// A normal login after the abuse still works.
fn still_serves(d: &Daemon) -> Result<()> {
    let e = d.enroll("after")?;
    d.next_step();
    let run = Stack::new(&d.socket, "tries=1", &[])?.login("after", &[&d.code(&e)?])?;
    assert_eq!(run.rc, rc::SUCCESS, "{}", run.transcript);
    Ok(())
}

#[test]
fn oversize_length_is_refused_before_reading_the_body() -> Result<()> {
    let d = Daemon::start()?;
    let mut s = greeted(&d)?;
    s.write_all(&u32::MAX.to_be_bytes())?;
    assert_eq!(
        error_code(read_frame(&mut s)?),
        Some(ErrorCode::FrameTooLarge)
    );
    assert!(closed(&mut s));
    still_serves(&d)
}

#[test]
fn garbage_json_and_unknown_types_get_bad_request_and_the_connection_survives() -> Result<()> {
    let d = Daemon::start()?;
    let mut s = greeted(&d)?;
    for body in [
        &b"\xff\xfe not json"[..],
        br#"{"type":"format_disk"}"#,
        br#"{"type":"verify"}"#,
        b"[]",
    ] {
        s.write_all(&(body.len() as u32).to_be_bytes())?;
        s.write_all(body)?;
        assert_eq!(
            error_code(read_frame(&mut s)?),
            Some(ErrorCode::BadRequest),
            "{body:?}"
        );
    }
    write_frame(
        &mut s,
        &Request::Status {
            user: "nobody-here".into(),
        },
    )?;
    assert!(matches!(read_frame::<_, Response>(&mut s)?, Response::Status(st) if !st.enrolled));
    still_serves(&d)
}

#[test]
fn requests_before_hello_or_with_another_version_are_refused() -> Result<()> {
    let d = Daemon::start()?;
    let mut s = raw(&d)?;
    write_frame(&mut s, &Request::Status { user: "ann".into() })?;
    assert_eq!(
        error_code(read_frame(&mut s)?),
        Some(ErrorCode::VersionMismatch)
    );
    assert!(closed(&mut s));
    let mut s = raw(&d)?;
    write_frame(
        &mut s,
        &Request::Hello {
            version: 99,
            client: "future".into(),
        },
    )?;
    assert_eq!(
        error_code(read_frame(&mut s)?),
        Some(ErrorCode::VersionMismatch)
    );
    still_serves(&d)
}

#[test]
fn truncated_frame_and_stalled_half_frame_are_dropped() -> Result<()> {
    let d = Daemon::start_with(|c| c.server.frame_timeout_secs = 1)?;
    // Truncated: the client announces 100 bytes, sends 5 and hangs up.
    let mut s = greeted(&d)?;
    s.write_all(&100u32.to_be_bytes())?;
    s.write_all(b"{\"typ")?;
    drop(s);
    // Stalled: half a frame, then silence. Dropped after the frame deadline.
    let mut s = greeted(&d)?;
    s.write_all(&100u32.to_be_bytes())?;
    s.write_all(b"{\"typ")?;
    let started = Instant::now();
    assert!(closed(&mut s));
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "stalled client held for {took:?}"
    );
    // Half a length prefix stalls the same way.
    let mut s = greeted(&d)?;
    s.write_all(&[0, 0])?;
    assert!(closed(&mut s));
    still_serves(&d)
}

#[test]
fn hostile_user_names_get_a_clear_error() -> Result<()> {
    let d = Daemon::start()?;
    let long = "x".repeat(10_000);
    for user in [
        "a\0b",
        "ann\nmfad: audit attempt user=\"root\" outcome=success",
        &long,
        "",
    ] {
        let mut s = greeted(&d)?;
        let req = Request::Verify {
            user: user.to_string(),
            code: Sensitive::new("123456"),
            context: LoginContext::default(),
        };
        write_frame(&mut s, &req)?;
        assert_eq!(
            error_code(read_frame(&mut s)?),
            Some(ErrorCode::InvalidUser),
            "{:?}",
            &user[..user.len().min(20)]
        );
        write_frame(
            &mut s,
            &Request::EnrollBegin {
                user: user.to_string(),
                params: Default::default(),
            },
        )?;
        assert_eq!(
            error_code(read_frame(&mut s)?),
            Some(ErrorCode::InvalidUser)
        );
    }
    still_serves(&d)
}

#[test]
fn a_maximum_size_frame_is_handled_and_one_byte_more_is_not() -> Result<()> {
    let d = Daemon::start()?;
    let mut s = greeted(&d)?;
    // Pad a valid request to exactly the limit with JSON whitespace.
    let body = serde_json::to_vec(&Request::Status { user: "ann".into() })?;
    let mut padded = body.clone();
    padded.resize(mfa_proto::MAX_FRAME, b' ');
    s.write_all(&(padded.len() as u32).to_be_bytes())?;
    s.write_all(&padded)?;
    assert!(matches!(
        read_frame::<_, Response>(&mut s)?,
        Response::Status(_)
    ));
    padded.push(b' ');
    s.write_all(&(padded.len() as u32).to_be_bytes())?;
    assert_eq!(
        error_code(read_frame(&mut s)?),
        Some(ErrorCode::FrameTooLarge)
    );
    still_serves(&d)
}
