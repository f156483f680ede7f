//! The built pam_mfa.so through real libpam (pam_start_confdir), against an
//! in-process mfad, with codes from Debian's oathtool.

use anyhow::Result;
use mfa_proto::{Algorithm, EnrollParams, Request, Response, Sensitive};
use mfa_tests::{oathtool, rc, Daemon, Stack};

#[test]
fn right_code_logs_in_and_wrong_code_is_denied() -> Result<()> {
    let d = Daemon::start()?;
    let e = d.enroll("ann")?;
    d.next_step();
    let stack = Stack::new(&d.socket, "tries=1", &[])?;

    let wrong = if d.code(&e)? == "000000" {
        "111111"
    } else {
        "000000"
    };
    let run = stack.login("ann", &[wrong])?;
    assert_eq!(run.rc, rc::AUTH_ERR, "{}", run.transcript);
    assert!(
        run.transcript.contains("[echo-off] Verification code: "),
        "{}",
        run.transcript
    );

    let run = stack.login("ann", &[&d.code(&e)?])?;
    assert_eq!(run.rc, rc::SUCCESS, "{}", run.transcript);
    Ok(())
}

#[test]
fn wrong_code_then_right_one_within_the_same_login() -> Result<()> {
    let d = Daemon::start()?;
    let e = d.enroll("ann")?;
    d.next_step();
    let stack = Stack::new(&d.socket, "", &[])?;
    let run = stack.login("ann", &["12345", &d.code(&e)?])?;
    assert_eq!(run.rc, rc::SUCCESS, "{}", run.transcript);
    assert!(
        run.transcript
            .contains("[echo-off] Wrong code, try again. Verification code: "),
        "{}",
        run.transcript
    );
    Ok(())
}

#[test]
fn the_same_code_is_accepted_only_once() -> Result<()> {
    let d = Daemon::start()?;
    let e = d.enroll("ann")?;
    d.next_step();
    let stack = Stack::new(&d.socket, "tries=1", &[])?;
    let code = d.code(&e)?;
    assert_eq!(stack.login("ann", &[&code])?.rc, rc::SUCCESS);
    let again = stack.login("ann", &[&code])?;
    assert_eq!(again.rc, rc::AUTH_ERR, "{}", again.transcript);
    // Still refused 20 s later, while the code is inside the skew window.
    d.clock.advance(20);
    assert_eq!(stack.login("ann", &[&code])?.rc, rc::AUTH_ERR);
    // The next step's code works.
    d.next_step();
    assert_eq!(stack.login("ann", &[&d.code(&e)?])?.rc, rc::SUCCESS);
    Ok(())
}

#[test]
fn the_enrollment_code_cannot_open_a_session() -> Result<()> {
    let d = Daemon::start()?;
    let e = d.enroll("ann")?;
    let stack = Stack::new(&d.socket, "tries=1", &[])?;
    // Same clock: the confirming code's step is already spent.
    assert_eq!(stack.login("ann", &[&d.code(&e)?])?.rc, rc::AUTH_ERR);
    Ok(())
}

#[test]
fn a_recovery_code_works_once() -> Result<()> {
    let d = Daemon::start()?;
    let e = d.enroll("ann")?;
    assert_eq!(e.recovery.len(), 10);
    let stack = Stack::new(&d.socket, "tries=1", &[])?;
    let code = e.recovery[3].to_uppercase();
    let run = stack.login("ann", &[&code])?;
    assert_eq!(run.rc, rc::SUCCESS, "{}", run.transcript);
    assert!(
        run.transcript.contains("Recovery code accepted; 9 left"),
        "{}",
        run.transcript
    );
    assert_eq!(stack.login("ann", &[&code])?.rc, rc::AUTH_ERR);
    // Another user's code is worthless here.
    let other = d.enroll("bob")?;
    assert_eq!(stack.login("ann", &[&other.recovery[0]])?.rc, rc::AUTH_ERR);
    Ok(())
}

#[test]
fn daemon_stopped_fails_closed_with_a_message() -> Result<()> {
    let mut d = Daemon::start()?;
    let e = d.enroll("ann")?;
    d.next_step();
    let code = d.code(&e)?;
    d.stop();
    let stack = Stack::new(&d.socket, "timeout=2", &[])?;
    let run = stack.login("ann", &[&code])?;
    assert_eq!(run.rc, rc::AUTHINFO_UNAVAIL, "{}", run.transcript);
    assert!(
        run.transcript
            .contains("[error] The second-factor service is not available"),
        "{}",
        run.transcript
    );
    // With the socket file gone too.
    std::fs::remove_file(&d.socket)?;
    assert_eq!(stack.login("ann", &[&code])?.rc, rc::AUTHINFO_UNAVAIL);
    Ok(())
}

#[test]
fn unenrolled_user_is_denied_without_nullok_and_ignored_with_it() -> Result<()> {
    let d = Daemon::start()?;
    // pam_permit after us: the stack succeeds only if we do not fail.
    let strict = Stack::new(&d.socket, "", &["auth required pam_permit.so"])?;
    let run = strict.login("carol", &[])?;
    assert_eq!(run.rc, rc::AUTH_ERR, "{}", run.transcript);
    assert!(
        run.transcript.contains("No second factor is set up"),
        "{}",
        run.transcript
    );

    let lenient = Stack::new(&d.socket, "nullok", &["auth required pam_permit.so"])?;
    let run = lenient.login("carol", &[])?;
    assert_eq!(run.rc, rc::SUCCESS, "{}", run.transcript);
    assert!(
        !run.transcript.contains("echo-off"),
        "no prompt for an exempt user: {}",
        run.transcript
    );

    // PAM_IGNORE, never PAM_SUCCESS: alone in the stack it grants nothing.
    let alone = Stack::new(&d.socket, "nullok", &[])?;
    assert_ne!(alone.login("carol", &[])?.rc, rc::SUCCESS);

    // nullok does not exempt an enrolled user.
    let e = d.enroll("carol")?;
    d.next_step();
    // (The third wrong code starts a delay: PAM_MAXTRIES.)
    assert_eq!(
        lenient.login("carol", &["000000", "000001", "000002"])?.rc,
        rc::MAXTRIES
    );
    d.next_step();
    assert_eq!(lenient.login("carol", &[&d.code(&e)?])?.rc, rc::SUCCESS);
    Ok(())
}

#[test]
fn repeated_failures_delay_then_lock_until_an_admin_unlocks() -> Result<()> {
    let d = Daemon::start_with(|c| c.limits.lockout_failures = 6)?;
    let e = d.enroll("ann")?;
    d.next_step();
    let stack = Stack::new(&d.socket, "tries=1", &[])?;
    for _ in 0..2 {
        assert_eq!(stack.login("ann", &["000000"])?.rc, rc::AUTH_ERR);
    }
    // The third failure starts a 30 s delay, and says so.
    let run = stack.login("ann", &["000000"])?;
    assert_eq!(run.rc, rc::MAXTRIES, "{}", run.transcript);
    assert!(
        run.transcript
            .contains("Too many attempts, try again in 30 s."),
        "{}",
        run.transcript
    );
    // During the delay even the right code is not asked for.
    let run = stack.login("ann", &[&d.code(&e)?])?;
    assert_eq!(run.rc, rc::MAXTRIES, "{}", run.transcript);
    assert!(
        run.transcript
            .contains("[error] Too many attempts, try again in 30 s."),
        "{}",
        run.transcript
    );
    assert!(!run.transcript.contains("echo-off"), "{}", run.transcript);
    d.clock.advance(10);
    assert!(stack
        .login("ann", &[])?
        .transcript
        .contains("try again in 20 s"));
    // Failures 4 and 5, each after waiting out the doubling delay.
    for wait in [30, 60] {
        d.clock.advance(wait);
        let run = stack.login("ann", &["000000"])?;
        assert_eq!(run.rc, rc::MAXTRIES, "after {wait} s: {}", run.transcript);
    }
    // The sixth locks the account, and the user is told at once.
    d.clock.advance(120);
    let run = stack.login("ann", &["000000"])?;
    assert_eq!(run.rc, rc::MAXTRIES, "{}", run.transcript);
    assert!(
        run.transcript.contains("this account is locked"),
        "{}",
        run.transcript
    );
    // Locked stays locked, however long one waits and whatever the code.
    d.clock.advance(10_000);
    let run = stack.login("ann", &[&d.code(&e)?])?;
    assert_eq!(run.rc, rc::MAXTRIES, "{}", run.transcript);
    assert!(
        run.transcript.contains("this account is locked"),
        "{}",
        run.transcript
    );
    match d.call(&Request::Status { user: "ann".into() })? {
        Response::Status(s) => assert!(s.locked && s.consecutive_failures == 6),
        other => anyhow::bail!("{other:?}"),
    }
    assert_eq!(
        d.call(&Request::Unlock { user: "ann".into() })?,
        Response::Done
    );
    assert_eq!(stack.login("ann", &[&d.code(&e)?])?.rc, rc::SUCCESS);
    Ok(())
}

#[test]
fn a_success_resets_the_failure_count() -> Result<()> {
    let d = Daemon::start()?;
    let e = d.enroll("ann")?;
    d.next_step();
    let stack = Stack::new(&d.socket, "tries=1", &[])?;
    for _ in 0..2 {
        assert_eq!(stack.login("ann", &["000000"])?.rc, rc::AUTH_ERR);
    }
    assert_eq!(stack.login("ann", &[&d.code(&e)?])?.rc, rc::SUCCESS);
    d.next_step();
    for _ in 0..2 {
        assert_eq!(stack.login("ann", &["000000"])?.rc, rc::AUTH_ERR);
    }
    // Two fresh failures, not four: no delay yet.
    let run = stack.login("ann", &[&d.code(&e)?])?;
    assert_eq!(run.rc, rc::SUCCESS, "{}", run.transcript);
    Ok(())
}

#[test]
fn one_account_failing_cannot_delay_its_host_but_many_accounts_failing_do() -> Result<()> {
    // Free failures high enough that one student can fail 50 times.
    let d = Daemon::start_with(|c| c.limits.free_failures = 60)?;
    let stack = Stack::new(&d.socket, "tries=10", &[])?;
    let once = Stack::new(&d.socket, "tries=1", &[])?;
    let nat = Some("203.0.113.9");
    let users: Vec<String> = (0..12).map(|i| format!("s{i}")).collect();
    let mut enrolled = Vec::new();
    for u in &users {
        enrolled.push(d.enroll(u)?);
    }
    d.next_step();
    // One student behind the NAT fails 50 times on their own account.
    let wrong = ["000000"; 10];
    for _ in 0..5 {
        let run = stack.login_as(&users[0], &wrong, nat, &[])?;
        assert_eq!(run.rc, rc::AUTH_ERR, "{}", run.transcript);
    }
    // The next student behind the same address logs in at once.
    let run = once.login_as(&users[1], &[&d.code(&enrolled[1])?], nat, &[])?;
    assert_eq!(run.rc, rc::SUCCESS, "{}", run.transcript);
    // Failures on ten different accounts (s0 and s2..s10) delay the host.
    for u in &users[2..11] {
        let run = once.login_as(u, &["000000"], nat, &[])?;
        assert!(
            run.rc == rc::AUTH_ERR || u == &users[10],
            "{u}: {}",
            run.transcript
        );
    }
    let run = once.login_as(&users[11], &[&d.code(&enrolled[11])?], nat, &[])?;
    assert_eq!(run.rc, rc::MAXTRIES, "{}", run.transcript);
    assert!(
        run.transcript
            .contains("Too many attempts, try again in 30 s."),
        "{}",
        run.transcript
    );
    // Another host is not affected.
    let run = once.login_as(
        &users[11],
        &[&d.code(&enrolled[11])?],
        Some("198.51.100.7"),
        &[],
    )?;
    assert_eq!(run.rc, rc::SUCCESS, "{}", run.transcript);
    Ok(())
}

#[test]
fn students_who_mistype_once_and_then_log_in_do_not_delay_their_host() -> Result<()> {
    let d = Daemon::start()?;
    let stack = Stack::new(&d.socket, "tries=2", &[])?;
    let nat = Some("203.0.113.9");
    let mut enrolled = Vec::new();
    for i in 0..12 {
        enrolled.push((format!("m{i}"), d.enroll(&format!("m{i}"))?));
    }
    d.next_step();
    // Twelve students behind one address each mistype once, then get in:
    // more accounts than host_free_accounts (10) failed, but each one's
    // success took its failure off the host.
    for (u, e) in &enrolled {
        let run = stack.login_as(u, &["000000", &d.code(e)?], nat, &[])?;
        assert_eq!(run.rc, rc::SUCCESS, "{u}: {}", run.transcript);
    }
    Ok(())
}

#[test]
fn codes_from_oathtool_for_an_imported_secret_pass_the_whole_stack() -> Result<()> {
    let d = Daemon::start()?;
    // RFC 6238's SHA-1 seed, imported by root as an existing secret.
    let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let begin = Request::EnrollBegin {
        user: "dave".into(),
        params: EnrollParams {
            secret: Some(Sensitive::new(secret)),
            ..Default::default()
        },
    };
    assert!(matches!(d.call(&begin)?, Response::Enrollment { .. }));
    let code = oathtool(secret, d.now(), "SHA1", 6)?;
    let confirm = Request::EnrollConfirm {
        user: "dave".into(),
        code: Sensitive::new(code),
        current_code: None,
        name: None,
    };
    assert!(matches!(d.call(&confirm)?, Response::Enrolled { .. }));
    let stack = Stack::new(&d.socket, "tries=1", &[])?;
    for _ in 0..3 {
        d.next_step();
        let code = oathtool(secret, d.now(), "SHA1", 6)?;
        let run = stack.login("dave", &[&code])?;
        assert_eq!(run.rc, rc::SUCCESS, "{}", run.transcript);
    }
    // A code from one step back is still accepted (clock drift), two back is not.
    d.next_step();
    d.next_step();
    let behind = oathtool(secret, d.now() - 30, "SHA1", 6)?;
    assert_eq!(stack.login("dave", &[&behind])?.rc, rc::SUCCESS);
    d.next_step();
    d.next_step();
    let stale = oathtool(secret, d.now() - 60, "SHA1", 6)?;
    assert_eq!(stack.login("dave", &[&stale])?.rc, rc::AUTH_ERR);
    Ok(())
}

#[test]
fn sha256_and_sha512_with_eight_digits_match_oathtool() -> Result<()> {
    let d = Daemon::start()?;
    let stack = Stack::new(&d.socket, "tries=1", &[])?;
    for (user, alg) in [("s256", Algorithm::Sha256), ("s512", Algorithm::Sha512)] {
        let params = EnrollParams {
            algorithm: Some(alg),
            digits: Some(8),
            ..Default::default()
        };
        let e = d.enroll_with(user, params)?;
        assert_eq!((e.algorithm.as_str(), e.digits), (alg.as_str(), 8));
        d.next_step();
        let code = d.code(&e)?;
        assert_eq!(code.len(), 8);
        let run = stack.login(user, &[&code])?;
        assert_eq!(run.rc, rc::SUCCESS, "{}", run.transcript);
    }
    Ok(())
}

#[test]
fn messages_that_end_a_login_are_prompts_for_sshd() -> Result<()> {
    let d = Daemon::start()?;
    let stack = Stack::new(&d.socket, "notice=prompt", &[])?;
    let run = stack.login("nobody-enrolled", &[""])?;
    assert_eq!(run.rc, rc::AUTH_ERR);
    assert!(
        run.transcript
            .contains("[echo-on] No second factor is set up for this account."),
        "{}",
        run.transcript
    );
    Ok(())
}
