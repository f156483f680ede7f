//! A push answered over D-Bus: the real module through real libpam waits
//! on a push (the real gateway, the ntfy stand-in); the student answers it
//! from their session with gdbus and busctl, with the number the login
//! shows. Signals go to the student's connections only: a second account,
//! subscribed to all of mfad's signals with a zbus client and `gdbus
//! monitor`, sees nothing of it.

use anyhow::{ensure, Context, Result};
use mfa_tests::dbus::{error_of, stdout_of, PrivateBus, Watcher};
use mfa_tests::push_lab::{Lab, WAIT};
use mfa_tests::{rc, LiveLogin, LocalUsers};
use std::time::Duration;

fn watch_as(bus: &PrivateBus, user: &str) -> Result<Watcher> {
    let mut cmd = bus.zbus_client(Some(user))?;
    cmd.args(["watch", &bus.address]);
    let mut w = Watcher::start(cmd)?;
    w.expect("ready", WAIT)?;
    Ok(w)
}

#[test]
fn a_push_approved_over_dbus_with_the_login_s_number_logs_in_and_only_its_owner_hears_of_it(
) -> Result<()> {
    let users = LocalUsers::create(41106, 2)?;
    let (ann, bob) = (users.names()[0].clone(), users.names()[1].clone());
    let bus = PrivateBus::system()?;
    let mut lab = Lab::start_with(|c| {
        bus.serve_from(c);
        // A wrong number would pause pushes for the second login.
        c.push.deny_block_secs = 0;
    })?;
    lab.d.enroll(&ann)?;
    lab.d.enroll(&bob)?;
    lab.add_phone(&ann, "pixel", "ntfy")?;
    let mut anns = watch_as(&bus, &ann)?;
    let mut bobs = watch_as(&bus, &bob)?;
    let mut monitor = Watcher::start({
        let mut c = bus.command_as(Some(&bob), "gdbus");
        c.args([
            "monitor",
            "--address",
            &bus.address,
            "--dest",
            "org.pam_mfa.Mfad1",
        ]);
        c
    })?;
    let stack = lab.stack("")?;

    // A wrong number: not approved, and the login is refused.
    let mut login = LiveLogin::start(&stack, &ann, Some("192.0.2.7"))?;
    let number = login.push_number(WAIT)?;
    let pending = anns.expect("signal PushPending", WAIT)?;
    let id = pending
        .split_whitespace()
        .nth(2)
        .context("no id")?
        .to_string();
    for shown in [
        format!("user={ann}"),
        "host=testhost".into(),
        "rhost=192.0.2.7".into(),
    ] {
        ensure!(pending.contains(&shown), "{shown} not in {pending}");
    }
    ensure!(
        !pending.contains(&format!("={number} ")),
        "the number is in {pending}"
    );
    // Not a number: refused, and the push is still there.
    let e = error_of(&bus.gdbus(Some(&ann), "AnswerPush", &[&id, "1x", "approve"])?)?;
    ensure!(
        e.contains("InvalidArgs") && e.contains("nothing was decided"),
        "{e}"
    );
    let listed = stdout_of(&bus.gdbus(Some(&ann), "ListPendingPushes", &[])?)?;
    ensure!(listed.contains(&id), "{listed}");
    let wrong = if number == "99" { "98" } else { "99" };
    let said = stdout_of(&bus.gdbus(Some(&ann), "AnswerPush", &[&id, wrong, "approve"])?)?;
    ensure!(said.trim() == "(false,)", "{said}");
    anns.expect(&format!("signal PushResolved {id} wrong_number"), WAIT)?;
    login.answer("")?;
    let run = login.finish(WAIT)?;
    ensure!(run.rc == rc::AUTH_ERR, "{}", run.transcript);

    // The right number, typed by ann; bob cannot answer it.
    let mut login = LiveLogin::start(&stack, &ann, Some("192.0.2.7"))?;
    let number = login.push_number(WAIT)?;
    let pending = anns.expect("signal PushPending", WAIT)?;
    let id2 = pending
        .split_whitespace()
        .nth(2)
        .context("no id")?
        .to_string();
    ensure!(id2 != id, "{pending}");
    let err = error_of(&bus.gdbus(Some(&bob), "AnswerPush", &[&id2, &number, "approve"])?)?;
    ensure!(err.contains("org.pam_mfa.Mfad1.Error.NotFound"), "{err}");
    let bobs_list = stdout_of(&bus.gdbus(Some(&bob), "ListPendingPushes", &[])?)?;
    ensure!(!bobs_list.contains(&id2), "{bobs_list}");
    let said =
        stdout_of(&bus.busctl(Some(&ann), "AnswerPush", "sss", &[&id2, &number, "approve"])?)?;
    ensure!(said.trim() == "b true", "{said}");
    anns.expect(&format!("signal PushResolved {id2} approved"), WAIT)?;
    login.answer("")?;
    let run = login.finish(WAIT)?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);
    // Answered once.
    let again = error_of(&bus.gdbus(Some(&ann), "AnswerPush", &[&id2, &number, "approve"])?)?;
    ensure!(again.contains("NotFound"), "{again}");

    // bob heard nothing of ann's pushes, through either client.
    std::thread::sleep(Duration::from_millis(500));
    for (who, lines) in [("zbus", bobs.drain()), ("gdbus monitor", monitor.drain())] {
        let all = lines.join("\n");
        for secret in [
            id.as_str(),
            id2.as_str(),
            ann.as_str(),
            "PushPending",
            "PushResolved",
        ] {
            ensure!(!all.contains(secret), "bob's {who} saw {secret}: {all}");
        }
    }
    // Control: bob's client does hear what is addressed to him.
    stdout_of(&bus.gdbus(None, "Reset", &[&bob])?)?;
    bobs.expect("signal PropertiesChanged", WAIT)?;
    Ok(())
}
