//! `mfa recovery-codes` through the real CLI and a login through real
//! libpam: the new set logs in once per code, the old set no longer does,
//! and the authenticator keeps working.

use anyhow::{ensure, Result};
use mfa_tests::{mfa_cli, rc, Daemon, Stack};

#[test]
fn mfa_recovery_codes_replaces_the_set_for_real_logins() -> Result<()> {
    let d = Daemon::start()?;
    let e = d.enroll("ann")?;
    let (code, out, err) = mfa_cli(&d.socket, &["recovery-codes", "--user", "ann"], "")?;
    ensure!(code == 0, "{err}");
    ensure!(out.contains("the old ones no longer work"), "{out}");
    let fresh: Vec<String> = out
        .lines()
        .filter_map(|l| l.strip_prefix("    "))
        .map(str::to_string)
        .collect();
    ensure!(fresh.len() == 10, "{out}");
    let stack = Stack::new(&d.socket, "", &[])?;
    let old = stack.login("ann", &[&e.recovery[0]])?;
    ensure!(
        old.rc != rc::SUCCESS && old.transcript.contains("Wrong code"),
        "an old recovery code logged in: {}",
        old.transcript
    );
    let new = stack.login("ann", &[&fresh[0]])?;
    ensure!(new.rc == rc::SUCCESS, "{}", new.transcript);
    ensure!(
        new.transcript.contains("Recovery code accepted; 9 left"),
        "{}",
        new.transcript
    );
    d.next_step();
    let totp = d.code(&e)?;
    ensure!(stack.login("ann", &[&totp])?.rc == rc::SUCCESS);
    // Not enrolled: exit 1 with the reason.
    let (code, _, err) = mfa_cli(&d.socket, &["recovery-codes", "--user", "bob"], "")?;
    ensure!(code == 1 && err.contains("not enrolled"), "{code} {err}");
    Ok(())
}
