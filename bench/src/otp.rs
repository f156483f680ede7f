//! Secrets and codes for the benchmark's synthetic accounts. Every account
//! has its own random 160-bit secret; codes are RFC 6238 (SHA1, 6 digits,
//! 30 s) computed in-process with totp-rs, the same way a phone would.

use anyhow::{Context, Result};
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use totp_rs::{Builder, Totp};

pub const PERIOD: u64 = 30;
pub const SECRET_LEN: usize = 20;

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn step_now() -> u64 {
    now() / PERIOD
}

/// `n` random secrets from /dev/urandom.
pub fn random_secrets(n: usize) -> Result<Vec<[u8; SECRET_LEN]>> {
    let mut buf = vec![0u8; n * SECRET_LEN];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("reading /dev/urandom")?;
    Ok(buf
        .chunks_exact(SECRET_LEN)
        .map(|c| {
            let mut s = [0u8; SECRET_LEN];
            s.copy_from_slice(c);
            s
        })
        .collect())
}

pub fn base32(secret: &[u8]) -> String {
    totp_rs::Secret::from(secret.to_vec()).to_base32()
}

pub fn hex(secret: &[u8]) -> String {
    secret.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn totp(secret: &[u8]) -> Result<Totp> {
    Ok(Builder::new()
        .with_secret(secret.to_vec())
        .with_digits(6)
        .with_step_duration(PERIOD)
        .with_skew(0)
        .build()?)
}

/// The code of time step `step`.
pub fn code_at_step(t: &Totp, step: u64) -> String {
    t.generate(step * PERIOD).to_string()
}

/// The code a phone shows right now.
pub fn code_now(t: &Totp) -> String {
    t.generate(now()).to_string()
}

/// Accounts enrolled in one mfad, with the last time step each one has
/// spent (the daemon refuses any step at or below it). mfad accepts ±1 step,
/// so an account can log in with the current step's code and, once that is
/// spent, with the next step's; `next_step` hands out the earliest unspent
/// valid step, or None when the account has to wait for the clock.
pub struct Pool {
    pub names: Vec<String>,
    pub secrets: Vec<[u8; SECRET_LEN]>,
    pub totps: Vec<Totp>,
    last: Vec<AtomicU64>,
    /// Held by the client thread that is verifying the account, so two
    /// threads never send the same account's code at once.
    busy: Vec<AtomicBool>,
}

impl Pool {
    pub fn new(prefix: &str, n: usize) -> Result<Pool> {
        let secrets = random_secrets(n)?;
        let totps = secrets.iter().map(|s| totp(s)).collect::<Result<_>>()?;
        Ok(Pool {
            names: (0..n).map(|i| format!("{prefix}{i:06}")).collect(),
            secrets,
            totps,
            last: (0..n).map(|_| AtomicU64::new(0)).collect(),
            busy: (0..n).map(|_| AtomicBool::new(false)).collect(),
        })
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The step to use for account `i` now, if it has one left.
    pub fn next_step(&self, i: usize) -> Option<u64> {
        let cur = step_now();
        let last = self.last[i].load(Ordering::Acquire);
        if last < cur {
            Some(cur)
        } else if last == cur {
            Some(cur + 1)
        } else {
            None
        }
    }

    /// Record that the daemon accepted (and so spent) `step` for account `i`.
    pub fn spent(&self, i: usize, step: u64) {
        self.last[i].fetch_max(step, Ordering::AcqRel);
    }

    /// Take the first account at or after `start` (wrapping) that no other
    /// thread holds and that has an unspent valid step. Give it back with
    /// `release`.
    pub fn claim(&self, start: usize) -> Option<(usize, u64)> {
        let n = self.len();
        for d in 0..n {
            let i = (start + d) % n;
            if self.next_step(i).is_none() {
                continue;
            }
            if self.busy[i]
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            if let Some(step) = self.next_step(i) {
                return Some((i, step));
            }
            self.release(i);
        }
        None
    }

    pub fn release(&self, i: usize) {
        self.busy[i].store(false, Ordering::Release);
    }
}
