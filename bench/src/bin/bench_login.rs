//! bench_login: one login through real libpam in a fresh process, like
//! tests' `pamdrive` but with the code given on the command line.
//!
//! ```text
//! bench_login --confdir DIR --service NAME --user USER --code CODE [--at UNIX_NANOS] [--rss]
//! bench_login --dlopen MODULE.so
//! ```
//!
//! `--at` loads the stack (pam_start_confdir) first, then waits until that
//! wall-clock instant before pam_authenticate, so many processes can race
//! with one code; it prints `auth_ns N` (time in pam_authenticate) and
//! `late` if the instant had already passed. `--rss` prints `VmRSS` (KiB) at start, with the stack
//! loaded after pam_authenticate, after pam_end, and `VmHWM`. `--dlopen`
//! prints VmRSS before and after dlopen(RTLD_NOW) of one module.
//! Exit status: the PAM return code.

use mfa_bench::daemon::proc_mem;
use mfa_bench::pam::Handle;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn rss() -> u64 {
    proc_mem(std::process::id()).map(|m| m.rss_kib).unwrap_or(0)
}

fn main() {
    let mut confdir = PathBuf::new();
    let (mut service, mut user, mut code) = (String::new(), String::new(), String::new());
    let mut at: Option<u128> = None;
    let mut report_rss = false;
    let mut dlopen: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_default();
        match a.as_str() {
            "--confdir" => confdir = PathBuf::from(val()),
            "--service" => service = val(),
            "--user" => user = val(),
            "--code" => code = val(),
            "--at" => at = val().parse().ok(),
            "--rss" => report_rss = true,
            "--dlopen" => dlopen = Some(val()),
            _ => {
                eprintln!("bench_login: unknown argument {a}");
                std::process::exit(2);
            }
        }
    }
    if let Some(path) = dlopen {
        let before = rss();
        let Ok(c) = std::ffi::CString::new(path) else {
            std::process::exit(2);
        };
        // SAFETY: dlopen of a PAM module; its constructors run, nothing else.
        let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW) };
        if h.is_null() {
            eprintln!("bench_login: dlopen failed");
            std::process::exit(2);
        }
        println!("{before} {}", rss());
        return;
    }
    let rss_start = rss();
    let mut h = match Handle::start(&confdir, &service, &user, &code) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("bench_login: {e}");
            std::process::exit(4);
        }
    };
    if let Some(t) = at {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        if t > now {
            std::thread::sleep(Duration::from_nanos((t - now) as u64));
        } else {
            println!("late");
        }
    }
    let t = std::time::Instant::now();
    let rc = h.authenticate();
    let auth_time = t.elapsed();
    let rss_loaded = rss();
    if at.is_some() {
        println!("auth_ns {}", auth_time.as_nanos());
    }
    if rc != 0 && !report_rss && at.is_none() {
        eprintln!("bench_login: rc {rc}, last text: {}", h.last_text());
    }
    h.end(rc);
    if report_rss {
        let m = proc_mem(std::process::id()).unwrap_or_default();
        println!("{rss_start} {rss_loaded} {} {}", m.rss_kib, m.hwm_kib);
    }
    std::process::exit(rc);
}
