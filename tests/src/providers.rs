//! Loopback stand-ins for the push providers the gateway talks to: an ntfy
//! server (JSON publish to `/`, bearer tokens, a failure mode for retry
//! tests) and a Standard Webhooks 1.0 receiver that checks signatures the
//! way a careful receiver does. Each is a real HTTP/1.1 server (axum) on
//! 127.0.0.1:<free port>, on its own thread and tokio runtime, stopped on
//! drop. Tests read what arrived with blocking, time-limited calls.

mod ntfy;
mod sms;
mod webhook;

pub use ntfy::{NtfyPublish, NtfyStandIn};
pub use sms::{SmsMessage, SmsStandIn};
pub use webhook::{
    verify_standard_webhook, WebhookDelivery, WebhookReceiver, WEBHOOK_TOLERANCE_SECS,
};

use anyhow::{anyhow, bail, Context, Result};
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::Router;
use base64::Engine as _;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An axum router served on 127.0.0.1:<free port> until drop.
pub struct LoopbackServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LoopbackServer {
    pub fn start(router: Router) -> Result<LoopbackServer> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                // Not a graceful shutdown: a browser's keep-alive connection
                // would hold it open. Dropping the runtime closes them all.
                tokio::select! {
                    _ = axum::serve(listener, router).into_future() => {}
                    _ = rx => {}
                }
            });
        });
        Ok(LoopbackServer {
            addr,
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One request as a handler sees it.
pub(crate) struct Req {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A router sending every request to `handle`.
pub(crate) fn router_for<S: Send + Sync + 'static>(
    state: Arc<S>,
    handle: fn(&S, Req) -> (StatusCode, String),
) -> Router {
    Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move {
                let path = uri.path().to_string();
                let (status, body) = handle(
                    &state,
                    Req {
                        method,
                        path,
                        headers,
                        body,
                    },
                );
                (status, [("content-type", "application/json")], body)
            }
        },
    )
}

pub(crate) fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

pub(crate) fn recv<T>(rx: &Mutex<Receiver<T>>, timeout: Duration, what: &str) -> Result<T> {
    let rx = rx.lock().map_err(|_| anyhow!("{what}: poisoned lock"))?;
    match rx.recv_timeout(timeout) {
        Ok(v) => Ok(v),
        Err(RecvTimeoutError::Timeout) => bail!("no {what} arrived within {timeout:?}"),
        Err(RecvTimeoutError::Disconnected) => bail!("{what}: server stopped"),
    }
}

/// A new Standard Webhooks secret: `whsec_` + base64 of 32 random bytes.
pub fn whsec_secret() -> Result<String> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| anyhow!("getrandom: {e}"))?;
    Ok(format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    ))
}

/// A new ntfy-style access token: `tk_` + 29 random [a-z0-9].
pub fn ntfy_token() -> Result<String> {
    Ok(format!("tk_{}", random_alnum(29)?))
}

pub(crate) fn random_alnum(n: usize) -> Result<String> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(n);
    while out.len() < n {
        let mut buf = [0u8; 64];
        getrandom::fill(&mut buf).map_err(|e| anyhow!("getrandom: {e}"))?;
        // 252 = 7 * 36: rejecting the rest keeps the choice uniform.
        out.extend(
            buf.iter()
                .filter(|b| **b < 252)
                .map(|b| ALPHABET[usize::from(*b) % 36] as char)
                .take(n - out.len()),
        );
    }
    Ok(out)
}

/// Write `value` (as is, no newline) to `path` with mode 0600.
pub fn write_secret_file(path: &Path, value: &str) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(value.as_bytes())?;
    Ok(())
}

/// POST `body` to `url` with `headers` (a plain blocking HTTP client for
/// tests); returns the status and the response body.
pub fn http_post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<(u16, String)> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let mut req = client.post(url).body(body.to_vec());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().with_context(|| format!("POST {url}"))?;
    let status = resp.status().as_u16();
    Ok((status, resp.text()?))
}
