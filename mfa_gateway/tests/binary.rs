//! `mfa-gateway --config FILE` as a process: configuration mistakes stop
//! it with a message naming what to change, and a good configuration runs
//! in the foreground until SIGTERM, then exits 0.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mfa-gateway");

fn config(dir: &Path, text: &str) -> std::path::PathBuf {
    let p = dir.join("gw.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn run(cfg: &Path) -> Output {
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait(&mut child, Duration::from_secs(5));
    child.wait_with_output().unwrap()
}

fn wait(child: &mut Child, within: Duration) {
    let deadline = Instant::now() + within;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("mfa-gateway did not exit in time");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn refused(text: &str, dir: &Path) -> String {
    let out = run(&config(dir, text));
    assert!(!out.status.success(), "it started with {text}");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn configuration_mistakes_stop_it_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let base = "listen = \"127.0.0.1:0\"\npublic_url = \"https://mfa.example.org\"\n";
    let e = refused(
        &format!("colour = \"red\"\n{base}[ntfy]\nurl = \"https://n\"\n"),
        dir.path(),
    );
    assert!(e.contains("unknown field `colour`"), "{e}");
    let e = refused(base, dir.path());
    assert!(e.contains("[ntfy], [webhook]"), "{e}");
    let e = refused(
        &format!("{base}[ntfy]\nurl = \"https://n\"\n").replace("127.0.0.1:0", "0.0.0.0:8443"),
        dir.path(),
    );
    assert!(
        e.contains("tls_cert and tls_key, or listen on loopback"),
        "{e}"
    );

    let token = dir.path().join("token");
    std::fs::write(&token, "tk_VERYSECRET\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = refused(
        &format!("{base}[ntfy]\nurl = \"https://n\"\ntoken_file = {token:?}\n"),
        dir.path(),
    );
    assert!(e.contains("readable by every user"), "{e}");
    assert!(!e.contains("VERYSECRET"), "{e}");
    let missing = run(&dir.path().join("absent.toml"));
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("absent.toml"));
}

#[test]
fn it_serves_until_sigterm_and_then_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "tk_VERYSECRET\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    // mfad is absent: the gateway still serves, and says once that it
    // cannot poll.
    let cfg = config(
        dir.path(),
        &format!(
            "socket = {:?}\nlisten = \"127.0.0.1:0\"\npublic_url = \"http://127.0.0.1\"\n\
             [ntfy]\nurl = \"http://127.0.0.1:9\"\ntoken_file = {token:?}\n",
            dir.path().join("no-mfad.sock")
        ),
    );
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    let addr = first
        .split("serving http on ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();

    let mut tcp = std::net::TcpStream::connect(&addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.write_all(b"GET /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    tcp.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(
        resp.contains("content-security-policy: default-src 'none'"),
        "{resp}"
    );

    // Long enough for a second try at mfad, which must not be logged.
    std::thread::sleep(Duration::from_millis(1500));
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    wait(&mut child, Duration::from_secs(8));
    assert!(child.wait().unwrap().success(), "exit status after SIGTERM");
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    let log = format!("{first}{rest}");
    assert!(log.contains("mfa-gateway: stopped"), "{log}");
    assert_eq!(log.matches("cannot poll mfad").count(), 1, "{log}");
    assert!(!log.contains("VERYSECRET"), "{log}");
}
