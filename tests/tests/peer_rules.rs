//! Authorization comes from SO_PEERCRED: a process running as an ordinary
//! uid may act on its own account only. Needs root to run clients as
//! another uid (setpriv); CI runs as root.

use anyhow::{Context, Result};
use mfa_proto::{Request, Response};
use mfa_tests::{artifact, rc, require_root, Daemon, Stack};
use std::process::Command;

const AS_NOBODY: &[&str] = &[
    "setpriv",
    "--reuid=nobody",
    "--regid=nogroup",
    "--clear-groups",
];

/// Copy a built binary where `nobody` can run it (the build tree may sit
/// under a 0700 home directory).
fn reachable(d: &Daemon, name: &str) -> Result<std::path::PathBuf> {
    let to = d.dir.path().join(name);
    std::fs::copy(artifact(name)?, &to).context("copy binary")?;
    Ok(to)
}

fn mfa_as_nobody(
    d: &Daemon,
    mfa: &std::path::Path,
    args: &[&str],
) -> Result<(i32, String, String)> {
    let out = Command::new(AS_NOBODY[0])
        .args(&AS_NOBODY[1..])
        .arg(mfa)
        .arg("--socket")
        .arg(&d.socket)
        .args(args)
        .output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[test]
fn an_ordinary_uid_cannot_see_or_manage_other_accounts() -> Result<()> {
    require_root()?;
    let d = Daemon::start()?;
    d.enroll("ann")?;
    let mfa = reachable(&d, "mfa")?;

    for args in [
        &["status", "--user", "ann"][..],
        &["status", "--user", "never-enrolled"][..],
        &["remove", "--user", "ann"][..],
        &["unlock", "--user", "ann"][..],
        &["enroll", "--user", "ann", "--confirm", "123456"][..],
    ] {
        let (code, out, err) = mfa_as_nobody(&d, &mfa, args)?;
        assert_eq!(code, 2, "{args:?}: {out} {err}");
        assert!(err.contains("permission_denied"), "{args:?}: {err}");
        // Not even whether the account exists leaks.
        assert!(!out.contains("enrolled"), "{args:?}: {out}");
    }
    // Still enrolled: nothing was changed.
    assert!(
        matches!(d.call(&Request::Status { user: "ann".into() })?, Response::Status(s) if s.enrolled)
    );
    Ok(())
}

#[test]
fn an_ordinary_uid_may_manage_its_own_account_but_not_import_secrets() -> Result<()> {
    require_root()?;
    let d = Daemon::start()?;
    let mfa = reachable(&d, "mfa")?;
    let (code, out, _) = mfa_as_nobody(&d, &mfa, &["status"])?;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("nobody: not enrolled"), "{out}");
    let (code, _, err) = mfa_as_nobody(
        &d,
        &mfa,
        &[
            "enroll",
            "--secret",
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
            "--confirm",
            "1",
        ],
    )?;
    assert_eq!(code, 2);
    assert!(err.contains("only root may import"), "{err}");
    Ok(())
}

#[test]
fn a_pam_client_running_as_another_uid_cannot_verify_for_ann() -> Result<()> {
    require_root()?;
    let d = Daemon::start()?;
    let e = d.enroll("ann")?;
    d.next_step();
    let drive = reachable(&d, "pamdrive")?;
    let stack = Stack::new(&d.socket, "tries=1", &[])?;
    // The pamdrive copy runs as nobody; the module it loads sits in the
    // build tree, so make the service file point at a reachable copy.
    let module = reachable(&d, "libpam_mfa.so")?;
    let service = std::fs::read_to_string(stack.dir.path().join(&stack.service))?;
    let original = artifact("libpam_mfa.so")?;
    std::fs::write(
        stack.dir.path().join(&stack.service),
        service.replace(&*original.to_string_lossy(), &module.to_string_lossy()),
    )?;
    let out = Command::new(AS_NOBODY[0])
        .args(&AS_NOBODY[1..])
        .arg(&drive)
        .args(["--service", &stack.service, "--user", "ann", "--confdir"])
        .arg(stack.dir.path())
        .args(["--answer", &d.code(&e)?])
        .output()?;
    let transcript = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(rc::PERM_DENIED), "{transcript}");
    assert!(
        transcript.contains("may not verify codes for that account"),
        "{transcript}"
    );
    // The code was never tried, so root's login with it still works.
    assert_eq!(stack.login("ann", &[&d.code(&e)?])?.rc, rc::SUCCESS);
    Ok(())
}

#[test]
fn one_uid_hoarding_connections_cannot_starve_logins() -> Result<()> {
    require_root()?;
    let d = Daemon::start()?;
    let e = d.enroll("ann")?;
    d.next_step();
    // As nobody: open 20 connections, say hello on each, report how many
    // were served, then hold them all open for a while.
    let script = r#"
import socket, struct, sys, json, time
path = sys.argv[1]
held, served = [], 0
for _ in range(20):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(path)
        body = json.dumps({"type": "hello", "version": 1, "client": "hog"}).encode()
        s.sendall(struct.pack(">I", len(body)) + body)
        if len(s.recv(4)) == 4:
            served += 1
    except OSError:
        pass
    held.append(s)
print(served, flush=True)
time.sleep(4)
"#;
    let mut hog = Command::new(AS_NOBODY[0])
        .args(&AS_NOBODY[1..])
        .args(["/usr/bin/python3", "-c", script])
        .arg(&d.socket)
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(hog.stdout.take().context("stdout")?),
        &mut line,
    )?;
    // While the hog holds its connections, root's login goes through.
    let run = Stack::new(&d.socket, "tries=1", &[])?.login("ann", &[&d.code(&e)?])?;
    let _ = hog.kill();
    let _ = hog.wait();
    assert_eq!(line.trim(), "8", "served connections for one uid");
    assert_eq!(run.rc, rc::SUCCESS, "{}", run.transcript);
    Ok(())
}

#[test]
fn the_admin_group_manages_others_but_not_root() -> Result<()> {
    require_root()?;
    // nobody's primary group is the admin group here.
    let d = Daemon::start_with(|c| c.admin_group = "nogroup".into())?;
    d.enroll("ann")?;
    d.enroll("root")?;
    let mfa = reachable(&d, "mfa")?;
    let (code, out, err) = mfa_as_nobody(&d, &mfa, &["status", "--user", "ann"])?;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(mfa_as_nobody(&d, &mfa, &["unlock", "--user", "ann"])?.0, 0);
    for args in [
        &["status", "--user", "root"][..],
        &["remove", "--user", "root"][..],
    ] {
        let (code, _, err) = mfa_as_nobody(&d, &mfa, args)?;
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains("may not act on root's account"), "{err}");
    }
    let (code, _, err) = mfa_as_nobody(&d, &mfa, &["remove", "--user", "ann"])?;
    assert_eq!(code, 0, "{err}");
    Ok(())
}

#[test]
fn an_ordinary_uid_cannot_list_accounts() -> Result<()> {
    require_root()?;
    let d = Daemon::start()?;
    d.enroll("ann")?;
    let mfa = reachable(&d, "mfa")?;
    let (code, out, err) = mfa_as_nobody(&d, &mfa, &["list"])?;
    assert_eq!(code, 2);
    assert!(err.contains("permission_denied"), "{err}");
    assert!(!out.contains("ann"));
    Ok(())
}
