//! `mfad migrate --from-sqlite DIR` with the real binaries: a single
//! host's mfad on SQLite (still running) is copied into a central mfad's
//! PostgreSQL database; then, through real libpam on a lab machine's relay
//! to the central mfad (TLS, a client certificate), a step spent on the host is refused as already used, a fresh code
//! of every authenticator logs in, a recovery code used on the host is
//! refused and an unused one works. A second run copies nothing, and an
//! account enrolled centrally with another secret is reported as a
//! conflict (exit status 1) and left as it is. Codes come from Debian's
//! oathtool. Needs root (the cluster runs as postgres); CI runs as root.

use anyhow::{bail, ensure, Result};
use mfa_proto::client::Client;
use mfa_proto::{EnrollParams, Request, Response, Sensitive};
use mfa_tests::fleet::free_port;
use mfa_tests::pki::Pki;
use mfa_tests::postgres_shared::fresh_database;
use mfa_tests::{artifact, oathtool, rc, require_root, unix_now, MfadProcess, Stack};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const ANN: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const ANN_2: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
const BOB: &str = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU";
const CAROL: &str = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U";
const CAROL_CENTRAL: &str = "ORSXG5DJNZTWC3DMOJSWCZDTORUW4Z3Z";

fn code(secret: &str, at: i64) -> Result<String> {
    oathtool(secret, at, "SHA1", 6)
}

/// Enroll `user` as root with `secret` (beside the others as `name`),
/// confirmed with the code of time `at` (which that spends): the
/// recovery codes shown, if any.
fn enroll(
    socket: &Path,
    user: &str,
    secret: &str,
    name: Option<&str>,
    at: i64,
) -> Result<Vec<String>> {
    let mut root = Client::connect(socket, Duration::from_secs(5), "t")?;
    let params = EnrollParams {
        secret: Some(Sensitive::new(secret)),
        ..Default::default()
    };
    match root.call(&Request::EnrollBegin {
        user: user.into(),
        params,
    })? {
        Response::Enrollment { .. } => {}
        other => bail!("enroll_begin {user}: {other:?}"),
    }
    match root.call(&Request::EnrollConfirm {
        user: user.into(),
        code: Sensitive::new(code(secret, at)?),
        current_code: None,
        name: name.map(str::to_string),
    })? {
        Response::Enrolled { recovery_codes } => Ok(recovery_codes
            .iter()
            .map(|c| c.expose().to_string())
            .collect()),
        other => bail!("enroll_confirm {user}: {other:?}"),
    }
}

/// A single host's mfad on SQLite in `dir/name`.
fn host(dir: &Path, name: &str) -> Result<MfadProcess> {
    let state = dir.join(name);
    MfadProcess::spawn(&dir.join(format!("{name}.sock")), &state, &[])
}

/// The central mfad's configuration: PostgreSQL at `url`, and a skew of
/// two steps so a code two steps ahead of an enrollment is still valid.
fn central_config(dir: &Path, url: &str, pki: &Pki, addr: &str) -> Result<String> {
    let cfg = dir.join("central.toml");
    let server = pki.server("central")?;
    std::fs::write(
        &cfg,
        format!(
            "hostname = \"central\"\n[totp]\nskew = 2\n[store]\nbackend = \"postgres\"\npostgres_url = \"{url}\"\n\
             [remote]\nlisten = \"{addr}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\nclient_ca = \"{}\"\n",
            server.cert.display(),
            server.key.display(),
            pki.ca.cert.display()
        ),
    )?;
    std::fs::create_dir_all(dir.join("central"))?;
    Ok(cfg.display().to_string())
}

/// `mfad migrate` against the central configuration: exit code, stdout
/// (the report) and stderr (the audit lines).
fn migrate(dir: &Path, cfg: &str, from: &Path, extra: &[&str]) -> Result<(i32, String, String)> {
    let out = Command::new(artifact("mfad")?)
        .args(["migrate", "--config", cfg, "--state-dir"])
        .arg(dir.join("central"))
        .arg("--from-sqlite")
        .arg(from)
        .args(extra)
        .output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[test]
fn migrate_moves_a_hosts_enrollments_and_spent_steps_stay_spent() -> Result<()> {
    require_root()?;
    let url = fresh_database()?;
    let dir = tempfile::tempdir()?;
    let d = dir.path();

    // The single host: ann with two authenticators, bob with one.
    let h = host(d, "host")?;
    let t0 = unix_now();
    let ann_codes = enroll(&h.socket, "ann", ANN, None, t0)?;
    enroll(&h.socket, "ann", ANN_2, Some("backup phone"), t0)?;
    let bob_codes = enroll(&h.socket, "bob", BOB, None, t0)?;
    ensure!(ann_codes.len() == 10 && bob_codes.len() == 10);
    // One login each there: ann spends the next step, bob a code.
    let on_host = Stack::new(&h.socket, "tries=1", &[])?;
    let spent = code(ANN, t0 + 30)?;
    let run = on_host.login("ann", &[&spent])?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);
    let run = on_host.login("bob", &[&bob_codes[0]])?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);

    // Copied while the host's mfad still runs.
    let pki = Pki::new("site")?;
    let addr = format!("127.0.0.1:{}", free_port()?);
    let cfg = central_config(d, &url, &pki, &addr)?;
    let (status, report, audit) = migrate(d, &cfg, &h.state_dir, &[])?;
    ensure!(status == 0, "{report}\n{audit}");
    ensure!(
        report
            == "copied 2 accounts (3 authenticators, 19 recovery codes, 0 phones, 0 push targets); 0 already there; no conflicts",
        "{report}"
    );
    ensure!(
        audit.contains("mfad: audit migrate user=\"ann\"")
            && audit.contains("outcome=copied authenticators=2 recovery_codes=10"),
        "{audit}"
    );
    for secret in [ANN, ANN_2, BOB, &spent, &bob_codes[1]] {
        ensure!(
            !audit.contains(secret) && !report.contains(secret),
            "{audit}"
        );
    }
    let (status, log) = h.stop()?;
    ensure!(status == 0, "{log}");

    // Through the central mfad on PostgreSQL.
    let c = MfadProcess::spawn(
        &d.join("central.sock"),
        &d.join("central"),
        &["--config", &cfg],
    )?;
    // The host becomes a lab machine: a relay, its logins decided centrally.
    let lab = pki.client("host")?;
    let relay_cfg = d.join("relay.toml");
    std::fs::write(
        &relay_cfg,
        format!(
            "[upstream]\nservers = [\"{addr}\"]\nca = \"{}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
            pki.ca.cert.display(),
            lab.cert.display(),
            lab.key.display()
        ),
    )?;
    std::fs::create_dir_all(d.join("relay"))?;
    let relay = MfadProcess::spawn(
        &d.join("relay.sock"),
        &d.join("relay"),
        &["--config", &relay_cfg.display().to_string()],
    )?;
    let central = Stack::new(&relay.socket, "", &[])?;
    let once = Stack::new(&relay.socket, "tries=1", &[])?;
    let run = central.login("ann", &[&spent, &code(ANN, t0 + 60)?])?;
    ensure!(
        run.rc == rc::SUCCESS && run.transcript.contains("That code was already used"),
        "the step spent on the host: {}",
        run.transcript
    );
    let run = once.login("ann", &[&code(ANN_2, t0 + 30)?])?;
    ensure!(
        run.rc == rc::SUCCESS,
        "ann's second authenticator: {}",
        run.transcript
    );
    let run = once.login("bob", &[&code(BOB, t0 + 30)?])?;
    ensure!(
        run.rc == rc::SUCCESS,
        "bob's authenticator: {}",
        run.transcript
    );
    let run = once.login("bob", &[&bob_codes[0]])?;
    ensure!(
        run.rc == rc::AUTH_ERR,
        "a used recovery code: {}",
        run.transcript
    );
    let run = once.login("bob", &[&bob_codes[1]])?;
    ensure!(
        run.rc == rc::SUCCESS && run.transcript.contains("Recovery code accepted; 8 left"),
        "an unused recovery code: {}",
        run.transcript
    );
    let run = once.login("ann", &[&ann_codes[9]])?;
    ensure!(
        run.rc == rc::SUCCESS,
        "ann's recovery code: {}",
        run.transcript
    );

    // Again: nothing is copied twice.
    let (status, report, audit) = migrate(d, &cfg, &d.join("host"), &[])?;
    ensure!(status == 0, "{report}\n{audit}");
    ensure!(
        report
            == "copied 0 accounts (0 authenticators, 0 recovery codes, 0 phones, 0 push targets); 2 already there; no conflicts",
        "{report}"
    );

    // carol, enrolled centrally first with another secret, is left as
    // she is there: reported, exit status 1, also by a dry run.
    let h2 = host(d, "host2")?;
    let t1 = unix_now();
    enroll(&h2.socket, "carol", CAROL, None, t1)?;
    enroll(&c.socket, "carol", CAROL_CENTRAL, None, t1)?;
    let conflict = "copied 0 accounts (0 authenticators, 0 recovery codes, 0 phones, 0 push targets); 0 already there; 1 conflict: carol (already enrolled centrally with a different secret; left as it is)";
    let (status, report, _) = migrate(d, &cfg, &h2.state_dir, &["--dry-run"])?;
    ensure!(status == 1, "{report}");
    ensure!(
        report == conflict.replacen("copied", "would copy", 1),
        "{report}"
    );
    let (status, report, audit) = migrate(d, &cfg, &h2.state_dir, &[])?;
    ensure!(status == 1, "{report}\n{audit}");
    ensure!(report == conflict, "{report}");
    ensure!(audit.contains("outcome=conflict"), "{audit}");
    let run = once.login("carol", &[&code(CAROL, t1 + 30)?])?;
    ensure!(
        run.rc == rc::AUTH_ERR,
        "the host's secret: {}",
        run.transcript
    );
    let run = once.login("carol", &[&code(CAROL_CENTRAL, t1 + 30)?])?;
    ensure!(
        run.rc == rc::SUCCESS,
        "the central secret: {}",
        run.transcript
    );

    // Pointed at a SQLite configuration, migrate refuses.
    std::fs::write(d.join("sqlite.toml"), "")?;
    let sqlite_cfg = d.join("sqlite.toml").display().to_string();
    let (status, _, err) = migrate(d, &sqlite_cfg, &h2.state_dir, &[])?;
    ensure!(
        status != 0 && err.contains("backend = \"postgres\""),
        "{status} {err}"
    );
    drop(h2);
    let (status, log) = c.stop()?;
    ensure!(status == 0, "{log}");
    Ok(())
}
