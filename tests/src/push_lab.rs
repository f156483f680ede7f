//! A small lab for push tests: an in-process mfad with push on, the ntfy
//! stand-in and a Standard Webhooks receiver, the real gateway as
//! `nobody`, headless Chromium, and ann enrolled with the phone "pixel"
//! added through `mfa push add` and the approval page.

use crate::providers::{ntfy_token, whsec_secret};
use crate::{
    Browser, Daemon, GatewayProcess, LiveLogin, NtfyStandIn, Providers, Stack, WebhookDelivery,
    WebhookReceiver,
};
use anyhow::{bail, ensure, Context, Result};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const WAIT: Duration = Duration::from_secs(10);

/// mfad with push on, the ntfy stand-in, the webhook receiver, the
/// gateway, and ann enrolled with the phone "pixel" (ntfy) added through
/// `mfa push add` and Chromium.
pub struct Lab {
    pub d: Daemon,
    pub ntfy: NtfyStandIn,
    pub webhook: WebhookReceiver,
    pub gateway: Option<GatewayProcess>,
    pub browser: Browser,
    pub token: String,
    pub whsec: String,
    pub secret: String,
}

impl Lab {
    pub fn start() -> Result<Lab> {
        Lab::start_with(|_| {})
    }

    /// [`Lab::start`] with mfad's configuration changed by `edit`.
    pub fn start_with(edit: impl FnOnce(&mut mfad::config::Config)) -> Result<Lab> {
        let d = Daemon::start_with(|c| {
            c.push.gateway_user = crate::gateway::GATEWAY_USER.into();
            edit(c)
        })?;
        let token = ntfy_token()?;
        let whsec = whsec_secret()?;
        let ntfy = NtfyStandIn::start(Some(&token))?;
        let webhook = WebhookReceiver::start(&whsec)?;
        let gateway = GatewayProcess::start(
            &d.socket,
            Providers {
                ntfy: Some((&ntfy.url(), &token)),
                webhook: Some((&webhook.url(), &whsec)),
                sms: None,
                voice: None,
            },
            "",
        )?;
        let e = d.enroll("ann")?;
        let browser = Browser::start()?;
        let mut lab = Lab {
            d,
            ntfy,
            webhook,
            gateway: Some(gateway),
            browser,
            token,
            whsec,
            secret: e.secret,
        };
        lab.add_phone("ann", "pixel", "ntfy")?;
        Ok(lab)
    }

    /// `mfa push add`: it prints the number, the test notification's link
    /// is opened and approved with it, and mfa exits 0.
    pub fn add_phone(&mut self, user: &str, label: &str, provider: &str) -> Result<()> {
        let (status, rest) = self.push_add(user, label, provider, "approve")?;
        ensure!(status.success(), "mfa push add exited {status}: {rest:?}");
        ensure!(
            rest.iter()
                .any(|l| l.contains(&format!("now approves logins of {user}"))),
            "{rest:?}"
        );
        Ok(())
    }

    /// `mfa push add`, answered on the page with `decision` (and the
    /// number shown): its exit status and what it printed after.
    pub fn push_add(
        &mut self,
        user: &str,
        label: &str,
        provider: &str,
        decision: &str,
    ) -> Result<(std::process::ExitStatus, Vec<String>)> {
        let deadline = Instant::now() + WAIT;
        loop {
            let mut mfa = Command::new(crate::artifact("mfa")?)
                .arg("--socket")
                .arg(&self.d.socket)
                .args([
                    "push",
                    "add",
                    "--user",
                    user,
                    "--name",
                    label,
                    "--provider",
                    provider,
                ])
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
                if let Some(n) = crate::pam_live::number_in(&line) {
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
            let link = if provider == "ntfy" {
                self.ntfy_link(&seen)?
            } else {
                let hook = self.webhook.next_webhook(WAIT)?;
                ensure!(hook.body["type"] == "push.test", "{}", hook.body);
                webhook_link(&hook)?
            };
            self.decide(&link, &number, decision)?;
            let mut rest: Vec<String> = out.map_while(Result::ok).collect();
            let err = mfa.wait_with_output()?;
            rest.push(String::from_utf8_lossy(&err.stderr).into_owned());
            return Ok((err.status, rest));
        }
    }

    /// The link of the next ntfy publish of a test notification, checked
    /// against what `mfa push add` showed (`seen`).
    fn ntfy_link(&self, seen: &str) -> Result<String> {
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
        click(&publish)
    }

    /// Open `link`, type `number`, press the button for `decision`;
    /// the page's text afterwards.
    pub fn decide(&self, link: &str, number: &str, decision: &str) -> Result<String> {
        self.browser.goto(link)?;
        self.browser.fill("number", number)?;
        self.browser.click_submit("decision", decision)?;
        self.browser.page_text()
    }

    pub fn approve(&self, link: &str, number: &str) -> Result<()> {
        let text = self.decide(link, number, "approve")?;
        ensure!(text.contains("Approved"), "{text}");
        Ok(())
    }

    pub fn stack(&self, args: &str) -> Result<Stack> {
        Stack::new(&self.d.socket, args, &[])
    }

    /// A login that reaches its push prompt: (login, number, link).
    pub fn push_login(&self, stack: &Stack) -> Result<(LiveLogin, String, String)> {
        let mut login = LiveLogin::start(stack, "ann", Some("192.0.2.7"))?;
        let number = login.push_number(WAIT)?;
        let publish = self.ntfy.next_publish(WAIT)?;
        let said = format!("{:?} {:?}", publish.title, publish.message);
        ensure!(
            !shows_number(&said, &number),
            "the notification shows the number: {said}"
        );
        Ok((login, number, click(&publish)?))
    }
}

/// The approval link of a publish, which is also its view action.
pub fn click(p: &crate::NtfyPublish) -> Result<String> {
    let link = p.click.clone().context("no click link")?;
    let actions = p.actions.clone().unwrap_or_default();
    ensure!(
        actions[0]["action"] == "view" && actions[0]["url"] == link.as_str(),
        "{actions}"
    );
    ensure!(p.priority.is_some() && p.title.is_some(), "{:?}", p.body);
    Ok(link)
}

impl Lab {
    /// Open a link that should no longer work; its page's text.
    pub fn decide_dead(&self, link: &str, number: &str) -> Result<String> {
        self.browser.goto(link)?;
        let text = self.browser.page_text()?;
        if text.contains("expired or was already used") {
            return Ok(text);
        }
        // Still a form: submitting must not approve anything.
        self.decide(link, number, "approve")
    }
}

/// The approval link of a verified webhook, after checking the fields a
/// receiver relies on.
pub fn webhook_link(hook: &WebhookDelivery) -> Result<String> {
    let b = &hook.body;
    for field in [
        "approve_url",
        "user",
        "host",
        "service",
        "rhost",
        "created_at",
    ] {
        ensure!(b.get(field).is_some(), "webhook body lacks {field}: {b}");
    }
    ensure!(b["created_at"].is_i64(), "created_at is Unix seconds: {b}");
    ensure!(
        hook.id == b["id"].as_str().unwrap_or_default(),
        "webhook-id is the push id"
    );
    b["approve_url"]
        .as_str()
        .map(str::to_string)
        .context("approve_url is not a string")
}

/// Whether `text` shows `number` as a number of its own (not as digits
/// of an address or a time: lines with a UTC time are skipped, since a
/// two-digit number is bound to turn up in "03:33:30").
pub fn shows_number(text: &str, number: &str) -> bool {
    text.lines()
        .filter(|l| !l.contains("UTC"))
        .flat_map(|l| l.split(|c: char| !c.is_ascii_digit()))
        .any(|t| t == number)
}
