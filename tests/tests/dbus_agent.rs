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
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// The two tests take turns: each starts a whole push lab (gateway,
/// stand-ins, Chromium), and two starting at once can race for the
/// loopback ports `free_port` hands out.
static ONE_LAB: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// ann's desktop: the system-like bus with mfad and a push lab, ann
/// enrolled with a phone, and her session bus with the notification mock.
/// Fields drop in order: processes first, the accounts last.
struct Desktop {
    mock: Watcher,
    lab: Lab,
    session: PrivateBus,
    system: PrivateBus,
    ann: String,
    _users: LocalUsers,
}

impl Desktop {
    /// The mock with `caps` as its capabilities (None: the template's,
    /// which have no "actions").
    fn start(uid: u32, caps: Option<&str>) -> Result<Desktop> {
        let users = LocalUsers::create(uid, 1)?;
        let ann = users.names()[0].clone();
        let system = PrivateBus::system()?;
        let session = PrivateBus::session(&ann)?;
        let mut lab = Lab::start_with(|c| system.serve_from(c))?;
        lab.d.enroll(&ann)?;
        lab.add_phone(&ann, "pixel", "ntfy")?;
        let mock = Watcher::start_stderr({
            let mut c = in_session(&system, &session, &ann, "/usr/bin/python3");
            c.args(["-m", "dbusmock", "--template", "notification_daemon"]);
            if let Some(caps) = caps {
                c.args(["-p", &format!(r#"{{"capabilities": "{caps}"}}"#)]);
            }
            c
        })?;
        let d = Desktop {
            mock,
            lab,
            session,
            system,
            ann,
            _users: users,
        };
        d.wait_for_name()?;
        Ok(d)
    }

    /// A command as ann with both buses in its environment.
    fn as_ann(&self, program: &str) -> Command {
        in_session(&self.system, &self.session, &self.ann, program)
    }

    /// A file in the session's folder, which ann can read.
    fn file(&self, name: &str) -> PathBuf {
        self.session.dir.path().join(name)
    }

    /// `mfa agent --prompt-command PROMPT` as ann, once it waits.
    fn agent(&self, prompt: &str) -> Result<Watcher> {
        let mfa = self.file("mfa");
        std::fs::copy(mfa_tests::artifact("mfa")?, &mfa)?;
        let mut agent = Watcher::start_stderr({
            let mut c = self.as_ann(mfa.to_str().context("path")?);
            c.args(["agent", "--prompt-command", prompt]);
            c
        })?;
        agent.expect("waiting for pushes", WAIT)?;
        Ok(agent)
    }

    /// The mock's record of calls to `method` so far.
    fn calls(&self, method: &str) -> Result<usize> {
        let out = self
            .as_ann("gdbus")
            .args(["call", "--address", &self.session.address])
            .args(["--dest", "org.freedesktop.Notifications"])
            .args(["--object-path", "/org/freedesktop/Notifications"])
            .args(["--method", "org.freedesktop.DBus.Mock.GetCalls"])
            .output()?;
        let calls = stdout_of(&out)?;
        Ok(calls.matches(&format!("'{method}'")).count())
    }

    /// ActionInvoked(`id`, "approve") sent by the notification server itself.
    fn emit_from_mock(&self, id: u32) -> Result<()> {
        let out = self
            .as_ann("gdbus")
            .args(["call", "--address", &self.session.address])
            .args(["--dest", "org.freedesktop.Notifications"])
            .args(["--object-path", "/org/freedesktop/Notifications"])
            .args(["--method", "org.freedesktop.DBus.Mock.EmitSignal"])
            .args(["org.freedesktop.Notifications", "ActionInvoked", "us"])
            .arg(format!("[<uint32 {id}>, <'approve'>]"))
            .output()?;
        stdout_of(&out).map(|_| ())
    }

    /// Wait until the mock owns org.freedesktop.Notifications.
    fn wait_for_name(&self) -> Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            if self.calls("Notify").is_ok() {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "the notification mock did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A push login of ann's that shows its number: (login, number).
    fn push_login(&self) -> Result<(LiveLogin, String)> {
        let stack = self.lab.stack("")?;
        let mut login = LiveLogin::start(&stack, &self.ann, Some("192.0.2.7"))?;
        let number = login.push_number(WAIT)?;
        Ok((login, number))
    }
}

/// A command as `user` with both buses in its environment.
fn in_session(system: &PrivateBus, session: &PrivateBus, user: &str, program: &str) -> Command {
    let mut c = system.command_as(Some(user), program);
    c.env("DBUS_SESSION_BUS_ADDRESS", &session.address);
    c
}

#[test]
fn the_agent_shows_one_notification_and_acts_only_on_the_server_s_actions() -> Result<()> {
    let _turn = ONE_LAB.lock().unwrap_or_else(|p| p.into_inner());
    let mut d = Desktop::start(41108, Some("body actions"))?;
    // The prompt types the number the login shows, and says it ran.
    let (number_file, ran) = (d.file("number"), d.file("prompted"));
    let prompt = format!(
        "echo run >> {}; cat {}",
        ran.display(),
        number_file.display()
    );
    let mut agent = d.agent(&prompt)?;

    let (mut login, number) = d.push_login()?;
    std::fs::write(&number_file, format!("{number}\n"))?;
    std::fs::set_permissions(&number_file, std::fs::Permissions::from_mode(0o644))?;
    let deadline = Instant::now() + WAIT;
    while d.calls("Notify")? == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    ensure!(
        d.calls("Notify")? == 1,
        "not one notification: {:?}",
        d.mock.drain()
    );

    // Someone else's "approve" for notification 1: nothing happens.
    let fake = d
        .as_ann("gdbus")
        .args(["emit", "--address", &d.session.address])
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
    let listed = stdout_of(&d.system.gdbus(Some(&d.ann), "ListPendingPushes", &[])?)?;
    ensure!(listed.contains("'id'"), "the push is gone: {listed}");

    // The server's own signal, but for a notification the agent did not
    // open: nothing happens either.
    d.emit_from_mock(42)?;
    std::thread::sleep(Duration::from_secs(1));
    ensure!(!ran.exists(), "the prompt ran for another notification");

    // The notification server's own ActionInvoked: the prompt runs and
    // its number approves the push.
    d.emit_from_mock(1)?;
    agent.expect("approved", WAIT)?;
    ensure!(ran.exists(), "the prompt did not run");
    login.answer("")?;
    let run = login.finish(WAIT)?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);
    Ok(())
}

/// A desktop whose notifications have no buttons: the agent asks for the
/// number at once, and the login is let in.
#[test]
fn without_action_buttons_the_agent_asks_for_the_number_at_once() -> Result<()> {
    let _turn = ONE_LAB.lock().unwrap_or_else(|p| p.into_inner());
    let d = Desktop::start(41114, None)?;
    let number_file = d.file("number");
    // The prompt waits for the number to be known, as a person reads it.
    let prompt = format!(
        "while [ ! -s {f} ]; do sleep 0.1; done; cat {f}",
        f = number_file.display()
    );
    let mut agent = d.agent(&prompt)?;
    let (mut login, number) = d.push_login()?;
    let tmp = d.file("number.tmp");
    std::fs::write(&tmp, format!("{number}\n"))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))?;
    std::fs::rename(&tmp, &number_file)?;
    agent.expect("approved", WAIT)?;
    ensure!(
        d.calls("Notify")? == 0,
        "a notification without buttons was shown"
    );
    login.answer("")?;
    let run = login.finish(WAIT)?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);
    Ok(())
}
