//! Floods from local users while root logs in through PAM: well-formed
//! requests on many connections, and connections opened and closed in a
//! loop. mfad must keep answering root (sshd) promptly either way.

use anyhow::{bail, Context, Result};
use mfa_proto::client::Client;
use mfa_proto::{Request, Response};
use mfa_tests::{
    import_secret, raise_fd_limit, rc, require_root, totp_at, unix_now, LocalUsers, MfadProcess,
    Stack,
};
use std::time::{Duration, Instant};

/// What both flood scripts share: `run_as_users(first_uid, count, child)`
/// forks `count` processes that switch to uids `first_uid..` (which NSS
/// does not know) and each run `child(uid, ready, stop_fd)`. A child calls
/// `ready(**counts)` once it is flooding, watches `stop_fd` (readable, at
/// end of file, once the test closes the script's stdin) and returns a dict
/// of counts. The script prints one JSON line when every child is ready and
/// one when all have stopped: numbers summed over the children, other
/// values listed, and every child's error under "errors".
const DRIVER: &str = include_str!("floods/driver.py");

/// The flooders of the request test (after [`DRIVER`]): 30 local users,
/// each with 8 connections, each connection sending its next request the
/// moment mfad answers the last. The requests are well-formed ones a user
/// might send about accounts it does not own (root's status, a login and an
/// enrollment on the very accounts root is logging into, and a fresh name
/// on every fourth request, which misses mfad's NSS cache).
const REQUESTS: &str = include_str!("floods/requests.py");

/// The flooders' process group, killed (setuid children included) when
/// the test ends, however it ends.
struct Flood {
    python: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    stopped: bool,
}

impl Flood {
    /// Run python `script` with `args` in a process group of its own.
    fn start(script: &str, args: &[&std::ffi::OsStr]) -> Result<Flood> {
        use std::os::unix::process::CommandExt;
        let mut python = std::process::Command::new("/usr/bin/python3")
            .args(["-c", script])
            .args(args)
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

/// The tests here time logins, so they take turns rather than load the two
/// CPUs for each other.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A running mfad with accounts for `n` root logins through PAM (one each:
/// the confirming code spends the current step, a login uses the next).
struct Accounts {
    socket: std::path::PathBuf,
    daemon: MfadProcess,
    names: Vec<String>,
    secrets: Vec<String>,
    stack: Stack,
    _dir: tempfile::TempDir,
}

impl Accounts {
    fn new(n: usize) -> Result<Accounts> {
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
        let names: Vec<String> = (0..n).map(|i| format!("f{i}")).collect();
        let secrets: Vec<String> = (0..n)
            .map(|i| mfad::otp::base32(&[i as u8 + 101; 20]))
            .collect();
        for (user, secret) in names.iter().zip(&secrets) {
            import_secret(&socket, user, secret)?;
        }
        let stack = Stack::new(&socket, "timeout=5 tries=1", &[])?;
        Ok(Accounts {
            socket,
            daemon,
            names,
            secrets,
            stack,
            _dir: dir,
        })
    }

    /// Log in to account `i` through PAM; it must succeed. Returns how long
    /// the whole login took, from starting pamdrive to its exit.
    fn login(&self, i: usize) -> Result<Duration> {
        let t = Instant::now();
        let code = totp_at(&self.secrets[i], unix_now() + 30)?;
        let run = self.stack.login(&self.names[i], &[&code])?;
        let took = t.elapsed();
        assert_eq!(
            run.rc,
            rc::SUCCESS,
            "{} after {took:?}: {}",
            self.names[i],
            run.transcript
        );
        Ok(took)
    }

    /// Logins `from..to`, one every `every`, so they sample the whole flood.
    fn logins(&self, range: std::ops::Range<usize>, every: Duration) -> Result<Vec<Duration>> {
        let start = Instant::now();
        let mut took = Vec::new();
        for (k, i) in range.enumerate() {
            std::thread::sleep(
                (start + every * k as u32).saturating_duration_since(Instant::now()),
            );
            took.push(self.login(i)?);
        }
        Ok(took)
    }
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn ms(v: &[Duration]) -> Vec<f64> {
    v.iter()
        .map(|d| (d.as_secs_f64() * 1000.0).round())
        .collect()
}

/// The module gives each of a login's two calls to mfad `timeout` (5 s)
/// and fails closed after that, so that is the hard limit. The tests ask
/// more: a whole login within one call's timeout; slower than that, root
/// waited as long as it would for a daemon that had stopped answering.
const BOUND: Duration = Duration::from_secs(5);

/// Root's median login under a flood may be at most `factor` times its
/// median in `baseline`, plus a margin for pamdrive's own start-up on a
/// busy machine (at rest a login takes about 10 ms).
fn slowed_down_at_most(baseline: &[Duration], flood: &[Duration], factor: u32) {
    let (rest, under) = (median(baseline), median(flood));
    assert!(
        under < rest * factor + Duration::from_millis(30),
        "median login {under:?} under the flood against {rest:?} at rest"
    );
    for took in flood {
        assert!(*took < BOUND, "a login took {took:?} under the flood");
    }
}

/// The connection flooders (after [`DRIVER`]): 4 local users each
/// connecting without blocking and closing at once, in a tight loop, which
/// fills mfad's public listen queue. With "burn" as second argument they
/// only spin, as the control: four busy processes on two CPUs slow every
/// login whatever it talks to.
const CONNECTS: &str = include_str!("floods/connects.py");

#[test]
fn connections_opened_and_closed_in_a_loop_by_local_users_do_not_fail_roots_logins() -> Result<()> {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    const EACH: usize = 15;
    let accounts = Accounts::new(3 * EACH)?;
    let baseline = accounts.logins(0..EACH, Duration::ZERO)?;
    // The same four processes, first only spinning, then flooding.
    let mut under = Vec::new();
    let mut reports = Vec::new();
    for (k, mode) in ["burn", "connect"].into_iter().enumerate() {
        let script = format!("{DRIVER}{CONNECTS}");
        let mut flood = Flood::start(&script, &[accounts.socket.as_os_str(), mode.as_ref()])?;
        let up = flood.report(Duration::from_secs(20))?;
        assert_eq!(up["errors"], serde_json::json!([]), "{mode}: {up}");
        std::thread::sleep(Duration::from_millis(300));
        let range = (k + 1) * EACH..(k + 2) * EACH;
        under.push(accounts.logins(range, Duration::from_millis(100))?);
        reports.push(flood.stop()?);
    }
    let (spinning, flooding) = (&under[0], &under[1]);
    eprintln!(
        "logins at rest (ms): {:?}\nwith 4 processes spinning (ms): {:?}\nwith them connecting and closing in a loop (ms): {:?}\n{reports:?}",
        ms(&baseline),
        ms(spinning),
        ms(flooding)
    );
    let done = &reports[1];
    assert_eq!(done["errors"], serde_json::json!([]), "flooders: {done}");
    // The flood was real: hundreds of thousands of connections, most of
    // them finding mfad's public listen queue full.
    let tried = done["tried"].as_u64().unwrap_or(0);
    let full = done["full"].as_u64().unwrap_or(0);
    assert!(tried > 50_000 && full > 0, "the flood barely ran: {done}");
    // Every login got in (they used to fail at once when the queue was
    // full), and the flood slowed them down not much more than the same
    // processes merely spinning: mfad adds little of its own.
    slowed_down_at_most(spinning, flooding, 2);
    Ok(())
}

#[test]
fn a_flood_of_valid_looking_requests_from_many_local_users_does_not_starve_roots_logins(
) -> Result<()> {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    // 5 logins before the flood, as a baseline, and 20 during it.
    const BASELINE: usize = 5;
    const FLOOD_FOR: Duration = Duration::from_secs(3);
    let accounts = Accounts::new(BASELINE + 20)?;
    let (socket, names) = (&accounts.socket, &accounts.names);
    let baseline = accounts.logins(0..BASELINE, Duration::ZERO)?;

    // Thirty real local users (uids the name service does not know would
    // be paced as one).
    let _users = LocalUsers::create(40000, 30)?;
    let targets = names.join(",");
    let script = format!("{DRIVER}{REQUESTS}");
    let mut flood = Flood::start(&script, &[socket.as_os_str(), targets.as_ref()])?;
    let up = flood.report(Duration::from_secs(20))?;
    assert_eq!(up["errors"], serde_json::json!([]), "flooders: {up}");
    assert_eq!(up["connections"], 30 * 8, "flooders: {up}");
    std::thread::sleep(Duration::from_millis(300));
    let flood_started = Instant::now();
    let latencies = accounts.logins(BASELINE..names.len(), Duration::from_millis(100))?;
    let logins_took = flood_started.elapsed();
    // Let the flood run long enough to be paced at its steady rate.
    std::thread::sleep(FLOOD_FOR.saturating_sub(flood_started.elapsed()));
    let done = flood.stop()?;
    let rss = accounts.daemon.rss_kib()?;

    let answered = done["answered"].as_u64().unwrap_or(0);
    let seconds = done["seconds"].as_f64().unwrap_or(f64::NAN);
    eprintln!(
        "baseline logins (ms): {:?}\nlogins under the flood (ms): {:?} in {:.2} s\nflood: {answered} requests answered in {seconds:.2} s ({:.0}/s) over {} connections; {done}\nmfad RSS {rss} KiB",
        ms(&baseline),
        ms(&latencies),
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
    // Root was not slowed down by it: unpaced, the same flood made the
    // median login 10 to 20 times slower than at rest.
    slowed_down_at_most(&baseline, &latencies, 4);
    // The flood charged nothing to the accounts it named.
    let mut root = Client::connect(socket, Duration::from_secs(5), "t")?;
    for name in names {
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
