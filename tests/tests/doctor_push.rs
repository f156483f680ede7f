//! `mfa doctor` on push approval: off, a gateway account that exists, and
//! the two mistakes that would break or weaken it (a missing account,
//! root as the gateway).

use anyhow::{ensure, Result};
use mfa_tests::{mfa_cli, Daemon};

fn push_line(d: &Daemon, gateway_user: Option<&str>) -> Result<String> {
    let cfg = d.dir.path().join("doctor.toml");
    let text = match gateway_user {
        Some(u) => format!("[push]\ngateway_user = {u:?}\n"),
        None => String::new(),
    };
    std::fs::write(&cfg, text)?;
    let cfg = cfg.display().to_string();
    let (_, out, _) = mfa_cli(&d.socket, &["doctor", "--config", &cfg], "")?;
    Ok(out
        .lines()
        .skip_while(|l| !l.contains(" push: "))
        .take(2)
        .collect::<Vec<_>>()
        .join("\n"))
}

#[test]
fn doctor_checks_the_push_gateway_account() -> Result<()> {
    let d = Daemon::start()?;
    let off = push_line(&d, None)?;
    ensure!(off.starts_with("OK   push: off"), "{off}");
    let ok = push_line(&d, Some("nobody"))?;
    ensure!(ok.starts_with("OK   push: gateway user nobody"), "{ok}");
    let missing = push_line(&d, Some("no-such-gateway-xyz"))?;
    ensure!(
        missing.starts_with("FAIL push:") && missing.contains("does not exist"),
        "{missing}"
    );
    let root = push_line(&d, Some("root"))?;
    ensure!(
        root.starts_with("FAIL push:") && root.contains("is root"),
        "{root}"
    );
    Ok(())
}
