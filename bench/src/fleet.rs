//! `mfa_bench fleet`: the lab of issue #11 on one machine, measured side
//! by side in one run. The same closed-loop login load (hello + verify on
//! a fresh connection, as pam_mfa does) against: one mfad on SQLite (the
//! single-host figure); two central mfads on one PostgreSQL 15 (fsync on,
//! a throwaway cluster), called directly; and the same two behind four
//! lab relays, each with its own client certificate, every login a new
//! TLS connection from relay to central. Then the central mfads' memory
//! with 100,000 accounts in the database, after logins spread over them.
//! Prints a Markdown section for BENCHMARKS.md.

use crate::daemon::{
    self, proc_mem, run_verifies, run_verifies_on, Mfad, Targets, VerifyRun, Work,
};
use crate::otp::Pool;
use crate::stats::{ms, summarize};
use anyhow::{Context, Result};
use mfa_tests::pki::Pki;
use mfa_tests::TempCluster;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

pub struct FleetPlan {
    pub accounts: usize,
    pub threads: usize,
    pub secs: u64,
    pub memory_accounts: usize,
    /// Logins a second of the open-loop runs (a realistic lab's rush).
    pub rate: f64,
}

fn free_addr() -> Result<String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.to_string())
}

/// Lab machines may send as fast as the load does: the per-host pace is
/// a defence, not what is measured here.
fn central_toml(url: &str, addr: &str, pki: &Pki) -> Result<String> {
    let server = pki.server("central")?;
    Ok(format!(
        "[store]\nbackend = \"postgres\"\npostgres_url = \"{url}\"\n\
         [remote]\nlisten = \"{addr}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\nclient_ca = \"{}\"\n\
         host_rate = 1000000\nhost_burst = 1000000\nmax_connections_per_host = 1024\n",
        server.cert.display(),
        server.key.display(),
        pki.ca.cert.display()
    ))
}

fn relay_toml(host: &str, servers: &[&String], pki: &Pki) -> Result<String> {
    let cert = pki.client(host)?;
    let list: Vec<String> = servers.iter().map(|s| format!("\"{s}\"")).collect();
    Ok(format!(
        "[upstream]\nservers = [{}]\nca = \"{}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        list.join(", "),
        pki.ca.cert.display(),
        cert.cert.display(),
        cert.key.display()
    ))
}

fn row(out: &mut String, what: &str, r: &VerifyRun) {
    if !r.failures.is_empty() {
        eprintln!("fleet: {what}: not verified: {:?}", r.failures);
    }
    let s = summarize(&r.latencies);
    let _ = writeln!(
        out,
        "| {what} | {:.0} | {} | {} | {} | {}/{} | {:.0}% |",
        r.per_sec(),
        ms(s.p50),
        ms(s.p99),
        ms(s.max),
        r.ok,
        r.total(),
        r.other_share * 100.0
    );
}

pub fn fleet(mfad_bin: &Path, dir: &Path, plan: &FleetPlan) -> Result<String> {
    let for_ = Duration::from_secs(plan.secs);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Closed loop ({} client threads, each sending its next login when the last is answered) and open loop ({} logins a second, latency from when each was due), {} s each; every login a fresh connection (hello + verify), as pam_mfa does. \"other CPU\" is the share of both CPUs used by processes other than the mfads and the clients: on PostgreSQL that is mostly the database server.\n",
        plan.threads, plan.rate, plan.secs
    );
    let _ = writeln!(
        out,
        "| Setup | logins/s | p50 | p99 | max | verified/all | other CPU |\n|---|---:|---:|---:|---:|---:|---:|"
    );

    let open = || Work::Rate {
        from: 0,
        per_sec: plan.rate,
        for_,
    };
    let open_n = (plan.rate * plan.secs as f64) as usize / 2 + 100;

    // The single host, as today: SQLite serves fast enough to need more
    // accounts than the others to keep a code ready for every login.
    let n = plan.accounts * 4;
    let pool = Pool::new("s", n)?;
    let single = Mfad::start(mfad_bin, &dir.join("single"))?;
    daemon::enroll(&single, &pool, 0..n, 16)?;
    let r = run_verifies(&single, &pool, Work::Until { from: 0, for_ }, plan.threads)?;
    row(&mut out, "one mfad, SQLite (single host)", &r);
    let paced = Pool::new("t", open_n)?;
    daemon::enroll(&single, &paced, 0..open_n, 16)?;
    let r = run_verifies(&single, &paced, open(), plan.threads)?;
    row(
        &mut out,
        &format!("one mfad, SQLite, open loop at {}/s", plan.rate),
        &r,
    );
    single.stop()?;

    // The fleet: one PostgreSQL, two central mfads, four relays.
    let mut pg = TempCluster::start_new()?;
    let url = pg.create_database("mfa")?;
    let pki = Pki::new("bench")?;
    let addrs = [free_addr()?, free_addr()?];
    let c0 = Mfad::start_with(
        mfad_bin,
        &dir.join("central-0"),
        &central_toml(&url, &addrs[0], &pki)?,
    )?;
    // The central instances of a site share one master key.
    let key1 = dir.join("central-1").join("state");
    std::fs::create_dir_all(&key1)?;
    std::fs::copy(c0.state_dir.join("master.key"), key1.join("master.key"))
        .context("the first central's key")?;
    let c1 = Mfad::start_with(
        mfad_bin,
        &dir.join("central-1"),
        &central_toml(&url, &addrs[1], &pki)?,
    )?;
    let relays = (0..4)
        .map(|i| {
            let host = format!("lab-{i}");
            let servers = [&addrs[i % 2], &addrs[(i + 1) % 2]];
            Mfad::start_with(
                mfad_bin,
                &dir.join(&host),
                &relay_toml(&host, &servers, &pki)?,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    // Each run its own accounts: an account has two unspent codes at a time.
    let pool = Pool::new("f", plan.accounts)?;
    daemon::enroll(&c0, &pool, 0..plan.accounts, 16)?;
    let lab_pool = Pool::new("g", plan.accounts)?;
    daemon::enroll(&c0, &lab_pool, 0..plan.accounts, 16)?;
    let centrals = Targets {
        sockets: vec![c0.socket.clone(), c1.socket.clone()],
        pids: vec![c0.pid(), c1.pid()],
    };
    let r = run_verifies_on(
        &centrals,
        &pool,
        Work::Until { from: 0, for_ },
        plan.threads,
    )?;
    row(&mut out, "2 central mfads, PostgreSQL, called directly", &r);
    let mut pids: Vec<u32> = relays.iter().map(Mfad::pid).collect();
    pids.extend([c0.pid(), c1.pid()]);
    let lab = Targets {
        sockets: relays.iter().map(|m| m.socket.clone()).collect(),
        pids,
    };
    let r = run_verifies_on(&lab, &lab_pool, Work::Until { from: 0, for_ }, plan.threads)?;
    row(&mut out, "4 relays → 2 central mfads → PostgreSQL", &r);
    let paced = Pool::new("r", open_n)?;
    daemon::enroll(&c0, &paced, 0..open_n, 16)?;
    let r = run_verifies_on(&lab, &paced, open(), plan.threads)?;
    row(
        &mut out,
        &format!(
            "4 relays → 2 central → PostgreSQL, open loop at {}/s",
            plan.rate
        ),
        &r,
    );
    let relay_mem: Vec<u64> = relays
        .iter()
        .map(|m| proc_mem(m.pid()).map(|m| m.rss_kib))
        .collect::<Result<_>>()?;

    // Memory with many accounts: the rest enrolled, then logins over all.
    let before = [proc_mem(c0.pid())?, proc_mem(c1.pid())?];
    let many = Pool::new("m", plan.memory_accounts)?;
    let t = daemon::enroll(&c0, &many, 0..plan.memory_accounts, 32)?;
    let spread: Vec<usize> = (0..plan.memory_accounts).step_by(10).collect();
    let r = run_verifies_on(&lab, &many, Work::Accounts(&spread), plan.threads)?;
    let after = [proc_mem(c0.pid())?, proc_mem(c1.pid())?];
    let _ = writeln!(
        out,
        "\nMemory (VmRSS, KiB): relays after the load {relay_mem:?}; central mfads before the extra accounts {} and {}, \
         after enrolling {} more accounts (in {:.0?}) and {} logins spread over them through the relays ({} verified) {} and {} (peak {} and {}).",
        before[0].rss_kib,
        before[1].rss_kib,
        plan.memory_accounts,
        t,
        r.total(),
        r.ok,
        after[0].rss_kib,
        after[1].rss_kib,
        after[0].hwm_kib,
        after[1].hwm_kib,
    );
    let rows = pg.psql("mfa", "SELECT count(*) FROM accounts")?;
    let _ = writeln!(
        out,
        "\nAccounts in the database at the end: {}.",
        rows.trim()
    );
    drop(relays);
    c0.stop()?;
    c1.stop()?;
    pg.stop()?;
    Ok(out)
}
