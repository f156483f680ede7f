//! Load, faults and attack: a thousand logins racing one code, an attacker
//! guessing as fast as the limits allow for a day, mfad restarted under
//! logins, hoarded and slow connections, and core dumps turned off.

use anyhow::{bail, Context, Result};
use mfa_proto::blocking::Client;
use mfa_proto::{LoginContext, Request, Response, Sensitive, PROTOCOL_VERSION};
use mfa_tests::{raise_fd_limit, rc, require_root, totp_at, unix_now, Daemon, MfadProcess, Stack};
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
        let user = format!("r{i}");
        let params = mfa_proto::EnrollParams {
            secret: Some(Sensitive::new(s.clone())),
            ..Default::default()
        };
        Client::connect(&socket, Duration::from_secs(5), "t")?.call(&Request::EnrollBegin {
            user: user.clone(),
            params,
        })?;
        let code = Sensitive::new(totp_at(s, unix_now())?);
        let r = Client::connect(&socket, Duration::from_secs(5), "t")?.call(
            &Request::EnrollConfirm {
                user,
                code,
                current_code: None,
            },
        )?;
        assert!(matches!(r, Response::Enrolled { .. }), "{r:?}");
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
    let params = mfa_proto::EnrollParams {
        secret: Some(Sensitive::new(secret.clone())),
        ..Default::default()
    };
    Client::connect(&socket, Duration::from_secs(5), "t")?.call(&Request::EnrollBegin {
        user: "ann".into(),
        params,
    })?;
    let code = Sensitive::new(totp_at(&secret, unix_now())?);
    Client::connect(&socket, Duration::from_secs(5), "t")?.call(&Request::EnrollConfirm {
        user: "ann".into(),
        code,
        current_code: None,
    })?;
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

/// The flooders of the test below: 30 local users (uids 40000..40029,
/// which NSS does not know), each with 8 connections, each connection
/// sending its next request the moment mfad answers the last. The requests
/// are well-formed ones a user might send about accounts it does not own
/// (root's status, a login and an enrollment on the very accounts root is
/// logging into, and a fresh name on every fourth request, which misses
/// mfad's NSS cache). It prints one JSON line when every user is connected
/// and one with the counts after its stdin closes.
const FLOOD: &str = r#"
import ctypes, json, os, select, socket, struct, sys, time
path, targets = sys.argv[1], sys.argv[2].split(",")
USERS, CONNS = 30, 8
def frame(body):
    return struct.pack(">I", len(body)) + body
def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("mfad closed the connection")
        buf += chunk
    return buf
def recv_frame(s):
    return recv_exact(s, struct.unpack(">I", recv_exact(s, 4))[0])
stop_r, stop_w = os.pipe()
report_r, report_w = os.pipe()
kids = []
for i in range(USERS):
    pid = os.fork()
    if pid:
        kids.append(pid)
        continue
    try:
        os.close(stop_w); os.close(report_r)
        uid = 40000 + i
        os.setgroups([]); os.setgid(uid); os.setuid(uid)
        ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG after setuid, which clears it
        fixed = [frame(b'{"type":"status","user":"root"}')]
        for t in targets:
            fixed.append(frame(b'{"type":"verify","user":"%s","code":"123456","context":{"service":"sshd"}}' % t.encode()))
            fixed.append(frame(b'{"type":"challenge","user":"%s","context":{"service":"sshd"}}' % t.encode()))
            fixed.append(frame(b'{"type":"enroll_begin","user":"%s","params":{}}' % t.encode()))
        conns = []
        for _ in range(CONNS):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            s.sendall(frame(b'{"type":"hello","version":1,"client":"flood"}'))
            hello = recv_frame(s)
            if b'"hello"' not in hello:
                raise RuntimeError("hello answered with %r" % hello)
            conns.append(s)
        os.write(report_w, (json.dumps({"ready": len(conns)}) + "\n").encode())
        k = answered = denied = closed = 0
        other = ""
        def request():
            global k
            k += 1
            if k % 4 == 0:
                return frame(b'{"type":"status","user":"n%d_%d"}' % (uid, k))
            return fixed[k % len(fixed)]
        for s in conns:
            s.sendall(request())
        deadline = time.monotonic() + 60
        while conns and time.monotonic() < deadline:
            ready, _, _ = select.select(conns + [stop_r], [], [], 1.0)
            if stop_r in ready:
                break
            for s in ready:
                try:
                    body = recv_frame(s)
                    answered += 1
                    if b'"permission_denied"' in body:
                        denied += 1
                    elif not other:
                        other = body[:300].decode("utf-8", "replace")
                    s.sendall(request())
                except (OSError, EOFError):
                    closed += 1
                    conns.remove(s)
        report = {"answered": answered, "denied": denied, "closed": closed, "other": other}
    except Exception as e:
        report = {"error": "uid %d: %r" % (40000 + i, e)}
    os.write(report_w, (json.dumps(report) + "\n").encode())
    os._exit(0)
os.close(stop_r); os.close(report_w)
reports = os.fdopen(report_r)
first = [json.loads(reports.readline()) for _ in kids]
print(json.dumps({"users": sum("ready" in r for r in first),
                  "connections": sum(r.get("ready", 0) for r in first),
                  "errors": [r["error"] for r in first if "error" in r]}), flush=True)
started = time.monotonic()
sys.stdin.read()
os.close(stop_w)
last = [json.loads(line) for line in reports]
for k in kids:
    os.waitpid(k, 0)
print(json.dumps({"seconds": time.monotonic() - started,
                  "answered": sum(r.get("answered", 0) for r in last),
                  "denied": sum(r.get("denied", 0) for r in last),
                  "closed": sum(r.get("closed", 0) for r in last),
                  "other": [r["other"] for r in last if r.get("other")][:3],
                  "errors": [r["error"] for r in last if "error" in r]}), flush=True)
"#;

/// The flooders' process group, killed (setuid children included) when
/// the test ends, however it ends.
struct Flood {
    python: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    stopped: bool,
}

impl Flood {
    fn start(socket: &std::path::Path, targets: &[String]) -> Result<Flood> {
        use std::os::unix::process::CommandExt;
        let mut python = std::process::Command::new("/usr/bin/python3")
            .args(["-c", FLOOD])
            .arg(socket)
            .arg(targets.join(","))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .process_group(0)
            .spawn()?;
        let out = python.stdout.take().context("stdout")?;
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(out)).map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Flood {
            python,
            lines,
            stopped: false,
        })
    }

    /// The next JSON line the flooders print.
    fn report(&self, within: Duration) -> Result<serde_json::Value> {
        let line = self
            .lines
            .recv_timeout(within)
            .context("the flooders did not report in time")?;
        Ok(serde_json::from_str(&line)?)
    }

    /// Tell every flooder to stop and report (python waits for them all
    /// before it prints the report).
    fn stop(&mut self) -> Result<serde_json::Value> {
        drop(self.python.stdin.take());
        let report = self.report(Duration::from_secs(20))?;
        self.python.wait()?;
        self.stopped = true;
        Ok(report)
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        // SAFETY: signalling the process group this test created (its
        // leader's pid is the group id; the setuid children stay in it).
        unsafe { libc::kill(-(self.python.id() as i32), libc::SIGKILL) };
        let _ = self.python.wait();
    }
}

#[test]
fn a_flood_of_valid_looking_requests_from_many_local_users_does_not_starve_roots_logins(
) -> Result<()> {
    require_root()?;
    raise_fd_limit()?;
    let dir = tempfile::tempdir()?;
    // The local users must be able to reach the socket.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    let socket = dir.path().join("mfad.sock");
    let daemon = MfadProcess::spawn(&socket, &dir.path().join("state"), &[])?;
    // One account per login (the confirming code spends the current step,
    // and each login then uses the next one): 5 before the flood, as a
    // baseline, and 20 during it.
    const BASELINE: usize = 5;
    const UNDER_FLOOD: usize = 20;
    let names: Vec<String> = (0..BASELINE + UNDER_FLOOD)
        .map(|i| format!("f{i}"))
        .collect();
    let secrets: Vec<String> = (0..names.len())
        .map(|i| mfad::otp::base32(&[i as u8 + 101; 20]))
        .collect();
    let mut root = Client::connect(&socket, Duration::from_secs(5), "t")?;
    for (user, secret) in names.iter().zip(&secrets) {
        let params = mfa_proto::EnrollParams {
            secret: Some(Sensitive::new(secret.clone())),
            ..Default::default()
        };
        root.call(&Request::EnrollBegin {
            user: user.clone(),
            params,
        })?;
        let r = root.call(&Request::EnrollConfirm {
            user: user.clone(),
            code: Sensitive::new(totp_at(secret, unix_now())?),
            current_code: None,
        })?;
        assert!(matches!(r, Response::Enrolled { .. }), "{user}: {r:?}");
    }
    drop(root);
    // The module gives each of a login's two calls to mfad `timeout` (5 s)
    // and fails closed after that, so that is the hard limit. The test asks
    // more: a whole login, from starting pamdrive to its exit, within one
    // call's timeout; slower than that, root waited as long as it would for
    // a daemon that had stopped answering. (At rest a login takes ~10 ms.)
    const BOUND: Duration = Duration::from_secs(5);
    const FLOOD_FOR: Duration = Duration::from_secs(3);
    let stack = Stack::new(&socket, "timeout=5 tries=1", &[])?;
    let login = |i: usize| -> Result<Duration> {
        let t = Instant::now();
        let run = stack.login(&names[i], &[&totp_at(&secrets[i], unix_now() + 30)?])?;
        let took = t.elapsed();
        assert_eq!(
            run.rc,
            rc::SUCCESS,
            "{} after {took:?}: {}",
            names[i],
            run.transcript
        );
        Ok(took)
    };
    let baseline = (0..BASELINE).map(login).collect::<Result<Vec<_>>>()?;

    let mut flood = Flood::start(&socket, &names)?;
    let up = flood.report(Duration::from_secs(20))?;
    assert_eq!(up["errors"], serde_json::json!([]), "flooders: {up}");
    assert_eq!(up["connections"], 30 * 8, "flooders: {up}");
    std::thread::sleep(Duration::from_millis(300));
    let flood_started = Instant::now();
    let mut latencies = Vec::new();
    for i in BASELINE..names.len() {
        latencies.push(login(i)?);
    }
    let logins_took = flood_started.elapsed();
    // Let the flood run long enough to be paced at its steady rate.
    std::thread::sleep(FLOOD_FOR.saturating_sub(flood_started.elapsed()));
    let done = flood.stop()?;
    let rss = daemon.rss_kib()?;

    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    let mut sorted = latencies.clone();
    sorted.sort();
    let answered = done["answered"].as_u64().unwrap_or(0);
    let seconds = done["seconds"].as_f64().unwrap_or(f64::NAN);
    eprintln!(
        "baseline logins (ms): {:?}\nlogins under the flood (ms): {:?}\nunder the flood: median {:.0} ms, max {:.0} ms; {} logins in {:.2} s\nflood: {answered} requests answered in {seconds:.2} s ({:.0}/s) over {} connections; {done}\nmfad RSS {rss} KiB",
        baseline.iter().map(|d| ms(d).round()).collect::<Vec<_>>(),
        latencies.iter().map(|d| ms(d).round()).collect::<Vec<_>>(),
        ms(&sorted[sorted.len() / 2]),
        ms(&sorted[sorted.len() - 1]),
        latencies.len(),
        logins_took.as_secs_f64(),
        answered as f64 / seconds,
        up["connections"],
    );
    assert_eq!(done["errors"], serde_json::json!([]), "flooders: {done}");
    assert_eq!(done["closed"], 0, "mfad closed flood connections: {done}");
    // The flood was real: thousands of requests, all of them answered,
    // and each one refused (no uid but root may touch these accounts).
    assert!(answered > 1500, "the flood barely ran: {done}");
    assert_eq!(done["denied"], answered, "flood answers: {done}");
    // It was paced: each uid got about its burst plus its rate (the
    // defaults: 40, then 20/s), not the thousands a second mfad could
    // answer (about 8,000/s unpaced on two cores).
    let share = 30.0 * (40.0 + 20.0 * seconds) + 240.0;
    assert!(
        (answered as f64) < 1.5 * share,
        "the flooders got {answered} answers in {seconds:.2} s, over their share of {share:.0}: {done}"
    );
    for (name, took) in names[BASELINE..].iter().zip(&latencies) {
        assert!(
            *took < BOUND,
            "{name}'s login took {took:?} under the flood"
        );
    }
    // Root was not slowed down by it: unpaced, the same flood made the
    // median login 100-170 ms; at rest one takes about 10 ms.
    assert!(
        sorted[sorted.len() / 2] < Duration::from_millis(60),
        "median login under the flood {:?}",
        sorted[sorted.len() / 2]
    );
    // The flood charged nothing to the accounts it named.
    let mut root = Client::connect(&socket, Duration::from_secs(5), "t")?;
    for name in &names {
        match root.call(&Request::Status { user: name.clone() })? {
            Response::Status(s) => {
                assert!(
                    s.enrolled && !s.locked && s.consecutive_failures == 0,
                    "{s:?}"
                )
            }
            other => bail!("status {name}: {other:?}"),
        }
    }
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
