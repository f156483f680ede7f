//! The Standard Webhooks 1.0 receiver: checks `webhook-id`,
//! `webhook-timestamp` (±5 minutes of its clock) and the `v1,` HMAC-SHA256
//! signatures in constant time, keeps what verified, counts what did not.

use super::{header, recv, router_for, LoopbackServer, Req};
use anyhow::{anyhow, bail, Context, Result};
use axum::http::{Method, StatusCode};
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Standard Webhooks: a timestamp may be this far from now, either way.
pub const WEBHOOK_TOLERANCE_SECS: i64 = 5 * 60;

/// One webhook whose signature verified.
#[derive(Debug, Clone)]
pub struct WebhookDelivery {
    pub path: String,
    pub id: String,
    pub timestamp: i64,
    pub signature: String,
    /// Every header, lower-case names.
    pub headers: Vec<(String, String)>,
    pub raw: Vec<u8>,
    pub body: Value,
}

impl WebhookDelivery {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

type UnixClock = Box<dyn Fn() -> i64 + Send + Sync>;

struct WebhookState {
    secret: String,
    clock: UnixClock,
    tx: Mutex<Sender<WebhookDelivery>>,
    rejections: Mutex<Vec<String>>,
}

/// A Standard Webhooks 1.0 receiver: 200 for a verified POST, 401 (and a
/// recorded rejection) for a missing, stale or wrong signature.
pub struct WebhookReceiver {
    state: Arc<WebhookState>,
    rx: Mutex<Receiver<WebhookDelivery>>,
    server: LoopbackServer,
}

impl WebhookReceiver {
    /// Verify with `secret` (`whsec_…`) against the real clock.
    pub fn start(secret: &str) -> Result<WebhookReceiver> {
        WebhookReceiver::start_with_clock(secret, crate::unix_now)
    }

    /// Verify against a clock the test chooses (Unix seconds).
    pub fn start_with_clock(
        secret: &str,
        clock: impl Fn() -> i64 + Send + Sync + 'static,
    ) -> Result<WebhookReceiver> {
        webhook_key(secret)?;
        let (tx, rx) = channel();
        let state = Arc::new(WebhookState {
            secret: secret.to_string(),
            clock: Box::new(clock),
            tx: Mutex::new(tx),
            rejections: Mutex::new(vec![]),
        });
        let server = LoopbackServer::start(router_for(state.clone(), webhook_handle))?;
        Ok(WebhookReceiver {
            state,
            rx: Mutex::new(rx),
            server,
        })
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The next verified webhook, waiting at most `timeout`.
    pub fn next_webhook(&self, timeout: Duration) -> Result<WebhookDelivery> {
        recv(&self.rx, timeout, "verified webhook")
    }

    /// How many requests were rejected so far.
    pub fn rejections(&self) -> usize {
        self.rejection_reasons().len()
    }

    /// Why each rejected request was rejected, oldest first.
    pub fn rejection_reasons(&self) -> Vec<String> {
        self.state
            .rejections
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

fn webhook_handle(st: &WebhookState, req: Req) -> (StatusCode, String) {
    let reject = |status: StatusCode, why: String| {
        if let Ok(mut r) = st.rejections.lock() {
            r.push(why.clone());
        }
        (status, json!({ "error": why }).to_string())
    };
    if req.method != Method::POST {
        return reject(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method {}", req.method),
        );
    }
    let h = |n: &str| header(&req.headers, n);
    let (Some(id), Some(ts), Some(sig)) = (
        h("webhook-id"),
        h("webhook-timestamp"),
        h("webhook-signature"),
    ) else {
        return reject(StatusCode::UNAUTHORIZED, "missing webhook-* header".into());
    };
    let now = (st.clock)();
    if let Err(e) = verify_standard_webhook(&st.secret, &id, &ts, &req.body, &sig, now) {
        return reject(StatusCode::UNAUTHORIZED, format!("{e:#}"));
    }
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        return reject(StatusCode::BAD_REQUEST, "signed body is not JSON".into());
    };
    let headers = req
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let delivery = WebhookDelivery {
        path: req.path,
        id,
        timestamp: ts.parse().unwrap_or(0),
        signature: sig,
        headers,
        raw: req.body.to_vec(),
        body,
    };
    if let Ok(tx) = st.tx.lock() {
        let _ = tx.send(delivery);
    }
    (StatusCode::OK, "{}".into())
}

/// The HMAC key of a `whsec_…` secret: the base64-decoded part.
fn webhook_key(secret: &str) -> Result<Vec<u8>> {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .context("webhook secret is not whsec_<base64>")
}

/// Standard Webhooks 1.0 verification: `timestamp` within ±5 minutes of
/// `now`, and one `v1,<base64>` entry of the space-separated `signature`
/// equal (in constant time) to HMAC-SHA256(key, "{id}.{timestamp}.{body}").
pub fn verify_standard_webhook(
    secret: &str,
    id: &str,
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now: i64,
) -> Result<()> {
    let ts: i64 = timestamp
        .parse()
        .context("webhook-timestamp is not a number")?;
    if (now - ts).abs() > WEBHOOK_TOLERANCE_SECS {
        bail!("webhook-timestamp {ts} is more than 5 minutes from now ({now})");
    }
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&webhook_key(secret)?)
        .map_err(|_| anyhow!("bad HMAC key"))?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let b64 = base64::engine::general_purpose::STANDARD;
    let matched = signature
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|sig| b64.decode(sig).ok())
        .any(|sig| mac.clone().verify_slice(&sig).is_ok());
    if !matched {
        bail!("no v1 signature matches");
    }
    Ok(())
}
