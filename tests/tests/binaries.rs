//! The shipped binaries as a sysadmin runs them: `mfad` as a process with
//! its command-line contract, and `mfa` with its exit codes and output.

use anyhow::{bail, Context, Result};
use mfa_tests::{
    artifact, decode_terminal_qr, mfa_cli as mfa, oathtool, rc, unix_now, MfadProcess, Stack,
};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A real mfad process in a scratch folder.
struct Mfad {
    dir: tempfile::TempDir,
    socket: PathBuf,
    process: MfadProcess,
}

impl Mfad {
    fn start(extra: &[&str]) -> Result<Mfad> {
        let dir = tempfile::tempdir()?;
        let socket = dir.path().join("mfad.sock");
        let process = MfadProcess::spawn(&socket, &dir.path().join("state"), extra)?;
        Ok(Mfad {
            dir,
            socket,
            process,
        })
    }

    fn mfa(&self, args: &[&str], stdin: &str) -> Result<(i32, String, String)> {
        mfa(&self.socket, args, stdin)
    }

    fn stop(self) -> Result<(i32, String)> {
        self.process.stop()
    }
}

/// The secret printed by an interactive enrollment.
fn printed_secret(out: &str) -> Option<String> {
    out.lines().find_map(|l| {
        l.trim()
            .strip_prefix("Secret: ")
            .map(|s| s.trim().to_string())
    })
}

#[test]
fn interactive_enroll_shows_qr_uri_and_secret_then_saves_after_a_correct_code() -> Result<()> {
    let m = Mfad::start(&[])?;
    // The enrollment reads the code from stdin: drive it like a person
    // who reads the secret off the screen and types the app's code.
    let mut child = Command::new(artifact("mfa")?)
        .arg("--socket")
        .arg(&m.socket)
        .args(["enroll", "--user", "erin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdout = BufReader::new(child.stdout.take().context("stdout")?);
    let mut seen = String::new();
    let mut secret = None;
    while secret.is_none() {
        let mut line = String::new();
        if stdout.read_line(&mut line)? == 0 {
            bail!("mfa ended before showing the secret: {seen}");
        }
        secret = printed_secret(&line);
        seen.push_str(&line);
    }
    let secret = secret.context("secret")?;
    let code = oathtool(&secret, unix_now(), "SHA1", 6)?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(format!("{code}\n").as_bytes())?;
    stdout.read_to_string(&mut seen)?;
    let status = child.wait()?;
    assert!(status.success(), "{seen}");
    assert!(
        seen.contains('█') || seen.contains('▀'),
        "a QR code is drawn: {seen}"
    );
    // On a terminal the Enter after the code ends the prompt's line.
    let screen = seen.replace("to confirm: ", "to confirm: \n");
    let wide: Vec<&str> = screen.lines().filter(|l| l.chars().count() > 80).collect();
    assert!(wide.is_empty(), "lines over 80 columns: {wide:?}");
    // The URI is shown in pieces under its heading, to be joined.
    let uri: String = seen
        .lines()
        .skip_while(|l| !l.contains("URI, in pieces to join into one line:"))
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .map(str::trim)
        .collect();
    assert!(uri.starts_with("otpauth://totp/pam_mfa:erin%40"), "{seen}");
    assert_eq!(
        decode_terminal_qr(&seen, m.dir.path())?,
        uri.as_str(),
        "the QR code encodes the URI"
    );
    assert!(seen.contains("issuer=pam_mfa"), "{seen}");
    let codes: Vec<&str> = seen
        .lines()
        .map(str::trim)
        .filter(|l| l.len() == 14 && l.chars().filter(|c| *c == '-').count() == 2)
        .collect();
    assert_eq!(codes.len(), 10, "ten recovery codes are printed: {seen}");

    let (code, out, _) = m.mfa(&["status", "--user", "erin"], "")?;
    assert_eq!(code, 0);
    assert!(
        out.contains("erin: enrolled (TOTP SHA1, 6 digits), 10 recovery codes left"),
        "{out}"
    );
    // A recovery code printed by the CLI logs in through PAM.
    let stack = Stack::new(&m.socket, "tries=1", &[])?;
    let run = stack.login("erin", &[codes[0]])?;
    assert_eq!(run.rc, rc::SUCCESS, "{}", run.transcript);
    Ok(())
}

#[test]
fn a_wrong_confirmation_code_saves_nothing() -> Result<()> {
    let m = Mfad::start(&[])?;
    let (code, _, err) = m.mfa(&["enroll", "--user", "fay"], "000000\n")?;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("wrong code: nothing was saved"), "{err}");
    let (code, out, _) = m.mfa(&["status", "--user", "fay"], "")?;
    assert_eq!(code, 1);
    assert!(out.contains("fay: not enrolled"));
    Ok(())
}

#[test]
fn status_remove_unlock_and_json_follow_the_exit_code_contract() -> Result<()> {
    let m = Mfad::start(&[])?;
    let secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    let code = oathtool(secret, unix_now(), "SHA1", 6)?;
    // The secret comes from stdin ("-"), out of sight of ps.
    let (rc_, out, err) = m.mfa(
        &[
            "enroll",
            "--user",
            "gus",
            "--secret",
            "-",
            "--confirm",
            &code,
        ],
        &format!("{secret}\n"),
    )?;
    assert_eq!(rc_, 0, "{out}{err}");
    assert!(
        !out.contains(secret),
        "an imported secret is not echoed back"
    );

    let (rc_, out, _) = m.mfa(&["status", "--user", "gus", "--json"], "")?;
    assert_eq!(rc_, 0);
    let v: serde_json::Value = serde_json::from_str(&out)?;
    assert_eq!(v["enrolled"], true);
    assert_eq!(v["recovery_codes_left"], 10);
    assert_eq!(v["algorithm"], "SHA1");

    assert_eq!(m.mfa(&["unlock", "--user", "gus"], "")?.0, 0);
    let (rc_, out, _) = m.mfa(&["remove", "--user", "gus"], "")?;
    assert_eq!(rc_, 0);
    assert!(out.contains("gus: enrollment removed"));
    assert_eq!(m.mfa(&["status", "--user", "gus"], "")?.0, 1);
    let (rc_, _, err) = m.mfa(&["remove", "--user", "gus"], "")?;
    assert_eq!(rc_, 1);
    assert!(err.contains("not enrolled"));

    // MFA_SOCKET is the default socket.
    let out = Command::new(artifact("mfa")?)
        .env("MFA_SOCKET", &m.socket)
        .args(["status", "--user", "gus"])
        .output()?;
    assert_eq!(out.status.code(), Some(1));
    Ok(())
}

#[test]
fn an_unreachable_daemon_is_an_error_not_a_no() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (code, _, err) = mfa(
        &dir.path().join("none.sock"),
        &["status", "--user", "x"],
        "",
    )?;
    assert!(code >= 2, "{code}");
    assert!(err.starts_with("mfa: cannot connect to mfad"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    Ok(())
}

#[test]
fn mfad_stops_cleanly_on_sigterm_and_keeps_state_private_and_secrets_out_of_its_log() -> Result<()>
{
    let m = Mfad::start(&[])?;
    let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let code = oathtool(secret, unix_now(), "SHA1", 6)?;
    assert_eq!(
        m.mfa(
            &[
                "enroll",
                "--user",
                "hal",
                "--secret",
                secret,
                "--confirm",
                &code
            ],
            ""
        )?
        .0,
        0
    );
    let stack = Stack::new(&m.socket, "tries=3", &[])?;
    let run = stack.login("hal", &["99999999", "not-a-code!", "aaaa-bbbb-cccc"])?;
    // The third failure starts a delay: the README's "delayed" row.
    assert_eq!(run.rc, rc::MAXTRIES, "{}", run.transcript);
    assert!(
        run.transcript
            .contains("Wrong code. Too many attempts, try again in 30 s."),
        "{}",
        run.transcript
    );

    let state = m.dir.path().join("state");
    let mode = |p: &Path| -> Result<u32> { Ok(std::fs::metadata(p)?.permissions().mode() & 0o777) };
    assert_eq!(mode(&state)?, 0o700);
    assert_eq!(mode(&state.join("master.key"))?, 0o600);
    assert_eq!(mode(&state.join("mfad.db"))?, 0o600);
    assert_eq!(mode(&m.socket)?, 0o666);
    let db = std::fs::read(state.join("mfad.db"))?;
    assert!(
        !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "secret stored in clear"
    );

    let (status, log) = m.stop()?;
    assert_eq!(status, 0, "{log}");
    assert!(log.contains("audit attempt user=\"hal\""), "{log}");
    assert!(log.contains("outcome=wrong_code"), "{log}");
    for s in [secret, &code, "99999999", "not-a-code!", "aaaa-bbbb-cccc"] {
        assert!(!log.contains(s), "{s} appears in the log: {log}");
    }
    Ok(())
}

#[test]
fn config_errors_name_the_key_and_stop_the_start() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cfg = dir.path().join("mfad.toml");
    std::fs::write(&cfg, "[limits]\nlockout_failure = 5\n")?;
    let out = Command::new(artifact("mfad")?)
        .arg("--socket")
        .arg(dir.path().join("s.sock"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--config")
        .arg(&cfg)
        .output()?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lockout_failure"), "{err}");
    // A missing explicit config file is an error too.
    let out = Command::new(artifact("mfad")?)
        .arg("--config")
        .arg(dir.path().join("absent.toml"))
        .output()?;
    assert!(!out.status.success());
    Ok(())
}

#[test]
fn the_shipped_config_file_is_accepted_as_is() -> Result<()> {
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../mfad/mfad.toml");
    let m = Mfad::start(&["--config", &cfg.to_string_lossy()])?;
    assert_eq!(m.mfa(&["status", "--user", "nobody-yet"], "")?.0, 1);
    Ok(())
}

#[test]
fn list_pages_through_every_enrolled_account_in_order() -> Result<()> {
    let d = mfa_tests::Daemon::start()?;
    // More than one page (200 names), enrolled through the protocol with
    // codes from the daemon's own TOTP code, checked elsewhere against oathtool.
    let mut names: Vec<String> = (0..230).map(|i| format!("student{i:03}")).collect();
    for name in &names {
        let begin = mfa_proto::Request::EnrollBegin {
            user: name.clone(),
            params: Default::default(),
        };
        let secret = match d.call(&begin)? {
            mfa_proto::Response::Enrollment { secret, .. } => secret,
            other => bail!("{other:?}"),
        };
        let bytes = mfad::otp::from_base32(secret.expose()).context("base32")?;
        let params = mfad::otp::Params {
            algorithm: Default::default(),
            digits: 6,
            period: 30,
            skew: 1,
        };
        let code = mfad::otp::build(&bytes, params)?
            .generate(d.now() as u64)
            .to_string();
        let confirm = mfa_proto::Request::EnrollConfirm {
            user: name.clone(),
            code: mfa_proto::Sensitive::new(code),
            current_code: None,
            name: None,
        };
        assert!(matches!(
            d.call(&confirm)?,
            mfa_proto::Response::Enrolled { .. }
        ));
    }
    names.sort();
    let (code, out, err) = mfa(&d.socket, &["list"], "")?;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().collect::<Vec<_>>(), names);
    Ok(())
}
