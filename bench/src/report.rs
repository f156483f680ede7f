//! What the results table says about the machine and the tree it ran on.

use std::path::Path;
use std::process::Command;

fn cmd(program: &str, args: &[&str]) -> Option<String> {
    cmd_raw(program, args).map(|s| s.trim().to_string())
}

fn cmd_raw(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

pub struct Machine {
    pub nproc: String,
    pub cpu_model: String,
    pub kernel: String,
    pub memory: String,
    pub os: String,
    pub fs: String,
    pub date: String,
    pub rustc: String,
    pub packages: Vec<(String, String)>,
}

pub fn machine(scratch: &Path) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .map(|kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown".into());
    let os = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "unknown".into());
    let debian = std::fs::read_to_string("/etc/debian_version")
        .map(|v| format!(" ({})", v.trim()))
        .unwrap_or_default();
    let scratch_s = scratch.display().to_string();
    let fs = cmd("stat", &["-f", "-c", "%T", &scratch_s]).unwrap_or_else(|| "unknown".into());
    let packages = [
        "libpam0g",
        "libpam-modules",
        "libpam-google-authenticator",
        "libpam-oath",
        "liboath0",
    ]
    .iter()
    .map(|p| {
        (
            p.to_string(),
            cmd("dpkg-query", &["-W", "-f=${Version}", p]).unwrap_or_else(|| "?".into()),
        )
    })
    .collect();
    Machine {
        nproc: cmd("nproc", &[]).unwrap_or_else(|| "?".into()),
        cpu_model,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into()),
        memory,
        os: format!("{os}{debian}"),
        fs: format!("{fs} ({scratch_s})"),
        date: cmd("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_else(|| "?".into()),
        rustc: cmd("rustc", &["--version"]).unwrap_or_else(|| "?".into()),
        packages,
    }
}

/// The commit and whether the working tree had uncommitted changes.
pub fn git(repo: &Path) -> String {
    let r = repo.display().to_string();
    let Some(head) = cmd("git", &["-C", &r, "rev-parse", "--short", "HEAD"]) else {
        return "unknown (not a git checkout)".into();
    };
    match cmd_raw("git", &["-C", &r, "status", "--porcelain"]) {
        Some(s) if s.trim().is_empty() => format!("`{head}`, clean working tree"),
        Some(s) => format!(
            "`{head}` with uncommitted changes in {} path(s): {}",
            s.lines().count(),
            s.lines()
                .map(|l| format!("`{}`", l.get(3..).unwrap_or(l)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => format!("`{head}` (status unknown)"),
    }
}

/// Replace the text between the two markers in `doc` with `body`.
pub fn splice(doc: &str, begin: &str, end: &str, body: &str) -> Option<String> {
    let a = doc.find(begin)? + begin.len();
    let b = a + doc[a..].find(end)?;
    Some(format!("{}\n{}\n{}", &doc[..a], body.trim_end(), &doc[b..]))
}

/// The three load averages, as /proc/loadavg shows them.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn cpu_jiffies() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is in user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Some((total, idle))
}

/// The share of all CPUs that was busy over `over` (0.0 to 1.0).
pub fn cpu_busy(over: std::time::Duration) -> f64 {
    let Some((t0, i0)) = cpu_jiffies() else {
        return f64::NAN;
    };
    std::thread::sleep(over);
    let Some((t1, i1)) = cpu_jiffies() else {
        return f64::NAN;
    };
    let total = t1.saturating_sub(t0).max(1) as f64;
    1.0 - (i1.saturating_sub(i0) as f64 / total)
}

/// Latency of a 512-byte write followed by fdatasync, in `dir`.
pub fn fsync_probe(dir: &Path, n: usize) -> std::io::Result<Vec<std::time::Duration>> {
    use std::io::{Seek, Write};
    let path = dir.join("fsync-probe");
    let mut f = std::fs::File::create(&path)?;
    let buf = [0x5au8; 512];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = std::time::Instant::now();
        f.seek(std::io::SeekFrom::Start(0))?;
        f.write_all(&buf)?;
        f.sync_data()?;
        out.push(t.elapsed());
    }
    drop(f);
    std::fs::remove_file(&path)?;
    Ok(out)
}

/// CPU time this process and its waited-for children have used.
fn own_cpu() -> std::time::Duration {
    let get = |who| {
        // SAFETY: getrusage fills the zeroed struct it is given.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(who, &mut ru) } != 0 {
            return std::time::Duration::ZERO;
        }
        let tv = |t: libc::timeval| {
            std::time::Duration::from_secs(t.tv_sec.max(0) as u64)
                + std::time::Duration::from_micros(t.tv_usec.max(0) as u64)
        };
        tv(ru.ru_utime) + tv(ru.ru_stime)
    };
    get(libc::RUSAGE_SELF) + get(libc::RUSAGE_CHILDREN)
}

/// Busy CPU time of the whole machine so far (from /proc/stat).
pub fn machine_busy() -> std::time::Duration {
    let Some((total, idle)) = cpu_jiffies() else {
        return std::time::Duration::ZERO;
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    std::time::Duration::from_nanos(total.saturating_sub(idle) * 1_000_000_000 / hz)
}

/// How much CPU other processes (not the harness, mfad or the drivers it
/// spawned and waited for) used over a stretch of the run.
pub struct OtherCpu {
    wall: std::time::Instant,
    machine: std::time::Duration,
    own: std::time::Duration,
}

impl OtherCpu {
    pub fn start() -> OtherCpu {
        OtherCpu {
            wall: std::time::Instant::now(),
            machine: machine_busy(),
            own: own_cpu(),
        }
    }

    /// The share of all CPUs other processes kept busy since `start`
    /// (0.0 to 1.0). Call it after every child has been waited for.
    pub fn share(&self) -> f64 {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1) as f64;
        let machine = machine_busy().saturating_sub(self.machine).as_secs_f64();
        let own = own_cpu().saturating_sub(self.own).as_secs_f64();
        let wall = self.wall.elapsed().as_secs_f64().max(1e-9);
        ((machine - own) / (wall * cpus)).clamp(0.0, 1.0)
    }
}

/// Wait up to `budget` for the CPUs to be less than 10% busy (sampled over
/// 2 s at a time); returns the last sample.
pub fn wait_for_idle(budget: std::time::Duration, what: &str) -> f64 {
    let t0 = std::time::Instant::now();
    let mut busy = cpu_busy(std::time::Duration::from_secs(2));
    while busy > 0.10 && t0.elapsed() < budget {
        eprintln!(
            "[mfa_bench] before {what}: the CPUs are {:.0}% busy with other work; waiting",
            busy * 100.0
        );
        busy = cpu_busy(std::time::Duration::from_secs(2));
    }
    busy
}
