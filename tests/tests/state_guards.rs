//! The state and its key cannot silently part: the real mfad binary
//! refuses to start when the key file is missing or is another key, and
//! starts again once the right key is back.

use anyhow::Result;
use mfa_tests::{artifact, import_secret, MfadProcess};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// Start mfad and return its exit code and log if it stops within 10 s
/// (None if it kept running).
fn start_briefly(socket: &Path, state: &Path) -> Result<Option<(i32, String)>> {
    let out = Command::new("timeout")
        .arg("10")
        .arg(artifact("mfad")?)
        .arg("--socket")
        .arg(socket)
        .arg("--state-dir")
        .arg(state)
        .output()?;
    let code = out.status.code().unwrap_or(-1);
    Ok((code != 124).then(|| (code, String::from_utf8_lossy(&out.stderr).into_owned())))
}

#[test]
fn a_missing_or_different_key_stops_mfad_with_a_message_naming_the_file() -> Result<()> {
    mfa_tests::require_root()?;
    let dir = tempfile::tempdir()?;
    let (socket, state) = (dir.path().join("mfad.sock"), dir.path().join("state"));
    let key = state.join("master.key");
    let m = MfadProcess::spawn(&socket, &state, &[])?;
    import_secret(&socket, "ann", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")?;
    m.stop()?;
    let right = std::fs::read(&key)?;

    std::fs::remove_file(&key)?;
    let (code, log) = start_briefly(&socket, &state)?
        .ok_or_else(|| anyhow::anyhow!("mfad started without its key"))?;
    assert_ne!(code, 0, "{log}");
    assert!(
        log.contains(&format!("the key file {} is missing", key.display())),
        "{log}"
    );
    // No new key was made over the existing state.
    assert!(!key.exists());

    std::fs::write(&key, [7u8; 32])?;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))?;
    let (code, log) = start_briefly(&socket, &state)?
        .ok_or_else(|| anyhow::anyhow!("mfad started with another key"))?;
    assert_ne!(code, 0, "{log}");
    assert!(
        log.contains(&format!("the key file {} is not the key", key.display())),
        "{log}"
    );

    std::fs::write(&key, &right)?;
    // The key without its database: the database is lost, and starting
    // empty would let every enrolled user through nullok.
    let db = state.join("mfad.db");
    let kept = dir.path().join("kept.db");
    std::fs::rename(&db, &kept)?;
    let (code, log) = start_briefly(&socket, &state)?
        .ok_or_else(|| anyhow::anyhow!("mfad started on a new database beside an old key"))?;
    assert_ne!(code, 0, "{log}");
    assert!(
        log.contains(&format!(
            "the database {} is missing, but the key file {} exists",
            db.display(),
            key.display()
        )),
        "{log}"
    );
    // Refused before anything was created, so a second try is refused too.
    assert!(!db.exists());
    assert!(start_briefly(&socket, &state)?.is_some_and(|(code, _)| code != 0));
    std::fs::rename(&kept, &db)?;
    let m = MfadProcess::spawn(&socket, &state, &[])?;
    let (code, _) = m.stop()?;
    assert_eq!(code, 0);
    Ok(())
}

#[test]
fn a_backup_taken_while_mfad_runs_restores_to_a_state_that_logs_in_and_keeps_spent_steps_spent(
) -> Result<()> {
    use mfa_proto::client::Client;
    use mfa_proto::{Request, Response, Sensitive};
    use mfa_tests::{totp_at, unix_now};
    use std::time::Duration;
    mfa_tests::require_root()?;
    let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let dir = tempfile::tempdir()?;
    let (socket, state) = (dir.path().join("mfad.sock"), dir.path().join("state"));
    let m = MfadProcess::spawn(&socket, &state, &[])?;
    // Enrolling spends the current step's code.
    import_secret(&socket, "ann", secret)?;
    let spent = totp_at(secret, unix_now())?;
    let copy = dir.path().join("mfad-backup.db");
    let out = Command::new(artifact("mfad")?)
        .arg("--state-dir")
        .arg(&state)
        .arg("--backup-to")
        .arg(&copy)
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::metadata(&copy)?.permissions().mode() & 0o777,
        0o600
    );
    // An existing file is never overwritten.
    let again = Command::new(artifact("mfad")?)
        .arg("--state-dir")
        .arg(&state)
        .arg("--backup-to")
        .arg(&copy)
        .output()?;
    assert!(!again.status.success());
    // Only the copy is left beside it, no partial file.
    let beside: Vec<_> = std::fs::read_dir(dir.path())?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("mfad-backup"))
        .collect();
    assert_eq!(beside, ["mfad-backup.db"]);
    m.stop()?;

    // Restore on a fresh state directory: the copy and the key kept apart.
    let restored = dir.path().join("restored");
    std::fs::create_dir(&restored)?;
    std::fs::set_permissions(&restored, std::fs::Permissions::from_mode(0o700))?;
    std::fs::copy(&copy, restored.join("mfad.db"))?;
    std::fs::copy(state.join("master.key"), restored.join("master.key"))?;
    let socket2 = dir.path().join("restored.sock");
    let _m = MfadProcess::spawn(&socket2, &restored, &[])?;
    let verify = |code: String| -> Result<Response> {
        let mut c = Client::connect(&socket2, Duration::from_secs(5), "t")?;
        Ok(c.call(&Request::Verify {
            user: "ann".into(),
            code: Sensitive::new(code),
            context: Default::default(),
        })?)
    };
    assert_eq!(verify(spent)?, Response::Replayed);
    let next = verify(totp_at(secret, unix_now() + 30)?)?;
    assert!(matches!(next, Response::Verified { .. }), "{next:?}");
    Ok(())
}
