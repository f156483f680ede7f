//! mfad speaks systemd's protocols without systemd (none runs on these
//! machines): a Python stand-in passes a listening socket (LISTEN_FDS),
//! and listens for READY=1 and the watchdog's WATCHDOG=1 (NOTIFY_SOCKET,
//! WATCHDOG_USEC).

use anyhow::{Context, Result};
use mfa_tests::{artifact, mfa_cli as mfa};
use std::process::Command;

#[test]
fn socket_activation_readiness_and_watchdog_notifications_work() -> Result<()> {
    // Python stands in for systemd: it binds the socket, passes it as fd 3
    // with LISTEN_PID/LISTEN_FDS, listens on NOTIFY_SOCKET, and asks for a
    // watchdog every 0.2 s (WATCHDOG_USEC).
    let dir = tempfile::tempdir()?;
    let socket = dir.path().join("act.sock");
    let notify = dir.path().join("notify.sock");
    let script = r#"
import os, socket, sys
sock_path, notify_path, mfad, state = sys.argv[1:5]
ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); ls.bind(sock_path); ls.listen(16)
ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); ns.bind(notify_path); ns.settimeout(10)
pid = os.fork()
if pid == 0:
    # Our stdout and stderr are the test's pipes: the daemon must not hold them open.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.dup2(ls.fileno(), 3)
    os.set_inheritable(3, True)
    env = dict(os.environ, LISTEN_PID=str(os.getpid()), LISTEN_FDS="1", NOTIFY_SOCKET=notify_path, WATCHDOG_USEC="200000")
    os.execve(mfad, [mfad, "--socket", "/nonexistent/unused.sock", "--state-dir", state], env)
print(ns.recv(64).decode(), flush=True)
# Fed while the store answers: at least two more within the test's time.
print(ns.recv(64).decode() + " " + ns.recv(64).decode(), flush=True)
sys.stdout.write(str(pid) + "\n"); sys.stdout.flush()
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&socket)
        .arg(&notify)
        .arg(artifact("mfad")?)
        .arg(dir.path().join("state"))
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("READY=1"),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lines.next(), Some("WATCHDOG=1 WATCHDOG=1"), "{text}");
    let pid: i32 = lines.next().context("pid")?.trim().parse()?;
    struct Reap(i32);
    impl Drop for Reap {
        fn drop(&mut self) {
            // SAFETY: stopping the daemon the script started.
            unsafe { libc::kill(self.0, libc::SIGTERM) };
        }
    }
    let _reap = Reap(pid);
    // mfad serves on the inherited socket, not on the path it was given.
    let (code, out_, err) = mfa(&socket, &["status", "--user", "nobody-yet"], "")?;
    assert_eq!(code, 1, "{out_}{err}");
    Ok(())
}
