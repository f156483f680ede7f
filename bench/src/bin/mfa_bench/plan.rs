//! What a run does (sizes, counts, durations; quick or full) and where the
//! binaries and PAM modules it drives are.

use anyhow::{anyhow, bail, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(crate) struct Plan {
    pub(crate) quick: bool,
    pub(crate) pam_users: usize,
    pub(crate) spawn_runs: usize,
    /// Logins per stack in the whole-process phase (`pam_host`).
    pub(crate) whole_logins: usize,
    pub(crate) race: usize,
    pub(crate) race_trials: usize,
    pub(crate) rounds: usize,
    pub(crate) sizes: Vec<usize>,
    pub(crate) serial: usize,
    pub(crate) storm: usize,
    pub(crate) threads: usize,
    pub(crate) enroll_threads: usize,
    pub(crate) sustain: Duration,
    pub(crate) rate: f64,
}

pub(crate) fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

impl Plan {
    pub(crate) fn new(quick: bool) -> Plan {
        let mut p = if quick {
            Plan {
                quick,
                pam_users: 40,
                spawn_runs: 10,
                whole_logins: 20,
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
                whole_logins: 100,
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
        if let Some(v) = env_usize("BENCH_WHOLE_LOGINS") {
            p.whole_logins = v.max(1);
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

pub(crate) struct Paths {
    pub(crate) mfad: PathBuf,
    pub(crate) pam_mfa: PathBuf,
    pub(crate) bench_login: PathBuf,
    pub(crate) security: PathBuf,
    pub(crate) repo: PathBuf,
}

pub(crate) fn paths() -> Result<Paths> {
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

/// A binary of this build next to the harness (e.g. `mfa-gateway`).
pub(crate) fn sibling(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let p = exe
        .parent()
        .ok_or_else(|| anyhow!("odd path {}", exe.display()))?
        .join(name);
    if !p.exists() {
        bail!(
            "{} is missing: build with `cargo build --release --workspace`",
            p.display()
        );
    }
    Ok(p)
}

pub(crate) fn log(msg: &str) {
    eprintln!("[mfa_bench] {msg}");
}
