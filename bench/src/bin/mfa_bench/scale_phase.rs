//! Sections 2-4: one mfad grown to 100,000 accounts: storms, sustained
//! closed and open loops, start-up and memory at each size.

use crate::*;
use anyhow::Result;
use mfa_bench::daemon::{self, Mfad, VerifyRun, Work};
use mfa_bench::otp::Pool;
use mfa_bench::report;
use mfa_bench::stats::thousands;
use std::path::Path;
use std::time::Duration;

pub(crate) struct GrowthRow {
    pub(crate) users: usize,
    pub(crate) enroll_time: Duration,
    pub(crate) enrolled_now: usize,
    pub(crate) storm: VerifyRun,
    pub(crate) serial: VerifyRun,
    pub(crate) mem: daemon::Mem,
    pub(crate) state_bytes: u64,
}

pub(crate) struct ScaleResults {
    pub(crate) start_empty: Duration,
    pub(crate) growth: Vec<GrowthRow>,
    pub(crate) first_process_mem: daemon::Mem,
    pub(crate) start_full: Duration,
    pub(crate) idle: daemon::Mem,
    pub(crate) sustained: VerifyRun,
    pub(crate) rated: VerifyRun,
    pub(crate) after_sustained: daemon::Mem,
    pub(crate) max_users: usize,
    pub(crate) log_bytes: u64,
}

/// `count` distinct accounts spread over `0..size`, starting at `offset`.
pub(crate) fn spread(size: usize, count: usize, offset: usize) -> Vec<usize> {
    let count = count.min(size);
    (0..count)
        .map(|k| (offset + k * size / count.max(1)) % size)
        .collect()
}

pub(crate) fn scale_phase(
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
