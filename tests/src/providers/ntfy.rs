//! The ntfy stand-in: JSON publish (`POST /`, ntfy v2), bearer tokens
//! answered 403/401 as ntfy does, ntfy's own limits (topic required,
//! priority 1–5, at most 3 actions), and a failure mode for retry tests.

use super::{header, random_alnum, recv, router_for, LoopbackServer, Req};
use anyhow::Result;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One JSON publish the ntfy stand-in accepted.
#[derive(Debug, Clone)]
pub struct NtfyPublish {
    pub topic: String,
    pub title: Option<String>,
    pub message: Option<String>,
    pub priority: Option<u8>,
    pub click: Option<String>,
    pub tags: Vec<String>,
    /// The `actions` array as sent (at most 3 entries, as ntfy enforces).
    pub actions: Option<Value>,
    /// The `Authorization` header as sent.
    pub authorization: Option<String>,
    /// The whole JSON body.
    pub body: Value,
}

struct NtfyState {
    token: Option<String>,
    fail_next: AtomicUsize,
    fail_status: AtomicU16,
    requests: AtomicUsize,
    tx: Mutex<Sender<NtfyPublish>>,
}

/// An ntfy server stand-in: `POST /` with a JSON body, as in ntfy v2.
pub struct NtfyStandIn {
    state: Arc<NtfyState>,
    rx: Mutex<Receiver<NtfyPublish>>,
    server: LoopbackServer,
}

impl NtfyStandIn {
    /// Without `token`, anyone may publish; with it, only
    /// `Authorization: Bearer <token>` (403 without a header, 401 for a
    /// wrong one, as ntfy answers).
    pub fn start(token: Option<&str>) -> Result<NtfyStandIn> {
        let (tx, rx) = channel();
        let state = Arc::new(NtfyState {
            token: token.map(str::to_string),
            fail_next: AtomicUsize::new(0),
            fail_status: AtomicU16::new(500),
            requests: AtomicUsize::new(0),
            tx: Mutex::new(tx),
        });
        let server = LoopbackServer::start(router_for(state.clone(), ntfy_handle))?;
        Ok(NtfyStandIn {
            state,
            rx: Mutex::new(rx),
            server,
        })
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Answer the next `n` requests with HTTP `status` (e.g. 500, 503),
    /// recording nothing, before behaving normally again.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.state.fail_status.store(status, Ordering::SeqCst);
        self.state.fail_next.store(n, Ordering::SeqCst);
    }

    /// Requests received so far, failed and rejected ones included.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// The next accepted publish, waiting at most `timeout`.
    pub fn next_publish(&self, timeout: Duration) -> Result<NtfyPublish> {
        recv(&self.rx, timeout, "ntfy publish")
    }
}

fn ntfy_error(status: StatusCode, code: u32, error: &str) -> (StatusCode, String) {
    let body = json!({"code": code, "http": status.as_u16(), "error": error});
    (status, body.to_string())
}

fn ntfy_handle(st: &NtfyState, req: Req) -> (StatusCode, String) {
    st.requests.fetch_add(1, Ordering::SeqCst);
    let failing = st
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    if failing.is_ok() {
        let status = StatusCode::from_u16(st.fail_status.load(Ordering::SeqCst))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return ntfy_error(status, 50001, "stand-in failure mode");
    }
    if req.method != Method::POST && req.method != Method::PUT || req.path != "/" {
        return ntfy_error(StatusCode::NOT_FOUND, 40401, "page not found");
    }
    let authorization = header(&req.headers, "authorization");
    if let Some(token) = &st.token {
        match &authorization {
            None => return ntfy_error(StatusCode::FORBIDDEN, 40301, "forbidden"),
            Some(a) if *a != format!("Bearer {token}") => {
                return ntfy_error(StatusCode::UNAUTHORIZED, 40101, "unauthorized")
            }
            Some(_) => {}
        }
    }
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        return ntfy_error(
            StatusCode::BAD_REQUEST,
            40017,
            "invalid request: body must be JSON",
        );
    };
    let s = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
    let Some(topic) = s("topic").filter(|t| !t.is_empty()) else {
        return ntfy_error(StatusCode::BAD_REQUEST, 40009, "invalid topic");
    };
    let priority = match body.get("priority") {
        None => None,
        Some(p) => match p.as_u64().filter(|p| (1..=5).contains(p)) {
            Some(p) => Some(p as u8),
            None => return ntfy_error(StatusCode::BAD_REQUEST, 40007, "invalid priority"),
        },
    };
    let actions = body.get("actions").cloned();
    if actions
        .as_ref()
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
        > 3
    {
        return ntfy_error(StatusCode::BAD_REQUEST, 40018, "too many actions");
    }
    let tags = body
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let publish = NtfyPublish {
        topic: topic.clone(),
        title: s("title"),
        message: s("message"),
        priority,
        click: s("click"),
        tags,
        actions,
        authorization,
        body: body.clone(),
    };
    let answer = json!({
        "id": random_alnum(12).unwrap_or_default(),
        "time": crate::unix_now(),
        "expires": crate::unix_now() + 43_200,
        "event": "message",
        "topic": topic,
        "message": publish.message.clone().unwrap_or_default(),
    });
    if let Ok(tx) = st.tx.lock() {
        let _ = tx.send(publish);
    }
    (StatusCode::OK, answer.to_string())
}
