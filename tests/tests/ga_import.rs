//! Leaving google-authenticator-libpam: files written by Debian's own
//! `google-authenticator` command, imported with the real `mfa import`,
//! then logins through real libpam and the built pam_mfa.so with codes
//! from Debian's `oathtool`. TOTP files with and without reuse and rate
//! limits, a 60 s one, scratch codes as single-use recovery codes, an
//! HOTP file refused with nothing stored, an enrolled account kept
//! unless --force, and `--all` over real accounts with real homes.
//! Root only (mfa import is; CI runs as root).

use anyhow::{ensure, Result};
use mfa_tests::{
    google_authenticator, mfa_cli, oathtool_step, rc, require_root, Daemon, LocalUsers, Stack,
};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn import(d: &Daemon, file: &Path, user: &str, extra: &[&str]) -> Result<(i32, String)> {
    let file = file.display().to_string();
    let mut args = vec!["import", "--google-authenticator", &file, "--user", user];
    args.extend_from_slice(extra);
    let (code, out, err) = mfa_cli(&d.socket, &args, "")?;
    Ok((code, format!("{out}{err}")))
}

#[test]
fn totp_files_log_in_with_their_codes_and_report_what_was_not_imported() -> Result<()> {
    require_root()?;
    let d = Daemon::start()?;
    let dir = tempfile::tempdir()?;
    let strict = google_authenticator(
        &dir.path().join("ann"),
        &["-t", "-d", "-r", "3", "-R", "30", "-w", "3"],
    )?;
    let lax = google_authenticator(&dir.path().join("bob"), &["-t", "-D", "-u", "-w", "17"])?;
    let slow = google_authenticator(
        &dir.path().join("cat"),
        &["-t", "-d", "-u", "-W", "-S", "60"],
    )?;

    let (code, out) = import(&d, &strict.path, "ann", &[])?;
    ensure!(code == 0, "{out}");
    for line in [
        "ann: imported the TOTP secret (SHA1, 6 digits, 30 s steps)",
        "5 scratch codes imported as recovery codes, each valid once",
        "WINDOW_SIZE 3 not imported: this site accepts ±1 step ([totp] skew in mfad.toml), the same window",
        "RATE_LIMIT 3 30 not imported",
        "DISALLOW_REUSE not imported: mfad always refuses a code that was used once",
    ] {
        ensure!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    // A file root names may be a copy anyone could read: imported, with
    // a warning.
    std::fs::set_permissions(&lax.path, std::fs::Permissions::from_mode(0o644))?;
    let (code, out) = import(&d, &lax.path, "bob", &[])?;
    ensure!(code == 0, "{out}");
    ensure!(out.contains("is open to others (mode 0644)"), "{out}");
    ensure!(
        out.contains("WINDOW_SIZE 17 not imported: this site accepts ±1 step ([totp] skew"),
        "{out}"
    );
    ensure!(
        out.contains("reuse was allowed (no DISALLOW_REUSE)"),
        "{out}"
    );
    ensure!(!out.contains("RATE_LIMIT"), "{out}");
    let (code, out) = import(&d, &slow.path, "cat", &[])?;
    ensure!(code == 0 && out.contains("6 digits, 60 s steps"), "{out}");
    let (_, out, _) = mfa_cli(&d.socket, &["status", "--user", "cat"], "")?;
    ensure!(
        out.contains("cat: enrolled (TOTP SHA1, 6 digits, 60 s steps), 5 recovery codes left"),
        "{out}"
    );

    let stack = Stack::new(&d.socket, "tries=1", &[])?;
    for (user, s) in [("ann", &strict), ("bob", &lax)] {
        let totp = oathtool_step(&s.secret, d.now(), 30)?;
        let run = stack.login(user, &[&totp])?;
        ensure!(run.rc == rc::SUCCESS, "{user}: {}", run.transcript);
    }
    // T0 is 30 s into a 60 s step: 20 s later it is the same step, so its
    // code is spent; the next 60 s step's code logs in.
    let totp = oathtool_step(&slow.secret, d.now(), 60)?;
    ensure!(stack.login("cat", &[&totp])?.rc == rc::SUCCESS);
    d.clock.advance(20);
    let same = oathtool_step(&slow.secret, d.now(), 60)?;
    // The reason is in the next prompt, so this stack asks twice.
    let again = Stack::new(&d.socket, "tries=2", &[])?.login("cat", &[&same, &same])?;
    ensure!(
        again.rc == rc::AUTH_ERR && again.transcript.contains("already used"),
        "{}",
        again.transcript
    );
    d.clock.advance(60);
    let next = stack.login("cat", &[&oathtool_step(&slow.secret, d.now(), 60)?])?;
    ensure!(next.rc == rc::SUCCESS, "{}", next.transcript);

    // A scratch code is a recovery code at the normal prompt, once.
    let scratch = &strict.scratch[0];
    let run = stack.login("ann", &[scratch])?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);
    ensure!(
        run.transcript.contains("Recovery code accepted; 4 left"),
        "{}",
        run.transcript
    );
    let twice = stack.login("ann", &[scratch])?;
    ensure!(twice.rc == rc::AUTH_ERR, "{}", twice.transcript);
    Ok(())
}

#[test]
fn an_hotp_file_is_refused_and_nothing_is_stored() -> Result<()> {
    require_root()?;
    let d = Daemon::start()?;
    let dir = tempfile::tempdir()?;
    let hotp = google_authenticator(&dir.path().join("dan"), &["-c", "-u", "-w", "3"])?;
    let (code, out) = import(&d, &hotp.path, "dan", &[])?;
    ensure!(code == 2, "{code}: {out}");
    ensure!(
        out.contains(
            "dan: refused: HOTP_COUNTER 1: counter-based (HOTP) codes are not supported here"
        ),
        "{out}"
    );
    let (code, out, _) = mfa_cli(&d.socket, &["status", "--user", "dan"], "")?;
    ensure!(
        code == 1 && out.contains("dan: not enrolled"),
        "{code}: {out}"
    );
    Ok(())
}

#[test]
fn an_enrolled_account_is_kept_unless_forced() -> Result<()> {
    require_root()?;
    let d = Daemon::start()?;
    let dir = tempfile::tempdir()?;
    let first = google_authenticator(&dir.path().join("a"), &["-t", "-d", "-u", "-w", "3"])?;
    let second = google_authenticator(&dir.path().join("b"), &["-t", "-d", "-u", "-w", "3"])?;
    ensure!(import(&d, &first.path, "eve", &[])?.0 == 0);
    let (code, out) = import(&d, &second.path, "eve", &[])?;
    ensure!(code == 1, "{code}: {out}");
    ensure!(
        out.contains("eve: skipped: already enrolled in mfad (give --force to replace it)"),
        "{out}"
    );
    let stack = Stack::new(&d.socket, "tries=1", &[])?;
    let kept = stack.login("eve", &[&oathtool_step(&second.secret, d.now(), 30)?])?;
    ensure!(kept.rc == rc::AUTH_ERR, "{}", kept.transcript);
    d.next_step();
    let kept = stack.login("eve", &[&oathtool_step(&first.secret, d.now(), 30)?])?;
    ensure!(kept.rc == rc::SUCCESS, "{}", kept.transcript);

    let (code, out) = import(&d, &second.path, "eve", &["--force"])?;
    ensure!(code == 0, "{out}");
    ensure!(
        out.contains("replaced the enrollment eve had (--force)"),
        "{out}"
    );
    d.next_step();
    let old = stack.login("eve", &[&oathtool_step(&first.secret, d.now(), 30)?])?;
    ensure!(old.rc == rc::AUTH_ERR, "{}", old.transcript);
    let new = stack.login("eve", &[&oathtool_step(&second.secret, d.now(), 30)?])?;
    ensure!(new.rc == rc::SUCCESS, "{}", new.transcript);
    let old_scratch = stack.login("eve", &[&first.scratch[0]])?;
    ensure!(old_scratch.rc == rc::AUTH_ERR, "{}", old_scratch.transcript);
    Ok(())
}

#[test]
fn all_imports_each_accounts_home_file_and_refuses_the_unsafe_ones() -> Result<()> {
    require_root()?;
    let d = Daemon::start()?;
    let homes = tempfile::tempdir()?;
    let users = LocalUsers::with_homes(40050, 6, homes.path())?;
    let [good, hotp, open, link, none, kept] = users.names() else {
        anyhow::bail!("six users expected");
    };
    let home = |u: &str| homes.path().join(u).join(".google_authenticator");
    let chown = |u: &str| -> Result<()> {
        let st = std::process::Command::new("chown")
            .arg(format!("{u}:nogroup"))
            .arg(home(u))
            .status()?;
        ensure!(st.success(), "chown {u}");
        Ok(())
    };
    let totp = google_authenticator(&home(good), &["-t", "-d", "-u", "-w", "3"])?;
    chown(good)?;
    google_authenticator(&home(hotp), &["-c", "-u", "-w", "3"])?;
    chown(hotp)?;
    google_authenticator(&home(open), &["-t", "-d", "-u", "-w", "3"])?;
    chown(open)?;
    std::fs::set_permissions(home(open), std::fs::Permissions::from_mode(0o644))?;
    // A user's file pointing at another's: not followed.
    std::os::unix::fs::symlink(home(good), home(link))?;
    // Enrolled already: left alone.
    let first = google_authenticator(&home(kept), &["-t", "-d", "-u", "-w", "3"])?;
    chown(kept)?;
    ensure!(import(&d, &first.path, kept, &[])?.0 == 0);

    // Replacing enrollments from files their users control: not at all.
    let all = ["import", "--google-authenticator", "--all"];
    let (code, _, err) = mfa_cli(&d.socket, &[&all[..], &["--force"]].concat(), "")?;
    ensure!(
        code == 2 && err.contains("--force is not taken with --all"),
        "{err}"
    );
    let (code, out, err) = mfa_cli(&d.socket, &all, "")?;
    ensure!(code == 2, "{code}: {out}{err}");
    ensure!(
        out.contains(&format!("{good}: imported the TOTP secret")),
        "{out}"
    );
    ensure!(
        out.contains(&format!("{hotp}: refused: HOTP_COUNTER")),
        "{out}"
    );
    ensure!(
        out.contains(&format!("{open}: refused: "))
            && out.contains("mode 0644: others could read it"),
        "{out}"
    );
    ensure!(out.contains(&format!("{link}: refused: ")), "{out}");
    ensure!(!out.contains(&format!("{none}:")), "{out}");
    let skipped = format!("{kept}: skipped: already enrolled in mfad (mfa import --google-authenticator FILE --user {kept} --force to replace it)");
    ensure!(out.contains(&skipped), "{out}");
    ensure!(
        out.contains(" refused; ") && out.contains("have no ~/.google_authenticator"),
        "{out}"
    );
    for (user, want) in [(good, 0), (hotp, 1), (open, 1), (link, 1)] {
        let (code, _, _) = mfa_cli(&d.socket, &["status", "--user", user], "")?;
        ensure!(code == want, "{user}: status exit {code}");
    }
    let stack = Stack::new(&d.socket, "tries=1", &[])?;
    let run = stack.login(good, &[&oathtool_step(&totp.secret, d.now(), 30)?])?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);
    Ok(())
}

#[test]
fn a_secret_imported_with_mfa_enroll_may_have_60_second_steps() -> Result<()> {
    require_root()?;
    let d = Daemon::start()?;
    let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let enroll = |period: &str, code: &str| {
        let args = [
            "enroll",
            "--user",
            "fay",
            "--secret",
            "-",
            "--period",
            period,
            "--confirm",
            code,
        ];
        mfa_cli(&d.socket, &args, &format!("{secret}\n"))
    };
    let (code, _, err) = enroll("10", "000000")?;
    ensure!(
        code == 2 && err.contains("15 to 120 seconds, not 10"),
        "{code}: {err}"
    );
    let (code, out, err) = enroll("60", &oathtool_step(secret, d.now(), 60)?)?;
    ensure!(code == 0, "{out}{err}");
    d.clock.advance(60);
    let stack = Stack::new(&d.socket, "tries=1", &[])?;
    let run = stack.login("fay", &[&oathtool_step(secret, d.now(), 60)?])?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);
    Ok(())
}
