//! A fleet under load and under faults (`mfa_tests::Fleet`): central
//! mfads on one PostgreSQL database, lab machines' relays, real libpam
//! logins and the real `mfa` run as real local students. What it checks
//! is what users see: one valid code typed 1,000 times over every relay
//! and both centrals logs in once; failures through different relays add
//! up to one delay; a recovery code typed on two hosts at once works
//! once; a relay keeps no TOTP secret on disk or in memory; a stopped
//! PostgreSQL makes logins fail closed and they come back by themselves;
//! a central killed with SIGKILL loses no confirmed enrollment and
//! accepts no code twice. Needs root (useradd, PostgreSQL as postgres,
//! /proc/PID/mem); CI runs as root.

use anyhow::{anyhow, ensure, Result};
use mfa_tests::fleet::{next_code, Enrolled};
use mfa_tests::{
    finish, oathtool, rc, unix_now, Fleet, LocalUsers, MfadProcess, PamRun, Stack, TempCluster,
};
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The tests here load the machine on purpose (1,000 logins, a
/// PostgreSQL outage with timings): one at a time, so none skews
/// another's timings.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Plain refusals for replays, and the NIST lock as the only limit: no
/// delay starts before the lock (free failures above the lock).
const LOCK_ONLY: &str = "[limits]\nfree_failures = 1000\nlockout_failures = 100\n";

/// A six-digit code that no step near now accepts.
fn wrong_code(secret: &str) -> Result<String> {
    let now = unix_now();
    let mut near = Vec::new();
    for d in -3..=3 {
        near.push(oathtool(secret, now + d * 30, "SHA1", 6)?);
    }
    [
        "000000", "111111", "222222", "333333", "444444", "555555", "666666", "777777",
    ]
    .into_iter()
    .find(|c| !near.iter().any(|n| n == c))
    .map(str::to_string)
    .ok_or_else(|| anyhow!("every candidate is a valid code"))
}

/// One try per login, with the module's timeout as given.
fn stack_with(relay: &MfadProcess, timeout_secs: u64) -> Result<Stack> {
    Stack::new(
        &relay.socket,
        &format!("tries=1 timeout={timeout_secs}"),
        &[],
    )
}

fn stack(relay: &MfadProcess) -> Result<Stack> {
    stack_with(relay, 10)
}

/// `mfa status` as `user`: everything it printed.
fn status_text(fleet: &Fleet, socket: &Path, user: &str) -> Result<String> {
    let out = fleet.mfa_as(socket, user, &["status"])?.output()?;
    Ok(format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// `mfa status --json` as `user`.
fn status_json(fleet: &Fleet, socket: &Path, user: &str) -> Result<serde_json::Value> {
    let out = fleet
        .mfa_as(socket, user, &["status", "--json"])?
        .output()?;
    ensure!(
        out.status.success(),
        "mfa status --json as {user}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn count(log: &str, needle: &str) -> usize {
    log.matches(needle).count()
}

/// The first few transcripts of runs, for failure messages.
fn sample(runs: &[&PamRun]) -> String {
    runs.iter()
        .take(3)
        .map(|r| format!("rc={} {}", r.rc, r.transcript))
        .collect::<Vec<_>>()
        .join(" | ")
}

#[path = "fleet_load/faults.rs"]
mod faults;
#[path = "fleet_load/races.rs"]
mod races;
#[path = "fleet_load/secrets.rs"]
mod secrets;
