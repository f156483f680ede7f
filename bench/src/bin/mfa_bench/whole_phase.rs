//! Whole-process login cost: each login is one run of the plain C host
//! `tests/c/pam_host.c` (built here with `cc -O2 … -lpam`), timed from
//! spawn to exit, for the four stacks of `stacks.rs` in interleaved
//! rounds; reported as each stack's cost above the pam_permit stack.
//! A phase of `mfa_bench run`, and on its own `mfa_bench whole`
//! (`--hold` then keeps mfad and spare accounts up for strace or perf;
//! `--push-configured` and `--baseline DIR` add pam_mfa variants to the
//! same rounds, see `stacks::Extras`).

use crate::*;
use anyhow::{bail, Context, Result};
use mfa_bench::otp;
use mfa_bench::pam::PAM_SUCCESS;
use mfa_bench::stats::percentile;
use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct WholeResults {
    pub(crate) logins: usize,
    pub(crate) stacks: Vec<Stack>,
    /// One sample per round, in round order, for every stack.
    pub(crate) times: BTreeMap<Kind, Vec<Duration>>,
    /// First line of `cc --version`.
    pub(crate) compiler: String,
    /// Share of the CPUs other processes used during the phase.
    pub(crate) other_cpu: f64,
}

/// One stack's whole-process times against the pam_permit stack's.
pub(crate) struct Cost {
    pub(crate) median: Duration,
    pub(crate) p90: Duration,
    /// This stack's median minus pam_permit's median, in ms.
    pub(crate) above_floor: f64,
    /// Median over rounds of (this stack's time − pam_permit's), in ms.
    pub(crate) per_round: f64,
}

impl WholeResults {
    pub(crate) fn cost(&self, k: Kind) -> Option<Cost> {
        let mine = self.times.get(&k)?;
        let floor = self.times.get(&Kind::Permit)?;
        let sorted = |v: &[Duration]| {
            let mut v = v.to_vec();
            v.sort_unstable();
            v
        };
        let (m, f) = (sorted(mine), sorted(floor));
        let mut diffs: Vec<f64> = mine
            .iter()
            .zip(floor)
            .map(|(a, b)| signed_ms(*a, *b))
            .collect();
        diffs.sort_unstable_by(f64::total_cmp);
        let rank = diffs.len().div_ceil(2).max(1);
        Some(Cost {
            median: percentile(&m, 0.50),
            p90: percentile(&m, 0.90),
            above_floor: signed_ms(percentile(&m, 0.50), percentile(&f, 0.50)),
            per_round: diffs.get(rank - 1).copied().unwrap_or(f64::NAN),
        })
    }

    /// The goal: pam_mfa's median cost above the floor at most pam_oath's.
    /// (pam_mfa's cost, pam_oath's cost, met).
    /// Median over rounds of (stack `a`'s time − stack `b`'s), in ms.
    pub(crate) fn paired(&self, a: Kind, b: Kind) -> Option<f64> {
        let (x, y) = (self.times.get(&a)?, self.times.get(&b)?);
        let mut d: Vec<f64> = x.iter().zip(y).map(|(p, q)| signed_ms(*p, *q)).collect();
        d.sort_unstable_by(f64::total_cmp);
        d.get(d.len().div_ceil(2).max(1) - 1).copied()
    }

    pub(crate) fn goal(&self) -> Option<(f64, f64, bool)> {
        let mfa = self.cost(Kind::Mfa)?.above_floor;
        let oath = self.cost(Kind::Oath)?.above_floor;
        Some((mfa, oath, mfa <= oath))
    }
}

fn signed_ms(a: Duration, b: Duration) -> f64 {
    (a.as_secs_f64() - b.as_secs_f64()) * 1e3
}

/// `cc -O2 -o DIR/pam_host tests/c/pam_host.c -lpam`.
pub(crate) fn compile_pam_host(repo: &Path, dir: &Path) -> Result<PathBuf> {
    let src = repo.join("tests/c/pam_host.c");
    if !src.exists() {
        bail!("{} is missing", src.display());
    }
    let out = dir.join("pam_host");
    let o = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&out)
        .arg(&src)
        .arg("-lpam")
        .output()
        .context("running cc (apt-get install gcc libpam0g-dev)")?;
    if !o.status.success() {
        bail!(
            "cc -O2 -o {} {} -lpam failed: {}",
            out.display(),
            src.display(),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    Ok(out)
}

/// One login in a fresh `pam_host` process, timed from spawn to exit:
/// (PAM code, or minus the signal that killed it; time; what it printed).
pub(crate) fn host_login(
    host: &Path,
    confdir: &Path,
    service: &str,
    user: &str,
    code: &str,
) -> Result<(i32, Duration, String)> {
    let mut cmd = Command::new(host);
    cmd.arg(confdir)
        .args([service, user, code])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let t = Instant::now();
    let out = cmd
        .output()
        .with_context(|| format!("running {}", host.display()))?;
    let took = t.elapsed();
    let rc = match (out.status.code(), out.status.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => -sig,
        (None, None) => -1000,
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((rc, took, text.trim().replace('\n', " | ")))
}

fn check_ok(rc: i32, what: &str, text: &str) -> Result<()> {
    if rc == PAM_SUCCESS {
        return Ok(());
    }
    let how = if rc < 0 {
        format!("was killed by signal {}", -rc)
    } else {
        format!("returned PAM code {rc}, not PAM_SUCCESS")
    };
    bail!("whole-process phase: {what} {how}; pam_host printed: {text:?}. Aborting: the set-up is broken")
}

/// Accounts per module left unused for profiling with `whole --hold`.
const SPARE: usize = 200;

pub(crate) fn whole_phase(
    logins: usize,
    paths: &Paths,
    dir: &Path,
    hold: bool,
    extras: &Extras,
) -> Result<WholeResults> {
    std::fs::create_dir_all(dir)?;
    let host = compile_pam_host(&paths.repo, dir)?;
    let compiler = Command::new("cc")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "cc".into());
    // Accounts 0..logins are timed, one per round; the next one is the
    // wrong-code control; with `hold`, SPARE more are left for profiling.
    log(&format!(
        "whole-process phase: {logins} logins per stack through {}",
        host.display()
    ));
    let setup = Setup::new(
        paths,
        dir,
        logins + 1 + if hold { SPARE } else { 0 },
        extras,
    )?;
    let confdir = &setup.confdir;
    let watch = mfa_bench::report::OtherCpu::start();
    // Untimed: pam_host, libpam and pam_permit into the page cache, then the
    // negative control, which also loads each module once.
    for k in 0..3 {
        let (rc, _, text) = host_login(&host, confdir, "bench-permit", "warmup", "0")?;
        check_ok(rc, &format!("warm-up {k} through bench-permit"), &text)?;
    }
    setup.check_refuses_wrong_code(logins, |s, user, code| {
        Ok(host_login(&host, confdir, s.service, user, code)?.0)
    })?;

    let mut times: BTreeMap<Kind, Vec<Duration>> = BTreeMap::new();
    for r in 0..logins {
        let mut order: Vec<&Stack> = setup.stacks.iter().collect();
        let len = order.len();
        order.rotate_left(r % len);
        for s in order {
            let (user, code) = if s.kind == Kind::Permit {
                (format!("permit{r:06}"), "000000".to_string())
            } else {
                let pool = setup.pool_of(s.kind);
                (pool.names[r].clone(), otp::code_now(&pool.totps[r]))
            };
            let (rc, took, text) = host_login(&host, confdir, s.service, &user, &code)?;
            check_ok(
                rc,
                &format!("login {r} through {} as {user}", s.service),
                &text,
            )?;
            times.entry(s.kind).or_default().push(took);
        }
    }
    let other_cpu = watch.share();
    if hold {
        hold_for_profiling(&setup, &host, logins + 1, dir)?;
    }
    let Setup {
        mfad,
        stacks,
        variants,
        ..
    } = setup;
    mfad.stop()?;
    for v in variants {
        v.mfad.stop()?;
    }
    Ok(WholeResults {
        logins,
        stacks,
        times,
        compiler,
        other_cpu,
    })
}

/// Write `DIR/spare.tsv` (`service<TAB>user<TAB>base32 secret`, accounts
/// no login has used) and wait for stdin to close, with mfad up.
fn hold_for_profiling(setup: &Setup, host: &Path, from: usize, dir: &Path) -> Result<()> {
    let mut text = String::new();
    for s in setup.stacks.iter().filter(|s| s.kind != Kind::Permit) {
        let pool = setup.pool_of(s.kind);
        for i in from..pool.len() {
            let secret = otp::base32(&pool.secrets[i]);
            w!(text, "{}\t{}\t{secret}", s.service, pool.names[i]);
        }
    }
    let list = dir.join("spare.tsv");
    std::fs::write(&list, text)?;
    log(&format!(
        "holding: mfad pid {}; `{} {} SERVICE USER CODE`; unused accounts in {}; close stdin (Ctrl-D) to stop",
        setup.mfad.pid(),
        host.display(),
        setup.confdir.display(),
        list.display()
    ));
    std::io::copy(&mut std::io::stdin(), &mut std::io::sink())?;
    Ok(())
}

/// `mfa_bench whole [--logins N] [--out FILE] [--hold] [--push-configured]
/// [--baseline DIR]`: this phase alone.
pub(crate) fn whole(args: &[String]) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("run as root: google-authenticator's user= option and mfad's secret import need it");
    }
    let logins = match flag_value(args, "--logins") {
        Some(v) => v
            .parse::<usize>()
            .with_context(|| format!("--logins {v}"))?,
        None => Plan::new(false).whole_logins,
    }
    .max(1);
    let paths = paths()?;
    let scratch = scratch_dir("mfa-whole.")?;
    let wait = Duration::from_secs(env_usize("BENCH_WAIT_IDLE").unwrap_or(0) as u64);
    if !wait.is_zero() {
        mfa_bench::report::wait_for_idle(wait, "the whole-process phase");
    }
    let t0 = Instant::now();
    let hold = args.iter().any(|a| a == "--hold");
    let extras = Extras {
        push_configured: args.iter().any(|a| a == "--push-configured"),
        baseline: flag_value(args, "--baseline").map(PathBuf::from),
    };
    let r = whole_phase(logins, &paths, scratch.path(), hold, &extras)?;
    // The commit, without the list of uncommitted paths.
    let git = mfa_bench::report::git(&paths.repo);
    let git = git.split_once(": ").map_or(git.as_str(), |(a, _)| a);
    let mut flags = String::new();
    if extras.push_configured {
        flags.push_str(" --push-configured");
    }
    if let Some(b) = &extras.baseline {
        flags.push_str(&format!(" --baseline {}", b.display()));
    }
    let md = format!(
        "Generated by `mfa_bench whole --logins {logins}{flags}` at {git} in {:.0} s.\n\n{}",
        t0.elapsed().as_secs_f64(),
        render_whole(&r, true)
    );
    if let Some(out) = flag_value(args, "--out") {
        std::fs::write(&out, &md)?;
        log(&format!("results written to {out}"));
    }
    print!("{md}");
    keep_if_asked(scratch);
    Ok(())
}
