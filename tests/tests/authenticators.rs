//! Several authenticators through the real CLI, run as the student's own
//! uid (so mfad asks for proof of a current code), and logins through
//! real libpam: a second authenticator added with `mfa enroll --name`
//! logs in beside the first, removing it leaves the first, and the last
//! one cannot be removed; and on a terminal the CLI asks for the current
//! code itself. Needs root (useradd, setpriv); CI runs as root.

use anyhow::{bail, ensure, Context, Result};
use mfa_tests::{artifact, oathtool, rc, Daemon, LocalUsers, Stack};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

/// `mfa` as `user`, from a copy `user` can run (the build tree may sit
/// under a 0700 home directory).
fn mfa_as(d: &Daemon, user: &str, args: &[&str]) -> Result<Command> {
    let mfa = d.dir.path().join("mfa");
    if !mfa.exists() {
        std::fs::copy(artifact("mfa")?, &mfa).context("copy mfa")?;
    }
    let mut cmd = Command::new("setpriv");
    cmd.args([
        &format!("--reuid={user}"),
        "--regid=nogroup",
        "--clear-groups",
    ])
    .arg(mfa)
    .arg("--socket")
    .arg(&d.socket)
    .args(args);
    Ok(cmd)
}

fn run(mut cmd: Command) -> Result<(i32, String, String)> {
    let out = cmd.output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// `mfa enroll --name NAME [--current-code CURRENT]` as `user`, typing
/// the code oathtool computes from the secret the command shows: whether
/// it succeeded, what it said, and the secret.
fn enroll_beside(
    d: &Daemon,
    user: &str,
    name: &str,
    current: Option<&str>,
) -> Result<(bool, String, String)> {
    let mut args = vec!["enroll", "--name", name];
    if let Some(c) = current {
        args.extend(["--current-code", c]);
    }
    let mut cmd = mfa_as(d, user, &args)?;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut shown = String::new();
    let secret = loop {
        let Some(line) = lines.next() else {
            bail!("no secret shown: {shown}");
        };
        let line = line?;
        shown.push_str(&line);
        shown.push('\n');
        if let Some(s) = line.trim().strip_prefix("Secret:") {
            break s.split_whitespace().collect::<String>();
        }
    };
    let code = oathtool(&secret, d.now(), "SHA1", 6)?;
    writeln!(child.stdin.take().context("stdin")?, "{code}")?;
    for line in lines {
        shown.push_str(&line?);
        shown.push('\n');
    }
    let out = child.wait_with_output()?;
    shown.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok((out.status.success(), shown, secret))
}

#[test]
fn a_second_authenticator_logs_in_and_removing_it_leaves_the_first() -> Result<()> {
    let _users = LocalUsers::create(41030, 1)?;
    let user = "mfa-t41030";
    let d = Daemon::start()?;
    let first = d.enroll(user)?;
    d.next_step();

    // Without a current code, nothing is added.
    let (ok, shown, _) = enroll_beside(&d, user, "laptop", None)?;
    ensure!(!ok && shown.contains("give a current code"), "{shown}");
    let (ok, shown, laptop) = enroll_beside(&d, user, "laptop", Some(&d.code(&first)?))?;
    ensure!(
        ok && shown.contains("Added the authenticator \"laptop\""),
        "{shown}"
    );
    ensure!(laptop != first.secret, "the same secret twice");

    let stack = Stack::new(&d.socket, "tries=1", &[])?;
    d.next_step();
    let with_laptop = oathtool(&laptop, d.now(), "SHA1", 6)?;
    let run_login = stack.login(user, &[&with_laptop])?;
    ensure!(run_login.rc == rc::SUCCESS, "{}", run_login.transcript);
    // The first one still works; each spends only its own step.
    let run_login = stack.login(user, &[&d.code(&first)?])?;
    ensure!(run_login.rc == rc::SUCCESS, "{}", run_login.transcript);

    let (code, out, err) = run(mfa_as(&d, user, &["methods", "--json"])?)?;
    ensure!(code == 0, "{err}");
    let methods: serde_json::Value = serde_json::from_str(&out)?;
    let totp: Vec<(&str, bool)> = methods
        .as_array()
        .context("an array")?
        .iter()
        .filter(|m| m["kind"] == "totp")
        .map(|m| (m["label"].as_str().unwrap_or(""), m["default"] == true))
        .collect();
    ensure!(
        totp == [("authenticator app", true), ("laptop", false)],
        "{out}"
    );
    ensure!(
        !out.contains(&laptop) && !out.contains(&first.secret),
        "a secret in {out}"
    );

    let (code, out, err) = run(mfa_as(&d, user, &["methods", "remove", "laptop"])?)?;
    ensure!(
        code == 0 && out.contains("removed \"laptop\""),
        "{code} {out} {err}"
    );
    d.next_step();
    let gone = stack.login(user, &[&oathtool(&laptop, d.now(), "SHA1", 6)?])?;
    ensure!(
        gone.rc == rc::AUTH_ERR,
        "a removed authenticator: {}",
        gone.transcript
    );
    d.next_step();
    let kept = stack.login(user, &[&d.code(&first)?])?;
    ensure!(kept.rc == rc::SUCCESS, "{}", kept.transcript);

    // The last way in stays, and the message says what to do instead.
    let (code, _, err) = run(mfa_as(
        &d,
        user,
        &["methods", "remove", "authenticator app"],
    )?)?;
    ensure!(
        code == 2 && err.contains("last way") && err.contains("add another method first"),
        "{code} {err}"
    );
    let (code, out, err) = run(mfa_as(
        &d,
        user,
        &["methods", "rename", "authenticator app", "phone"],
    )?)?;
    ensure!(code == 0, "{out} {err}");
    d.next_step();
    let still = stack.login(user, &[&d.code(&first)?])?;
    ensure!(still.rc == rc::SUCCESS, "{}", still.transcript);
    Ok(())
}

#[test]
fn on_a_terminal_the_cli_asks_for_the_current_code_once() -> Result<()> {
    let _users = LocalUsers::create(41031, 1)?;
    let user = "mfa-t41031";
    let d = Daemon::start()?;
    let first = d.enroll(user)?;
    d.next_step();
    // `script` gives the command a terminal; the code typed is read only
    // when the command asks for it.
    let inner = mfa_as(&d, user, &["recovery-codes"])?;
    let line = std::iter::once(inner.get_program())
        .chain(inner.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    writeln!(child.stdin.take().context("stdin")?, "{}", d.code(&first)?)?;
    let out = child.wait_with_output()?;
    let shown = String::from_utf8_lossy(&out.stdout);
    ensure!(out.status.success(), "{shown}");
    ensure!(
        shown.contains("Code from your current authenticator (or a recovery code): ")
            && shown.contains("the old ones no longer work"),
        "{shown}"
    );
    Ok(())
}
