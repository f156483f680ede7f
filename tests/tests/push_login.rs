//! Push approval end to end on this machine: the real module through real
//! libpam, an in-process mfad, the real `mfa-gateway` running as `nobody`,
//! a loopback ntfy stand-in that checks every publish, and the approval
//! page driven in real headless Chromium. The test reads the number from
//! the login's prompt and types it on the page, as a student would.

use anyhow::{ensure, Context, Result};
use mfa_tests::push_lab::{click, Lab, WAIT};
use mfa_tests::{rc, LiveLogin};
use std::time::Duration;

#[test]
fn a_push_approved_on_the_page_with_the_login_s_number_logs_in() -> Result<()> {
    let lab = Lab::start()?;
    let stack = lab.stack("")?;
    let (mut login, number, link) = lab.push_login(&stack)?;
    let prompt = login.transcript.last().cloned().unwrap_or_default();
    ensure!(
        prompt.contains(&format!(
            "Approve on your phone with number {number}, or type a code, then press Enter"
        )),
        "{prompt}"
    );
    // What the page shows before anything is decided, and never the number.
    lab.browser.goto(&link)?;
    let page = lab.browser.page_text()?;
    for shown in ["ann", "testhost", "mfa-test", "192.0.2.7"] {
        ensure!(page.contains(shown), "page lacks {shown}: {page}");
    }
    ensure!(
        !mfa_tests::push_lab::shows_number(&page, &number),
        "the page shows the number: {page}"
    );
    ensure!(
        page.contains("Type the number shown at the login prompt"),
        "{page}"
    );
    // Enter alone waits; the approval arrives while it waits.
    login.answer("")?;
    lab.approve(&link, &number)?;
    let run = login.finish(WAIT)?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);
    // The link answers once.
    lab.browser.goto(&link)?;
    let again = lab.browser.page_text()?;
    ensure!(again.contains("expired or was already used"), "{again}");
    Ok(())
}

#[test]
fn a_wrong_number_is_auth_err_says_why_and_pauses_pushes() -> Result<()> {
    let lab = Lab::start()?;
    let stack = lab.stack("")?;
    let (mut login, number, link) = lab.push_login(&stack)?;
    let wrong = if number == "99" { "98" } else { "99" };
    let text = lab.decide(&link, wrong, "approve")?;
    ensure!(text.contains("does not match"), "{text}");
    login.answer("")?;
    let run = login.finish(WAIT)?;
    ensure!(run.rc == rc::AUTH_ERR, "{}", run.transcript);
    ensure!(
        run.transcript.contains("did not match"),
        "{}",
        run.transcript
    );
    // Whoever typed it did not see the prompt: pushes pause, codes work.
    lab.d.next_step();
    let code = mfa_tests::totp_at(&lab.secret, lab.d.now())?;
    let run = stack.login("ann", &[&code])?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);
    ensure!(
        run.transcript.contains("answered with the wrong number"),
        "{}",
        run.transcript
    );
    Ok(())
}

#[test]
fn deny_is_auth_err_and_says_why() -> Result<()> {
    let lab = Lab::start()?;
    let stack = lab.stack("")?;
    let (mut login, _, link) = lab.push_login(&stack)?;
    login.answer("")?;
    let text = lab.decide(&link, "", "deny")?;
    ensure!(text.to_lowercase().contains("denied"), "{text}");
    let run = login.finish(WAIT)?;
    ensure!(run.rc == rc::AUTH_ERR, "{}", run.transcript);
    ensure!(
        run.transcript.contains("denied on the phone"),
        "{}",
        run.transcript
    );
    Ok(())
}

#[test]
fn this_wasnt_me_blocks_the_next_push_and_the_login_says_why() -> Result<()> {
    let lab = Lab::start()?;
    let stack = lab.stack("")?;
    let (mut login, _, link) = lab.push_login(&stack)?;
    let text = lab.decide(&link, "", "report")?;
    ensure!(text.contains("Reported"), "{text}");
    login.answer("")?;
    let run = login.finish(WAIT)?;
    ensure!(run.rc == rc::AUTH_ERR, "{}", run.transcript);
    let before = lab.ntfy.requests();
    // The next login sends nothing, says why, and a code still works.
    lab.d.next_step();
    let code = mfa_tests::totp_at(&lab.secret, lab.d.now())?;
    let run = stack.login("ann", &[&code])?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);
    ensure!(
        run.transcript
            .contains("Push is not available: pushes are paused"),
        "{}",
        run.transcript
    );
    std::thread::sleep(Duration::from_millis(500));
    ensure!(
        lab.ntfy.requests() == before,
        "a push went out while blocked"
    );
    Ok(())
}

#[test]
fn a_typed_code_or_a_hang_up_ends_the_push_and_its_link() -> Result<()> {
    let lab = Lab::start()?;
    let stack = lab.stack("")?;
    // A code instead of waiting: success, and the link is dead.
    let (mut login, number, link) = lab.push_login(&stack)?;
    lab.d.next_step();
    login.answer(&mfa_tests::totp_at(&lab.secret, lab.d.now())?)?;
    let run = login.finish(WAIT)?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);
    let text = lab.decide_dead(&link, &number)?;
    ensure!(text.contains("expired or was already used"), "{text}");
    // ssh goes away while the login waits: the push is cancelled.
    let (mut login, number, link) = lab.push_login(&stack)?;
    login.answer("")?;
    std::thread::sleep(Duration::from_millis(300));
    login.hang_up()?;
    std::thread::sleep(Duration::from_millis(300));
    let text = lab.decide_dead(&link, &number)?;
    ensure!(text.contains("expired or was already used"), "{text}");
    Ok(())
}

#[test]
fn a_post_without_the_csrf_token_is_refused_and_the_push_still_works() -> Result<()> {
    let lab = Lab::start()?;
    let stack = lab.stack("")?;
    let (mut login, number, link) = lab.push_login(&stack)?;
    lab.browser.goto(&link)?;
    ensure!(
        lab.browser.remove_field("csrf")? == 1,
        "the page has one csrf field"
    );
    lab.browser.fill("number", &number)?;
    lab.browser.click_submit("decision", "approve")?;
    ensure!(
        lab.browser.status_hint()? == Some(403),
        "{:?}",
        lab.browser.status_hint()
    );
    login.answer("")?;
    lab.approve(&link, &number)?;
    let run = login.finish(WAIT)?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);
    Ok(())
}

#[test]
fn push_ask_sends_only_when_asked_and_a_stopped_gateway_leaves_codes_working() -> Result<()> {
    let mut lab = Lab::start()?;
    let stack = lab.stack("push=ask")?;
    let before = lab.ntfy.requests();
    let mut login = LiveLogin::start(&stack, "ann", None)?;
    login.expect("(or type: push)", WAIT)?;
    std::thread::sleep(Duration::from_millis(300));
    ensure!(
        lab.ntfy.requests() == before,
        "push=ask sent before being asked"
    );
    login.answer("push")?;
    let number = login.push_number(WAIT)?;
    let link = click(&lab.ntfy.next_publish(WAIT)?)?;
    login.answer("")?;
    lab.approve(&link, &number)?;
    ensure!(login.finish(WAIT)?.rc == rc::SUCCESS);

    // The gateway stops: a login says so at once and takes a code.
    let gw = lab.gateway.take().context("gateway")?;
    let status = gw.stop()?;
    ensure!(
        status.success(),
        "mfa-gateway exit status on SIGTERM: {status}"
    );
    // mfad counts a gateway that has not polled for 5 s as stopped.
    std::thread::sleep(Duration::from_secs(6));
    lab.d.next_step();
    let code = mfa_tests::totp_at(&lab.secret, lab.d.now())?;
    let run = lab.stack("")?.login("ann", &[&code])?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);
    ensure!(
        run.transcript
            .contains("Push is not available: the push service is not running."),
        "{}",
        run.transcript
    );
    ensure!(!run.transcript.contains("number "), "{}", run.transcript);
    Ok(())
}

#[test]
fn one_pam_handle_sends_one_push_whatever_the_number_of_methods() -> Result<()> {
    let lab = Lab::start()?;
    let stack = lab.stack("")?;
    let mut cmd = stack.command("ann", &[], None, &[])?;
    lab.d.next_step();
    let first = mfa_tests::totp_at(&lab.secret, lab.d.now())?;
    lab.d.next_step();
    let second = mfa_tests::totp_at(&lab.secret, lab.d.now())?;
    cmd.args(["--repeat", "2", "--answer", &first, "--answer", &second]);
    let before = lab.ntfy.requests();
    let run = mfa_tests::finish(cmd.output()?)?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);
    let prompts: Vec<_> = run
        .transcript
        .lines()
        .filter(|l| l.starts_with("[echo-off]"))
        .collect();
    ensure!(prompts.len() == 2, "{}", run.transcript);
    ensure!(
        prompts[0].contains("number ") && !prompts[1].contains("number "),
        "{prompts:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    // The first push may be cancelled (the code ended its login) before
    // the gateway fetched it, so it may or may not have been published.
    ensure!(
        lab.ntfy.requests() <= before + 1,
        "more than one push for one PAM handle"
    );
    Ok(())
}
