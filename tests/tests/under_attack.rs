//! Load, faults and attack: a thousand logins racing one code, an attacker
//! guessing as fast as the limits allow for a day, mfad restarted under
//! logins, hoarded and slow connections, and core dumps turned off.

use anyhow::{bail, Context, Result};
use mfa_proto::client::Client;
use mfa_proto::{LoginContext, Request, Response, Sensitive, PROTOCOL_VERSION};
use mfa_tests::{
    import_secret, raise_fd_limit, rc, require_root, totp_at, unix_now, Daemon, MfadProcess, Stack,
};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

#[test]
fn a_thousand_concurrent_logins_with_one_code_or_one_recovery_code_succeed_once() -> Result<()> {
    raise_fd_limit()?;
    let d = Daemon::start_with(|c| c.server.max_connections = 2048)?;
    let e = d.enroll("ann")?;
    d.next_step();
    assert_eq!(
        d.race_verify("ann", &d.code(&e)?, 1000)?,
        1,
        "one TOTP code"
    );
    d.clock.advance(100_000); // past any delay the losers caused
    d.call(&Request::Unlock { user: "ann".into() })?;
    assert_eq!(
        d.race_verify("ann", &e.recovery[0], 1000)?,
        1,
        "one recovery code"
    );
    Ok(())
}

/// The attacker's guesses per day against one account with the default
/// limits, computed from the documented rule: 3 free failures, then 30 s
/// doubling up to an hour, and a lock after 100 consecutive failures.
fn allowed_guesses_in(seconds: i64) -> u64 {
    let (mut t, mut failures, mut guesses) = (0i64, 0u32, 0u64);
    while failures < 100 {
        let delay = if failures < 3 {
            0
        } else {
            (30i64 << (failures - 3).min(20)).min(3600)
        };
        t += delay;
        if t >= seconds {
            break;
        }
        guesses += 1;
        failures += 1;
    }
    guesses
}

#[test]
fn a_guessing_attacker_gets_only_the_documented_guesses_per_day() -> Result<()> {
    let d = Daemon::start()?;
    let e = d.enroll("ann")?;
    let real = d.code(&e)?;
    let start = d.now();
    let (mut tried, mut refused) = (0u64, 0u64);
    // Guess as fast as the daemon lets us, moving the clock exactly as far
    // as each refusal says, for one simulated day.
    while d.now() - start < 86_400 {
        let guess = format!("{:06}", (tried * 7919 + 1) % 1_000_000);
        let guess = if guess == real {
            "999999".to_string()
        } else {
            guess
        };
        let req = Request::Verify {
            user: "ann".into(),
            code: Sensitive::new(guess),
            context: LoginContext::default(),
        };
        match d.call(&req)? {
            Response::WrongCode { .. } => tried += 1,
            Response::RateLimited { retry_after_secs } => {
                refused += 1;
                // A second attempt during the delay must also be refused.
                assert!(matches!(d.call(&req)?, Response::RateLimited { .. }));
                d.clock.advance(retry_after_secs as i64);
            }
            Response::Locked => break,
            other => bail!("unexpected {other:?}"),
        }
    }
    let expected = allowed_guesses_in(86_400);
    assert_eq!(tried, expected, "guesses the daemon checked in a day");
    assert!(refused > 0);
    // 3 valid codes per window (±1 step) out of 10^6.
    let p_day = expected as f64 * 3.0 / 1e6;
    eprintln!("default limits: {expected} guesses/day, P(success)/day = {p_day:.1e}");
    assert!(p_day < 1e-4);
    Ok(())
}

#[test]
fn logins_during_a_daemon_restart_fail_closed_fast_and_work_again_after() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let socket = dir.path().join("mfad.sock");
    let state = dir.path().join("state");
    let mut daemon = Some(MfadProcess::spawn(&socket, &state, &[])?);
    // Thirty users with imported secrets, so codes come from the real
    // clock: twenty log in while mfad dies, ten after it is back.
    let secrets: Vec<String> = (0..30)
        .map(|i| mfad::otp::base32(&[i as u8 + 1; 20]))
        .collect();
    for (i, s) in secrets.iter().enumerate() {
        import_secret(&socket, &format!("r{i}"), s)?;
    }
    let stack = Stack::new(&socket, "timeout=2 tries=1", &[])?;
    // Start all logins, kill the daemon under them, then bring it back.
    let started = Instant::now();
    let children: Vec<_> = secrets[..20]
        .iter()
        .enumerate()
        .map(|(i, s)| -> Result<_> {
            let code = totp_at(s, unix_now() + 30)?;
            Ok(stack
                .command(&format!("r{i}"), &[&code], None, &[])?
                .stdout(std::process::Stdio::piped())
                .spawn()?)
        })
        .collect::<Result<_>>()?;
    std::thread::sleep(Duration::from_millis(5));
    if let Some(d) = daemon.take() {
        d.kill9()?;
    }
    let mut outcomes = Vec::new();
    for c in children {
        let out = mfa_tests::finish(c.wait_with_output()?)?;
        outcomes.push(out.rc);
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(15), "a login hung: {took:?}");
    for rc in &outcomes {
        assert!(
            *rc == rc::SUCCESS || *rc == rc::AUTHINFO_UNAVAIL,
            "in-flight logins succeed or fail closed, got {outcomes:?}"
        );
    }
    // With the daemon down, every login fails closed within its timeout.
    let t = Instant::now();
    let run = stack.login("r0", &["123456"])?;
    assert_eq!(run.rc, rc::AUTHINFO_UNAVAIL);
    assert!(t.elapsed() < Duration::from_secs(5));
    // Back up: logins work at once. (An in-flight login that was told
    // "unavailable" may still have spent its step before the kill, so the
    // check uses the users that were not in flight.)
    let _daemon = MfadProcess::spawn(&socket, &state, &[])?;
    for (i, s) in secrets.iter().enumerate().skip(20) {
        let run = stack.login(&format!("r{i}"), &[&totp_at(s, unix_now() + 30)?])?;
        assert_eq!(run.rc, rc::SUCCESS, "{}", run.transcript);
    }
    eprintln!("in flight: {outcomes:?}; 10 logins after the restart");
    Ok(())
}

#[test]
fn hoarded_idle_slow_and_huge_connections_keep_memory_bounded_and_logins_working() -> Result<()> {
    require_root()?;
    raise_fd_limit()?;
    let dir = tempfile::tempdir()?;
    let socket = dir.path().join("mfad.sock");
    let daemon = MfadProcess::spawn(&socket, &dir.path().join("state"), &[])?;
    let secret = mfad::otp::base32(&[42u8; 20]);
    import_secret(&socket, "ann", &secret)?;
    let before = daemon.rss_kib()?;

    // 30 local users each try to hold 200 idle connections (6,000 in
    // all): each gets a few, the rest are closed at once.
    let hoard = r#"
import os, socket, sys, time
path = sys.argv[1]
kids = []
for i in range(30):
    pid = os.fork()
    if pid == 0:
        os.setgroups([]); os.setgid(40000 + i); os.setuid(40000 + i)
        held = []
        for _ in range(200):
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                held.append(s)
            except OSError:
                pass
        time.sleep(8)
        os._exit(0)
    kids.append(pid)
print("hoarding", flush=True)
for k in kids:
    os.waitpid(k, 0)
"#;
    let mut hoarders = std::process::Command::new("/usr/bin/python3")
        .args(["-c", hoard])
        .arg(&socket)
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(hoarders.stdout.take().context("stdout")?),
        &mut line,
    )?;
    std::thread::sleep(Duration::from_millis(500));
    // Slow writers: half a frame, a byte at a time.
    let mut slow = Vec::new();
    for _ in 0..50 {
        if let Ok(mut s) = UnixStream::connect(&socket) {
            let _ = s.write_all(&[0, 0]);
            slow.push(s);
        }
    }
    // Maximum-size frames in a loop.
    let big = {
        let mut body = br#"{"type":"hello","version":1,"client":"big"}"#.to_vec();
        body.resize(mfa_proto::MAX_FRAME, b' ');
        let mut f = (body.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(&body);
        f
    };
    let flood_until = Instant::now() + Duration::from_secs(2);
    let flood = std::thread::spawn({
        let socket = socket.clone();
        move || {
            let mut n = 0;
            while Instant::now() < flood_until {
                if let Ok(mut s) = UnixStream::connect(&socket) {
                    for _ in 0..20 {
                        if s.write_all(&big).is_err() {
                            break;
                        }
                        n += 1;
                    }
                }
            }
            n
        }
    });
    // In the middle of it, a normal login through PAM succeeds in time.
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    let run = Stack::new(&socket, "timeout=5 tries=1", &[])?
        .login("ann", &[&totp_at(&secret, unix_now() + 30)?])?;
    let login_took = t.elapsed();
    let frames = flood
        .join()
        .map_err(|_| anyhow::anyhow!("flood thread panicked"))?;
    let during = daemon.rss_kib()?;
    assert_eq!(run.rc, rc::SUCCESS, "{}", run.transcript);
    assert!(
        login_took < Duration::from_secs(5),
        "login took {login_took:?}"
    );
    let _ = hoarders.kill();
    let _ = hoarders.wait();
    drop(slow);
    eprintln!(
        "RSS {before} KiB before, {during} KiB under 6000 hoarded + 50 slow connections and {frames} max-size frames"
    );
    assert!(
        during < before + 64 * 1024,
        "memory grew from {before} to {during} KiB"
    );
    // Still serving afterwards.
    let mut c = Client::connect(&socket, Duration::from_secs(5), "t")?;
    assert!(
        matches!(c.call(&Request::Status { user: "ann".into() })?, Response::Status(s) if s.enrolled)
    );
    Ok(())
}

#[test]
fn mfad_is_not_dumpable() -> Result<()> {
    require_root()?;
    // Run it as nobody: the kernel makes /proc/PID of a non-dumpable
    // process root's, which shows PR_SET_DUMPABLE took effect.
    let dir = tempfile::tempdir()?;
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )?;
    let mfad = dir.path().join("mfad");
    std::fs::copy(mfa_tests::artifact("mfad")?, &mfad)?;
    let socket = dir.path().join("s.sock");
    let mut child = std::process::Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(&mfad)
        .arg("--socket")
        .arg(&socket)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(&socket).is_err() {
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("mfad as nobody did not start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = std::fs::metadata(format!("/proc/{}/status", child.id())).context("proc")?;
    let uid_line = std::fs::read_to_string(format!("/proc/{}/status", child.id()))?
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .map(str::to_string)
        .unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        uid_line.contains("65534"),
        "mfad runs as nobody: {uid_line}"
    );
    assert_eq!(
        status.uid(),
        0,
        "/proc/PID is root's only when the process is not dumpable"
    );
    // The hello handshake is the protocol's; the version constant is shared.
    assert_eq!(PROTOCOL_VERSION, 1);
    Ok(())
}
