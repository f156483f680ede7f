//! Codes by text message end to end on this machine: the real mfa-gateway
//! (as `nobody`) with its `http` SMS provider pointed at a loopback
//! stand-in that records each message, `mfa phone add` typing back the
//! code the stand-in got, and logins through real libpam that type `sms`
//! and then the code from the message. Expired, reused and rate-limited
//! codes are refused with a reason; `sms` typed twice in one login sends
//! one text. Needs root (the gateway's uid).

use anyhow::{ensure, Context, Result};
use mfa_tests::{
    artifact, rc, Daemon, GatewayProcess, LiveLogin, Providers, SmsMessage, SmsStandIn, Stack,
};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);
const NUMBER: &str = "+1 555 123 4567";

struct Lab {
    d: Daemon,
    sms: SmsStandIn,
    _gateway: GatewayProcess,
}

fn lab(max_per_user: u32) -> Result<Lab> {
    lab_with(max_per_user, 5)
}

fn lab_with(max_per_user: u32, max_per_number: u32) -> Result<Lab> {
    let d = Daemon::start_with(|c| {
        c.push.gateway_user = mfa_tests::gateway::GATEWAY_USER.into();
        c.phone.max_per_user = max_per_user;
        c.phone.max_per_number = max_per_number;
    })?;
    let sms = SmsStandIn::start()?;
    let gateway = GatewayProcess::start(
        &d.socket,
        Providers {
            sms: Some((&sms.url(), "sms-api-password")),
            ..Default::default()
        },
        "",
    )?;
    // mfad knows the gateway once it has polled.
    std::thread::sleep(Duration::from_millis(500));
    Ok(Lab {
        d,
        sms,
        _gateway: gateway,
    })
}

/// `mfa phone add --user USER NUMBER`, typing back the code the phone got.
fn phone_add(l: &Lab, user: &str, number: &str) -> Result<(i32, String)> {
    let mut child = Command::new(artifact("mfa")?)
        .arg("--socket")
        .arg(&l.d.socket)
        .args(["phone", "add", "--user", user, number])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut out = BufReader::new(child.stdout.take().context("stdout")?);
    let mut first = String::new();
    out.read_line(&mut first)?;
    if first.contains("A code was sent") {
        let msg = l.sms.next(WAIT)?;
        ensure!(msg.to == "+15551234567", "{msg:?}");
        let mut stdin = child.stdin.take().context("stdin")?;
        writeln!(stdin, "{}", msg.code()?)?;
    }
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest)?;
    let status = child.wait_with_output()?;
    let err = String::from_utf8_lossy(&status.stderr).into_owned();
    Ok((status.status.code().unwrap_or(-1), first + &rest + &err))
}

/// A login that types `sms` and then `code_of(code in the message)`; the
/// result, the transcript and the message the provider got.
fn sms_login(
    l: &Lab,
    stack: &Stack,
    user: &str,
    code_of: impl FnOnce(&str) -> String,
) -> Result<(i32, String, SmsMessage)> {
    let mut live = LiveLogin::start(stack, user, None)?;
    live.expect("(or type: sms)", WAIT)?;
    live.answer("sms")?;
    live.expect("Code sent by text message to the number ending 67", WAIT)?;
    let msg = l.sms.next(WAIT)?;
    live.answer(&code_of(&msg.code()?))?;
    let run = live.finish(WAIT)?;
    Ok((run.rc, run.transcript, msg))
}

#[test]
fn a_number_added_with_its_code_then_an_sms_login_and_an_expired_code() -> Result<()> {
    let l = lab(10)?;
    l.d.enroll("ann")?;
    let (code, out) = phone_add(&l, "ann", NUMBER)?;
    ensure!(
        code == 0 && out.contains("Added sms ending 67"),
        "{code}: {out}"
    );
    let stack = Stack::new(&l.d.socket, "tries=1", &[])?;

    let (rc_, t, msg) = sms_login(&l, &stack, "ann", |c| c.to_string())?;
    ensure!(rc_ == rc::SUCCESS, "{t}");
    // The provider got the number, a message naming the machine, and the
    // gateway's credentials for its API.
    ensure!(msg.to == "+15551234567" && msg.path == "/send", "{msg:?}");
    ensure!(msg.text.contains("to log in to testhost"), "{msg:?}");
    ensure!(
        msg.authorization.as_deref() == Some("Basic bGFiOnNtcy1hcGktcGFzc3dvcmQ="),
        "{msg:?}"
    );

    // Expired: five minutes and a second later.
    let mut live = LiveLogin::start(&stack, "ann", None)?;
    live.expect("(or type: sms)", WAIT)?;
    live.answer("sms")?;
    live.expect("number ending 67", WAIT)?;
    let late = l.sms.next(WAIT)?.code()?;
    l.d.clock.advance(301);
    live.answer(&late)?;
    let run = live.finish(WAIT)?;
    ensure!(
        run.rc == rc::AUTH_ERR,
        "an expired code logged in: {}",
        run.transcript
    );
    Ok(())
}

#[test]
fn a_reused_code_and_sends_over_the_limits_are_refused() -> Result<()> {
    let l = lab(3)?;
    l.d.enroll("ann")?;
    let (code, out) = phone_add(&l, "ann", NUMBER)?;
    ensure!(code == 0, "{out}");
    let stack = Stack::new(&l.d.socket, "tries=2", &[])?;
    let mut used = String::new();
    let (rc_, t, _) = sms_login(&l, &stack, "ann", |c| {
        used = c.to_string();
        c.to_string()
    })?;
    ensure!(rc_ == rc::SUCCESS, "{t}");
    // The next login sends a new code; the old one is typed: refused.
    let (rc_, t, _) = sms_login(&l, &stack, "ann", |_| used.clone())?;
    ensure!(
        rc_ != rc::SUCCESS && t.contains("Wrong code"),
        "a reused code logged in: {t}"
    );
    // That was ann's third send this hour: the fourth is refused, and
    // the stand-in gets nothing.
    let mut live = LiveLogin::start(&stack, "ann", None)?;
    live.expect("(or type: sms)", WAIT)?;
    live.answer("sms")?;
    live.expect(
        "No code sent: too many codes were sent to this account",
        WAIT,
    )?;
    ensure!(
        l.sms.nothing_within(Duration::from_secs(1)),
        "a text went out over the limit"
    );
    drop(live);
    Ok(())
}

#[test]
fn a_voice_number_gets_its_code_read_out_slowly_twice_and_call_logs_in() -> Result<()> {
    let d = Daemon::start_with(|c| c.push.gateway_user = mfa_tests::gateway::GATEWAY_USER.into())?;
    let voice = SmsStandIn::start()?;
    let _gateway = GatewayProcess::start(
        &d.socket,
        Providers {
            voice: Some((&voice.url(), "voice-api-password")),
            ..Default::default()
        },
        "",
    )?;
    std::thread::sleep(Duration::from_millis(500));
    d.enroll("ann")?;
    let (code, out, err) = mfa_tests::mfa_cli(
        &d.socket,
        &[
            "phone",
            "add",
            "--user",
            "ann",
            "--voice",
            "+44 20 7946 0958",
        ],
        "",
    )?;
    // Standard input was empty: the code went out, and --confirm finishes.
    ensure!(
        code != 0 && out.contains("by a voice call to the number ending 58"),
        "{out}{err}"
    );
    let call = voice.next(WAIT)?;
    ensure!(
        call.path == "/call" && call.to == "+442079460958",
        "{call:?}"
    );
    let spoken = call.spoken_code()?;
    ensure!(
        call.text
            .matches(
                &spoken
                    .chars()
                    .map(String::from)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
            .count()
            == 2,
        "{call:?}"
    );
    let (code, out, err) = mfa_tests::mfa_cli(
        &d.socket,
        &["phone", "add", "--user", "ann", "--confirm", &spoken],
        "",
    )?;
    ensure!(
        code == 0 && out.contains("Added voice ending 58"),
        "{out}{err}"
    );

    let stack = Stack::new(&d.socket, "tries=1", &[])?;
    let mut live = LiveLogin::start(&stack, "ann", None)?;
    live.expect("(or type: call)", WAIT)?;
    live.answer("call")?;
    live.expect("Code read out by a call to the number ending 58", WAIT)?;
    let code = voice.next(WAIT)?.spoken_code()?;
    live.answer(&code)?;
    let run = live.finish(WAIT)?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);
    Ok(())
}

#[test]
fn the_limit_per_number_holds_across_accounts() -> Result<()> {
    let l = lab_with(10, 3)?;
    l.d.enroll("ann")?;
    l.d.enroll("bob")?;
    // Two accounts, one number (a shared family phone, or someone else's
    // number typed on purpose): its sends are counted together.
    let (code, out) = phone_add(&l, "ann", NUMBER)?;
    ensure!(code == 0, "{out}");
    let (code, out) = phone_add(&l, "bob", NUMBER)?;
    ensure!(code == 0, "{out}");
    // tries=2: the refused send uses one try, the prompt shows why.
    let stack = Stack::new(&l.d.socket, "tries=2", &[])?;
    let (rc_, t, _) = sms_login(&l, &stack, "ann", |c| c.to_string())?;
    ensure!(rc_ == rc::SUCCESS, "{t}");
    let mut live = LiveLogin::start(&stack, "bob", None)?;
    live.expect("(or type: sms)", WAIT)?;
    live.answer("sms")?;
    live.expect(
        "No code sent: too many codes were sent to that number",
        WAIT,
    )?;
    ensure!(
        l.sms.nothing_within(Duration::from_secs(1)),
        "a text went out over the limit"
    );
    drop(live);
    Ok(())
}

#[test]
fn an_account_with_only_a_phone_logs_in_by_text_and_gets_recovery_codes() -> Result<()> {
    let l = lab(10)?;
    // Not enrolled: the number is its first method, so no code is asked
    // for first, and the recovery codes are shown once.
    let (code, out) = phone_add(&l, "bob", NUMBER)?;
    ensure!(
        code == 0 && out.contains("This number is how bob logs in now"),
        "{code}: {out}"
    );
    let codes: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix("    ")).collect();
    ensure!(codes.len() == 10, "{out}");
    let stack = Stack::new(&l.d.socket, "tries=1", &[])?;
    let (rc_, t, _) = sms_login(&l, &stack, "bob", |c| c.to_string())?;
    ensure!(rc_ == rc::SUCCESS, "{t}");
    let run = stack.login("bob", &[codes[0]])?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);
    Ok(())
}

#[test]
fn sms_typed_again_in_one_login_sends_no_second_text() -> Result<()> {
    let l = lab(10)?;
    l.d.enroll("ann")?;
    let (code, out) = phone_add(&l, "ann", NUMBER)?;
    ensure!(code == 0, "{out}");
    let stack = Stack::new(&l.d.socket, "tries=3", &[])?;
    let mut live = LiveLogin::start(&stack, "ann", None)?;
    live.expect("(or type: sms)", WAIT)?;
    live.answer("sms")?;
    live.expect("Code sent by text message to the number ending 67", WAIT)?;
    let msg = l.sms.next(WAIT)?;
    live.answer("sms")?;
    live.expect("A code was already sent by sms for this login.", WAIT)?;
    ensure!(
        l.sms.nothing_within(Duration::from_secs(1)),
        "a second text went out in one login"
    );
    // The first text's code still logs in.
    live.answer(&msg.code()?)?;
    let run = live.finish(WAIT)?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);
    Ok(())
}
