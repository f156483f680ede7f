//! The help desk through the real CLI and logins through real libpam: a
//! temporary code from `mfa bypass` logs in once; `mfa reset` sends the
//! student back to the enrollment at the next login; `mfa list --json`
//! and `mfa methods --json` show methods and the last login, never a
//! secret; and a login warns when fewer than 3 recovery codes are left.

use anyhow::{ensure, Context, Result};
use mfa_proto::{Request, Response, Sensitive};
use mfa_tests::{mfa_cli, rc, Daemon, LocalUsers, Stack};
use mfad::site_policy::EnrollMode;

#[test]
fn a_bypass_code_logs_in_once() -> Result<()> {
    let d = Daemon::start()?;
    d.enroll("ann")?;
    let (code, out, err) = mfa_cli(
        &d.socket,
        &["bypass", "--user", "ann", "--minutes", "5"],
        "",
    )?;
    ensure!(code == 0, "{err}");
    ensure!(out.contains("valid once, for 5 min"), "{out}");
    let temp = out
        .lines()
        .nth(1)
        .context("no code line")?
        .trim()
        .to_string();
    let stack = Stack::new(&d.socket, "tries=1", &[])?;
    let run = stack.login("ann", &[&temp])?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);
    ensure!(
        run.transcript.contains("Temporary code accepted"),
        "{}",
        run.transcript
    );
    let run = stack.login("ann", &[&temp])?;
    ensure!(run.rc == rc::AUTH_ERR, "used twice: {}", run.transcript);
    let (code, _, err) = mfa_cli(&d.socket, &["bypass", "--user", "bob"], "")?;
    ensure!(code == 1 && err.contains("not enrolled"), "{code} {err}");
    Ok(())
}

#[test]
fn reset_sends_the_student_back_to_the_enrollment_at_the_next_login() -> Result<()> {
    let _users = LocalUsers::create(41020, 1)?;
    let user = "mfa-t41020";
    let d = Daemon::start_with(|c| c.enrollment.mode = EnrollMode::Required)?;
    let e = d.enroll(user)?;
    d.next_step();
    let stack = Stack::new(&d.socket, "tries=1", &[])?;
    let (code, out, err) = mfa_cli(&d.socket, &["reset", "--user", user], "")?;
    ensure!(code == 0, "{err}");
    ensure!(out.contains("every method removed"), "{out}");
    let run = stack.login(user, &[&d.code(&e)?])?;
    ensure!(run.rc != rc::SUCCESS, "{}", run.transcript);
    ensure!(
        run.transcript.contains("More information required"),
        "{}",
        run.transcript
    );
    Ok(())
}

#[test]
fn list_and_methods_in_json_and_the_warning_when_few_recovery_codes_are_left() -> Result<()> {
    let d = Daemon::start()?;
    let e = d.enroll("ann")?;
    // Eight of ten used up.
    for c in &e.recovery[..8] {
        let used = d.call(&Request::Verify {
            user: "ann".into(),
            code: Sensitive::new(c.as_str()),
            context: Default::default(),
        })?;
        ensure!(matches!(used, Response::Verified { .. }), "{used:?}");
    }
    d.next_step();
    let stack = Stack::new(&d.socket, "", &[])?;
    let run = stack.login("ann", &[&d.code(&e)?])?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);
    ensure!(
        run.transcript
            .contains("Only 2 recovery codes left: run 'mfa recovery-codes'"),
        "{}",
        run.transcript
    );

    let (code, out, err) = mfa_cli(&d.socket, &["methods", "--user", "ann", "--json"], "")?;
    ensure!(code == 0, "{err}");
    let methods: serde_json::Value = serde_json::from_str(&out)?;
    let kinds: Vec<&str> = methods
        .as_array()
        .context("an array")?
        .iter()
        .filter_map(|m| m["kind"].as_str())
        .collect();
    ensure!(kinds == ["totp", "recovery"], "{out}");
    ensure!(
        methods[0]["label"].is_string() && methods[1]["left"] == 2,
        "{out}"
    );

    let (code, out, err) = mfa_cli(&d.socket, &["list", "--json"], "")?;
    ensure!(code == 0, "{err}");
    let list: serde_json::Value = serde_json::from_str(&out)?;
    let ann = &list[0];
    ensure!(
        ann["user"] == "ann" && ann["last_login"].as_i64() == Some(d.now()),
        "{out}"
    );
    ensure!(
        ann["methods"].as_array().is_some_and(|m| m.len() == 2),
        "{out}"
    );
    ensure!(!out.contains(&e.secret), "a secret in mfa list: {out}");
    Ok(())
}
