//! One push delivery: the request for its provider (ntfy or webhook), a
//! bounded number of attempts (a rule the phone codes' HTTP APIs share),
//! and a short reason when it fails. Reasons name the kind of failure
//! only: a webhook URL may hold a secret of its own, and topics and tokens
//! must never reach a log or mfad's database.

use crate::link::approval_link;
use crate::secrets::{NtfyToken, WebhookKey};
use crate::{ntfy, webhook};
use mfa_proto::push::{Delivery, Provider};
use reqwest::{StatusCode, Url};
use std::time::Duration;

/// Pause before each retry: 0.5 s, then 1 s.
const BACKOFF: [Duration; 2] = [Duration::from_millis(500), Duration::from_secs(1)];
/// Longest reason text passed on to mfad.
const MAX_REASON: usize = 160;

pub struct NtfyTarget {
    /// The server root; the topic goes in the body.
    pub url: Url,
    pub token: Option<NtfyToken>,
    pub priority: u8,
}

pub struct WebhookTarget {
    pub url: Url,
    pub key: WebhookKey,
}

/// Everything needed to deliver pushes.
pub struct Deliverer {
    http: reqwest::Client,
    ntfy: Option<NtfyTarget>,
    webhook: Option<WebhookTarget>,
    link_base: String,
    retries: u32,
}

/// How a delivery went: after how many attempts, and why it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub attempts: u32,
    pub result: Result<(), String>,
}

pub(crate) enum Failure {
    /// A network error, a 5xx or a 429: worth another attempt.
    Retry(String),
    Final(String),
}

/// Make attempts until one succeeds, one fails for good, or `retries`
/// further attempts were made after the first, pausing per [`BACKOFF`].
/// Shared by pushes and phone codes, so both follow the same rule.
pub(crate) async fn retrying<F, Fut>(retries: u32, mut attempt: F) -> Outcome
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), Failure>>,
{
    let mut attempts = 0;
    loop {
        attempts += 1;
        match attempt().await {
            Ok(()) => {
                return Outcome {
                    attempts,
                    result: Ok(()),
                }
            }
            Err(Failure::Retry(_)) if attempts <= retries => {
                let pause = BACKOFF[(attempts as usize - 1).min(BACKOFF.len() - 1)];
                tokio::time::sleep(pause).await;
            }
            Err(Failure::Retry(reason) | Failure::Final(reason)) => {
                return Outcome {
                    attempts,
                    result: Err(reason),
                }
            }
        }
    }
}

/// A request body made once, so retries send the same bytes.
enum Prepared<'a> {
    Ntfy(&'a NtfyTarget, Vec<u8>),
    Webhook(&'a WebhookTarget, Vec<u8>),
}

impl Deliverer {
    pub fn new(
        link_base: &str,
        ntfy: Option<NtfyTarget>,
        webhook: Option<WebhookTarget>,
        timeout: Duration,
        retries: u32,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A redirect would be followed with the body (and, within the
            // host, the token): a misconfiguration to report, not follow.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mfa-gateway/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Deliverer {
            http,
            ntfy,
            webhook,
            link_base: link_base.trim_end_matches('/').to_owned(),
            retries,
        })
    }

    /// The providers configured here, for the `GatewayInfo` of each poll.
    pub fn providers(&self) -> Vec<Provider> {
        let mut p = Vec::new();
        if self.ntfy.is_some() {
            p.push(Provider::Ntfy);
        }
        if self.webhook.is_some() {
            p.push(Provider::Webhook);
        }
        p
    }

    /// Deliver `d`, retrying only what may succeed later.
    pub async fn deliver(&self, d: &Delivery) -> Outcome {
        let link = approval_link(&self.link_base, d.token.expose());
        let prepared = match self.prepare(d, &link) {
            Ok(p) => p,
            Err(reason) => {
                return Outcome {
                    attempts: 0,
                    result: Err(reason),
                }
            }
        };
        retrying(self.retries, || self.attempt(d, &prepared)).await
    }

    fn prepare<'a>(&'a self, d: &Delivery, link: &str) -> Result<Prepared<'a>, String> {
        let not_configured =
            |p: Provider| format!("provider {} is not configured on the gateway", p.as_str());
        let encoding = |_| "cannot encode the message".to_string();
        match d.provider {
            Provider::Ntfy => {
                let target = self
                    .ntfy
                    .as_ref()
                    .ok_or_else(|| not_configured(Provider::Ntfy))?;
                let topic = d
                    .topic
                    .as_ref()
                    .map(|t| t.expose())
                    .filter(|t| !t.is_empty())
                    .ok_or("the push has no ntfy topic")?;
                let body = serde_json::to_vec(&ntfy::publish(d, topic, link, target.priority))
                    .map_err(encoding)?;
                Ok(Prepared::Ntfy(target, body))
            }
            Provider::Webhook => {
                let target = self
                    .webhook
                    .as_ref()
                    .ok_or_else(|| not_configured(Provider::Webhook))?;
                let body = webhook::body(d, link).map_err(encoding)?;
                Ok(Prepared::Webhook(target, body))
            }
        }
    }

    async fn attempt(&self, d: &Delivery, prepared: &Prepared<'_>) -> Result<(), Failure> {
        let req = match prepared {
            Prepared::Ntfy(target, body) => {
                let req = self
                    .http
                    .post(target.url.clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
                match &target.token {
                    // bearer_auth marks the header sensitive for reqwest.
                    Some(token) => req.bearer_auth(token.expose()),
                    None => req,
                }
            }
            Prepared::Webhook(target, body) => {
                let now = unix_now();
                let mut req = self.http.post(target.url.clone()).body(body.clone());
                for (name, value) in webhook::headers(target.key.expose(), &d.id, now, body) {
                    req = req.header(name, value);
                }
                req
            }
        };
        match req.send().await {
            Ok(resp) => judge(resp.status()),
            Err(e) => Err(Failure::Retry(describe(&e))),
        }
    }
}

pub(crate) fn judge(status: StatusCode) -> Result<(), Failure> {
    if status.is_success() {
        return Ok(());
    }
    let reason = format!("the server answered {status}");
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        Err(Failure::Retry(reason))
    } else {
        Err(Failure::Final(reason))
    }
}

/// What went wrong, without the URL reqwest would print: the innermost
/// cause (e.g. "Connection refused", a certificate error) is the useful part.
pub(crate) fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut inner: &dyn std::error::Error = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    let what = if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let text = if std::ptr::addr_eq(inner, e) {
        what.to_string()
    } else {
        format!("{what}: {inner}")
    };
    text.chars().take(MAX_REASON).collect()
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_server_errors_and_429_are_retried() {
        assert!(judge(StatusCode::OK).is_ok());
        assert!(judge(StatusCode::ACCEPTED).is_ok());
        for s in [503, 500, 429] {
            let s = StatusCode::from_u16(s).unwrap_or(StatusCode::OK);
            assert!(matches!(judge(s), Err(Failure::Retry(_))), "{s}");
        }
        for s in [400, 401, 403, 404, 301] {
            let s = StatusCode::from_u16(s).unwrap_or(StatusCode::OK);
            assert!(matches!(judge(s), Err(Failure::Final(_))), "{s}");
        }
    }
}
