//! An SMS (or voice) provider stand-in: an HTTP API that takes a form
//! POST (`to`, `text`) and records each message with the Authorization
//! header it came with, the way the gateway's `http` provider calls a
//! common SMS API. Tests read the code out of the message like a phone.

use super::{header, recv, router_for, LoopbackServer, Req};
use anyhow::{anyhow, Result};
use axum::http::StatusCode;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One message the stand-in accepted.
#[derive(Debug, Clone)]
pub struct SmsMessage {
    pub path: String,
    pub to: String,
    pub text: String,
    pub authorization: Option<String>,
}

impl SmsMessage {
    /// The code a call reads out digit by digit ("4, 8, 2, ..."), from
    /// the first reading (before "Again").
    pub fn spoken_code(&self) -> Result<String> {
        let first = self.text.split("Again").next().unwrap_or("");
        let digits: String = first
            .rsplit(':')
            .next()
            .unwrap_or("")
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        match digits.len() {
            6..=8 => Ok(digits),
            _ => Err(anyhow!("no spoken code in {:?}", self.text)),
        }
    }

    /// The code in the text: the first run of 6 to 8 digits.
    pub fn code(&self) -> Result<String> {
        self.text
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| (6..=8).contains(&w.len()))
            .map(str::to_string)
            .ok_or_else(|| anyhow!("no code in {:?}", self.text))
    }
}

struct SmsState {
    tx: Mutex<Sender<SmsMessage>>,
}

pub struct SmsStandIn {
    rx: Mutex<Receiver<SmsMessage>>,
    server: LoopbackServer,
}

fn handle(state: &SmsState, req: Req) -> (StatusCode, String) {
    let form: Vec<(String, String)> = url_decode_form(&String::from_utf8_lossy(&req.body));
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let msg = SmsMessage {
        path: req.path,
        to: get("to"),
        text: get("text"),
        authorization: header(&req.headers, "authorization"),
    };
    if !msg.to.starts_with('+') || msg.text.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            "{\"error\":\"to and text\"}".into(),
        );
    }
    if let Ok(tx) = state.tx.lock() {
        let _ = tx.send(msg);
    }
    (StatusCode::OK, "{\"status\":\"queued\"}".into())
}

/// `application/x-www-form-urlencoded`, decoded.
fn url_decode_form(body: &str) -> Vec<(String, String)> {
    let dec = |s: &str| {
        let bytes = s.replace('+', " ").into_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match (bytes[i], hex) {
                (b'%', Some(v)) => {
                    out.push(v);
                    i += 3;
                }
                (b, _) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (dec(k), dec(v)),
            None => (dec(p), String::new()),
        })
        .collect()
}

impl SmsStandIn {
    pub fn start() -> Result<SmsStandIn> {
        let (tx, rx) = channel();
        let state = Arc::new(SmsState { tx: Mutex::new(tx) });
        let server = LoopbackServer::start(router_for(state, handle))?;
        Ok(SmsStandIn {
            rx: Mutex::new(rx),
            server,
        })
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The next message, waiting up to `timeout`.
    pub fn next(&self, timeout: Duration) -> Result<SmsMessage> {
        recv(&self.rx, timeout, "text message")
    }

    /// Whether a message arrives within `timeout` (for "nothing was sent").
    pub fn nothing_within(&self, timeout: Duration) -> bool {
        self.next(timeout).is_err()
    }
}
