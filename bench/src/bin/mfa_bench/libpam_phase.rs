//! Section 1: logins through real libpam for pam_mfa, google-authenticator,
//! pam_oath and pam_permit: latency in one process and per process, the
//! replay race, concurrent logins, and the memory a module adds.

use crate::*;
use anyhow::{bail, Result};
use mfa_bench::otp;
use mfa_bench::pam;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Default)]
pub(crate) struct Latency {
    pub(crate) samples: Vec<Duration>,
    pub(crate) ok: usize,
    pub(crate) failures: BTreeMap<String, usize>,
}

impl Latency {
    pub(crate) fn add(&mut self, rc: i32, took: Duration, text: &str) {
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
pub(crate) struct Race {
    /// Logins accepted, per trial.
    pub(crate) wins: Vec<usize>,
    /// Processes that reached the release instant after it had passed.
    pub(crate) late: usize,
    /// Time each process spent in pam_authenticate.
    pub(crate) auth_times: Vec<Duration>,
}

pub(crate) struct RssRow {
    pub(crate) start: u64,
    pub(crate) loaded: u64,
    pub(crate) after_end: u64,
    pub(crate) hwm: u64,
    pub(crate) dlopen: Option<(u64, u64)>,
}

pub(crate) struct PamResults {
    pub(crate) stacks: Vec<Stack>,
    pub(crate) in_process: BTreeMap<Kind, Latency>,
    pub(crate) spawn: BTreeMap<Kind, Latency>,
    pub(crate) race: BTreeMap<Kind, Race>,
    pub(crate) concurrent: BTreeMap<Kind, Race>,
    pub(crate) rss: BTreeMap<Kind, RssRow>,
    pub(crate) accounts_per_module: usize,
}

/// One `bench_login` process per (account, code), each with its stack
/// loaded, all calling pam_authenticate at the same wall-clock instant.
pub(crate) fn release_together(
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

pub(crate) fn pam_phase(plan: &Plan, paths: &Paths, dir: &Path) -> Result<PamResults> {
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
    let setup = Setup::new(paths, dir, total, &Extras::default())?;
    let confdir = &setup.confdir;
    let pool_of = |k: Kind| setup.pool_of(k);
    // Negative control, before any timing: every module refuses a wrong code.
    setup.check_refuses_wrong_code(wrong_user, |s, user, code| {
        let status = Command::new(&paths.bench_login)
            .arg("--confdir")
            .arg(confdir)
            .args(["--service", s.service, "--user", user, "--code", code])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        Ok(status.code().unwrap_or(-1))
    })?;
    let stacks = &setup.stacks;

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
                .arg(confdir)
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
        for s in stacks {
            let pool = pool_of(s.kind);
            let code = otp::code_now(&pool.totps[i]);
            let t = Instant::now();
            let out = Command::new(&paths.bench_login)
                .arg("--confdir")
                .arg(confdir)
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
                confdir,
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
            confdir,
            s.service,
            &logins,
            concurrent.entry(s.kind).or_default(),
        )?;
    }

    // Memory: a fresh bench_login per stack, VmRSS before pam_start and
    // with the stack loaded; and dlopen of the module alone.
    log("libpam phase: memory of a host process");
    let mut rss = BTreeMap::new();
    for s in stacks {
        let pool = pool_of(s.kind);
        let code = otp::code_now(&pool.totps[rss_user]);
        let out = Command::new(&paths.bench_login)
            .arg("--confdir")
            .arg(confdir)
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
    let Setup { mfad, stacks, .. } = setup;
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
