//! The phone's side of a push for the benchmark: the ntfy stand-in's
//! publishes stamped with the instant they arrived, the approval page
//! spoken to with a plain HTTP client (GET for its CSRF field, then the
//! decision's POST, as the page's form sends it), and adding a push target
//! to an account through mfad's protocol as root (`push_add`, the test
//! push approved on the page, `push_wait`), which is what `mfa push add`
//! does.

use crate::daemon::Mfad;
use anyhow::{anyhow, bail, ensure, Context, Result};
use mfa_proto::{ErrorCode, Request, Response};
use mfa_tests::{NtfyPublish, NtfyStandIn};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

/// Forward every publish the stand-in accepts to `tx` with the instant it
/// arrived, until `stop` is set. Run it on a thread of its own, so the
/// stamp does not wait for the harness to look.
pub fn forward_publishes(
    ntfy: &NtfyStandIn,
    tx: Sender<(Instant, NtfyPublish)>,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::Relaxed) {
        if let Ok(p) = ntfy.next_publish(Duration::from_millis(100)) {
            if tx.send((Instant::now(), p)).is_err() {
                return;
            }
        }
    }
}

/// The next publish: when it arrived, and its approval link.
pub fn next_link(
    rx: &Receiver<(Instant, NtfyPublish)>,
    within: Duration,
) -> Result<(Instant, String)> {
    let (at, p) = rx
        .recv_timeout(within)
        .map_err(|_| anyhow!("no ntfy publish within {within:?}"))?;
    let link = p.click.context("a publish without a click link")?;
    Ok((at, link))
}

/// Drop publishes already received (from a push that was not used).
pub fn drain(rx: &Receiver<(Instant, NtfyPublish)>) -> usize {
    rx.try_iter().count()
}

/// A browser-like HTTP client for the approval page: one keep-alive
/// connection reused from the GET to the POST.
pub struct Page {
    http: reqwest::blocking::Client,
}

impl Page {
    pub fn new() -> Result<Page> {
        Ok(Page {
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()?,
        })
    }

    /// GET the page: the value of its hidden `csrf` field.
    pub fn open(&self, link: &str) -> Result<String> {
        let resp = self.http.get(link).send().with_context(|| "GET the page")?;
        let status = resp.status().as_u16();
        let html = resp.text()?;
        ensure!(status == 200, "GET the page: HTTP {status}: {html}");
        let at = html
            .find("name=\"csrf\" value=\"")
            .ok_or_else(|| anyhow!("the page has no csrf field: {html}"))?;
        let rest = &html[at + "name=\"csrf\" value=\"".len()..];
        let end = rest.find('"').ok_or_else(|| anyhow!("odd csrf field"))?;
        Ok(rest[..end].to_string())
    }

    /// POST `decision` with `number` and `csrf`, as the form does: the
    /// status and the page's text.
    pub fn decide(
        &self,
        link: &str,
        csrf: &str,
        number: &str,
        decision: &str,
    ) -> Result<(u16, String)> {
        let resp = self
            .http
            .post(link)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf={csrf}&number={number}&decision={decision}"))
            .send()
            .with_context(|| "POST the decision")?;
        let status = resp.status().as_u16();
        Ok((status, resp.text()?))
    }

    /// Open `link` and approve it with `number`; fails unless approved.
    pub fn approve(&self, link: &str, number: &str) -> Result<()> {
        let csrf = self.open(link)?;
        let (status, text) = self.decide(link, &csrf, number, "approve")?;
        ensure!(
            status == 200 && text.contains("Approved"),
            "{status}: {text}"
        );
        Ok(())
    }
}

/// Add the push target `label` to `user` (enrolled) as root, approving
/// the test push on the page; waits up to 10 s for the gateway to poll.
pub fn add_target(
    mfad: &Mfad,
    user: &str,
    label: &str,
    publishes: &Receiver<(Instant, NtfyPublish)>,
    page: &Page,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut client = mfad.client()?;
    let req = Request::PushAdd {
        user: user.into(),
        provider: None,
        label: Some(label.into()),
        current_code: None,
    };
    let (id, number) = loop {
        match client.call(&req)? {
            Response::PushEnroll(e) => break (e.id, e.number),
            // The gateway has not polled mfad yet: it is starting.
            Response::Error {
                code: ErrorCode::Unavailable,
                ..
            } if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            other => bail!("push_add {user}: {other:?}"),
        }
    };
    let (_, link) = next_link(publishes, Duration::from_secs(10))?;
    std::thread::scope(|s| -> Result<()> {
        let waiter = s.spawn(move || client.call(&Request::PushWait { id }));
        page.approve(&link, &number)?;
        match waiter.join().map_err(|_| anyhow!("push_wait panicked"))?? {
            Response::Verified { .. } => Ok(()),
            other => bail!("push_wait for {user}'s test push: {other:?}"),
        }
    })
}
