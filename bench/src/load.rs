//! `mfa_bench load`: only the sustained runs of section 2, on a fresh mfad
//! with a chosen number of accounts, printed as one line per run. For
//! iterating on mfad's throughput and for profiling it (`--hold` keeps
//! the daemon up and prints its pid before each run, so `perf record -p`
//! can attach).

use crate::daemon::{self, Mfad, VerifyRun, Work};
use crate::otp::Pool;
use crate::stats::{ms, summarize};
use anyhow::Result;
use std::path::Path;
use std::time::Duration;

pub struct LoadPlan {
    pub accounts: usize,
    pub threads: usize,
    pub secs: u64,
    pub rate: f64,
    /// Restart mfad after enrolling, as the full run does.
    pub restart: bool,
    pub hold: bool,
}

pub fn load(mfad_bin: &Path, dir: &Path, plan: &LoadPlan) -> Result<()> {
    let pool = Pool::new("u", plan.accounts)?;
    let mut mfad = Mfad::start(mfad_bin, dir)?;
    let took = daemon::enroll(&mfad, &pool, 0..plan.accounts, 32)?;
    eprintln!("load: {} accounts enrolled in {took:.1?}", plan.accounts);
    if plan.restart {
        mfad.stop()?;
        mfad = Mfad::start(mfad_bin, dir)?;
    }
    let for_ = Duration::from_secs(plan.secs);
    let pause = |what: &str| {
        if plan.hold {
            eprintln!("load: mfad pid {}; {what} starts in 3 s", mfad.pid());
            std::thread::sleep(Duration::from_secs(3));
        }
    };
    pause("closed loop");
    let closed = daemon::run_verifies(&mfad, &pool, Work::Until { from: 0, for_ }, plan.threads)?;
    line("closed loop", &closed);
    pause("open loop");
    let open = daemon::run_verifies(
        &mfad,
        &pool,
        Work::Rate {
            from: plan.accounts / 2,
            per_sec: plan.rate,
            for_,
        },
        plan.threads,
    )?;
    line(&format!("open loop {}/s", plan.rate), &open);
    mfad.stop()
}

fn line(what: &str, r: &VerifyRun) {
    let s = summarize(&r.latencies);
    let n = r.total().max(1) as u32;
    println!(
        "{what}: {} verifications, {} accepted, {:.0}/s, p50 {} p99 {} max {}, CPU per verification mfad {:.0?} clients {:.0?}, other CPU {:.0}%, failures {:?}",
        r.total(),
        r.ok,
        r.per_sec(),
        ms(s.p50),
        ms(s.p99),
        ms(s.max),
        r.daemon_cpu / n,
        r.client_cpu / n,
        r.other_share * 100.0,
        r.failures
    );
}
