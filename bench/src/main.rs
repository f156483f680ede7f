//! mfa_bench: the benchmark harness behind `bash scripts/bench.sh`.
//!
//! ```text
//! mfa_bench run [--quick] [--out FILE] [--update-doc BENCHMARKS.md] [--command TEXT]
//! mfa_bench pam-loop --confdir DIR --service NAME --warmup NAME --list FILE
//! mfa_bench load [--accounts N] [--threads N] [--secs N] [--rate N] [--restart] [--hold]
//! ```
//!
//! `run` does everything and writes a Markdown results section. `pam-loop`
//! is what `run` spawns, once per stack and round: in one process, for each
//! `user<TAB>base32secret` line, computes the current code, then times
//! pam_start_confdir + pam_authenticate + pam_end, printing
//! `rc nanoseconds prompts<TAB>last text` per login.
//!
//! Binaries it uses sit next to it (the release build of this workspace):
//! `mfad`, `libpam_mfa.so` and `bench_login`.

use anyhow::{anyhow, bail, Context, Result};
use mfa_bench::daemon::{self, Mfad, VerifyRun, Work};
use mfa_bench::otp::{self, Pool};
use mfa_bench::stats::{self, mib, mib_delta, ms, ratio, summarize, thousands};
use mfa_bench::{pam, report};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

macro_rules! w {
    ($dst:expr) => {
        $dst.push('\n');
    };
    ($dst:expr, $($arg:tt)*) => {
        let _ = writeln!($dst, $($arg)*);
    };
}

const BEGIN: &str = "<!-- bench:results:begin -->";
const END: &str = "<!-- bench:results:end -->";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]),
        Some("pam-loop") => pam_loop(&args[1..]),
        Some("load") => load(&args[1..]),
        _ => Err(anyhow!(
            "usage: mfa_bench run [--quick] [--out FILE] [--update-doc FILE] [--command TEXT]\n       \
             mfa_bench pam-loop --confdir DIR --service NAME --warmup NAME --list FILE\n       \
             mfa_bench load [--accounts N] [--threads N] [--secs N] [--rate N] [--restart] [--hold]"
        )),
    };
    if let Err(e) = result {
        eprintln!("mfa_bench: {e:#}");
        std::process::exit(1);
    }
}

fn flag_value(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

// -------------------------------------------------------------------- load

fn load(args: &[String]) -> Result<()> {
    let num = |name: &str, default: usize| -> Result<usize> {
        flag_value(args, name).map_or(Ok(default), |v| {
            v.parse().with_context(|| format!("{name} {v}"))
        })
    };
    let plan = mfa_bench::load::LoadPlan {
        accounts: num("--accounts", 100_000)?,
        threads: num("--threads", 128)?,
        secs: num("--secs", 10)? as u64,
        rate: num("--rate", 5_000)? as f64,
        restart: args.iter().any(|a| a == "--restart"),
        hold: args.iter().any(|a| a == "--hold"),
    };
    let paths = paths()?;
    let scratch = tempfile::Builder::new().prefix("mfa-load.").tempdir()?;
    mfa_bench::load::load(&paths.mfad, scratch.path(), &plan)
}

// ---------------------------------------------------------------- pam-loop

fn pam_loop(args: &[String]) -> Result<()> {
    let confdir = PathBuf::from(flag_value(args, "--confdir").context("--confdir")?);
    let service = flag_value(args, "--service").context("--service")?;
    let warmup = flag_value(args, "--warmup").context("--warmup")?;
    let list = flag_value(args, "--list").context("--list")?;
    let mut accounts = Vec::new();
    for line in std::fs::read_to_string(&list)?.lines() {
        let (user, secret) = line.split_once('\t').context("list line")?;
        let bytes = totp_rs::Secret::try_from_base32(secret)
            .map_err(|e| anyhow!("{e:?}"))?
            .as_bytes()
            .to_vec();
        accounts.push((user.to_string(), otp::totp(&bytes)?));
    }
    // The first handle in a process pays one-time costs (libpam's own
    // set-up, the dynamic loader's caches): pay them on a pam_permit stack.
    for _ in 0..3 {
        pam::login(&confdir, &warmup, "warmup", "000000")?;
    }
    let mut out = String::new();
    for (user, totp) in &accounts {
        let code = otp::code_now(totp);
        let t = Instant::now();
        let l = pam::login(&confdir, &service, user, &code)?;
        let took = t.elapsed();
        w!(
            out,
            "{} {} {}\t{}",
            l.rc,
            took.as_nanos(),
            l.prompts,
            l.last_text.replace(['\n', '\t'], " ")
        );
    }
    print!("{out}");
    Ok(())
}

// --------------------------------------------------------------------- run

struct Plan {
    quick: bool,
    pam_users: usize,
    spawn_runs: usize,
    race: usize,
    race_trials: usize,
    rounds: usize,
    sizes: Vec<usize>,
    serial: usize,
    storm: usize,
    threads: usize,
    enroll_threads: usize,
    sustain: Duration,
    rate: f64,
}

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

impl Plan {
    fn new(quick: bool) -> Plan {
        let mut p = if quick {
            Plan {
                quick,
                pam_users: 40,
                spawn_runs: 10,
                race: 20,
                race_trials: 2,
                rounds: 2,
                sizes: vec![1_000, 20_000],
                serial: 200,
                storm: 1_000,
                threads: 128,
                enroll_threads: 32,
                sustain: Duration::from_secs(2),
                rate: 5_000.0,
            }
        } else {
            Plan {
                quick,
                pam_users: 400,
                spawn_runs: 50,
                race: 50,
                race_trials: 5,
                rounds: 5,
                sizes: vec![1_000, 10_000, 100_000],
                serial: 1_000,
                storm: 1_000,
                threads: 128,
                enroll_threads: 32,
                sustain: Duration::from_secs(10),
                rate: 5_000.0,
            }
        };
        if let Some(v) = env_usize("BENCH_PAM_USERS") {
            p.pam_users = v.max(p.rounds);
        }
        if let Some(v) = env_usize("BENCH_THREADS") {
            p.threads = v.max(1);
        }
        if let Some(v) = env_usize("BENCH_RATE") {
            p.rate = v.max(1) as f64;
        }
        if let Some(v) = env_usize("BENCH_SUSTAIN_SECS") {
            p.sustain = Duration::from_secs(v as u64);
        }
        if let Ok(v) = std::env::var("BENCH_SIZES") {
            let sizes: Vec<usize> = v.split(',').filter_map(|s| s.trim().parse().ok()).collect();
            if !sizes.is_empty() {
                p.sizes = sizes;
            }
        }
        p.sizes.sort_unstable();
        p
    }
}

struct Paths {
    mfad: PathBuf,
    pam_mfa: PathBuf,
    bench_login: PathBuf,
    security: PathBuf,
    repo: PathBuf,
}

fn paths() -> Result<Paths> {
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .ok_or_else(|| anyhow!("odd path {}", exe.display()))?
        .to_path_buf();
    let need = |name: &str| -> Result<PathBuf> {
        let p = bin.join(name);
        if !p.exists() {
            bail!(
                "{} is missing: build with `cargo build --release -p mfad -p pam_mfa -p mfa_bench`",
                p.display()
            );
        }
        Ok(p)
    };
    let security = std::fs::read_dir("/usr/lib")?
        .flatten()
        .map(|e| e.path().join("security"))
        .chain([
            PathBuf::from("/lib/security"),
            PathBuf::from("/usr/lib/security"),
        ])
        .find(|p| p.join("pam_permit.so").exists())
        .ok_or_else(|| anyhow!("cannot find pam_permit.so under /usr/lib/*/security"))?;
    for m in ["pam_google_authenticator.so", "pam_oath.so"] {
        if !security.join(m).exists() {
            bail!(
                "{} is missing: apt-get install libpam-google-authenticator libpam-oath",
                security.join(m).display()
            );
        }
    }
    let repo = std::env::var_os("BENCH_REPO")
        .map(PathBuf::from)
        .or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(|| PathBuf::from("."));
    Ok(Paths {
        mfad: need("mfad")?,
        pam_mfa: need("libpam_mfa.so")?,
        bench_login: need("bench_login")?,
        security,
        repo,
    })
}

fn log(msg: &str) {
    eprintln!("[mfa_bench] {msg}");
}

fn run(args: &[String]) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("run as root: google-authenticator's user= option and mfad's secret import need it");
    }
    let quick = args.iter().any(|a| a == "--quick");
    let plan = Plan::new(quick);
    let paths = paths()?;
    check_codes_against_oathtool()?;
    let scratch_parent = std::env::var_os("BENCH_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let scratch = tempfile::Builder::new()
        .prefix("mfa-bench.")
        .tempdir_in(&scratch_parent)?;
    std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o755))?;
    // Other work on the machine skews every number: before each section,
    // wait (up to BENCH_WAIT_IDLE seconds) for it to calm down, and record
    // how busy it was.
    let wait_idle = Duration::from_secs(env_usize("BENCH_WAIT_IDLE").unwrap_or(0) as u64);
    let busy = report::wait_for_idle(wait_idle, "starting");
    let started = Instant::now();
    let machine = report::machine(scratch.path());
    let git = report::git(&paths.repo);
    let load_start = report::loadavg();
    let fsync = summarize(&report::fsync_probe(
        scratch.path(),
        if quick { 50 } else { 200 },
    )?);
    log(&format!(
        "scratch folder {} ({} mode)",
        scratch.path().display(),
        if quick { "quick" } else { "full" }
    ));

    let watch = report::OtherCpu::start();
    let pam = pam_phase(&plan, &paths, &scratch.path().join("pam"))?;
    let other_pam = watch.share();
    report::wait_for_idle(wait_idle, "the scale sections");
    let watch = report::OtherCpu::start();
    let scale = scale_phase(&plan, &paths, &scratch.path().join("scale"), wait_idle)?;
    let other_scale = watch.share();
    let env = Env {
        busy_before: busy,
        other_pam,
        other_scale,
        load_start,
        load_end: report::loadavg(),
        fsync,
    };

    let command = flag_value(args, "--command").unwrap_or_else(|| {
        if quick {
            "BENCH_QUICK=1 bash scripts/bench.sh".into()
        } else {
            "bash scripts/bench.sh".into()
        }
    });
    let md = render(
        &plan,
        &paths,
        &env,
        &machine,
        &git,
        &command,
        &pam,
        &scale,
        started.elapsed(),
    );
    if let Some(out) = flag_value(args, "--out") {
        std::fs::write(&out, &md)?;
        log(&format!("results written to {out}"));
    }
    if let Some(doc) = flag_value(args, "--update-doc") {
        let text = std::fs::read_to_string(&doc).with_context(|| format!("reading {doc}"))?;
        let new = report::splice(&text, BEGIN, END, &md)
            .ok_or_else(|| anyhow!("{doc} has no {BEGIN} ... {END} markers"))?;
        std::fs::write(&doc, new)?;
        log(&format!("results section of {doc} updated"));
    }
    print!("{md}");
    if std::env::var_os("BENCH_KEEP").is_some() {
        let kept = scratch.keep();
        log(&format!("kept {}", kept.display()));
    }
    Ok(())
}

/// The harness computes every code with totp-rs; make sure it agrees with
/// Debian's oathtool, an independent implementation, before trusting it.
fn check_codes_against_oathtool() -> Result<()> {
    let secret = otp::random_secrets(1)?[0];
    let t = otp::totp(&secret)?;
    let at = otp::now();
    let out = match Command::new("oathtool")
        .args(["--totp", "-b", &otp::base32(&secret), "--now"])
        .arg(format!("@{at}"))
        .output()
    {
        Ok(o) => o,
        Err(_) => {
            log("oathtool is not installed: codes not cross-checked");
            return Ok(());
        }
    };
    let theirs = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let ours = t.generate(at).to_string();
    if theirs != ours {
        bail!("totp-rs says {ours}, oathtool says {theirs}: the harness's codes are wrong");
    }
    Ok(())
}

// ------------------------------------------------------- phase 1: libpam

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Permit,
    Mfa,
    Ga,
    Oath,
}

struct Stack {
    kind: Kind,
    service: &'static str,
    label: &'static str,
    module: PathBuf,
    line: String,
}

#[derive(Default)]
struct Latency {
    samples: Vec<Duration>,
    ok: usize,
    failures: BTreeMap<String, usize>,
}

impl Latency {
    fn add(&mut self, rc: i32, took: Duration, text: &str) {
        self.samples.push(took);
        if rc == pam::PAM_SUCCESS {
            self.ok += 1;
        } else {
            *self
                .failures
                .entry(format!("rc {rc}: {}", text.trim()))
                .or_default() += 1;
        }
    }
}

#[derive(Default)]
struct Race {
    /// Logins accepted, per trial.
    wins: Vec<usize>,
    /// Processes that reached the release instant after it had passed.
    late: usize,
    /// Time each process spent in pam_authenticate.
    auth_times: Vec<Duration>,
}

struct RssRow {
    start: u64,
    loaded: u64,
    after_end: u64,
    hwm: u64,
    dlopen: Option<(u64, u64)>,
}

struct PamResults {
    stacks: Vec<Stack>,
    in_process: BTreeMap<Kind, Latency>,
    spawn: BTreeMap<Kind, Latency>,
    race: BTreeMap<Kind, Race>,
    concurrent: BTreeMap<Kind, Race>,
    rss: BTreeMap<Kind, RssRow>,
    accounts_per_module: usize,
}

/// One `bench_login` process per (account, code), each with its stack
/// loaded, all calling pam_authenticate at the same wall-clock instant.
fn release_together(
    paths: &Paths,
    confdir: &Path,
    service: &str,
    logins: &[(&str, String)],
    r: &mut Race,
) -> Result<()> {
    // Late enough for every process to have loaded its stack.
    let at = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos()
        + 300_000_000
        + logins.len() as u128 * 10_000_000;
    let children: Vec<_> = logins
        .iter()
        .map(|(user, code)| {
            Command::new(&paths.bench_login)
                .arg("--confdir")
                .arg(confdir)
                .args(["--service", service, "--user", user, "--code", code])
                .args(["--at", &at.to_string()])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
        })
        .collect::<std::io::Result<_>>()?;
    let mut wins = 0;
    for c in children {
        let out = c.wait_with_output()?;
        if out.status.code() == Some(pam::PAM_SUCCESS) {
            wins += 1;
        }
        let text = String::from_utf8_lossy(&out.stdout);
        if text.contains("late") {
            r.late += 1;
        }
        if let Some(ns) = text
            .lines()
            .find_map(|l| l.strip_prefix("auth_ns "))
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            r.auth_times.push(Duration::from_nanos(ns));
        }
    }
    r.wins.push(wins);
    Ok(())
}

fn write_stack(dir: &Path, s: &Stack) -> Result<()> {
    std::fs::write(dir.join(s.service), format!("auth required {}\n", s.line))?;
    Ok(())
}

fn pam_phase(plan: &Plan, paths: &Paths, dir: &Path) -> Result<PamResults> {
    std::fs::create_dir_all(dir)?;
    let n = plan.pam_users;
    // Accounts: n timed logins, spawn_runs process runs, one per race
    // trial, one for the memory probe, one for the wrong-code control; the
    // same number for every module.
    let total = n + plan.spawn_runs + plan.race_trials + 2 + plan.race;
    let race_user = n + plan.spawn_runs;
    let rss_user = race_user + plan.race_trials;
    let wrong_user = rss_user + 1;
    let conc_user = wrong_user + 1;

    log(&format!("libpam phase: {total} accounts per module"));
    let mfad = Mfad::start(&paths.mfad, &dir.join("mfad"))?;
    let mfa = Pool::new("bm", total)?;
    let ga = Pool::new("bg", total)?;
    let oath = Pool::new("bo", total)?;
    daemon::enroll(&mfad, &mfa, 0..total, 8)?;

    // google-authenticator: one secret file per account, in the format
    // `google-authenticator -t -d -r 3 -R 30 -w 3` writes (TOTP, reuse
    // refused, at most 3 logins per 30 s, ±1 step), 0400 and owned by the
    // user= account (root).
    let ga_dir = dir.join("ga");
    std::fs::create_dir_all(&ga_dir)?;
    let scratch_codes = otp::random_secrets(total)?;
    for (i, random) in scratch_codes.iter().enumerate() {
        let mut text = format!(
            "{}\n\" RATE_LIMIT 3 30\n\" WINDOW_SIZE 3\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n",
            otp::base32(&ga.secrets[i])
        );
        // Five 8-digit emergency codes, as the tool writes by default.
        for b in random.chunks_exact(4) {
            let v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            w!(text, "{:08}", 10_000_000 + v % 90_000_000);
        }
        let p = ga_dir.join(&ga.names[i]);
        std::fs::write(&p, text)?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o400))?;
    }
    // pam_oath: one users file for all accounts, as its README sets it up.
    let oath_dir = dir.join("oath");
    std::fs::create_dir_all(&oath_dir)?;
    let users_oath = oath_dir.join("users.oath");
    let mut text = String::new();
    for i in 0..total {
        w!(
            text,
            "HOTP/T30/6\t{}\t-\t{}",
            oath.names[i],
            otp::hex(&oath.secrets[i])
        );
    }
    std::fs::write(&users_oath, text)?;
    std::fs::set_permissions(&users_oath, std::fs::Permissions::from_mode(0o600))?;

    let sec = &paths.security;
    let stacks = vec![
        Stack {
            kind: Kind::Permit,
            service: "bench-permit",
            label: "pam_permit only (floor: libpam itself)",
            module: sec.join("pam_permit.so"),
            line: sec.join("pam_permit.so").display().to_string(),
        },
        Stack {
            kind: Kind::Mfa,
            service: "bench-mfa",
            label: "pam_mfa (+ mfad, release build)",
            module: paths.pam_mfa.clone(),
            line: format!(
                "{} socket={}",
                paths.pam_mfa.display(),
                mfad.socket.display()
            ),
        },
        Stack {
            kind: Kind::Ga,
            service: "bench-ga",
            label: "google-authenticator (DISALLOW_REUSE, RATE_LIMIT 3 30)",
            module: sec.join("pam_google_authenticator.so"),
            line: format!(
                "{} secret={}/${{USER}} user=root",
                sec.join("pam_google_authenticator.so").display(),
                ga_dir.display()
            ),
        },
        Stack {
            kind: Kind::Oath,
            service: "bench-oath",
            label: "pam_oath (usersfile, window=1)",
            module: sec.join("pam_oath.so"),
            line: format!(
                "{} usersfile={} window=1",
                sec.join("pam_oath.so").display(),
                users_oath.display()
            ),
        },
    ];
    let confdir = dir.join("stacks");
    std::fs::create_dir_all(&confdir)?;
    for s in &stacks {
        write_stack(&confdir, s)?;
    }
    let pool_of = |k: Kind| match k {
        Kind::Permit | Kind::Mfa => &mfa,
        Kind::Ga => &ga,
        Kind::Oath => &oath,
    };

    // Negative control: each module must refuse a wrong code, or the
    // set-up is broken and every number below would be meaningless.
    for s in stacks.iter().filter(|s| s.kind != Kind::Permit) {
        let pool = pool_of(s.kind);
        let t = &pool.totps[wrong_user];
        let cur = otp::step_now();
        let valid: Vec<String> = (cur - 2..=cur + 2)
            .map(|st| otp::code_at_step(t, st))
            .collect();
        let wrong = (0..)
            .map(|k: u32| format!("{:06}", (123_456 + 7_919 * k) % 1_000_000))
            .find(|c| !valid.contains(c))
            .unwrap_or_default();
        let status = Command::new(&paths.bench_login)
            .arg("--confdir")
            .arg(&confdir)
            .args(["--service", s.service, "--user", &pool.names[wrong_user]])
            .args(["--code", &wrong])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if status.code() == Some(pam::PAM_SUCCESS) {
            bail!(
                "{} accepted a wrong code: the benchmark set-up is broken",
                s.service
            );
        }
    }

    // In-process latency, interleaved: every round runs a slice of the
    // accounts through each stack, in a rotating order, each in a fresh
    // pam-loop process.
    log(&format!(
        "libpam phase: {n} timed logins per stack in {} rounds",
        plan.rounds
    ));
    let mut in_process: BTreeMap<Kind, Latency> = BTreeMap::new();
    let self_exe = std::env::current_exe()?;
    for r in 0..plan.rounds {
        let lo = r * n / plan.rounds;
        let hi = (r + 1) * n / plan.rounds;
        let mut order: Vec<&Stack> = stacks.iter().collect();
        let len = order.len();
        order.rotate_left(r % len);
        for s in order {
            let pool = pool_of(s.kind);
            let list = dir.join(format!("list-{}-{r}", s.service));
            let mut text = String::new();
            for i in lo..hi {
                // pam_permit ignores the account; it gets placeholder names.
                let name = if s.kind == Kind::Permit {
                    format!("permit{i:06}")
                } else {
                    pool.names[i].clone()
                };
                w!(text, "{name}\t{}", otp::base32(&pool.secrets[i]));
            }
            std::fs::write(&list, text)?;
            let out = Command::new(&self_exe)
                .arg("pam-loop")
                .arg("--confdir")
                .arg(&confdir)
                .args(["--service", s.service, "--warmup", "bench-permit", "--list"])
                .arg(&list)
                .stderr(Stdio::inherit())
                .output()?;
            if !out.status.success() {
                bail!("pam-loop for {} failed: {}", s.service, out.status);
            }
            let lat = in_process.entry(s.kind).or_default();
            for line in out.stdout.as_slice().lines() {
                let line = line?;
                let (nums, text) = line.split_once('\t').unwrap_or((&line, ""));
                let f: Vec<u128> = nums
                    .split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .collect();
                let (Some(&rc), Some(&nanos)) = (f.first(), f.get(1)) else {
                    bail!("odd pam-loop line {line:?}");
                };
                lat.add(rc as i32, Duration::from_nanos(nanos as u64), text);
            }
        }
    }

    // Per process: spawn bench_login (a pamdrive-like driver) for one login.
    log(&format!(
        "libpam phase: {} process runs per stack",
        plan.spawn_runs
    ));
    let mut spawn: BTreeMap<Kind, Latency> = BTreeMap::new();
    for j in 0..plan.spawn_runs {
        let i = n + j;
        for s in &stacks {
            let pool = pool_of(s.kind);
            let code = otp::code_now(&pool.totps[i]);
            let t = Instant::now();
            let out = Command::new(&paths.bench_login)
                .arg("--confdir")
                .arg(&confdir)
                .args(["--service", s.service, "--user", &pool.names[i], "--code"])
                .arg(&code)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output()?;
            let took = t.elapsed();
            let rc = out.status.code().unwrap_or(-1);
            spawn
                .entry(s.kind)
                .or_default()
                .add(rc, took, &String::from_utf8_lossy(&out.stderr));
        }
    }

    // Replay race: many processes, one account, one code, released at once;
    // several trials, each on a fresh account.
    log(&format!(
        "libpam phase: replay race, {} trials of {} processes per module",
        plan.race_trials, plan.race
    ));
    let mut race: BTreeMap<Kind, Race> = BTreeMap::new();
    for t in 0..plan.race_trials {
        for s in stacks.iter().filter(|s| s.kind != Kind::Permit) {
            let pool = pool_of(s.kind);
            let code = otp::code_now(&pool.totps[race_user + t]);
            let logins = vec![(pool.names[race_user + t].as_str(), code); plan.race];
            release_together(
                paths,
                &confdir,
                s.service,
                &logins,
                race.entry(s.kind).or_default(),
            )?;
        }
    }
    // Concurrency without replay: as many processes, each a different
    // account with its own fresh code, released at once. All should succeed.
    log(&format!(
        "libpam phase: {} concurrent logins of different accounts per module",
        plan.race
    ));
    let mut concurrent: BTreeMap<Kind, Race> = BTreeMap::new();
    for s in stacks.iter().filter(|s| s.kind != Kind::Permit) {
        let pool = pool_of(s.kind);
        let logins: Vec<(&str, String)> = (conc_user..conc_user + plan.race)
            .map(|i| (pool.names[i].as_str(), otp::code_now(&pool.totps[i])))
            .collect();
        release_together(
            paths,
            &confdir,
            s.service,
            &logins,
            concurrent.entry(s.kind).or_default(),
        )?;
    }

    // Memory: a fresh bench_login per stack, VmRSS before pam_start and
    // with the stack loaded; and dlopen of the module alone.
    log("libpam phase: memory of a host process");
    let mut rss = BTreeMap::new();
    for s in &stacks {
        let pool = pool_of(s.kind);
        let code = otp::code_now(&pool.totps[rss_user]);
        let out = Command::new(&paths.bench_login)
            .arg("--confdir")
            .arg(&confdir)
            .args([
                "--service",
                s.service,
                "--user",
                &pool.names[rss_user],
                "--code",
                &code,
                "--rss",
            ])
            .stderr(Stdio::inherit())
            .output()?;
        let v: Vec<u64> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if v.len() != 4 {
            bail!("bench_login --rss for {}: {:?}", s.service, out);
        }
        if out.status.code() != Some(pam::PAM_SUCCESS) {
            bail!(
                "the memory probe's login through {} failed: {}",
                s.service,
                out.status
            );
        }
        let dl = Command::new(&paths.bench_login)
            .arg("--dlopen")
            .arg(&s.module)
            .output()?;
        let d: Vec<u64> = String::from_utf8_lossy(&dl.stdout)
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        rss.insert(
            s.kind,
            RssRow {
                start: v[0],
                loaded: v[1],
                after_end: v[2],
                hwm: v[3],
                dlopen: (d.len() == 2).then(|| (d[0], d[1])),
            },
        );
    }
    mfad.stop()?;
    Ok(PamResults {
        stacks,
        in_process,
        spawn,
        race,
        concurrent,
        rss,
        accounts_per_module: total,
    })
}

// ------------------------------------------------ phases 2-4: one mfad

struct GrowthRow {
    users: usize,
    enroll_time: Duration,
    enrolled_now: usize,
    storm: VerifyRun,
    serial: VerifyRun,
    mem: daemon::Mem,
    state_bytes: u64,
}

struct ScaleResults {
    start_empty: Duration,
    growth: Vec<GrowthRow>,
    first_process_mem: daemon::Mem,
    start_full: Duration,
    idle: daemon::Mem,
    sustained: VerifyRun,
    rated: VerifyRun,
    after_sustained: daemon::Mem,
    max_users: usize,
    log_bytes: u64,
}

/// `count` distinct accounts spread over `0..size`, starting at `offset`.
fn spread(size: usize, count: usize, offset: usize) -> Vec<usize> {
    let count = count.min(size);
    (0..count)
        .map(|k| (offset + k * size / count.max(1)) % size)
        .collect()
}

fn scale_phase(
    plan: &Plan,
    paths: &Paths,
    dir: &Path,
    wait_idle: Duration,
) -> Result<ScaleResults> {
    let max = plan.sizes.last().copied().unwrap_or(1_000);
    log(&format!(
        "scale phase: up to {} accounts",
        thousands(max as u64)
    ));
    let pool = Pool::new("u", max)?;
    let mfad = Mfad::start(&paths.mfad, dir)?;
    let start_empty = mfad.started_in;
    let mut growth = Vec::new();
    let mut enrolled = 0;
    for &size in &plan.sizes {
        log(&format!(
            "scale phase: enrolling up to {}",
            thousands(size as u64)
        ));
        let enroll_time = daemon::enroll(&mfad, &pool, enrolled..size, plan.enroll_threads)?;
        let enrolled_now = size - enrolled;
        enrolled = size;
        log(&format!(
            "scale phase: {} enrolled in {:.1} s; storm and serial verifications",
            thousands(enrolled_now as u64),
            enroll_time.as_secs_f64()
        ));
        // The storm: `storm` accounts (all of them at 1,000) verify once,
        // concurrently.
        let storm_accounts = spread(size, plan.storm, 0);
        let storm =
            daemon::run_verifies(&mfad, &pool, Work::Accounts(&storm_accounts), plan.threads)?;
        // Unloaded latency: one client, one verification at a time, other
        // accounts (when there are enough).
        let serial_accounts = spread(size, plan.serial, size / (2 * plan.storm.max(1)));
        let serial = daemon::run_verifies(&mfad, &pool, Work::Accounts(&serial_accounts), 1)?;
        growth.push(GrowthRow {
            users: size,
            enroll_time,
            enrolled_now,
            storm,
            serial,
            mem: mfad.mem()?,
            state_bytes: mfad.state_bytes(),
        });
    }
    let first_process_mem = mfad.mem()?;
    log("scale phase: restarting mfad on the full state");
    mfad.stop()?;
    let mfad = Mfad::start(&paths.mfad, dir)?;
    let start_full = mfad.started_in;
    std::thread::sleep(Duration::from_secs(1));
    let idle = mfad.mem()?;
    report::wait_for_idle(wait_idle, "the sustained runs");
    log(&format!(
        "scale phase: sustained run, {} s, {} client threads",
        plan.sustain.as_secs(),
        plan.threads
    ));
    let sustained = daemon::run_verifies(
        &mfad,
        &pool,
        Work::Until {
            from: max / 3,
            for_: plan.sustain,
        },
        plan.threads,
    )?;
    log(&format!(
        "scale phase: fixed rate, {}/s offered for {} s",
        plan.rate,
        plan.sustain.as_secs()
    ));
    let rated = daemon::run_verifies(
        &mfad,
        &pool,
        Work::Rate {
            from: 2 * max / 3,
            per_sec: plan.rate,
            for_: plan.sustain,
        },
        plan.threads,
    )?;
    let after_sustained = mfad.mem()?;
    let log_bytes = std::fs::metadata(&mfad.log).map(|m| m.len()).unwrap_or(0);
    mfad.stop()?;
    Ok(ScaleResults {
        start_empty,
        growth,
        first_process_mem,
        start_full,
        idle,
        sustained,
        rated,
        after_sustained,
        max_users: max,
        log_bytes,
    })
}

// ------------------------------------------------------------------ report

/// The state of the machine around the run.
struct Env {
    busy_before: f64,
    /// Share of the CPUs other processes used during phase 1 and 2-4.
    other_pam: f64,
    other_scale: f64,
    load_start: String,
    load_end: String,
    fsync: stats::Summary,
}

fn failures_text(f: &BTreeMap<String, usize>) -> String {
    if f.is_empty() {
        return String::new();
    }
    f.iter()
        .map(|(k, v)| format!("{v}× {k}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn yes(b: bool) -> &'static str {
    if b {
        "**met**"
    } else {
        "**not met**"
    }
}

#[allow(clippy::too_many_arguments)]
fn render(
    plan: &Plan,
    paths: &Paths,
    env: &Env,
    m: &report::Machine,
    git: &str,
    command: &str,
    pam: &PamResults,
    scale: &ScaleResults,
    took: Duration,
) -> String {
    let mut o = String::new();
    w!(
        o,
        "Generated by `{command}` on {} in {:.0} s ({} mode). Do not edit by hand: the next run replaces this section.\n",
        m.date,
        took.as_secs_f64(),
        if plan.quick { "quick smoke" } else { "full" }
    );
    w!(o, "| | |\n|---|---|");
    w!(o, "| date | {} |", m.date);
    w!(o, "| commit | {git} |");
    w!(o, "| CPUs (`nproc`) | {} |", m.nproc);
    w!(o, "| CPU model (/proc/cpuinfo) | {} |", m.cpu_model);
    w!(o, "| kernel | {} |", m.kernel);
    w!(o, "| memory | {} |", m.memory);
    w!(o, "| OS | {} |", m.os);
    w!(o, "| scratch file system | {} |", m.fs);
    w!(
        o,
        "| 512-byte write + fdatasync there ({} samples) | median {}, p99 {} |",
        env.fsync.n,
        ms(env.fsync.p50),
        ms(env.fsync.p99)
    );
    w!(
        o,
        "| other load | CPUs {:.0}% busy in the 2 s before the run; other processes used {:.0}% of the CPUs during section 1 and {:.0}% during sections 2–4; load average {} at the start, {} at the end (the end includes the harness's own threads) |",
        env.busy_before * 100.0,
        env.other_pam * 100.0,
        env.other_scale * 100.0,
        env.load_start,
        env.load_end
    );
    w!(o, "| Rust | {} (release profile) |", m.rustc);
    w!(
        o,
        "| Debian packages | {} |",
        m.packages
            .iter()
            .map(|(p, v)| format!("{p} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    w!(o);

    // 1. libpam latency.
    let get = |k: Kind| {
        pam.in_process
            .get(&k)
            .map(|l| summarize(&l.samples))
            .unwrap_or_default()
    };
    let mfa = get(Kind::Mfa);
    w!(o, "### 1. Login latency through libpam\n");
    w!(
        o,
        "One process per stack and round ({} rounds, stacks in rotating order), {} logins per stack, each a different account with its own secret and the current code. Time per login = `pam_start_confdir` + `pam_authenticate` + `pam_end`. {} accounts per module in total.\n",
        plan.rounds,
        plan.pam_users,
        pam.accounts_per_module
    );
    w!(o, "| stack | logins | succeeded | median | p99 | max | pam_mfa ÷ this (median) | pam_mfa ÷ this (p99) |");
    w!(o, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for s in &pam.stacks {
        let Some(l) = pam.in_process.get(&s.kind) else {
            continue;
        };
        let x = summarize(&l.samples);
        let (r50, r99) = match s.kind {
            Kind::Ga | Kind::Oath => (ratio(mfa.p50, x.p50), ratio(mfa.p99, x.p99)),
            _ => ("—".into(), "—".into()),
        };
        w!(
            o,
            "| {} | {} | {} | {} | {} | {} | {r50} | {r99} |",
            s.label,
            x.n,
            l.ok,
            ms(x.p50),
            ms(x.p99),
            ms(x.max)
        );
    }
    let fails: Vec<String> = pam
        .stacks
        .iter()
        .filter_map(|s| {
            let f = failures_text(&pam.in_process.get(&s.kind)?.failures);
            (!f.is_empty()).then(|| format!("{}: {f}", s.service))
        })
        .collect();
    if !fails.is_empty() {
        w!(o, "\nFailed logins: {}", fails.join(". "));
    }
    w!(
        o,
        "\nModule lines (service files in a scratch folder, read by `pam_start_confdir`):\n"
    );
    w!(o, "```");
    for s in &pam.stacks {
        w!(o, "auth required {}", s.line);
    }
    w!(o, "```\n");

    w!(o, "Whole process per login (spawn `bench_login`, one login, exit; a pamdrive-like driver), {} runs per stack, interleaved:\n", plan.spawn_runs);
    w!(o, "| stack | runs | succeeded | median | p99 |");
    w!(o, "|---|---:|---:|---:|---:|");
    for s in &pam.stacks {
        if let Some(l) = pam.spawn.get(&s.kind) {
            let x = summarize(&l.samples);
            w!(
                o,
                "| {} | {} | {} | {} | {} |",
                s.label,
                x.n,
                l.ok,
                ms(x.p50),
                ms(x.p99)
            );
        }
    }
    w!(o);

    w!(o, "Replay race: {} processes, each with its own libpam handle already started (`pam_start_confdir` done), call `pam_authenticate` for one account with the same fresh code at the same wall-clock instant; {} trials per module, each on a fresh account. Every module should accept exactly one.\n", plan.race, plan.race_trials);
    w!(o, "| module | logins accepted, per trial | time in `pam_authenticate`: median | max | processes that missed the release instant |");
    w!(o, "|---|---|---:|---:|---:|");
    for s in &pam.stacks {
        if let Some(r) = pam.race.get(&s.kind) {
            let t = summarize(&r.auth_times);
            w!(
                o,
                "| {} | {} (of {} each) | {} | {} | {} |",
                s.label,
                r.wins
                    .iter()
                    .map(|w| w.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                plan.race,
                ms(t.p50),
                ms(t.max),
                r.late
            );
        }
    }
    w!(
        o,
        "\nConcurrent logins without replay: {} processes, each logging in to a different account with that account's fresh code, released at the same instant. Every login should succeed.\n",
        plan.race
    );
    w!(
        o,
        "| module | logins accepted | time in `pam_authenticate`: median | max |"
    );
    w!(o, "|---|---:|---:|---:|");
    for s in &pam.stacks {
        if let Some(r) = pam.concurrent.get(&s.kind) {
            let t = summarize(&r.auth_times);
            w!(
                o,
                "| {} | {} of {} | {} | {} |",
                s.label,
                r.wins.iter().sum::<usize>(),
                plan.race,
                ms(t.p50),
                ms(t.max)
            );
        }
    }
    w!(o);

    // 3b. Host process memory.
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let permit_loaded = pam.rss.get(&Kind::Permit).map(|r| r.loaded).unwrap_or(0);
    w!(o, "### Memory a module adds to the host process\n");
    w!(o, "`bench_login --rss` (one fresh process per stack): VmRSS before `pam_start_confdir`, with the stack loaded (after `pam_authenticate`, before `pam_end`), and the difference to the pam_permit-only stack; `bench_login --dlopen`: VmRSS added by `dlopen(RTLD_NOW)` of the module alone. Module file sizes as installed/built (`libpam_mfa.so` is not stripped; Debian's modules are).\n");
    w!(o, "| stack | module file | VmRSS at start | VmRSS with stack loaded | vs pam_permit stack | dlopen alone adds | VmHWM |");
    w!(o, "|---|---:|---:|---:|---:|---:|---:|");
    for s in &pam.stacks {
        if let Some(r) = pam.rss.get(&s.kind) {
            w!(
                o,
                "| {} | {} KiB | {} | {} | {} | {} | {} |",
                s.label,
                thousands(size(&s.module) / 1024),
                mib(r.start),
                mib(r.loaded),
                mib_delta(r.loaded as i64 - permit_loaded as i64),
                r.dlopen
                    .map(|(a, b)| mib_delta(b as i64 - a as i64))
                    .unwrap_or_else(|| "?".into()),
                mib(r.hwm)
            );
            let _ = r.after_end;
        }
    }
    w!(o);

    // 2. Storm and sustained.
    let verify_row = |o: &mut String, label: &str, users: usize, threads: usize, v: &VerifyRun| {
        let x = summarize(&v.latencies);
        let per = |d: Duration| {
            if v.total() > 0 {
                format!("{:.0} µs", d.as_secs_f64() * 1e6 / v.total() as f64)
            } else {
                "—".into()
            }
        };
        let cpu = format!(
            "{} / {} | {:.0}%",
            per(v.daemon_cpu),
            per(v.client_cpu),
            v.other_share * 100.0
        );
        w!(
            o,
            "| {label} | {} | {threads} | {} | {} | {:.2} s | **{}** | {} | {} | {} | {cpu} | {} |",
            thousands(users as u64),
            thousands(v.total() as u64),
            thousands(v.ok as u64),
            v.wall.as_secs_f64(),
            thousands(v.per_sec().round() as u64),
            ms(x.p50),
            ms(x.p99),
            ms(x.max),
            thousands(v.next_step_codes as u64)
        );
    };
    w!(o, "### 2. Login storm against one mfad\n");
    w!(o, "Each verification: a fresh connection to mfad, `hello`, `verify` with a valid unspent code of that account (what pam_mfa does for the code; the module's earlier `challenge` call is not included), timed from before `connect` to the answer. Clients run on the same 2 CPUs as mfad.\n");
    w!(o, "| run | accounts enrolled | client threads | verifications | accepted | wall | verifications/s | p50 | p99 | max | CPU per verification: mfad / clients | CPUs used by other processes | next-step codes used |");
    w!(
        o,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    if let Some(g) = scale.growth.first() {
        verify_row(
            &mut o,
            &format!(
                "storm: {} accounts verify once each, at once",
                thousands(g.storm.total() as u64)
            ),
            g.users,
            plan.threads,
            &g.storm,
        );
    }
    verify_row(
        &mut o,
        &format!(
            "closed loop {} s (after a restart): each thread sends its next verification when the last is answered",
            plan.sustain.as_secs()
        ),
        scale.max_users,
        plan.threads,
        &scale.sustained,
    );
    verify_row(
        &mut o,
        &format!(
            "open loop {} s: {}/s offered on a fixed schedule, latency counted from when each was due",
            plan.sustain.as_secs(),
            thousands(plan.rate as u64)
        ),
        scale.max_users,
        plan.threads,
        &scale.rated,
    );
    let mut all_fail = BTreeMap::new();
    for v in scale
        .growth
        .iter()
        .flat_map(|g| [&g.storm, &g.serial])
        .chain([&scale.sustained, &scale.rated])
    {
        for (k, n) in &v.failures {
            *all_fail.entry(k.clone()).or_insert(0) += n;
        }
    }
    if !all_fail.is_empty() {
        w!(
            o,
            "\nNot accepted (all storm, serial and sustained runs): {}",
            failures_text(&all_fail)
        );
    }
    w!(o, "\nIn a closed loop with {} threads, latency is mostly queueing: by Little's law it is about threads ÷ throughput, so that row measures the ceiling on throughput, and the open-loop row measures latency at the goal's rate.", plan.threads);
    w!(o, "\n\"next-step codes\": verifications that used the code of the next 30 s step (valid: mfad accepts ±1 step) because the account had already spent the current one in this run.\n");

    // 3. Scale.
    w!(o, "### 3. Scale\n");
    w!(o, "| | |\n|---|---|");
    w!(
        o,
        "| mfad start, empty state (spawn → first answered `hello`) | {} |",
        ms(scale.start_empty)
    );
    w!(
        o,
        "| mfad start with {} accounts | {} |",
        thousands(scale.max_users as u64),
        ms(scale.start_full)
    );
    w!(
        o,
        "| VmRSS idle, 1 s after that start | {} |",
        mib(scale.idle.rss_kib)
    );
    w!(
        o,
        "| VmRSS / VmHWM after both sustained runs | {} / {} |",
        mib(scale.after_sustained.rss_kib),
        mib(scale.after_sustained.hwm_kib)
    );
    w!(o, "| VmRSS / VmHWM of the first mfad after enrolling {} accounts and all runs above | {} / {} |", thousands(scale.max_users as u64), mib(scale.first_process_mem.rss_kib), mib(scale.first_process_mem.hwm_kib));
    if let Some(g) = scale.growth.last() {
        w!(
            o,
            "| state directory on disk | {} |",
            mib(g.state_bytes / 1024)
        );
    }
    w!(
        o,
        "| mfad's audit log (stderr) over the whole phase | {} |",
        mib(scale.log_bytes / 1024)
    );
    w!(
        o,
        "| `libpam_mfa.so` | {} KiB ({}) |",
        thousands(size(&paths.pam_mfa) / 1024),
        paths.pam_mfa.display()
    );
    w!(
        o,
        "| `mfad` binary | {} KiB |",
        thousands(size(&paths.mfad) / 1024)
    );
    w!(o);

    // 4. Growth.
    w!(o, "### 4. Cost growth with the number of accounts\n");
    w!(o, "One mfad, grown by enrolling through the protocol ({} client threads; each enrollment is `enroll_begin` + `enroll_confirm`). At each size: the storm ({} accounts spread over all enrolled, {} threads), then {} verifications one at a time (serial, other accounts), then VmRSS.\n", plan.enroll_threads, thousands(plan.storm as u64), plan.threads, thousands(plan.serial as u64));
    w!(o, "| accounts | enrolling the added ones | enrollments/s | serial p50 | serial p99 | storm verifications/s | storm p50 | storm p99 | mfad VmRSS | VmHWM | state on disk |");
    w!(
        o,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for g in &scale.growth {
        let s = summarize(&g.serial.latencies);
        let st = summarize(&g.storm.latencies);
        w!(
            o,
            "| {} | {:.1} s | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            thousands(g.users as u64),
            g.enroll_time.as_secs_f64(),
            thousands(
                (g.enrolled_now as f64 / g.enroll_time.as_secs_f64().max(1e-9)).round() as u64
            ),
            ms(s.p50),
            ms(s.p99),
            thousands(g.storm.per_sec().round() as u64),
            ms(st.p50),
            ms(st.p99),
            mib(g.mem.rss_kib),
            mib(g.mem.hwm_kib),
            mib(g.state_bytes / 1024)
        );
    }
    w!(o);

    // Goals.
    let ga = get(Kind::Ga);
    w!(o, "### Goals\n");
    w!(o, "| goal | measured | |");
    w!(o, "|---|---|---|");
    w!(
        o,
        "| per-login latency no worse than google-authenticator's secure configuration | median {} vs {}; p99 {} vs {} | median {}, p99 {} |",
        ms(mfa.p50),
        ms(ga.p50),
        ms(mfa.p99),
        ms(ga.p99),
        yes(mfa.p50 <= ga.p50),
        yes(mfa.p99 <= ga.p99)
    );
    let rated = summarize(&scale.rated.latencies);
    let kept_up = scale.rated.ok == scale.rated.total()
        && scale.rated.total() > 0
        && scale.rated.per_sec() >= 0.99 * plan.rate;
    let rate_ok = plan.rate >= 5_000.0 && kept_up && rated.p99 < Duration::from_millis(20);
    let closed = summarize(&scale.sustained.latencies);
    w!(
        o,
        "| ≥ 5,000 verifications/s on 2 cores with p99 < 20 ms | open loop at {}/s offered: {}/s achieved ({} of {} accepted), p99 {}; closed-loop ceiling {}/s (p99 {} with {} clients in flight) | {} |",
        thousands(plan.rate as u64),
        thousands(scale.rated.per_sec().round() as u64),
        thousands(scale.rated.ok as u64),
        thousands(scale.rated.total() as u64),
        ms(rated.p99),
        thousands(scale.sustained.per_sec().round() as u64),
        ms(closed.p99),
        plan.threads,
        yes(rate_ok)
    );
    let peak = scale.after_sustained.hwm_kib.max(scale.idle.rss_kib);
    let mem_cell = if scale.max_users >= 100_000 {
        yes(peak * 1024 < 30_000_000).to_string()
    } else {
        format!(
            "not measured (largest size here: {})",
            thousands(scale.max_users as u64)
        )
    };
    w!(
        o,
        "| mfad under 30 MB (28.6 MiB) resident at 100k accounts | VmHWM of a freshly started mfad with {} accounts after both sustained runs: {}; idle VmRSS {} | {mem_cell} |",
        thousands(scale.max_users as u64),
        mib(peak),
        mib(scale.idle.rss_kib)
    );
    o
}
