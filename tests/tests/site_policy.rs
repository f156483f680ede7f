//! Site policy through the real binaries: mfad started with a config that
//! exempts a group, a trusted network and a service, and makes another
//! service optional. Every exemption answers PAM_IGNORE (a login only when
//! the rest of the stack says so, never by itself), shows no prompt, and
//! leaves an audit line with its reason. Needs root (real local users).

use anyhow::Result;
use mfa_tests::{import_secret, rc, LocalUsers, MfadProcess, Stack};
use std::os::unix::fs::PermissionsExt;

const PERMIT: &[&str] = &["auth required pam_permit.so"];
const CONFIG: &str = r#"
[policy]
exempt_groups = ["nogroup"]
trusted_networks = ["192.0.2.0/24", "2001:db8::/32"]

[policy.services]
cron = "exempt"
login = "optional"
sshd = "required"
"#;

#[test]
fn exemptions_answer_pam_ignore_without_a_prompt_and_are_audited() -> Result<()> {
    // In group nogroup, never enrolled.
    let _users = LocalUsers::create(41010, 1)?;
    let dir = tempfile::tempdir()?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    let config = dir.path().join("mfad.toml");
    std::fs::write(&config, CONFIG)?;
    let cfg = config.to_string_lossy().into_owned();
    let m = MfadProcess::spawn(
        &dir.path().join("mfad.sock"),
        &dir.path().join("state"),
        &["--config", &cfg],
    )?;
    import_secret(&m.socket, "ann", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")?;
    let with_permit = Stack::new(&m.socket, "tries=1", PERMIT)?;
    let alone = Stack::new(&m.socket, "tries=1", &[])?;
    let asked = |t: &str| t.contains("[echo-off]");

    // An exempt group's member, never enrolled.
    let run = with_permit.login("mfa-t41010", &[])?;
    assert_eq!(run.rc, rc::SUCCESS, "{}", run.transcript);
    assert!(!asked(&run.transcript), "{}", run.transcript);
    let run = alone.login("mfa-t41010", &[])?;
    assert_ne!(run.rc, rc::SUCCESS, "PAM_IGNORE alone grants nothing");

    // A trusted network, in IPv4 (also as a mapped IPv6 address) and IPv6.
    for rhost in ["192.0.2.9", "::ffff:192.0.2.10", "2001:db8:4::1"] {
        let run = with_permit.login_as("ann", &[], Some(rhost), &[])?;
        assert_eq!(run.rc, rc::SUCCESS, "{rhost}: {}", run.transcript);
        assert!(!asked(&run.transcript), "{rhost}: {}", run.transcript);
    }
    // Another network is asked.
    let run = with_permit.login_as("ann", &["000000"], Some("198.51.100.7"), &[])?;
    assert_eq!(run.rc, rc::AUTH_ERR, "{}", run.transcript);
    assert!(asked(&run.transcript), "{}", run.transcript);

    // Per service: cron exempt; login optional (the unenrolled pass, the
    // enrolled are asked); an unlisted service is required.
    let cron = Stack::new(&m.socket, "tries=1", PERMIT)?.with_service("cron")?;
    let run = cron.login("ann", &[])?;
    assert_eq!(run.rc, rc::SUCCESS, "{}", run.transcript);
    assert!(!asked(&run.transcript), "{}", run.transcript);
    let login = Stack::new(&m.socket, "tries=1", PERMIT)?.with_service("login")?;
    let run = login.login("never-enrolled", &[])?;
    assert_eq!(run.rc, rc::SUCCESS, "{}", run.transcript);
    let run = login.login("ann", &["000000"])?;
    assert_eq!(run.rc, rc::AUTH_ERR, "{}", run.transcript);
    assert!(asked(&run.transcript), "{}", run.transcript);
    let run = with_permit.login("never-enrolled", &[])?;
    assert_eq!(run.rc, rc::AUTH_ERR, "{}", run.transcript);

    let (_, log) = m.stop()?;
    let has = |user: &str, what: &str| {
        log.lines().any(|l| {
            l.contains("audit challenge")
                && l.contains(&format!("user={user:?}"))
                && l.contains(what)
        })
    };
    for (user, what) in [
        ("mfa-t41010", "outcome=exempt reason=exempt_group=\"nogroup\""),
        ("ann", "rhost=\"192.0.2.9\" tty=\"\" outcome=exempt reason=trusted_network=\"192.0.2.0/24\""),
        ("ann", "rhost=\"2001:db8:4::1\" tty=\"\" outcome=exempt reason=trusted_network=\"2001:db8::/32\""),
        ("ann", "service=\"cron\" rhost=\"\" tty=\"\" outcome=exempt reason=service=\"cron\""),
        ("never-enrolled", "outcome=exempt reason=not_enrolled optional_service=\"login\""),
        ("never-enrolled", "service=\"mfa-test\" rhost=\"\" tty=\"\" outcome=not_enrolled"),
    ] {
        assert!(has(user, what), "no audit line for {user} with {what}:\n{log}");
    }
    Ok(())
}
