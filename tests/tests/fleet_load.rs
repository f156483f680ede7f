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

#[test]
fn one_valid_code_typed_a_thousand_times_over_every_relay_and_both_centrals_logs_in_once(
) -> Result<()> {
    let _serial = serial();
    let users = LocalUsers::create(41060, 1)?;
    let ann = &users.names()[0];
    let fleet = Fleet::new(2)?;
    let c0 = fleet.central(0, "", LOCK_ONLY)?;
    let c1 = fleet.central(1, "", LOCK_ONLY)?;
    // a and c reach central-0 first, b and d central-1.
    let hosts = ["lab-a", "lab-b", "lab-c", "lab-d"];
    let relays = [
        fleet.relay(hosts[0], &[0, 1])?,
        fleet.relay(hosts[1], &[1, 0])?,
        fleet.relay(hosts[2], &[0, 1])?,
        fleet.relay(hosts[3], &[1, 0])?,
    ];
    let stacks = relays.iter().map(stack).collect::<Result<Vec<_>>>()?;
    let secret = fleet.enroll(&relays[0].socket, ann)?.secret;
    let code = next_code(&secret)?;

    const LOGINS: usize = 1000;
    const THREADS: usize = 24;
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let results: Vec<(usize, PamRun)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| -> Result<Vec<(usize, PamRun)>> {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= LOGINS {
                            return Ok(mine);
                        }
                        let r = i % stacks.len();
                        mine.push((r, stacks[r].login(ann, &[&code])?));
                    }
                })
            })
            .collect();
        let mut all = Vec::new();
        for w in workers {
            all.extend(w.join().map_err(|_| anyhow!("a login thread panicked"))??);
        }
        Ok::<_, anyhow::Error>(all)
    })?;
    let took = started.elapsed();
    ensure!(results.len() == LOGINS, "{} logins ran", results.len());

    let successes: Vec<_> = results
        .iter()
        .filter(|(_, r)| r.rc == rc::SUCCESS)
        .collect();
    ensure!(
        successes.len() == 1,
        "{} of {LOGINS} logins with one code succeeded (relays {:?})",
        successes.len(),
        successes.iter().map(|(r, _)| hosts[*r]).collect::<Vec<_>>()
    );
    // Every other login is refused (with one try, a reused code ends in
    // "Too many wrong codes.", as a wrong one does), until the failures
    // reach the lock (100, the most NIST allows and mfad accepts): then
    // the account is locked for every relay and central at once. The
    // store serializes an account's attempts, so each failure counts
    // exactly once: 99 plain refusals, and the 100th and every later
    // login told the account is locked.
    let refused =
        |r: &PamRun| r.rc == rc::AUTH_ERR && r.transcript.contains("Too many wrong codes.");
    let locked_out =
        |r: &PamRun| r.rc == rc::MAXTRIES && r.transcript.contains("this account is locked");
    let runs: Vec<&PamRun> = results.iter().map(|(_, r)| r).collect();
    let replayed = runs.iter().filter(|r| refused(r)).count();
    let locked = runs.iter().filter(|r| locked_out(r)).count();
    let other: Vec<&PamRun> = runs
        .iter()
        .copied()
        .filter(|r| r.rc != rc::SUCCESS && !refused(r) && !locked_out(r))
        .collect();
    let st = status_json(&fleet, &relays[1].socket, ann)?;
    let (_, log0) = c0.stop()?;
    let (_, log1) = c1.stop()?;
    let both = format!("{log0}{log1}");
    let audit: Vec<String> = [
        "outcome=success",
        "outcome=replayed",
        "outcome=wrong_code ",
        "outcome=wrong_code_locked",
        "outcome=rate_limited",
        "outcome=locked",
        "unavailable",
    ]
    .iter()
    .map(|o| format!("{o}: {}", count(&both, o)))
    .collect();
    // With 1,000 free failures no login may be told to wait. (mfad bug,
    // seen here about one run in four: `backoff::wait_left` gives a wait
    // of last_failure - now even when no delay is due, so an attempt whose
    // clock reading is a second older than a failure committed meanwhile,
    // by the other central or ahead of it in the queue, is told "try
    // again in 1 s".)
    ensure!(
        other.is_empty(),
        "{} logins were neither refused nor told of the lock ({} told to wait, with free failures left); the centrals' audit: {audit:?}; first ones: {}",
        other.len(),
        other
            .iter()
            .filter(|r| r.transcript.contains("Too many attempts, try again in"))
            .count(),
        sample(&other)
    );
    ensure!(
        replayed == 99 && locked == LOGINS - 100,
        "{replayed} refused and {locked} locked out (expected 99 and {}): the fleet did not count each failure once; the centrals' audit: {audit:?}; mfa status: {st}",
        LOGINS - 100
    );
    ensure!(
        st["locked"] == true && st["consecutive_failures"] == 100,
        "mfa status after the run: {st}"
    );
    for (log, name, mine) in [
        (&log0, "central-0", [hosts[0], hosts[2]]),
        (&log1, "central-1", [hosts[1], hosts[3]]),
    ] {
        for host in mine {
            ensure!(
                count(log, &format!("by_uid=0 via=\"{host}\"")) > 0,
                "{name} served no login from {host}"
            );
        }
    }
    ensure!(
        count(&both, "outcome=success") == 1,
        "the centrals logged {} successes",
        count(&both, "outcome=success")
    );
    eprintln!(
        "{LOGINS} logins in {:.1} s; central-0 logged {} attempts, central-1 {}",
        took.as_secs_f64(),
        count(&log0, "audit attempt"),
        count(&log1, "audit attempt")
    );
    Ok(())
}

#[test]
fn a_users_failures_through_different_relays_add_up_to_one_delay() -> Result<()> {
    let _serial = serial();
    let users = LocalUsers::create(41061, 1)?;
    let ann = &users.names()[0];
    let fleet = Fleet::new(2)?;
    // Default limits: three free failures, then 30 s doubling.
    let _c0 = fleet.central(0, "", "")?;
    let _c1 = fleet.central(1, "", "")?;
    let a = fleet.relay("lab-a", &[0, 1])?;
    let b = fleet.relay("lab-b", &[1, 0])?;
    let c = fleet.relay("lab-c", &[0])?;
    let secret = fleet.enroll(&a.socket, ann)?.secret;
    let wrong = wrong_code(&secret)?;

    for relay in [&a, &b] {
        let run = stack(relay)?.login(ann, &[&wrong])?;
        ensure!(
            run.rc == rc::AUTH_ERR && run.transcript.contains("Too many wrong codes."),
            "{}",
            run.transcript
        );
    }
    // The third failure, on a third machine, starts the delay.
    let third = stack(&c)?.login(ann, &[&wrong])?;
    ensure!(
        third.rc == rc::MAXTRIES
            && third
                .transcript
                .contains("Wrong code. Too many attempts, try again in 30 s."),
        "{}",
        third.transcript
    );
    // Every machine now tells ann to wait, even with a valid code, and the
    // code is not spent by being refused.
    let good = next_code(&secret)?;
    for relay in [&a, &b, &c] {
        let run = stack(relay)?.login(ann, &[&good])?;
        ensure!(
            run.rc == rc::MAXTRIES && run.transcript.contains("Too many attempts, try again in "),
            "{}",
            run.transcript
        );
        let secs: Option<u64> = run
            .transcript
            .split("try again in ")
            .nth(1)
            .and_then(|t| t.split(' ').next())
            .and_then(|n| n.parse().ok());
        ensure!(
            secs.is_some_and(|n| (1..=30).contains(&n)),
            "{}",
            run.transcript
        );
    }
    // Three failures, counted once each, wherever `mfa status` asks.
    for relay in [&a, &b, &c] {
        let said = status_text(&fleet, &relay.socket, ann)?;
        ensure!(said.contains("after 3 failures"), "{said}");
    }
    let st = status_json(&fleet, &b.socket, ann)?;
    ensure!(
        st["consecutive_failures"] == 3 && st["locked"] == false,
        "{st}"
    );
    Ok(())
}

#[test]
fn a_recovery_code_typed_on_two_hosts_at_once_works_once() -> Result<()> {
    let _serial = serial();
    let users = LocalUsers::create(41062, 1)?;
    let ann = &users.names()[0];
    let fleet = Fleet::new(2)?;
    let _c0 = fleet.central(0, "", "")?;
    let _c1 = fleet.central(1, "", "")?;
    let a = fleet.relay("lab-a", &[0, 1])?;
    let b = fleet.relay("lab-b", &[1, 0])?;
    let (sa, sb) = (stack(&a)?, stack(&b)?);
    let enrolled = fleet.enroll(&a.socket, ann)?;
    let total = enrolled.recovery.len();
    const ROUNDS: usize = 3;
    ensure!(total > ROUNDS, "only {total} recovery codes");

    for code in &enrolled.recovery[..ROUNDS] {
        // Both started before either is collected.
        let children = [&sa, &sb]
            .iter()
            .map(|s| {
                Ok(s.command(ann, &[code], None, &[])?
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()?)
            })
            .collect::<Result<Vec<_>>>()?;
        let runs = children
            .into_iter()
            .map(|c| finish(c.wait_with_output()?))
            .collect::<Result<Vec<_>>>()?;
        let won: Vec<_> = runs.iter().filter(|r| r.rc == rc::SUCCESS).collect();
        ensure!(
            won.len() == 1,
            "recovery code {code} typed on lab-a and lab-b at once: {}",
            sample(&runs.iter().collect::<Vec<_>>())
        );
        ensure!(
            won[0].transcript.contains("Recovery code accepted"),
            "{}",
            won[0].transcript
        );
        let lost: Vec<_> = runs.iter().filter(|r| r.rc != rc::SUCCESS).collect();
        ensure!(
            lost.iter().all(|r| r.rc == rc::AUTH_ERR),
            "{}",
            sample(&lost)
        );
    }
    let st = status_json(&fleet, &b.socket, ann)?;
    ensure!(
        st["recovery_codes_left"] == total - ROUNDS,
        "{total} codes, {ROUNDS} used: {st}"
    );
    Ok(())
}

/// For each needle, how many of the process's writable or anonymous
/// memory regions hold it (file-backed read-only mappings are the
/// program's own text and constants: nothing received at run time can be
/// there).
fn regions_holding(pid: i32, needles: &[(&str, Vec<u8>)]) -> Result<HashMap<String, usize>> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem"))?;
    let mut found: HashMap<String, usize> =
        needles.iter().map(|(n, _)| (n.to_string(), 0)).collect();
    let mut searched = 0usize;
    for line in maps.lines() {
        let mut f = line.split_whitespace();
        let (Some(range), Some(perms)) = (f.next(), f.next()) else {
            continue;
        };
        let path = f.nth(3).unwrap_or("");
        let readable = perms.starts_with('r');
        let writable = perms.as_bytes().get(1) == Some(&b'w');
        let anonymous = path.is_empty() || path.starts_with('[');
        if !readable || path == "[vvar]" || path == "[vsyscall]" || !(writable || anonymous) {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (start, end) = (
            u64::from_str_radix(start, 16)?,
            u64::from_str_radix(end, 16)?,
        );
        let mut buf = vec![0u8; usize::try_from(end - start)?];
        mem.seek(SeekFrom::Start(start))?;
        if mem.read_exact(&mut buf).is_err() {
            // Page by page, leaving zeros where a page cannot be read.
            for (n, page) in buf.chunks_mut(4096).enumerate() {
                mem.seek(SeekFrom::Start(start + 4096 * n as u64))?;
                if mem.read_exact(page).is_err() {
                    page.fill(0);
                }
            }
        }
        searched += buf.len();
        for (name, needle) in needles {
            // SAFETY: both pointers and lengths describe live slices.
            let hit = unsafe {
                libc::memmem(
                    buf.as_ptr().cast(),
                    buf.len(),
                    needle.as_ptr().cast(),
                    needle.len(),
                )
            };
            if !hit.is_null() {
                *found.entry(name.to_string()).or_default() += 1;
            }
        }
    }
    ensure!(searched > 0, "no memory of pid {pid} could be read");
    Ok(found)
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(files_under(&path)?);
        } else {
            out.push(path);
        }
    }
    Ok(out)
}

#[test]
fn a_relay_keeps_no_totp_secret_on_disk_or_in_memory_after_a_workload() -> Result<()> {
    let _serial = serial();
    let users = LocalUsers::create(41063, 1)?;
    let ann = &users.names()[0];
    let fleet = Fleet::new(1)?;
    let _c0 = fleet.central(0, "", "")?;
    let lab = fleet.relay("lab-a", &[0])?;
    let enrolled = fleet.enroll(&lab.socket, ann)?;
    let s = stack(&lab)?;
    // A workload: a login, a reuse, a wrong code, a recovery code, status.
    let code = next_code(&enrolled.secret)?;
    ensure!(s.login(ann, &[&code])?.rc == rc::SUCCESS);
    ensure!(s.login(ann, &[&code])?.rc == rc::AUTH_ERR);
    ensure!(s.login(ann, &[&wrong_code(&enrolled.secret)?])?.rc == rc::AUTH_ERR);
    ensure!(s.login(ann, &[&enrolled.recovery[0]])?.rc == rc::SUCCESS);
    ensure!(status_text(&fleet, &lab.socket, ann)?.contains("enrolled"));
    // Let the relay's connection tasks end and free their buffers.
    std::thread::sleep(Duration::from_millis(300));

    let raw = mfad::otp::from_base32(&enrolled.secret).ok_or_else(|| anyhow!("bad base32"))?;
    let secret_needles: Vec<(&str, Vec<u8>)> = vec![
        ("base32 secret", enrolled.secret.clone().into_bytes()),
        (
            "lowercase base32 secret",
            enrolled.secret.to_lowercase().into_bytes(),
        ),
        ("raw secret bytes", raw),
        ("otpauth URI", enrolled.uri.clone().into_bytes()),
    ];
    // The control: the relay holds its upstream server's address for as
    // long as it runs, so a search that cannot find it is broken.
    let control = format!("{} control", fleet.addrs[0]);
    let mut needles = secret_needles.clone();
    needles.push((&control, fleet.addrs[0].clone().into_bytes()));

    // On disk: nothing at all, so nothing with the secret.
    let files = files_under(&fleet.relay_state("lab-a"))?;
    for f in &files {
        let bytes = std::fs::read(f)?;
        for (name, needle) in &secret_needles {
            ensure!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                "the relay's {} holds the {name}",
                f.display()
            );
        }
    }
    ensure!(files.is_empty(), "the relay keeps files: {files:?}");

    let found = regions_holding(lab.pid(), &needles)?;
    ensure!(
        found.get(&control).copied().unwrap_or(0) > 0,
        "the memory search did not find the relay's upstream address: it cannot find anything"
    );
    let leaks: Vec<_> = secret_needles
        .iter()
        .filter_map(|(name, _)| {
            let n = found.get(*name).copied().unwrap_or(0);
            (n > 0).then(|| format!("{name} in {n} regions"))
        })
        .collect();
    ensure!(
        leaks.is_empty(),
        "the relay (pid {}, {} KiB) holds {}",
        lab.pid(),
        lab.rss_kib()?,
        leaks.join(", ")
    );
    Ok(())
}

/// The outage itself, while logins run: PostgreSQL stopped (`outage`
/// set first), down for 4 s, started again; then until bob logged in
/// (or 20 s), and a little more so reuses after the return are seen too.
/// When the stop began, ended, and the start began and ended.
fn outage_of(
    cluster: &mut TempCluster,
    outage: &AtomicBool,
    bob_in: &AtomicBool,
) -> Result<[Instant; 4]> {
    std::thread::sleep(Duration::from_millis(1000));
    let stop_begin = Instant::now();
    outage.store(true, Ordering::SeqCst);
    cluster.stop()?;
    let stopped = Instant::now();
    std::thread::sleep(Duration::from_secs(4));
    let start_begin = Instant::now();
    cluster.start()?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(20);
    while !bob_in.load(Ordering::SeqCst) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(800));
    Ok([stop_begin, stopped, start_begin, started])
}

/// One login of a workload, timed.
struct Timed {
    user: usize,
    code: String,
    start: Instant,
    end: Instant,
    run: PamRun,
}

#[test]
fn with_postgresql_stopped_logins_fail_closed_in_time_and_come_back_within_seconds() -> Result<()> {
    let _serial = serial();
    let users = LocalUsers::create(41064, 2)?;
    let names = users.names();
    // The shared cluster cannot be stopped: this fleet's centrals use a
    // cluster of its own.
    let mut cluster = TempCluster::start_new()?;
    let mut fleet = Fleet::new(2)?;
    fleet.url = cluster.create_database("fleet_outage")?;
    let _c0 = fleet.central(0, "", LOCK_ONLY)?;
    let _c1 = fleet.central(1, "", LOCK_ONLY)?;
    let relays = [
        fleet.relay("lab-a", &[0, 1])?,
        fleet.relay("lab-b", &[1, 0])?,
    ];
    const TIMEOUT: u64 = 5;
    let stacks = relays
        .iter()
        .map(|r| stack_with(r, TIMEOUT))
        .collect::<Result<Vec<_>>>()?;
    let ann_secret = fleet.enroll(&relays[0].socket, &names[0])?.secret;
    let bob_secret = fleet.enroll(&relays[1].socket, &names[1])?.secret;
    // ann's code is spent before the workload; bob's is typed only from
    // the outage on, so its first success can only come after it.
    let spent = next_code(&ann_secret)?;
    let first = stacks[0].login(&names[0], &[&spent])?;
    ensure!(first.rc == rc::SUCCESS, "{}", first.transcript);
    let fresh = next_code(&bob_secret)?;
    let codes = [spent.clone(), fresh.clone()];

    let outage = AtomicBool::new(false);
    let done = AtomicBool::new(false);
    let bob_in = AtomicBool::new(false);
    let (runs, [stop_begin, stopped, start_begin, started]) =
        std::thread::scope(|s| -> Result<(Vec<Timed>, [Instant; 4])> {
            let workers: Vec<_> = (0..2)
                .map(|t| {
                    let (stacks, names, codes) = (&stacks, &names, &codes);
                    let (outage, done, bob_in) = (&outage, &done, &bob_in);
                    s.spawn(move || -> Result<Vec<Timed>> {
                        let mut mine = Vec::new();
                        let mut i = t;
                        while !done.load(Ordering::SeqCst) {
                            i += 1;
                            let user = usize::from(outage.load(Ordering::SeqCst) && i % 2 == 0);
                            let start = Instant::now();
                            let run = stacks[(i / 2) % 2].login(&names[user], &[&codes[user]])?;
                            let end = Instant::now();
                            if user == 1 && run.rc == rc::SUCCESS {
                                bob_in.store(true, Ordering::SeqCst);
                            }
                            mine.push(Timed {
                                user,
                                code: codes[user].clone(),
                                start,
                                end,
                                run,
                            });
                            std::thread::sleep(Duration::from_millis(150));
                        }
                        Ok(mine)
                    })
                })
                .collect();
            let outcome = outage_of(&mut cluster, &outage, &bob_in);
            done.store(true, Ordering::SeqCst);
            let mut all = Vec::new();
            for w in workers {
                all.extend(w.join().map_err(|_| anyhow!("a login thread panicked"))??);
            }
            Ok((all, outcome?))
        })?;

    let limit = Duration::from_secs(TIMEOUT) + Duration::from_millis(1500);
    let slow: Vec<_> = runs.iter().filter(|t| t.end - t.start > limit).collect();
    ensure!(
        slow.is_empty(),
        "{} logins took longer than the module's {TIMEOUT} s timeout: {}",
        slow.len(),
        sample(&slow.iter().map(|t| &t.run).collect::<Vec<_>>())
    );
    let during: Vec<_> = runs
        .iter()
        .filter(|t| t.start >= stopped && t.end <= start_begin)
        .collect();
    ensure!(
        during.len() >= 5,
        "only {} logins ran while PostgreSQL was down",
        during.len()
    );
    let open: Vec<_> = during
        .iter()
        .filter(|t| {
            t.run.rc != rc::AUTHINFO_UNAVAIL
                || !t
                    .run
                    .transcript
                    .contains("The second-factor service is not available")
        })
        .map(|t| &t.run)
        .collect();
    ensure!(
        open.is_empty(),
        "logins while PostgreSQL was down did not fail closed as unavailable: {}",
        sample(&open)
    );
    let before: Vec<_> = runs.iter().filter(|t| t.end <= stop_begin).collect();
    ensure!(!before.is_empty(), "no login ran before the outage");
    // The spent code never logs in again; bob's code exactly once, after
    // PostgreSQL came back, and within seconds of it.
    let reused: Vec<_> = runs
        .iter()
        .filter(|t| t.user == 0 && t.run.rc == rc::SUCCESS)
        .collect();
    ensure!(
        reused.is_empty(),
        "ann's spent code {spent} logged in {} more times",
        reused.len()
    );
    let bob_wins: Vec<_> = runs
        .iter()
        .filter(|t| t.user == 1 && t.code == fresh && t.run.rc == rc::SUCCESS)
        .collect();
    ensure!(
        bob_wins.len() == 1,
        "bob's code logged in {} times",
        bob_wins.len()
    );
    let back = bob_wins[0].end.saturating_duration_since(started);
    ensure!(
        bob_wins[0].end > start_begin && back < Duration::from_secs(10),
        "the first login after PostgreSQL returned took {:.1} s after its start",
        back.as_secs_f64()
    );
    let again = stacks[1].login(&names[1], &[&fresh])?;
    ensure!(again.rc != rc::SUCCESS, "{}", again.transcript);
    eprintln!(
        "{} logins; {} during the outage; pg stop took {:.1} s, start {:.1} s; logins back {:.1} s after the start returned",
        runs.len(),
        during.len(),
        (stopped - stop_begin).as_secs_f64(),
        (started - start_begin).as_secs_f64(),
        back.as_secs_f64()
    );
    Ok(())
}

/// What the workload of the SIGKILL test did for one student.
#[derive(Default)]
struct Student {
    enrolled: Option<(Enrolled, Instant)>,
    enroll_error: Option<String>,
    /// (code, rc) of every login tried.
    logins: Vec<(String, i32)>,
}

#[test]
fn a_central_killed_during_a_workload_loses_no_confirmed_enrollment_and_accepts_no_code_twice(
) -> Result<()> {
    let _serial = serial();
    const STUDENTS: usize = 16;
    const EARLY: usize = 4;
    let users = LocalUsers::create(41070, STUDENTS as u32)?;
    let names = users.names();
    let fleet = Fleet::new(2)?;
    // Sixteen students reusing codes from two machines would delay the
    // machines themselves (ten accounts failing from one host), which is
    // not what this test is about.
    let limits = format!("{LOCK_ONLY}host_free_accounts = 1000\n");
    let c0 = fleet.central(0, "", &limits)?;
    let _c1 = fleet.central(1, "", &limits)?;
    let relays = [
        fleet.relay("lab-a", &[0, 1])?,
        fleet.relay("lab-b", &[1, 0])?,
    ];
    let stacks = relays.iter().map(stack).collect::<Result<Vec<_>>>()?;
    let students: Vec<Mutex<Student>> = (0..STUDENTS).map(|_| Mutex::default()).collect();
    // Students enrolled before the workload, through lab-a (central-0).
    for (k, st) in students.iter().enumerate().take(EARLY) {
        let e = fleet.enroll(&relays[0].socket, &names[k])?;
        st.lock().map_err(|_| anyhow!("poisoned"))?.enrolled = Some((e, Instant::now()));
    }
    let lock = |k: usize| {
        students[k]
            .lock()
            .map_err(|_| anyhow!("a student's record is poisoned"))
    };

    let done = AtomicBool::new(false);
    let enrolled_now = AtomicUsize::new(0);
    let mut killed_at = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let mut workers = Vec::new();
        // Three threads enroll the other students, alternating relays, and
        // log each in once through the other relay.
        for t in 0..3 {
            let (fleet, relays, stacks, names, lock) = (&fleet, &relays, &stacks, &names, &lock);
            let enrolled_now = &enrolled_now;
            workers.push(s.spawn(move || -> Result<()> {
                for k in (EARLY + t..STUDENTS).step_by(3) {
                    match fleet.enroll(&relays[k % 2].socket, &names[k]) {
                        Ok(e) => {
                            let code = next_code(&e.secret)?;
                            lock(k)?.enrolled = Some((e, Instant::now()));
                            enrolled_now.fetch_add(1, Ordering::SeqCst);
                            let run = stacks[(k + 1) % 2].login(&names[k], &[&code])?;
                            lock(k)?.logins.push((code, run.rc));
                        }
                        Err(e) => lock(k)?.enroll_error = Some(format!("{e:#}")),
                    }
                    std::thread::sleep(Duration::from_millis(150));
                }
                Ok(())
            }));
        }
        // One thread logs the early students in, over and over, with
        // their next code: one success each, then reuses.
        let (stacks, names, lock, done) = (&stacks, &names, &lock, &done);
        workers.push(s.spawn(move || -> Result<()> {
            let mut i = 0;
            while !done.load(Ordering::SeqCst) {
                let k = i % EARLY;
                let code = {
                    let st = lock(k)?;
                    let (e, _) = st
                        .enrolled
                        .as_ref()
                        .ok_or_else(|| anyhow!("not enrolled"))?;
                    next_code(&e.secret)?
                };
                let run = stacks[i % 2].login(&names[k], &[&code])?;
                lock(k)?.logins.push((code, run.rc));
                i += 1;
                std::thread::sleep(Duration::from_millis(60));
            }
            Ok(())
        }));
        let deadline = Instant::now() + Duration::from_secs(10);
        while enrolled_now.load(Ordering::SeqCst) < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        killed_at = Instant::now();
        let outcome = c0.kill9();
        let mut results = Vec::new();
        for (n, w) in workers.into_iter().enumerate() {
            if n == 3 {
                // The enrolling threads are done: stop the login loop.
                done.store(true, Ordering::SeqCst);
            }
            results.push(
                w.join()
                    .map_err(|_| anyhow!("a workload thread panicked"))?,
            );
        }
        outcome?;
        results.into_iter().collect::<Result<()>>()
    })?;

    let mut before_kill = 0;
    let mut after_kill = 0;
    let mut failed = Vec::new();
    let mut cut = 0;
    for (k, name) in names.iter().enumerate() {
        let mut st = lock(k)?;
        cut += st
            .logins
            .iter()
            .filter(|(_, rc_)| *rc_ == rc::AUTHINFO_UNAVAIL)
            .count();
        let Some((e, at)) = st.enrolled.take() else {
            failed.push(st.enroll_error.clone().unwrap_or_default());
            continue;
        };
        if at < killed_at {
            before_kill += 1;
        } else {
            after_kill += 1;
        }
        // Still enrolled, as the student sees it from either machine.
        for relay in &relays {
            let said = status_text(&fleet, &relay.socket, name)?;
            ensure!(
                said.contains(&format!("{name}: enrolled")),
                "{name}'s enrollment (confirmed) is gone: {said}"
            );
        }
        // Still logs in (lab-a now reaches central-1 only): a recovery
        // code, which no workload login used.
        let run = stack(&relays[0])?.login(name, &[&e.recovery[0]])?;
        ensure!(
            run.rc == rc::SUCCESS,
            "{name}, enrolled, cannot log in: {}",
            run.transcript
        );
        st.logins.push((e.recovery[0].clone(), run.rc));
        // Each code at most once: the workload's codes again, on both
        // machines, then the whole record.
        let mut tried: Vec<String> = st.logins.iter().map(|(c, _)| c.clone()).collect();
        tried.push(next_code(&e.secret)?);
        tried.sort();
        tried.dedup();
        for code in tried {
            for s in &stacks {
                let run = s.login(name, &[&code])?;
                st.logins.push((code.clone(), run.rc));
            }
        }
        let mut wins: HashMap<&str, usize> = HashMap::new();
        for (code, rc_) in &st.logins {
            if *rc_ == rc::SUCCESS {
                *wins.entry(code.as_str()).or_default() += 1;
            }
        }
        ensure!(
            wins.values().all(|&n| n <= 1),
            "{name}: a code logged in twice: {wins:?}"
        );
    }
    ensure!(
        before_kill > EARLY && after_kill >= 1,
        "enrollments confirmed before the kill: {before_kill}, after: {after_kill}; failed: {failed:?}"
    );
    eprintln!(
        "{before_kill} enrollments confirmed before the SIGKILL, {after_kill} after, {} failed: {failed:?}; {cut} workload logins cut off as unavailable",
        failed.len()
    );
    Ok(())
}
