//! `mfa doctor` on where pam_mfa sits: after Debian's own common-auth
//! (the pam-auth-update profile's place) a wrong password never reaches
//! it; a stack where it does is a failure once enrollment at login is on,
//! since whoever typed the wrong password would get the enrollment screen.

use anyhow::{ensure, Result};
use mfa_tests::{mfa_cli, Daemon};

/// The doctor's lines for the PAM stacks in `dir` under `config`, and
/// its exit code.
fn doctor(d: &Daemon, dir: &std::path::Path, config: &str) -> Result<(i32, String)> {
    let cfg = d.dir.path().join("doctor.toml");
    std::fs::write(&cfg, config)?;
    let (cfg, pam) = (cfg.display().to_string(), dir.display().to_string());
    let args = [
        "doctor",
        "--config",
        &cfg,
        "--pam-dir",
        &pam,
        "--sshd",
        "/nonexistent/sshd",
    ];
    let (code, out, _) = mfa_cli(&d.socket, &args, "")?;
    let pam_lines = out
        .lines()
        .filter(|l| l.contains(" pam ") || l.starts_with("     fix:"))
        .collect::<Vec<_>>()
        .join("\n");
    Ok((code, pam_lines))
}

#[test]
fn doctor_tells_a_safe_placement_from_one_a_wrong_password_reaches() -> Result<()> {
    let d = Daemon::start()?;
    let pam = tempfile::tempdir()?;
    // Debian's common-auth as this machine has it, with the profile's
    // line where pam-auth-update puts an Additional module: at the end.
    let mut common = std::fs::read_to_string("/etc/pam.d/common-auth")?;
    ensure!(
        common.contains("pam_unix.so"),
        "unexpected common-auth:\n{common}"
    );
    common.push_str("auth\trequired\t\t\tpam_mfa.so\n");
    std::fs::write(pam.path().join("common-auth"), common)?;
    std::fs::write(pam.path().join("sshd"), "@include common-auth\n")?;
    std::fs::write(
        pam.path().join("login"),
        "auth required pam_unix.so\nauth required pam_mfa.so\n",
    )?;
    let required = "[enrollment]\nmode = \"required\"\n";

    let (code, out) = doctor(&d, pam.path(), required)?;
    ensure!(code == 1, "an unsafe stack fails the doctor: {out}");
    ensure!(
        out.lines()
            .any(|l| l.starts_with("OK   pam sshd: common-auth:")
                && l.ends_with("pam_mfa.so after the primary factor")),
        "{out}"
    );
    ensure!(
        out.lines().any(
            |l| l.starts_with("FAIL pam login: login:2: auth required pam_mfa.so")
                && l.contains("reached even when the password is wrong")
                && l.contains("enrollment screen")
        ),
        "{out}"
    );

    // With enrollment at login off the same stack is only a warning.
    let (_, out) = doctor(&d, pam.path(), "")?;
    ensure!(
        out.lines()
            .any(|l| l.starts_with("WARN pam login:") && l.contains("harmless while")),
        "{out}"
    );
    Ok(())
}
