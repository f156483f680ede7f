//! mfa_bench: the benchmark harness behind `bash scripts/bench.sh`.
//!
//! ```text
//! mfa_bench run [--quick] [--out FILE] [--update-doc BENCHMARKS.md] [--command TEXT]
//! mfa_bench whole [--logins N] [--out FILE] [--hold] [--push-configured] [--baseline DIR]
//! mfa_bench pam-loop --confdir DIR --service NAME --warmup NAME --list FILE
//! mfa_bench load [--accounts N] [--threads N] [--secs N] [--rate N] [--restart] [--hold]
//! mfa_bench push [--logins N] [--browser-logins N] [--settle-ms N] [--gap-ms N] [--out FILE]
//! mfa_bench fleet [--accounts N] [--threads N] [--secs N] [--rate N] [--memory-accounts N] [--out FILE]
//! ```
//!
//! `run` does everything and writes a Markdown results section. `whole`
//! runs only the whole-process login cost (section 1b); `push` the push
//! approval latency (section 5, on its own, not part of `run`). `pam-loop`
//! is what `run` spawns, once per stack and round: in one process, for each
//! `user<TAB>base32secret` line, computes the current code, then times
//! pam_start_confdir + pam_authenticate + pam_end, printing
//! `rc nanoseconds prompts<TAB>last text` per login.
//!
//! Binaries it uses sit next to it (the release build of this workspace):
//! `mfad`, `libpam_mfa.so` and `bench_login`. The sections live in their
//! own modules: `stacks` (the four PAM stacks and their accounts),
//! `libpam_phase` (1), `whole_phase` (1b), `scale_phase` (2-4),
//! `push_phase` (5), `render`, `whole_render`, `render_scale` and
//! `push_render` (the Markdown); `plan` holds the sizes and paths.

use anyhow::{anyhow, bail, Context, Result};
use mfa_bench::otp;
use mfa_bench::stats::summarize;
use mfa_bench::{pam, report};
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

macro_rules! w {
    ($dst:expr) => {
        $dst.push('\n');
    };
    ($dst:expr, $($arg:tt)*) => {
        let _ = writeln!($dst, $($arg)*);
    };
}

mod libpam_phase;
mod plan;
mod push_phase;
mod push_render;
mod render;
mod render_scale;
mod scale_phase;
mod stacks;
mod whole_phase;
mod whole_render;

use libpam_phase::*;
use plan::*;
use push_phase::*;
use push_render::*;
use render::*;
use render_scale::*;
use scale_phase::*;
use stacks::*;
use whole_phase::*;
use whole_render::*;

const BEGIN: &str = "<!-- bench:results:begin -->";
const END: &str = "<!-- bench:results:end -->";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]),
        Some("whole") => whole(&args[1..]),
        Some("pam-loop") => pam_loop(&args[1..]),
        Some("load") => load(&args[1..]),
        Some("push") => push_cmd(&args[1..]),
        Some("fleet") => fleet(&args[1..]),
        _ => Err(anyhow!(
            "usage: mfa_bench run [--quick] [--out FILE] [--update-doc FILE] [--command TEXT]\n       \
             mfa_bench whole [--logins N] [--out FILE] [--hold] [--push-configured] [--baseline DIR]\n       \
             mfa_bench pam-loop --confdir DIR --service NAME --warmup NAME --list FILE\n       \
             mfa_bench load [--accounts N] [--threads N] [--secs N] [--rate N] [--restart] [--hold]\n       \
             mfa_bench push [--logins N] [--browser-logins N] [--settle-ms N] [--gap-ms N] [--out FILE]"
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

fn fleet(args: &[String]) -> Result<()> {
    let num = |name: &str, default: usize| -> Result<usize> {
        flag_value(args, name).map_or(Ok(default), |v| {
            v.parse().with_context(|| format!("{name} {v}"))
        })
    };
    let plan = mfa_bench::fleet::FleetPlan {
        accounts: num("--accounts", 10_000)?,
        threads: num("--threads", 16)?,
        secs: num("--secs", 10)? as u64,
        memory_accounts: num("--memory-accounts", 100_000)?,
        rate: num("--rate", 100)? as f64,
    };
    let paths = paths()?;
    let scratch = tempfile::Builder::new().prefix("mfa-fleet.").tempdir()?;
    // The certificates and the cluster run as other uids: let them in.
    std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o755))?;
    let text = mfa_bench::fleet::fleet(&paths.mfad, scratch.path(), &plan)?;
    let m = report::machine(scratch.path());
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let header = format!(
        "{}; {} CPUs ({}), {}; commit {}; load average at the end {}",
        m.date,
        m.nproc,
        m.cpu_model,
        m.memory,
        report::git(&repo),
        report::loadavg()
    );
    let header = format!("{header}\n\n");
    match flag_value(args, "--out") {
        Some(out) => std::fs::write(&out, format!("{header}{text}"))?,
        None => print!("{header}{text}"),
    }
    Ok(())
}

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

fn run(args: &[String]) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("run as root: google-authenticator's user= option and mfad's secret import need it");
    }
    let quick = args.iter().any(|a| a == "--quick");
    let plan = Plan::new(quick);
    let paths = paths()?;
    check_codes_against_oathtool()?;
    let scratch = scratch_dir("mfa-bench.")?;
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
    let whole = whole_phase(
        plan.whole_logins,
        &paths,
        &scratch.path().join("whole"),
        false,
        &Extras::default(),
    )?;
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
        &whole,
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
    keep_if_asked(scratch);
    Ok(())
}

/// A scratch folder under BENCH_TMPDIR (or the temporary directory),
/// readable by all (google-authenticator and mfad look into it).
fn scratch_dir(prefix: &str) -> Result<tempfile::TempDir> {
    let parent = std::env::var_os("BENCH_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let scratch = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&parent)?;
    std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o755))?;
    Ok(scratch)
}

/// With BENCH_KEEP set, keep the scratch folder instead of deleting it.
fn keep_if_asked(scratch: tempfile::TempDir) {
    if std::env::var_os("BENCH_KEEP").is_some() {
        let kept = scratch.keep();
        log(&format!("kept {}", kept.display()));
    }
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
