//! `mfa agent` in a desktop session: a private session bus with
//! python3-dbusmock's notification daemon, the system-like bus with mfad,
//! and a push login through the real module. One push makes one
//! notification; an ActionInvoked from a sender that does not own the
//! notifications name is ignored, and so is the server's own for a
//! notification the agent did not open; the server's ActionInvoked for
//! its notification runs the prompt, whose number approves the push and
//! lets the login in. Without action buttons it asks at once.

use anyhow::{ensure, Context, Result};
use mfa_tests::dbus::{stdout_of, PrivateBus, Watcher};
use mfa_tests::push_lab::{Lab, WAIT};
use mfa_tests::{rc, LiveLogin, LocalUsers};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::{Duration, Instant};

/// The two tests take turns: each starts a whole push lab (gateway,
/// stand-ins, Chromium), and two starting at once can race for the
/// loopback ports `free_port` hands out.
static ONE_LAB: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A command as `user` with both buses in its environment.
fn in_session(system: &PrivateBus, session: &PrivateBus, user: &str, program: &str) -> Command {
    let mut c = system.command_as(Some(user), program);
    c.env("DBUS_SESSION_BUS_ADDRESS", &session.address);
    c
}

/// The mock's record of calls to `method` so far.
fn mock_calls(
    system: &PrivateBus,
    session: &PrivateBus,
    user: &str,
    method: &str,
) -> Result<usize> {
    let out = in_session(system, session, user, "gdbus")
        .args(["call", "--address", &session.address])
        .args(["--dest", "org.freedesktop.Notifications"])
        .args(["--object-path", "/org/freedesktop/Notifications"])
        .args(["--method", "org.freedesktop.DBus.Mock.GetCalls"])
        .output()?;
    let calls = stdout_of(&out)?;
    Ok(calls.matches(&format!("'{method}'")).count())
}

#[test]
fn the_agent_shows_one_notification_and_acts_only_on_the_server_s_actions() -> Result<()> {
    let _turn = ONE_LAB.lock().unwrap_or_else(|p| p.into_inner());
    let users = LocalUsers::create(41108, 1)?;
    let ann = users.names()[0].clone();
    let system = PrivateBus::system()?;
    let session = PrivateBus::session(&ann)?;
    let address = system.address.clone();
    let mut lab = Lab::start_with(|c| {
        c.dbus.enable = true;
        c.dbus.address = address;
    })?;
    lab.d.enroll(&ann)?;
    lab.add_phone(&ann, "pixel", "ntfy")?;

    let mut mock = Watcher::start_stderr({
        let mut c = in_session(&system, &session, &ann, "/usr/bin/python3");
        c.args(["-m", "dbusmock", "--template", "notification_daemon"])
            .args(["-p", r#"{"capabilities": "body actions"}"#]);
        c
    })?;
    wait_for_name(&system, &session, &ann)?;

    // The prompt types the number the login shows, and says it ran.
    let dir = session.dir.path();
    let (number_file, ran) = (dir.join("number"), dir.join("prompted"));
    let mfa = dir.join("mfa");
    std::fs::copy(mfa_tests::artifact("mfa")?, &mfa)?;
    let prompt = format!(
        "echo run >> {}; cat {}",
        ran.display(),
        number_file.display()
    );
    let mut agent = Watcher::start_stderr({
        let mut c = in_session(&system, &session, &ann, mfa.to_str().context("path")?);
        c.args(["agent", "--prompt-command", &prompt]);
        c
    })?;
    agent.expect("waiting for pushes", WAIT)?;

    let stack = lab.stack("")?;
    let mut login = LiveLogin::start(&stack, &ann, Some("192.0.2.7"))?;
    let number = login.push_number(WAIT)?;
    std::fs::write(&number_file, format!("{number}\n"))?;
    std::fs::set_permissions(&number_file, std::fs::Permissions::from_mode(0o644))?;
    let deadline = Instant::now() + WAIT;
    while mock_calls(&system, &session, &ann, "Notify")? == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    ensure!(
        mock_calls(&system, &session, &ann, "Notify")? == 1,
        "not one notification: {:?}",
        mock.drain()
    );

    // Someone else's "approve" for notification 1: nothing happens.
    let fake = in_session(&system, &session, &ann, "gdbus")
        .args(["emit", "--address", &session.address])
        .args(["--object-path", "/org/freedesktop/Notifications"])
        .args([
            "--signal",
            "org.freedesktop.Notifications.ActionInvoked",
            "uint32 1",
            "'approve'",
        ])
        .output()?;
    stdout_of(&fake)?;
    std::thread::sleep(Duration::from_secs(1));
    ensure!(!ran.exists(), "the prompt ran for a forged action");
    let listed = stdout_of(&system.gdbus(Some(&ann), "ListPendingPushes", &[])?)?;
    ensure!(listed.contains("'id'"), "the push is gone: {listed}");

    // The server's own signal, but for a notification the agent did not
    // open: nothing happens either.
    emit_from_mock(&system, &session, &ann, 42)?;
    std::thread::sleep(Duration::from_secs(1));
    ensure!(!ran.exists(), "the prompt ran for another notification");

    // The notification server's own ActionInvoked: the prompt runs and
    // its number approves the push.
    emit_from_mock(&system, &session, &ann, 1)?;
    agent.expect("approved", WAIT)?;
    ensure!(ran.exists(), "the prompt did not run");
    login.answer("")?;
    let run = login.finish(WAIT)?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);
    Ok(())
}

/// ActionInvoked(`id`, "approve") sent by the notification server itself.
fn emit_from_mock(system: &PrivateBus, session: &PrivateBus, user: &str, id: u32) -> Result<()> {
    let out = in_session(system, session, user, "gdbus")
        .args(["call", "--address", &session.address])
        .args(["--dest", "org.freedesktop.Notifications"])
        .args(["--object-path", "/org/freedesktop/Notifications"])
        .args(["--method", "org.freedesktop.DBus.Mock.EmitSignal"])
        .args(["org.freedesktop.Notifications", "ActionInvoked", "us"])
        .arg(format!("[<uint32 {id}>, <'approve'>]"))
        .output()?;
    stdout_of(&out).map(|_| ())
}

/// A desktop whose notifications have no buttons: the agent asks for the
/// number at once, and the login is let in.
#[test]
fn without_action_buttons_the_agent_asks_for_the_number_at_once() -> Result<()> {
    let _turn = ONE_LAB.lock().unwrap_or_else(|p| p.into_inner());
    let users = LocalUsers::create(41114, 1)?;
    let ann = users.names()[0].clone();
    let system = PrivateBus::system()?;
    let session = PrivateBus::session(&ann)?;
    let address = system.address.clone();
    let mut lab = Lab::start_with(|c| {
        c.dbus.enable = true;
        c.dbus.address = address;
    })?;
    lab.d.enroll(&ann)?;
    lab.add_phone(&ann, "pixel", "ntfy")?;
    // The template's default capabilities: no "actions".
    let _mock = Watcher::start_stderr({
        let mut c = in_session(&system, &session, &ann, "/usr/bin/python3");
        c.args(["-m", "dbusmock", "--template", "notification_daemon"]);
        c
    })?;
    wait_for_name(&system, &session, &ann)?;
    let dir = session.dir.path();
    let number_file = dir.join("number");
    let mfa = dir.join("mfa");
    std::fs::copy(mfa_tests::artifact("mfa")?, &mfa)?;
    // The prompt waits for the number to be known, as a person reads it.
    let prompt = format!(
        "while [ ! -s {f} ]; do sleep 0.1; done; cat {f}",
        f = number_file.display()
    );
    let mut agent = Watcher::start_stderr({
        let mut c = in_session(&system, &session, &ann, mfa.to_str().context("path")?);
        c.args(["agent", "--prompt-command", &prompt]);
        c
    })?;
    agent.expect("waiting for pushes", WAIT)?;
    let stack = lab.stack("")?;
    let mut login = LiveLogin::start(&stack, &ann, Some("192.0.2.7"))?;
    let number = login.push_number(WAIT)?;
    let tmp = dir.join("number.tmp");
    std::fs::write(&tmp, format!("{number}\n"))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))?;
    std::fs::rename(&tmp, &number_file)?;
    agent.expect("approved", WAIT)?;
    ensure!(
        mock_calls(&system, &session, &ann, "Notify")? == 0,
        "a notification without buttons was shown"
    );
    login.answer("")?;
    let run = login.finish(WAIT)?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);
    Ok(())
}

/// Wait until the mock owns org.freedesktop.Notifications.
fn wait_for_name(system: &PrivateBus, session: &PrivateBus, user: &str) -> Result<()> {
    let deadline = Instant::now() + WAIT;
    loop {
        if mock_calls(system, session, user, "Notify").is_ok() {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "the notification mock did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
