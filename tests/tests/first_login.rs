//! "More information required": an account with no second factor sets one
//! up inside its login, through the built module and real libpam, with
//! Debian's oathtool as the app and zbarimg as the phone's camera. In
//! "required" mode there is no way around it; in "optional" mode, and
//! before the deadline, `skip` answers PAM_IGNORE and stores nothing.

use anyhow::{anyhow, Result};
use mfa_proto::{Request, Response};
use mfa_tests::{decode_terminal_qr, oathtool, rc, Daemon, LiveLogin, LocalUsers, Stack};
use mfad::site_policy::EnrollMode;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);
const PERMIT: &[&str] = &["auth required pam_permit.so"];

/// What the enrollment screen showed: the key (spaces removed), the
/// otpauth URI, and everything before the code prompt.
struct Screen {
    key: String,
    uri: String,
    text: String,
    prompt: String,
}

fn read_screen(live: &mut LiveLogin) -> Result<Screen> {
    let prompt = live.expect("code from the app", WAIT)?;
    let text = live.transcript.join("\n");
    let key = text
        .lines()
        .find_map(|l| l.split("key into the app: ").nth(1))
        .map(|k| k.replace(' ', ""))
        .ok_or_else(|| anyhow!("no key on the screen:\n{text}"))?;
    let uri = text
        .lines()
        .find(|l| l.starts_with("otpauth://"))
        .map(str::to_string)
        .ok_or_else(|| anyhow!("no otpauth URI on its own line:\n{text}"))?;
    Ok(Screen {
        key,
        uri,
        text,
        prompt,
    })
}

fn enrolled(d: &Daemon, user: &str) -> Result<bool> {
    match d.call(&Request::Status { user: user.into() })? {
        Response::Status(s) => Ok(s.enrolled),
        other => Err(anyhow!("status: {other:?}")),
    }
}

#[test]
fn required_mode_walks_an_unenrolled_user_through_setup_inside_the_login() -> Result<()> {
    let _users = LocalUsers::create(41000, 1)?;
    let user = "mfa-t41000";
    let d = Daemon::start_with(|c| c.enrollment.mode = EnrollMode::Required)?;
    let stack = Stack::new(&d.socket, "", &[])?;
    let mut live = LiveLogin::start(&stack, user, None)?;
    let s = read_screen(&mut live)?;
    assert!(s.text.contains("More information required"), "{}", s.text);
    assert!(!s.prompt.contains("skip"), "{}", s.prompt);
    // The QR code is the URI, fits an 80x24 terminal, and the key is in
    // the URI (a screen reader and a copy-paste get the same secret).
    assert_eq!(decode_terminal_qr(&s.text, d.dir.path())?, s.uri);
    let qr: Vec<&str> = s.text.lines().filter(|l| l.contains('█')).collect();
    assert!(
        qr.len() <= 24 && qr.iter().all(|l| l.chars().count() <= 80),
        "{}",
        s.text
    );
    assert!(s.uri.contains(&format!("secret={}", s.key)), "{}", s.uri);

    // skip is refused in required mode without a deadline.
    live.answer("skip")?;
    live.expect("Registration is required", WAIT)?;
    live.answer(&oathtool(&s.key, d.now(), "SHA1", 6)?)?;
    live.expect("recovery codes", WAIT)?;
    live.expect("press Enter", WAIT)?;
    live.answer("")?;
    let run = live.finish(WAIT)?;
    assert_eq!(run.rc, rc::SUCCESS, "{}", run.transcript);
    let codes: Vec<String> = run
        .transcript
        .lines()
        .map(str::trim)
        .filter(|l| l.len() == 14 && l.matches('-').count() == 2)
        .map(str::to_string)
        .collect();
    assert_eq!(codes.len(), 10, "{}", run.transcript);
    assert!(enrolled(&d, user)?);

    // From now on an ordinary login: a code, no enrollment screen.
    d.next_step();
    let run = stack.login(user, &[&oathtool(&s.key, d.now(), "SHA1", 6)?])?;
    assert_eq!(run.rc, rc::SUCCESS, "{}", run.transcript);
    assert!(
        run.transcript.contains("Verification code"),
        "{}",
        run.transcript
    );
    assert!(
        !run.transcript.contains("More information"),
        "{}",
        run.transcript
    );
    // A recovery code shown at the end of the setup logs in.
    let run = stack.login(user, &[&codes[0]])?;
    assert_eq!(run.rc, rc::SUCCESS, "{}", run.transcript);
    Ok(())
}

#[test]
fn optional_mode_skip_answers_pam_ignore_and_stores_nothing() -> Result<()> {
    let _users = LocalUsers::create(41001, 1)?;
    let user = "mfa-t41001";
    let d = Daemon::start_with(|c| c.enrollment.mode = EnrollMode::Optional)?;
    let with_permit = Stack::new(&d.socket, "", PERMIT)?;
    let run = with_permit.login(user, &["skip"])?;
    assert_eq!(run.rc, rc::SUCCESS, "{}", run.transcript);
    assert!(
        run.transcript.contains("(or type: skip)"),
        "{}",
        run.transcript
    );
    assert!(
        run.transcript.contains("More information required"),
        "{}",
        run.transcript
    );
    // PAM_IGNORE, never PAM_SUCCESS: alone in the stack it grants nothing.
    let alone = Stack::new(&d.socket, "", &[])?;
    let run = alone.login(user, &["skip"])?;
    assert_ne!(run.rc, rc::SUCCESS, "{}", run.transcript);
    assert!(!enrolled(&d, user)?);
    // Three wrong codes: no login, nothing stored.
    let run = with_permit.login(user, &["000000", "111111", "222222"])?;
    assert_eq!(run.rc, rc::AUTH_ERR, "{}", run.transcript);
    assert!(
        run.transcript.contains("Wrong code, try again"),
        "{}",
        run.transcript
    );
    assert!(!enrolled(&d, user)?);
    Ok(())
}

#[test]
fn after_the_deadline_skip_is_refused_and_the_login_fails_without_setup() -> Result<()> {
    let _users = LocalUsers::create(41002, 1)?;
    let user = "mfa-t41002";
    // The test clock starts at 2033-05-18 03:33 UTC.
    let d = Daemon::start_with(|c| {
        c.enrollment.mode = EnrollMode::Required;
        c.enrollment.deadline = "2033-05-19".into();
    })?;
    let stack = Stack::new(&d.socket, "", PERMIT)?;
    let run = stack.login(user, &["skip"])?;
    assert_eq!(run.rc, rc::SUCCESS, "{}", run.transcript);
    assert!(
        run.transcript
            .contains("From 2033-05-19 you will not be able to log in without it"),
        "{}",
        run.transcript
    );
    d.clock.advance(86_400);
    let run = stack.login(user, &["skip", "skip", "skip"])?;
    assert_eq!(run.rc, rc::AUTH_ERR, "{}", run.transcript);
    assert!(
        run.transcript
            .contains("Registration is required since 2033-05-19"),
        "{}",
        run.transcript
    );
    assert!(
        run.transcript.contains("The setup was not finished"),
        "{}",
        run.transcript
    );
    assert!(!enrolled(&d, user)?);
    Ok(())
}

#[test]
fn with_debians_common_auth_a_wrong_password_never_reaches_the_enrollment_screen() -> Result<()> {
    let users = LocalUsers::create(41003, 1)?;
    let user = "mfa-t41003";
    users.set_password(user, "Lab-Passw0rd-41003")?;
    let d = Daemon::start_with(|c| c.enrollment.mode = EnrollMode::Required)?;
    let stack = Stack::after_common_auth(&d.socket, "")?;
    let run = stack.login(user, &["not-the-password", "skip", "123456"])?;
    assert_ne!(run.rc, rc::SUCCESS, "{}", run.transcript);
    assert!(run.transcript.contains("Password"), "{}", run.transcript);
    assert!(
        !run.transcript.contains("More information"),
        "{}",
        run.transcript
    );
    assert!(!run.transcript.contains("otpauth://"), "{}", run.transcript);
    // Nothing stored: no enrollment and no pending secret (a confirm
    // finds nothing to check the code against).
    assert!(!enrolled(&d, user)?);
    let probe = Request::LoginEnrollConfirm {
        user: user.into(),
        code: mfa_proto::Sensitive::new("000000"),
        context: Default::default(),
    };
    let r = d.call(&probe)?;
    assert!(
        matches!(
            &r,
            Response::Error {
                code: mfa_proto::ErrorCode::NoPendingEnrollment,
                ..
            }
        ),
        "{r:?}"
    );
    // The right password does reach it.
    let run = stack.login(user, &["Lab-Passw0rd-41003"])?;
    assert!(
        run.transcript.contains("More information required"),
        "{}",
        run.transcript
    );
    Ok(())
}
