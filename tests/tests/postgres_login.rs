//! The real mfad binary on PostgreSQL (`[store] backend = "postgres"`),
//! logins through real libpam: a code logs in once; a second mfad on the
//! same database refuses that code too (replay protection holds across
//! daemons); with PostgreSQL stopped every login fails closed with
//! PAM_AUTHINFO_UNAVAIL and the stopped-daemon message (and `mfa` says the
//! database cannot be reached), and logins work
//! again once it is back, with neither mfad restarted. Needs root (the
//! cluster runs as postgres); CI runs as root.

use anyhow::{ensure, Result};
use mfa_tests::{import_secret, mfa_cli, rc, totp_at, unix_now, MfadProcess, Stack, TempCluster};
use std::path::Path;
use std::time::{Duration, Instant};

const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const BOBS: &str = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU";

/// A code of the step after the current one: the import spent the
/// current step, and the next is within the allowed skew.
fn next_code(secret: &str) -> Result<String> {
    totp_at(secret, unix_now() + 30)
}

fn central(dir: &Path, name: &str, url: &str) -> Result<MfadProcess> {
    let state = dir.join(name);
    std::fs::create_dir_all(&state)?;
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(
        &cfg,
        format!(
            "hostname = \"{name}\"\n[store]\nbackend = \"postgres\"\npostgres_url = \"{url}\"\n"
        ),
    )?;
    // One key for both: the central instances of a site share it.
    let key = dir.join("master.key");
    if key.exists() {
        std::fs::copy(&key, state.join("master.key"))?;
    }
    let cfg_arg = cfg.display().to_string();
    let m = MfadProcess::spawn(
        &dir.join(format!("{name}.sock")),
        &state,
        &["--config", &cfg_arg],
    )?;
    if !key.exists() {
        std::fs::copy(state.join("master.key"), &key)?;
    }
    Ok(m)
}

#[test]
fn mfad_on_postgres_logs_in_once_fails_closed_without_it_and_recovers_by_itself() -> Result<()> {
    let mut pg = TempCluster::start_new()?;
    let url = pg.create_database("mfa")?;
    let dir = tempfile::tempdir()?;
    let a = central(dir.path(), "central-a", &url)?;
    let b = central(dir.path(), "central-b", &url)?;
    import_secret(&a.socket, "ann", SECRET)?;
    import_secret(&b.socket, "bob", BOBS)?;
    let via_a = Stack::new(&a.socket, "tries=1", &[])?;
    let via_b = Stack::new(&b.socket, "tries=1", &[])?;

    // The next step's code (the import spent the current one): once.
    let code = next_code(SECRET)?;
    let run = via_a.login("ann", &[&code])?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);
    let again = via_b.login("ann", &[&code])?;
    ensure!(
        again.rc == rc::AUTH_ERR,
        "the other mfad took the same code: {}",
        again.transcript
    );

    // Nothing is decided, so nothing is spent or counted: bob's code
    // still works once PostgreSQL is back.
    pg.stop()?;
    for stack in [&via_a, &via_b] {
        let run = stack.login("bob", &[&next_code(BOBS)?])?;
        ensure!(run.rc == rc::AUTHINFO_UNAVAIL, "{}", run.transcript);
        ensure!(
            run.transcript
                .contains("The second-factor service is not available"),
            "{}",
            run.transcript
        );
    }
    // The help desk's commands say why too, not "internal error".
    for args in [
        &["status", "--user", "ann"][..],
        &["unlock", "--user", "ann"],
        &["list"],
    ] {
        let (code, out, err) = mfa_cli(&a.socket, args, "")?;
        ensure!(
            code != 0 && err.contains("mfad cannot reach its database; try again later"),
            "mfa {args:?} with PostgreSQL stopped: exit {code}: {out}{err}"
        );
    }
    pg.start()?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let later = next_code(BOBS)?;
        let run = via_b.login("bob", &[&later])?;
        if run.rc == rc::SUCCESS {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "no login after PostgreSQL came back: {}",
            run.transcript
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let (status, log) = a.stop()?;
    ensure!(status == 0, "{log}");
    ensure!(log.contains("the database is unavailable"), "{log}");
    ensure!(
        !log.contains(SECRET) && !log.contains(&code),
        "a secret or code in the log: {log}"
    );
    drop(b);
    Ok(())
}
