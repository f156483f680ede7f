//! Benchmark harness for pam_mfa: login latency through real libpam against
//! google-authenticator-libpam and pam_oath, login storms against one mfad,
//! memory and start-up at scale, and push approval from the Approve click
//! to PAM_SUCCESS, and a lab's relays and central mfads on PostgreSQL. Run it with `bash scripts/bench.sh`; see
//! BENCHMARKS.md for what each number means.

pub mod daemon;
pub mod fleet;
pub mod gateway;
pub mod live;
pub mod load;
pub mod otp;
pub mod pam;
pub mod push;
pub mod report;
pub mod stats;
