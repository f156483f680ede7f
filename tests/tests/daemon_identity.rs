//! What the PAM module trusts and survives on its socket: only a daemon
//! running as root is believed (SO_PEERCRED, checked before anything is
//! sent), and a daemon that goes away mid-login fails the login closed
//! without killing a C host program by SIGPIPE. Needs root (another uid,
//! a mount namespace for syslog); CI runs as root.

use anyhow::{bail, Result};
use mfa_tests::{artifact, build_pam_host, rc, require_root, Stack, SyslogCapture};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

const AS_NOBODY: &[&str] = &[
    "setpriv",
    "--reuid=nobody",
    "--regid=nogroup",
    "--clear-groups",
];

/// fakemfad, started (as `nobody` when `as_nobody`) on `socket`, once it
/// listens; killed on drop.
struct Fake {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl Fake {
    fn start(dir: &Path, socket: &Path, behaviour: &str, as_nobody: bool) -> Result<Fake> {
        // A copy nobody can run (the build tree may sit in a 0700 home).
        let bin = dir.join("fakemfad");
        if !bin.exists() {
            std::fs::copy(artifact("fakemfad")?, &bin)?;
        }
        let mut cmd = if as_nobody {
            let mut c = Command::new(AS_NOBODY[0]);
            c.args(&AS_NOBODY[1..]).arg(&bin);
            c
        } else {
            Command::new(&bin)
        };
        cmd.arg("--socket")
            .arg(socket)
            .args(["--behaviour", behaviour])
            .stdout(Stdio::piped());
        let mut child = cmd.spawn()?;
        let Some(stdout) = child.stdout.take() else {
            bail!("no stdout from fakemfad");
        };
        let mut fake = Fake {
            child,
            out: BufReader::new(stdout),
        };
        let mut line = String::new();
        fake.out.read_line(&mut line)?;
        if line.trim() != "listening" {
            bail!("fakemfad did not start: {line:?}");
        }
        Ok(fake)
    }

    /// Stop it and return what it printed (one line per connection).
    fn stop(mut self) -> Result<String> {
        self.child.kill()?;
        self.child.wait()?;
        let mut out = String::new();
        self.out.read_to_string(&mut out)?;
        Ok(out)
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scratch folder an unprivileged fake daemon can create its socket in,
/// as a misconfigured `socket=` in a writable directory would allow.
fn writable_dir() -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777))?;
    Ok(dir)
}

#[test]
fn a_socket_served_by_an_unprivileged_uid_is_not_trusted() -> Result<()> {
    require_root()?;
    let dir = writable_dir()?;
    let socket = dir.path().join("mfad.sock");
    let fake = Fake::start(dir.path(), &socket, "yes", true)?;
    let stack = Stack::new(&socket, "tries=1", &[])?;
    let syslog = SyslogCapture::new(dir.path())?;
    let wrapper = syslog.wrapper();
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let run = stack.login_as("ann", &["123456"], None, &wrapper)?;
    assert_eq!(run.rc, rc::AUTHINFO_UNAVAIL, "{}", run.transcript);
    assert!(
        run.transcript
            .contains("second-factor service is not available"),
        "{}",
        run.transcript
    );
    // Refused before a code was asked for, and syslog says why.
    assert!(
        !run.transcript.contains("Verification code"),
        "{}",
        run.transcript
    );
    let lines = syslog.lines();
    assert!(
        lines.iter().any(|l| l.contains("pam_mfa(mfa-test:auth)")
            && l.contains("served by uid 65534, not root")
            && l.contains(&*socket.to_string_lossy())),
        "{lines:?}"
    );
    // The impostor was connected to, and never sent a byte.
    assert_eq!(fake.stop()?.trim(), "connection 1");

    // The same impostor run by root is believed (root is the daemon's
    // uid): the check is on who serves the socket, nothing else.
    let root_socket = dir.path().join("root.sock");
    let _root_fake = Fake::start(dir.path(), &root_socket, "yes", false)?;
    let stack = Stack::new(&root_socket, "tries=1", &[])?;
    assert_eq!(stack.login("ann", &["123456"])?.rc, rc::SUCCESS);

    // The CLI refuses it too, with the reason.
    let impostor = Fake::start(dir.path(), &socket_again(&dir)?, "yes", true)?;
    let out = Command::new(artifact("mfa")?)
        .arg("--socket")
        .arg(socket_again(&dir)?)
        .arg("status")
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("not root: refusing to trust it"), "{err}");
    drop(impostor);
    Ok(())
}

fn socket_again(dir: &tempfile::TempDir) -> Result<std::path::PathBuf> {
    Ok(dir.path().join("again.sock"))
}

#[test]
fn a_daemon_that_stops_reading_fails_the_login_closed_without_sigpipe() -> Result<()> {
    require_root()?;
    let dir = tempfile::tempdir()?;
    let socket = dir.path().join("mfad.sock");
    let fake = Fake::start(dir.path(), &socket, "stop-reading", false)?;
    let host = build_pam_host(dir.path())?;
    let stack = Stack::new(&socket, "tries=1 timeout=5", &[])?;
    let started = Instant::now();
    let out = Command::new(&host)
        .arg(stack.dir.path())
        .arg(&stack.service)
        .args(["ann", "123456"])
        .output()?;
    let transcript = String::from_utf8_lossy(&out.stdout);
    // Killed by SIGPIPE, the status would have no code.
    assert_eq!(
        out.status.code(),
        Some(rc::AUTHINFO_UNAVAIL),
        "{:?}: {transcript}",
        out.status
    );
    assert!(
        transcript.contains("hidden:Verification code: "),
        "{transcript}"
    );
    assert!(
        transcript.contains("error:The second-factor service is not available"),
        "{transcript}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // The verify's write failed on the first connection (the fake had shut
    // its reading side), so the module tried once more on a new one.
    let seen = fake.stop()?;
    assert_eq!(seen.trim(), "connection 1\nconnection 2", "{seen}");
    Ok(())
}

#[test]
fn a_user_who_types_longer_than_the_idle_timeout_is_still_served() -> Result<()> {
    use mfa_proto::session::Session;
    use mfa_proto::{Challenge, Request, Response, Sensitive};
    require_root()?;
    let d = mfa_tests::Daemon::start_with(|c| c.server.idle_timeout_secs = 1)?;
    let e = d.enroll("ann")?;
    d.next_step();
    let mut session = Session::new(&d.socket, true, Duration::from_secs(5), "t");
    let ready = session.call(&Request::Challenge {
        user: "ann".into(),
        context: Default::default(),
        push: Default::default(),
    })?;
    assert_eq!(
        ready,
        Response::Challenge {
            state: Challenge::Ready,
            push: None,
            phone: vec![],
        }
    );
    // mfad closes the idle connection meanwhile; the verify is sent again
    // on a new one, once.
    std::thread::sleep(Duration::from_millis(1600));
    let ok = session.call(&Request::Verify {
        user: "ann".into(),
        code: Sensitive::new(d.code(&e)?),
        context: Default::default(),
    })?;
    assert!(matches!(ok, Response::Verified { .. }), "{ok:?}");
    Ok(())
}
