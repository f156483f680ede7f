//! The system-bus interface on a private, Debian-configured bus: every
//! call made with busctl and gdbus (clients nobody here wrote), as root
//! and as unprivileged accounts (setpriv). A caller sees and changes only
//! its own account; the help-desk methods are root's and the admin
//! group's; an enrollment made over D-Bus logs in through the real module.

use anyhow::{ensure, Context, Result};
use mfa_tests::dbus::{error_of, stdout_of, PrivateBus};
use mfa_tests::{oathtool, rc, Daemon, LocalUsers, Stack};

fn daemon_on(bus: &PrivateBus) -> Result<Daemon> {
    Daemon::start_with(|c| bus.serve_from(c))
}

/// The quoted strings of a `busctl call` answer (`ss "a" "b"`, `as 2 "x" "y"`).
fn quoted(out: &str) -> Vec<String> {
    out.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn a_student_enrolls_over_dbus_and_then_logs_in_with_the_code() -> Result<()> {
    let users = LocalUsers::create(41100, 2)?;
    let (ann, bob) = (&users.names()[0], &users.names()[1]);
    let bus = PrivateBus::system()?;
    let d = daemon_on(&bus)?;

    let status = stdout_of(&bus.gdbus(Some(ann), "GetStatus", &[])?)?;
    ensure!(status.contains("'enrolled': <false>"), "{status}");
    ensure!(status.contains(&format!("'user': <'{ann}'>")), "{status}");

    let begun = stdout_of(&bus.busctl(Some(ann), "BeginEnrollment", "", &[])?)?;
    let parts = quoted(&begun);
    ensure!(parts.len() == 2, "{begun}");
    let (uri, secret) = (&parts[0], &parts[1]);
    ensure!(uri.starts_with("otpauth://totp/"), "{uri}");
    ensure!(uri.contains(secret.as_str()), "{uri} lacks {secret}");

    // Someone else cannot confirm it.
    let code = oathtool(secret, d.now(), "SHA1", 6)?;
    let theirs = error_of(&bus.gdbus(Some(bob), "ConfirmEnrollment", &[&code])?)?;
    ensure!(theirs.contains("NoPendingEnrollment"), "{theirs}");

    let confirmed = stdout_of(&bus.busctl(Some(ann), "ConfirmEnrollment", "s", &[&code])?)?;
    let recovery = quoted(&confirmed);
    ensure!(recovery.len() == 10, "{confirmed}");
    let status = stdout_of(&bus.busctl(Some(ann), "GetStatus", "", &[])?)?;
    ensure!(status.contains("\"enrolled\" b true"), "{status}");
    let methods = stdout_of(&bus.gdbus(Some(ann), "ListMethods", &[])?)?;
    ensure!(methods.contains("'kind': <'totp'>"), "{methods}");
    ensure!(!methods.contains(secret.as_str()), "a secret in {methods}");
    let prop = stdout_of(
        &bus.command_as(Some(ann), "busctl")
            .arg(format!("--address={}", bus.address))
            .args(["get-property", "org.pam_mfa.Mfad1", "/org/pam_mfa/Mfad1"])
            .args(["org.pam_mfa.Mfad1", "Enrolled"])
            .output()?,
    )?;
    ensure!(prop.trim() == "b true", "{prop}");
    // Introspection reads every property (GetAll), each the caller's own.
    let intro = stdout_of(
        &bus.command_as(Some(ann), "busctl")
            .arg(format!("--address={}", bus.address))
            .args([
                "introspect",
                "org.pam_mfa.Mfad1",
                "/org/pam_mfa/Mfad1",
                "org.pam_mfa.Mfad1",
            ])
            .output()?,
    )?;
    for line in [".Enrolled", ".PendingPushes", ".AnswerPush", ".PushPending"] {
        ensure!(intro.contains(line), "{line} not in {intro}");
    }
    let pending = intro
        .lines()
        .find(|l| l.starts_with(".PendingPushes"))
        .unwrap_or_default();
    ensure!(pending.contains(" 0 "), "{pending}");

    // The real module accepts the app's next code.
    d.next_step();
    let stack = Stack::new(&d.socket, "", &[])?;
    let next = oathtool(secret, d.now(), "SHA1", 6)?;
    let run = stack.login(ann, &[&next])?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);
    Ok(())
}

#[test]
fn callers_see_only_their_own_account_and_admin_methods_refuse_others() -> Result<()> {
    let users = LocalUsers::create(41102, 2)?;
    let (ann, bob) = (&users.names()[0], &users.names()[1]);
    let bus = PrivateBus::system()?;
    let d = daemon_on(&bus)?;
    d.enroll(ann)?;

    // bob's own status is bob's, whatever he asks.
    let bobs = stdout_of(&bus.gdbus(Some(bob), "GetStatus", &[])?)?;
    ensure!(bobs.contains(&format!("'user': <'{bob}'>")), "{bobs}");
    ensure!(bobs.contains("'enrolled': <false>"), "{bobs}");
    for (method, args) in [
        ("ListUsers", vec![]),
        ("GetUserStatus", vec![ann.as_str()]),
        ("Unlock", vec![ann.as_str()]),
        ("Reset", vec![ann.as_str()]),
    ] {
        for out in [
            bus.gdbus(Some(bob), method, &args)?,
            bus.busctl(
                Some(bob),
                method,
                if args.is_empty() { "" } else { "s" },
                &args,
            )?,
        ] {
            let err = error_of(&out)?;
            ensure!(
                err.contains("org.freedesktop.DBus.Error.AccessDenied")
                    || err.contains("Access denied"),
                "{method}: {err}"
            );
        }
        // Not even about his own account.
        if !args.is_empty() {
            let err = error_of(&bus.gdbus(Some(bob), method, &[bob])?)?;
            ensure!(err.contains("AccessDenied"), "{method} on self: {err}");
        }
    }
    // A push id of someone else's is nobody's.
    let err = error_of(&bus.gdbus(Some(bob), "AnswerPush", &["x", "12", "approve"])?)?;
    ensure!(err.contains("org.pam_mfa.Mfad1.Error.NotFound"), "{err}");
    let err = error_of(&bus.gdbus(Some(bob), "AnswerPush", &["x", "12", "maybe"])?)?;
    ensure!(err.contains("InvalidArgs"), "{err}");
    // ann is still enrolled after all that.
    let anns = stdout_of(&bus.gdbus(Some(ann), "GetStatus", &[])?)?;
    ensure!(anns.contains("'enrolled': <true>"), "{anns}");

    // Root, through both clients.
    let all = stdout_of(&bus.busctl(None, "ListUsers", "", &[])?)?;
    ensure!(quoted(&all).contains(ann), "{all}");
    let st = stdout_of(&bus.gdbus(None, "GetUserStatus", &[ann])?)?;
    ensure!(st.contains("'enrolled': <true>"), "{st}");
    stdout_of(&bus.busctl(None, "Unlock", "s", &[ann])?)?;
    stdout_of(&bus.gdbus(None, "Reset", &[ann])?)?;
    let st = stdout_of(&bus.busctl(None, "GetUserStatus", "s", &[ann])?)?;
    ensure!(st.contains("\"enrolled\" b false"), "{st}");
    let anns = stdout_of(&bus.gdbus(Some(ann), "GetStatus", &[])?)?;
    ensure!(anns.contains("'enrolled': <false>"), "{anns}");
    Ok(())
}

#[test]
fn the_shipped_policy_lets_only_root_own_the_name() -> Result<()> {
    let users = LocalUsers::create(41104, 1)?;
    let bus = PrivateBus::system()?;
    let _d = daemon_on(&bus)?;
    // Another mfad on the same bus is refused with a clear reason.
    let second = daemon_on(&bus);
    let err = format!("{:#}", second.err().context("a second owner was allowed")?);
    ensure!(
        err.contains("another process owns org.pam_mfa.Mfad1"),
        "{err}"
    );
    // An ordinary account may not take the name (the bus refuses it).
    let out = bus
        .command_as(Some(&users.names()[0]), "gdbus")
        .args([
            "call",
            "--address",
            &bus.address,
            "--dest",
            "org.freedesktop.DBus",
        ])
        .args(["--object-path", "/org/freedesktop/DBus"])
        .args([
            "--method",
            "org.freedesktop.DBus.RequestName",
            "org.pam_mfa.Mfad1",
            "4",
        ])
        .output()?;
    let err = error_of(&out)?;
    ensure!(err.contains("AccessDenied"), "{err}");
    Ok(())
}

/// A group for the test, removed afterwards.
struct Group(String);

impl Group {
    fn with_member(name: &str, user: &str) -> Result<Group> {
        let _ = std::process::Command::new("groupdel").arg(name).output();
        let ok = std::process::Command::new("groupadd").arg(name).status()?;
        ensure!(ok.success(), "groupadd {name}");
        let g = Group(name.to_string());
        let ok = std::process::Command::new("usermod")
            .args(["-aG", name, user])
            .status()?;
        ensure!(ok.success(), "usermod -aG {name} {user}");
        Ok(g)
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let _ = std::process::Command::new("groupdel").arg(&self.0).output();
    }
}

#[test]
fn every_method_answers_through_busctl_gdbus_and_zbus_as_root_an_admin_and_a_student() -> Result<()>
{
    use mfa_tests::dbus::Client;
    let users = LocalUsers::create(41110, 3)?;
    let (ann, bob, carol) = (&users.names()[0], &users.names()[1], &users.names()[2]);
    let _admins = Group::with_member("mfa-tadm", bob)?;
    let bus = PrivateBus::system()?;
    let d = Daemon::start_with(|c| {
        bus.serve_from(c);
        c.admin_group = "mfa-tadm".into();
    })?;
    d.enroll(ann)?;
    for client in [Client::Busctl, Client::Gdbus, Client::Zbus] {
        let ok = |user: Option<&str>, method: &str, args: &[&str]| -> Result<String> {
            stdout_of(&bus.call(client, user, method, args)?)
                .with_context(|| format!("{client:?} {method} as {user:?}"))
        };
        let refused = |user: Option<&str>, method: &str, args: &[&str]| -> Result<String> {
            error_of(&bus.call(client, user, method, args)?)
                .with_context(|| format!("{client:?} {method} as {user:?}"))
        };
        // The student's own account.
        let st = ok(Some(ann), "GetStatus", &[])?;
        ensure!(
            st.contains(ann.as_str()) && st.contains("true"),
            "{client:?}: {st}"
        );
        let m = ok(Some(ann), "ListMethods", &[])?;
        ensure!(m.contains("totp"), "{client:?}: {m}");
        ok(Some(ann), "ListPendingPushes", &[])?;
        let e = refused(Some(ann), "AnswerPush", &["nope", "12", "deny"])?;
        ensure!(
            e.contains("no such push is waiting for you"),
            "{client:?}: {e}"
        );
        for (method, args) in [
            ("ListUsers", vec![]),
            ("GetUserStatus", vec![bob.as_str()]),
            ("Unlock", vec![bob.as_str()]),
            ("Reset", vec![bob.as_str()]),
        ] {
            let e = refused(Some(ann), method, &args)?;
            ensure!(
                e.contains("AccessDenied") || e.contains("Access denied"),
                "{client:?} {method}: {e}"
            );
        }
        // carol enrolls, and the admin group member resets her.
        let begun = ok(Some(carol), "BeginEnrollment", &[])?;
        let secret = begun
            .split(|c: char| !c.is_ascii_alphanumeric())
            .rfind(|w| w.len() == 32)
            .context("no secret")?
            .to_string();
        let code = oathtool(&secret, d.now(), "SHA1", 6)?;
        let codes = ok(Some(carol), "ConfirmEnrollment", &[&code])?;
        ensure!(codes.matches('-').count() >= 10, "{client:?}: {codes}");
        for admin in [Some(bob.as_str()), None] {
            let all = ok(admin, "ListUsers", &[])?;
            ensure!(
                all.contains(ann.as_str()) && all.contains(carol.as_str()),
                "{all}"
            );
            let st = ok(admin, "GetUserStatus", &[carol])?;
            ensure!(st.contains("true"), "{client:?}: {st}");
            ok(admin, "Unlock", &[ann])?;
        }
        // The admin group may not act on root's account.
        let e = refused(Some(bob), "GetUserStatus", &["root"])?;
        ensure!(
            e.contains("AccessDenied") || e.contains("Access denied"),
            "{e}"
        );
        ok(Some(bob), "Reset", &[carol])?;
        let st = ok(None, "GetUserStatus", &[carol])?;
        ensure!(!st.contains("true"), "{client:?}: not reset: {st}");
    }
    Ok(())
}
