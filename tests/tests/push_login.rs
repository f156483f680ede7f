//! Push approval end to end on this machine: the real module through real
//! libpam, an in-process mfad, the real `mfa-gateway` running as `nobody`,
//! a loopback ntfy stand-in that checks every publish, and the approval
//! page driven in real headless Chromium. The test reads the number from
//! the login's prompt and types it on the page, as a student would.

use anyhow::{bail, ensure, Context, Result};
use mfa_tests::providers::ntfy_token;
use mfa_tests::{rc, Browser, Daemon, GatewayProcess, LiveLogin, NtfyStandIn, Providers, Stack};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

/// mfad with push on, the ntfy stand-in, the gateway, and ann enrolled
/// with the phone "pixel" added through `mfa push add` and Chromium.
struct Lab {
    d: Daemon,
    ntfy: NtfyStandIn,
    gateway: Option<GatewayProcess>,
    browser: Browser,
    token: String,
    secret: String,
}

impl Lab {
    fn start() -> Result<Lab> {
        let d =
            Daemon::start_with(|c| c.push.gateway_user = mfa_tests::gateway::GATEWAY_USER.into())?;
        let token = ntfy_token()?;
        let ntfy = NtfyStandIn::start(Some(&token))?;
        let gateway = GatewayProcess::start(
            &d.socket,
            Providers {
                ntfy: Some((&ntfy.url(), &token)),
                webhook: None,
            },
            "",
        )?;
        let e = d.enroll("ann")?;
        let browser = Browser::start()?;
        let mut lab = Lab {
            d,
            ntfy,
            gateway: Some(gateway),
            browser,
            token,
            secret: e.secret,
        };
        lab.add_phone()?;
        Ok(lab)
    }

    /// `mfa push add`: it prints the number, the test notification's link
    /// is opened and approved with it, and mfa exits 0.
    fn add_phone(&mut self) -> Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            let mut mfa = Command::new(mfa_tests::artifact("mfa")?)
                .arg("--socket")
                .arg(&self.d.socket)
                .args(["push", "add", "--user", "ann", "--name", "pixel"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()?;
            let mut out = BufReader::new(mfa.stdout.take().context("stdout")?).lines();
            let mut seen = String::new();
            let mut number = None;
            for line in out.by_ref() {
                let line = line?;
                seen.push_str(&line);
                seen.push('\n');
                if let Some(n) = mfa_tests::pam_live::number_in(&line) {
                    number = Some(n);
                    break;
                }
            }
            let Some(number) = number else {
                let err = mfa.wait_with_output()?;
                let stderr = String::from_utf8_lossy(&err.stderr).into_owned();
                // The gateway has not polled mfad yet: it is starting.
                if stderr.contains("not running") && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(200));
                    continue;
                }
                bail!("mfa push add showed no number: {seen} {stderr}");
            };
            ensure!(
                seen.contains("Topic:") && seen.contains("Server:"),
                "{seen}"
            );
            let publish = self.ntfy.next_publish(WAIT)?;
            ensure!(
                publish.authorization.as_deref() == Some(&format!("Bearer {}", self.token)),
                "bearer token: {:?}",
                publish.authorization
            );
            ensure!(
                seen.contains(&publish.topic),
                "the topic shown is the one published to"
            );
            ensure!(
                publish.topic.len() >= 26,
                "topic of at least 128 bits: {}",
                publish.topic
            );
            self.approve(&click(&publish)?, &number)?;
            let rest: Vec<String> = out.map_while(Result::ok).collect();
            let status = mfa.wait()?;
            ensure!(status.success(), "mfa push add exited {status}: {rest:?}");
            ensure!(
                rest.iter()
                    .any(|l| l.contains("now approves logins of ann")),
                "{rest:?}"
            );
            return Ok(());
        }
    }

    /// Open `link`, type `number`, press the button for `decision`;
    /// the page's text afterwards.
    fn decide(&self, link: &str, number: &str, decision: &str) -> Result<String> {
        self.browser.goto(link)?;
        self.browser.fill("number", number)?;
        self.browser.click_submit("decision", decision)?;
        self.browser.page_text()
    }

    fn approve(&self, link: &str, number: &str) -> Result<()> {
        let text = self.decide(link, number, "approve")?;
        ensure!(text.contains("Approved"), "{text}");
        Ok(())
    }

    fn stack(&self, args: &str) -> Result<Stack> {
        Stack::new(&self.d.socket, args, &[])
    }

    /// A login that reaches its push prompt: (login, number, link).
    fn push_login(&self, stack: &Stack) -> Result<(LiveLogin, String, String)> {
        let mut login = LiveLogin::start(stack, "ann", Some("192.0.2.7"))?;
        let number = login.push_number(WAIT)?;
        let publish = self.ntfy.next_publish(WAIT)?;
        let said = format!("{:?} {:?}", publish.title, publish.message);
        ensure!(
            !said.contains(&number),
            "the notification shows the number: {said}"
        );
        Ok((login, number, click(&publish)?))
    }
}

/// The approval link of a publish, which is also its view action.
fn click(p: &mfa_tests::NtfyPublish) -> Result<String> {
    let link = p.click.clone().context("no click link")?;
    let actions = p.actions.clone().unwrap_or_default();
    ensure!(
        actions[0]["action"] == "view" && actions[0]["url"] == link.as_str(),
        "{actions}"
    );
    ensure!(p.priority.is_some() && p.title.is_some(), "{:?}", p.body);
    Ok(link)
}

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
    ensure!(!page.contains(&number), "the page shows the number: {page}");
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
fn a_wrong_number_or_deny_is_auth_err_and_says_why() -> Result<()> {
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

impl Lab {
    /// Open a link that should no longer work; its page's text.
    fn decide_dead(&self, link: &str, number: &str) -> Result<String> {
        self.browser.goto(link)?;
        let text = self.browser.page_text()?;
        if text.contains("expired or was already used") {
            return Ok(text);
        }
        // Still a form: submitting must not approve anything.
        self.decide(link, number, "approve")
    }
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

    // The gateway stops: the login says so and takes a code.
    let gw = lab.gateway.take().context("gateway")?;
    let status = gw.stop()?;
    ensure!(
        status.success(),
        "mfa-gateway exit status on SIGTERM: {status}"
    );
    std::thread::sleep(Duration::from_secs(1));
    lab.d.next_step();
    let code = mfa_tests::totp_at(&lab.secret, lab.d.now())?;
    // Not polled for 45 s counts as stopped; until then the push is queued
    // and never delivered, which the login also survives with a code.
    let run = lab.stack("push=off")?.login("ann", &[&code])?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);
    ensure!(
        !run.transcript.contains("number "),
        "push=off showed a push: {}",
        run.transcript
    );
    Ok(())
}
