//! A real `mfad` process (the release build) on a socket and state
//! directory in the benchmark's scratch folder, driven only through the
//! public protocol (mfa_proto's blocking client), so the harness does not
//! depend on how the daemon stores things.

use crate::otp::{self, Pool};
use anyhow::{anyhow, bail, Context, Result};
use mfa_proto::client::Client;
use mfa_proto::{EnrollParams, LoginContext, Request, Response, Sensitive};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Mfad {
    child: Child,
    pub socket: PathBuf,
    pub state_dir: PathBuf,
    pub log: PathBuf,
    /// From spawning the process to the first answered `hello`.
    pub started_in: Duration,
}

/// Resident memory of a process, from /proc/PID/status, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mem {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

pub fn proc_mem(pid: u32) -> Result<Mem> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(Mem {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
    })
}

/// User plus system CPU time of a process so far.
pub fn proc_cpu(pid: u32) -> Result<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses.
    let rest = text
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("odd /proc/{pid}/stat"))?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5); here 11 and 12.
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok(Duration::from_nanos(ticks * 1_000_000_000 / hz))
}

impl Mfad {
    /// Start `bin` with a configuration that sets only the socket and the
    /// state directory (every other option is the shipped default).
    pub fn start(bin: &Path, dir: &Path) -> Result<Mfad> {
        Mfad::start_with(bin, dir, "")
    }

    /// The same, with `extra` (TOML tables, e.g. `[push]`) appended.
    pub fn start_with(bin: &Path, dir: &Path, extra: &str) -> Result<Mfad> {
        std::fs::create_dir_all(dir)?;
        let socket = dir.join("mfad.sock");
        let state_dir = dir.join("state");
        let config = dir.join("mfad.toml");
        std::fs::write(
            &config,
            format!(
                "socket = \"{}\"\nstate_dir = \"{}\"\nhostname = \"bench\"\n{extra}",
                socket.display(),
                state_dir.display()
            ),
        )?;
        let log = dir.join("mfad.log");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let t0 = Instant::now();
        let mut child = Command::new(bin)
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("LISTEN_FDS")
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        loop {
            if Client::connect(&socket, Duration::from_secs(5), "mfa_bench").is_ok() {
                break;
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "mfad exited with {status} before answering; its log:\n{}",
                    tail(&log)
                );
            }
            if t0.elapsed() > Duration::from_secs(120) {
                let _ = child.kill();
                bail!("mfad did not answer within 120 s; its log:\n{}", tail(&log));
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        Ok(Mfad {
            started_in: t0.elapsed(),
            child,
            socket,
            state_dir,
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn mem(&self) -> Result<Mem> {
        proc_mem(self.pid())
    }

    pub fn cpu(&self) -> Result<Duration> {
        proc_cpu(self.pid())
    }

    pub fn client(&self) -> Result<Client> {
        Ok(Client::connect(&self.socket, CLIENT_TIMEOUT, "mfa_bench")?)
    }

    /// SIGTERM, then wait (SIGKILL after 30 s).
    pub fn stop(mut self) -> Result<()> {
        self.terminate()
    }

    fn terminate(&mut self) -> Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        // SAFETY: kill on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let t0 = Instant::now();
        while self.child.try_wait()?.is_none() {
            if t0.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!("mfad ignored SIGTERM for 30 s");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    /// Bytes under the state directory (database, WAL, key).
    pub fn state_bytes(&self) -> u64 {
        dir_bytes(&self.state_dir)
    }
}

impl Drop for Mfad {
    fn drop(&mut self) {
        let _ = self.terminate();
    }
}

fn dir_bytes(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Enroll accounts `range` of `pool` through the protocol, as root
/// importing each account's secret: `enroll_begin` with the secret, then
/// `enroll_confirm` with the code of the previous time step (mfad accepts
/// ±1 step and marks the confirming step as spent, so the current code
/// stays fresh for a login). `threads` clients work in parallel, each on
/// one connection.
pub fn enroll(
    mfad: &Mfad,
    pool: &Pool,
    range: std::ops::Range<usize>,
    threads: usize,
) -> Result<Duration> {
    let next = AtomicUsize::new(range.start);
    let t0 = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    let mut client = mfad.client()?;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= range.end {
                            return Ok(());
                        }
                        enroll_one(&mut client, pool, i)?;
                    }
                })
            })
            .collect();
        for w in workers {
            w.join()
                .map_err(|_| anyhow!("an enrollment thread panicked"))??;
        }
        Ok(())
    })?;
    Ok(t0.elapsed())
}

fn enroll_one(client: &mut Client, pool: &Pool, i: usize) -> Result<()> {
    let user = &pool.names[i];
    let begin = Request::EnrollBegin {
        user: user.clone(),
        params: EnrollParams {
            secret: Some(Sensitive::new(otp::base32(&pool.secrets[i]))),
            ..Default::default()
        },
    };
    match client.call(&begin)? {
        Response::Enrollment { .. } => {}
        other => bail!("enroll_begin {user}: {other:?}"),
    }
    // At a step boundary the previous step can fall out of the window
    // between computing the code and the daemon's check: try again.
    for _ in 0..3 {
        let step = otp::step_now() - 1;
        let confirm = Request::EnrollConfirm {
            user: user.clone(),
            code: Sensitive::new(otp::code_at_step(&pool.totps[i], step)),
            current_code: None,
            name: None,
        };
        match client.call(&confirm)? {
            Response::Enrolled { .. } => {
                pool.spent(i, step);
                return Ok(());
            }
            Response::WrongCode { .. } => continue,
            other => bail!("enroll_confirm {user}: {other:?}"),
        }
    }
    bail!("enroll_confirm {user}: the previous step's code was refused three times")
}

/// One login's worth of protocol, as pam_mfa does it for the code: a fresh
/// connection, `hello`, `verify`.
pub fn verify_once(socket: &Path, user: &str, code: &str) -> Result<Response> {
    let mut c = Client::connect(socket, CLIENT_TIMEOUT, "mfa_bench")?;
    Ok(c.call(&Request::Verify {
        user: user.to_string(),
        code: Sensitive::new(code),
        context: LoginContext {
            service: "mfa-bench".into(),
            ..Default::default()
        },
    })?)
}

/// The result of a batch of verifications.
#[derive(Debug, Default)]
pub struct VerifyRun {
    pub latencies: Vec<Duration>,
    pub ok: usize,
    /// Anything but `verified`, by kind.
    pub failures: BTreeMap<String, usize>,
    pub wall: Duration,
    /// mfad's CPU time (user + system) during the run.
    pub daemon_cpu: Duration,
    /// The harness's own CPU time (the clients) during the run.
    pub client_cpu: Duration,
    /// Share of all CPUs that other processes kept busy during the run.
    pub other_share: f64,
    /// How many verifications used the next step's code because the
    /// account had already spent the current one.
    pub next_step_codes: usize,
}

impl VerifyRun {
    pub fn total(&self) -> usize {
        self.latencies.len()
    }
    pub fn per_sec(&self) -> f64 {
        self.total() as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// Which accounts a run verifies, and when.
pub enum Work<'a> {
    /// Each of these accounts once (or the next free account after it,
    /// when it has no unspent code left), as fast as the threads go.
    Accounts(&'a [usize]),
    /// Closed loop: round-robin over accounts `0..pool.len()` from `from`,
    /// each thread sending its next verification as soon as the last one
    /// is answered, until `for_` has passed.
    Until { from: usize, for_: Duration },
    /// Open loop: verification k is due at start + k / rate, whether or not
    /// earlier ones were answered; its latency counts from when it was due,
    /// so falling behind shows up as latency (no coordinated omission).
    Rate {
        from: usize,
        per_sec: f64,
        for_: Duration,
    },
}

/// Verify with `threads` client threads that start together. Each
/// verification is timed from before `connect` (or, for `Work::Rate`, from
/// when it was due) to the answer.
pub fn run_verifies(mfad: &Mfad, pool: &Pool, work: Work<'_>, threads: usize) -> Result<VerifyRun> {
    let targets = Targets {
        sockets: vec![mfad.socket.clone()],
        pids: vec![mfad.pid()],
    };
    run_verifies_on(&targets, pool, work, threads)
}

/// Where a run's verifications go: its sockets in turn (a fleet's relays),
/// and the daemons whose CPU time it reports.
pub struct Targets {
    pub sockets: Vec<PathBuf>,
    pub pids: Vec<u32>,
}

impl Targets {
    fn cpu(&self) -> Result<Duration> {
        self.pids.iter().map(|&p| proc_cpu(p)).sum()
    }
}

/// [`run_verifies`] spread over `targets`.
pub fn run_verifies_on(
    targets: &Targets,
    pool: &Pool,
    work: Work<'_>,
    threads: usize,
) -> Result<VerifyRun> {
    let cursor = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let threads = threads.max(1);
    let results = Mutex::new(VerifyRun::default());
    let cpu0 = targets.cpu()?;
    let own0 = proc_cpu(std::process::id())?;
    let machine0 = crate::report::machine_busy();
    // Every thread (and the clock of the run) starts at this instant.
    let start =
        Instant::now() + Duration::from_millis(100) + Duration::from_micros(500) * threads as u32;
    let (wall, joined) = std::thread::scope(|s| {
        let (work, cursor, stop, results) = (&work, &cursor, &stop, &results);
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(move || -> Result<()> {
                    let mut mine = VerifyRun::default();
                    sleep_until(start);
                    let mut outcome = Ok(());
                    while !stop.load(Ordering::Relaxed) {
                        let k = cursor.fetch_add(1, Ordering::Relaxed);
                        let (claimed, due) = match work {
                            Work::Accounts(list) => {
                                let Some(&i) = list.get(k) else { break };
                                (pool.claim(i), None)
                            }
                            Work::Until { from, for_ } => {
                                if start.elapsed() >= *for_ {
                                    break;
                                }
                                (pool.claim((from + k) % pool.len()), None)
                            }
                            Work::Rate {
                                from,
                                per_sec,
                                for_,
                            } => {
                                let at = Duration::from_secs_f64(k as f64 / per_sec);
                                if at >= *for_ {
                                    break;
                                }
                                sleep_until(start + at);
                                (pool.claim((from + k) % pool.len()), Some(start + at))
                            }
                        };
                        let Some((i, step)) = claimed else {
                            *mine
                                .failures
                                .entry("no account with an unspent code (skipped)".into())
                                .or_default() += 1;
                            std::thread::sleep(Duration::from_millis(1));
                            continue;
                        };
                        if step > otp::step_now() {
                            mine.next_step_codes += 1;
                        }
                        let code = otp::code_at_step(&pool.totps[i], step);
                        let t = due.unwrap_or_else(Instant::now);
                        let socket = &targets.sockets[k % targets.sockets.len()];
                        let answer = verify_once(socket, &pool.names[i], &code);
                        let took = t.elapsed();
                        match answer {
                            Ok(Response::Verified { .. }) => {
                                pool.spent(i, step);
                                mine.ok += 1;
                            }
                            Ok(other) => {
                                let kind = format!("{other:?}");
                                let kind = kind.split([' ', '{', '(']).next().unwrap_or("?");
                                *mine.failures.entry(kind.to_string()).or_default() += 1;
                            }
                            Err(e) => {
                                *mine.failures.entry(format!("error: {e}")).or_default() += 1;
                                if mine.failures.values().sum::<usize>() > 1000 {
                                    stop.store(true, Ordering::Relaxed);
                                    outcome = Err(e.context("too many failed verifications"));
                                }
                            }
                        }
                        pool.release(i);
                        mine.latencies.push(took);
                    }
                    let mut all = results.lock().map_err(|_| anyhow!("poisoned"))?;
                    all.latencies.append(&mut mine.latencies);
                    all.ok += mine.ok;
                    all.next_step_codes += mine.next_step_codes;
                    for (k, v) in mine.failures {
                        *all.failures.entry(k).or_default() += v;
                    }
                    outcome
                })
            })
            .collect();
        sleep_until(start);
        let joined: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
        (start.elapsed(), joined)
    });
    for j in joined {
        j.map_err(|_| anyhow!("a client thread panicked"))??;
    }
    let mut run = results.into_inner().map_err(|_| anyhow!("poisoned"))?;
    run.wall = wall;
    run.daemon_cpu = targets.cpu()?.saturating_sub(cpu0);
    run.client_cpu = proc_cpu(std::process::id())?.saturating_sub(own0);
    let machine = crate::report::machine_busy().saturating_sub(machine0);
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    // The run's clock starts at `start`; the CPU counters a little before.
    let span = (wall + Duration::from_millis(100)).as_secs_f64() * cpus;
    run.other_share =
        ((machine.as_secs_f64() - run.daemon_cpu.as_secs_f64() - run.client_cpu.as_secs_f64())
            / span)
            .clamp(0.0, 1.0);
    Ok(run)
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}
