//! What mfad's audit log says about logins that end before a code is
//! checked: an exemption (`nullok` for an unenrolled user, which the module
//! answers PAM_IGNORE) with its reason, and a challenge refused because the
//! account is delayed or locked. Through the real binaries.

use anyhow::Result;
use mfa_tests::{import_secret, rc, require_root, MfadProcess, Stack};

#[test]
fn exemptions_and_challenges_that_end_a_login_are_audited() -> Result<()> {
    require_root()?;
    let dir = tempfile::tempdir()?;
    let m = MfadProcess::spawn(
        &dir.path().join("mfad.sock"),
        &dir.path().join("state"),
        &[],
    )?;
    import_secret(&m.socket, "ann", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")?;
    let lenient = Stack::new(&m.socket, "nullok tries=1", &[])?;
    let run = lenient.login("never-enrolled", &[])?;
    // PAM_IGNORE is 25; alone in the stack libpam turns it into a failure.
    assert_ne!(run.rc, rc::SUCCESS, "{}", run.transcript);
    let strict = Stack::new(&m.socket, "tries=1", &[])?;
    assert_eq!(strict.login("never-enrolled", &[])?.rc, rc::AUTH_ERR);
    // Three wrong codes start a delay; the next login is refused at once.
    for _ in 0..3 {
        strict.login("ann", &["000000"])?;
    }
    assert_eq!(strict.login("ann", &[])?.rc, rc::MAXTRIES);
    let (_, log) = m.stop()?;
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("audit challenge"))
        .collect();
    let has = |user: &str, outcome: &str| {
        lines.iter().any(|l| {
            l.contains(&format!("user={user:?}")) && l.contains(&format!("outcome={outcome}"))
        })
    };
    assert!(
        has("never-enrolled", "exempt reason=nullok_not_enrolled"),
        "{log}"
    );
    assert!(has("never-enrolled", "not_enrolled by_uid=0"), "{log}");
    assert!(has("ann", "rate_limited"), "{log}");
    assert!(
        lines.iter().all(|l| l.contains("service=\"mfa-test\"")),
        "{lines:?}"
    );
    Ok(())
}
