//! A lab on one machine (`mfa_tests::Fleet`): two central mfads on one
//! PostgreSQL database with TLS listeners, and lab machines' relays with
//! their own certificates, all real mfad processes; students are real
//! local accounts running the real `mfa` as themselves, and logins go
//! through real libpam on each relay's socket. Needs root (useradd, the
//! cluster as postgres); CI runs as root.

use anyhow::{ensure, Result};
use mfa_tests::fleet::next_code;
use mfa_tests::{rc, Fleet, LocalUsers, MfadProcess, Stack};

fn stack(relay: &MfadProcess) -> Result<Stack> {
    Stack::new(&relay.socket, "tries=1", &[])
}

#[test]
fn enrolled_through_one_lab_machine_a_student_logs_in_on_the_others_once() -> Result<()> {
    let users = LocalUsers::create(41040, 2)?;
    let (ann, bob) = (&users.names()[0], &users.names()[1]);
    let fleet = Fleet::new(2)?;
    let _c0 = fleet.central(0, "", "")?;
    let _c1 = fleet.central(1, "", "")?;
    let a = fleet.relay("lab-a", &[0, 1])?;
    let b = fleet.relay("lab-b", &[1, 0])?;
    let c = fleet.relay("lab-c", &[0])?;

    let secret = fleet.enroll(&a.socket, ann)?.secret;
    // `mfa status` on another lab machine sees the same enrollment.
    let out = fleet.mfa_as(&c.socket, ann, &["status"])?.output()?;
    let said = String::from_utf8_lossy(&out.stdout);
    ensure!(out.status.success() && said.contains("enrolled"), "{said}");

    let code = next_code(&secret)?;
    let first = stack(&b)?.login(ann, &[&code])?;
    ensure!(first.rc == rc::SUCCESS, "{}", first.transcript);
    let again = stack(&c)?.login(ann, &[&code])?;
    ensure!(
        again.rc == rc::AUTH_ERR,
        "lab-c took the code lab-b used: {}",
        again.transcript
    );
    // bob is not enrolled anywhere.
    let none = stack(&c)?.login(bob, &["123456"])?;
    ensure!(none.rc != rc::SUCCESS, "{}", none.transcript);

    // The relays hold no state at all.
    for host in ["lab-a", "lab-b", "lab-c"] {
        let left: Vec<_> = std::fs::read_dir(fleet.relay_state(host))?.collect();
        ensure!(left.is_empty(), "{host} keeps {left:?}");
    }
    Ok(())
}

#[test]
fn a_lab_machines_root_may_log_users_in_but_not_manage_accounts() -> Result<()> {
    let users = LocalUsers::create(41042, 1)?;
    let ann = &users.names()[0];
    let fleet = Fleet::new(1)?;
    let central = fleet.central(0, "admin_hosts = [\"helpdesk\"]", "")?;
    let lab = fleet.relay("lab-a", &[0])?;
    let helpdesk = fleet.relay("helpdesk", &[0])?;
    fleet.enroll(&lab.socket, ann)?;

    for cmd in [
        vec!["remove", "--user", ann],
        vec!["unlock", "--user", ann],
        vec!["list"],
    ] {
        let (code, _, err) = mfa_tests::mfa_cli(&lab.socket, &cmd, "")?;
        ensure!(code != 0, "root on lab-a ran {cmd:?}: {err}");
        ensure!(
            err.contains("root on lab machine lab-a may only log users in"),
            "{cmd:?}: {err}"
        );
    }
    let (code, out, err) = mfa_tests::mfa_cli(&helpdesk.socket, &["list"], "")?;
    ensure!(code == 0 && out.contains(ann.as_str()), "{out} {err}");
    let (code, _, err) = mfa_tests::mfa_cli(&helpdesk.socket, &["remove", "--user", ann], "")?;
    ensure!(code == 0, "{err}");

    let (status, log) = central.stop()?;
    ensure!(status == 0, "{log}");
    ensure!(
        log.contains("via=\"lab-a\"") && log.contains("via=\"helpdesk\""),
        "the central log does not name the lab machines: {log}"
    );
    Ok(())
}

#[test]
fn a_relay_without_a_certificate_from_the_site_or_on_the_deny_list_is_refused() -> Result<()> {
    let users = LocalUsers::create(41043, 1)?;
    let ann = &users.names()[0];
    let fleet = Fleet::new(1)?;
    let central = fleet.central(0, "deny_hosts = [\"lab-stolen\"]", "")?;
    let good = fleet.relay("lab-a", &[0])?;
    let secret = fleet.enroll(&good.socket, ann)?.secret;

    // A certificate from another CA, and a denied one from the site's.
    let elsewhere = mfa_tests::pki::Pki::new("elsewhere")?;
    let other = elsewhere.client("lab-x")?;
    let stranger = fleet.relay_with("lab-x", &[0], &other, "")?;
    let stolen = fleet.relay("lab-stolen", &[0])?;
    for relay in [&stranger, &stolen] {
        let run = stack(relay)?.login(ann, &[&next_code(&secret)?])?;
        ensure!(run.rc == rc::AUTHINFO_UNAVAIL, "{}", run.transcript);
        ensure!(
            run.transcript
                .contains("The second-factor service is not available"),
            "{}",
            run.transcript
        );
    }
    let ok = stack(&good)?.login(ann, &[&next_code(&secret)?])?;
    ensure!(ok.rc == rc::SUCCESS, "{}", ok.transcript);
    let (_, log) = central.stop()?;
    ensure!(log.contains("reason=\"in remote.deny_hosts\""), "{log}");
    ensure!(
        log.contains("outcome=refused") && log.contains("TLS"),
        "{log}"
    );
    Ok(())
}

#[test]
fn with_no_central_mfad_a_lab_login_fails_closed_and_comes_back_by_itself() -> Result<()> {
    let users = LocalUsers::create(41044, 1)?;
    let ann = &users.names()[0];
    let fleet = Fleet::new(2)?;
    let c0 = fleet.central(0, "", "")?;
    let lab = fleet.relay("lab-a", &[0, 1])?;
    let secret = fleet.enroll(&lab.socket, ann)?.secret;
    c0.stop()?;
    let run = stack(&lab)?.login(ann, &[&next_code(&secret)?])?;
    ensure!(run.rc == rc::AUTHINFO_UNAVAIL, "{}", run.transcript);
    ensure!(
        run.transcript
            .contains("The second-factor service is not available"),
        "{}",
        run.transcript
    );
    // The second server in the list answers; nothing on lab-a restarts.
    let _c1 = fleet.central(1, "", "")?;
    let run = stack(&lab)?.login(ann, &[&next_code(&secret)?])?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);
    Ok(())
}

#[test]
fn a_lab_machine_whose_certificate_is_revoked_is_refused() -> Result<()> {
    let users = LocalUsers::create(41045, 1)?;
    let ann = &users.names()[0];
    let fleet = Fleet::new(1)?;
    let lost = fleet.pki.client("lab-lost")?;
    let crl = fleet.pki.crl_revoking(&[&lost])?;
    let central = fleet.central(0, &format!("crl = [\"{}\"]", crl.display()), "")?;
    let good = fleet.relay("lab-a", &[0])?;
    let secret = fleet.enroll(&good.socket, ann)?.secret;
    let revoked = fleet.relay_with("lab-lost", &[0], &lost, "")?;
    let run = stack(&revoked)?.login(ann, &[&next_code(&secret)?])?;
    ensure!(run.rc == rc::AUTHINFO_UNAVAIL, "{}", run.transcript);
    let ok = stack(&good)?.login(ann, &[&next_code(&secret)?])?;
    ensure!(ok.rc == rc::SUCCESS, "{}", ok.transcript);
    let (_, log) = central.stop()?;
    ensure!(
        log.contains("outcome=refused") && log.contains("Revoked"),
        "{log}"
    );
    Ok(())
}
