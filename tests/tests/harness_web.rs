//! Proves the push-approval test harness itself, with real components: a
//! real headless Chromium (through chromedriver) submitting a real form to a
//! loopback server, and the ntfy and Standard Webhooks stand-ins answering
//! real HTTP requests, checked against the Standard Webhooks reference
//! vector.

use anyhow::{bail, ensure, Result};
use axum::body::Bytes;
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use mfa_tests::providers::{
    http_post, ntfy_token, verify_standard_webhook, whsec_secret, write_secret_file, LoopbackServer,
};
use mfa_tests::{unix_now, Browser, NtfyStandIn, WebhookReceiver};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(5);

const FORM: &str = r#"<!doctype html><html><head><title>Approve login</title></head>
<body><h1>Approve the login?</h1>
<form method="post" action="/submit">
  <input type="hidden" name="csrf" value="t0k3n">
  <label>Number shown at login <input name="number" inputmode="numeric"></label>
  <button type="submit" name="decision" value="approve">Approve</button>
  <button type="submit" name="decision" value="deny">Deny</button>
</form></body></html>"#;

/// A page with the approval form; every submitted body goes to `tx`.
fn form_server(tx: Sender<String>) -> Result<LoopbackServer> {
    let tx = Arc::new(Mutex::new(tx));
    let router = Router::new()
        .route("/", get(|| async { Html(FORM) }))
        .route(
            "/submit",
            axum::routing::post(move |body: Bytes| {
                let body = String::from_utf8_lossy(&body).into_owned();
                if let Ok(tx) = tx.lock() {
                    let _ = tx.send(body.clone());
                }
                async move { Html(format!("<p>received: {body}</p>")) }
            }),
        );
    LoopbackServer::start(router)
}

#[test]
fn chromium_fills_and_submits_a_form_and_leaves_no_process() -> Result<()> {
    let (tx, rx) = channel();
    let server = form_server(tx)?;

    let t = Instant::now();
    let browser = Browser::start()?;
    let started = t.elapsed();
    let (profile, driver_pid) = (browser.profile_dir(), browser.driver_pid());

    let t = Instant::now();
    browser.goto(&format!("{}/", server.url()))?;
    let first_page = t.elapsed();
    let text = browser.page_text()?;
    ensure!(text.contains("Approve the login?"), "page text {text:?}");
    ensure!(
        browser.status_hint()? == Some(200),
        "status of the form page"
    );
    browser.fill("number", "42")?;
    let t = Instant::now();
    browser.click_submit("decision", "approve")?;
    let submit = t.elapsed();
    let got = rx.recv_timeout(WAIT)?;
    ensure!(
        got == "csrf=t0k3n&number=42&decision=approve",
        "server got {got:?}"
    );
    ensure!(browser
        .page_text()?
        .contains("received: csrf=t0k3n&number=42"));
    ensure!(browser.current_url()?.ends_with("/submit"));
    ensure!(browser.source()?.contains("<p>received:"));

    // The same form with fields removed from the page (no CSRF token, no
    // number): the server sees only what is left.
    browser.goto(&format!("{}/", server.url()))?;
    ensure!(browser.remove_field("csrf")? == 1);
    ensure!(browser.remove_field("number")? == 1);
    browser.click_submit("decision", "deny")?;
    let got = rx.recv_timeout(WAIT)?;
    ensure!(got == "decision=deny", "server got {got:?}");

    // A missing page: the status comes through.
    browser.goto(&format!("{}/nothing-here", server.url()))?;
    ensure!(browser.status_hint()? == Some(404));
    browser.screenshot(&profile.join("last.png"))?;

    let t = Instant::now();
    drop(browser);
    let dropped = t.elapsed();
    eprintln!(
        "browser costs: start {started:?}, first page {first_page:?}, \
         submit {submit:?}, drop {dropped:?}"
    );
    assert_gone(&profile, driver_pid)
}

/// Nothing of a dropped Browser is left, not even a zombie: none naming its
/// profile folder, none in its process group (chromedriver's pid), and no
/// chromedriver; its profile folder is removed.
fn assert_gone(profile: &Path, driver_pid: u32) -> Result<()> {
    for args in [
        vec!["-f".to_string(), profile.to_string_lossy().into_owned()],
        vec!["-g".to_string(), driver_pid.to_string()],
    ] {
        let left = Command::new("pgrep").args(&args).output()?;
        ensure!(
            left.stdout.is_empty(),
            "processes left (pgrep {args:?}): {}",
            String::from_utf8_lossy(&left.stdout)
        );
    }
    ensure!(
        !Path::new(&format!("/proc/{driver_pid}")).exists(),
        "chromedriver {driver_pid} still exists"
    );
    ensure!(!profile.exists(), "profile folder left behind");
    Ok(())
}

/// A test that fails (panics) while its browser runs still ends it, and a
/// page over HTTPS with a self-signed certificate loads.
#[test]
#[allow(clippy::panic)]
fn a_failing_test_ends_its_browser_and_self_signed_https_loads() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()?;
    ensure!(made.status.success(), "openssl req failed");
    let port = mfa_tests::web::free_port()?;
    let tls = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let tls = KillOnDrop(tls);
    let deadline = Instant::now() + WAIT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        ensure!(Instant::now() < deadline, "openssl s_server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }

    let (tx, rx) = channel();
    let url = format!("https://127.0.0.1:{port}/");
    let outcome = std::thread::spawn(move || -> Result<()> {
        let b = Browser::start()?;
        let _ = tx.send((b.profile_dir(), b.driver_pid()));
        b.goto(&url)?;
        let text = b.page_text()?;
        ensure!(text.contains("s_server"), "HTTPS page text {text:?}");
        panic!("a failing assertion while the browser runs (expected)");
    })
    .join();
    drop(tls);
    match outcome {
        Err(_) => {}
        Ok(r) => bail!("the browser thread did not panic: {r:?}"),
    }
    let (profile, driver_pid) = rx.recv_timeout(WAIT)?;
    assert_gone(&profile, driver_pid)
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The test's own Standard Webhooks signature, independent of the receiver.
fn sign(secret: &str, id: &str, ts: i64, body: &[u8]) -> Result<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64.decode(secret.trim_start_matches("whsec_"))?;
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key)?;
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    Ok(format!("v1,{}", b64.encode(mac.finalize().into_bytes())))
}

fn post_webhook(url: &str, id: &str, ts: i64, sig: &str, body: &[u8]) -> Result<u16> {
    let ts = ts.to_string();
    let headers = [
        ("content-type", "application/json"),
        ("webhook-id", id),
        ("webhook-timestamp", ts.as_str()),
        ("webhook-signature", sig),
    ];
    Ok(http_post(url, &headers, body)?.0)
}

const REF_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const REF_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const REF_TS: i64 = 1_614_265_330;
const REF_BODY: &[u8] = br#"{"test": 2432232314}"#;
const REF_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

#[test]
fn webhook_verifier_matches_the_reference_vector() -> Result<()> {
    ensure!(sign(REF_SECRET, REF_ID, REF_TS, REF_BODY)? == REF_SIG);
    let ts = REF_TS.to_string();
    verify_standard_webhook(REF_SECRET, REF_ID, &ts, REF_BODY, REF_SIG, REF_TS)?;
    // Any entry of a space-separated list may match (key rotation).
    let list = format!("v1,bm90IGl0 v1a,whatever {REF_SIG}");
    verify_standard_webhook(REF_SECRET, REF_ID, &ts, REF_BODY, &list, REF_TS + 299)?;
    let bad = [
        (REF_BODY, REF_SIG, REF_TS + 301), // too late
        (REF_BODY, REF_SIG, REF_TS - 301), // too early
        (br#"{"test": 2432232315}"#.as_slice(), REF_SIG, REF_TS), // tampered
        (
            REF_BODY,
            "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            REF_TS,
        ),
        (
            REF_BODY,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=",
            REF_TS,
        ),
    ];
    for (body, sig, now) in bad {
        if verify_standard_webhook(REF_SECRET, REF_ID, &ts, body, sig, now).is_ok() {
            bail!("accepted {sig} at {now}");
        }
    }

    // The same vector through HTTP, with the receiver's clock at REF_TS.
    let rx = WebhookReceiver::start_with_clock(REF_SECRET, || REF_TS)?;
    ensure!(post_webhook(&rx.url(), REF_ID, REF_TS, REF_SIG, REF_BODY)? == 200);
    let got = rx.next_webhook(WAIT)?;
    ensure!(got.id == REF_ID && got.timestamp == REF_TS && got.raw == REF_BODY);
    ensure!(got.body["test"] == 2_432_232_314u64);
    // With the real clock the vector is stale.
    let real = WebhookReceiver::start(REF_SECRET)?;
    ensure!(post_webhook(&real.url(), REF_ID, REF_TS, REF_SIG, REF_BODY)? == 401);
    ensure!(real.rejections() == 1);
    Ok(())
}

#[test]
fn webhook_receiver_accepts_signed_and_rejects_tampered() -> Result<()> {
    let secret = whsec_secret()?;
    ensure!(secret.starts_with("whsec_") && secret.len() == 6 + 44);
    let rx = WebhookReceiver::start(&secret)?;
    let url = format!("{}/hooks/mfa", rx.url());
    let body = br#"{"type":"login.push","data":{"user":"alice"}}"#;
    let now = unix_now();
    let sig = sign(&secret, "msg_1", now, body)?;
    ensure!(post_webhook(&url, "msg_1", now, &sig, body)? == 200);
    let got = rx.next_webhook(WAIT)?;
    ensure!(got.path == "/hooks/mfa" && got.body["data"]["user"] == "alice");
    ensure!(got.header("Content-Type") == Some("application/json"));

    let tampered = br#"{"type":"login.push","data":{"user":"mallory"}}"#;
    ensure!(post_webhook(&url, "msg_1", now, &sig, tampered)? == 401);
    let other_key = sign(&whsec_secret()?, "msg_2", now, body)?;
    ensure!(post_webhook(&url, "msg_2", now, &other_key, body)? == 401);
    ensure!(http_post(&url, &[], body)?.0 == 401, "unsigned");
    ensure!(rx.rejections() == 3, "{:?}", rx.rejection_reasons());
    ensure!(rx.next_webhook(Duration::from_millis(200)).is_err());
    Ok(())
}

#[test]
fn ntfy_stand_in_checks_the_token_and_records_publishes() -> Result<()> {
    let token = ntfy_token()?;
    ensure!(token.len() == 32 && token.starts_with("tk_"));
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("ntfy.token");
    write_secret_file(&file, &token)?;
    ensure!(std::fs::metadata(&file)?.permissions().mode() & 0o777 == 0o600);
    ensure!(std::fs::read_to_string(&file)? == token);

    let ntfy = NtfyStandIn::start(Some(&token))?;
    let url = format!("{}/", ntfy.url());
    let msg = serde_json::json!({
        "topic": "mfa-alice", "title": "Login to testhost", "message": "Type 42",
        "priority": 4, "click": "https://gw.example/approve/abc", "tags": ["lock"],
        "actions": [{"action": "view", "label": "Open", "url": "https://gw.example/a"}],
    })
    .to_string();
    let bearer = format!("Bearer {token}");
    let wrong = format!("Bearer {}", ntfy_token()?);
    ensure!(http_post(&url, &[("authorization", &wrong)], msg.as_bytes())?.0 == 401);
    ensure!(http_post(&url, &[], msg.as_bytes())?.0 == 403);
    let no_topic = br#"{"message":"x"}"#;
    ensure!(http_post(&url, &[("authorization", &bearer)], no_topic)?.0 == 400);

    let (status, answer) = http_post(&url, &[("authorization", &bearer)], msg.as_bytes())?;
    ensure!(
        status == 200 && answer.contains("\"event\":\"message\""),
        "{answer}"
    );
    let p = ntfy.next_publish(WAIT)?;
    ensure!(p.topic == "mfa-alice" && p.message.as_deref() == Some("Type 42"));
    ensure!(p.title.as_deref() == Some("Login to testhost") && p.priority == Some(4));
    ensure!(p.click.as_deref() == Some("https://gw.example/approve/abc"));
    ensure!(p.tags == ["lock"] && p.authorization.as_deref() == Some(bearer.as_str()));
    ensure!(p.actions.as_ref().map(|a| a[0]["label"] == "Open") == Some(true));

    // Failure mode: two 503s, then normal service again.
    ntfy.fail_next(2, 503);
    for _ in 0..2 {
        ensure!(http_post(&url, &[("authorization", &bearer)], msg.as_bytes())?.0 == 503);
    }
    ensure!(http_post(&url, &[("authorization", &bearer)], msg.as_bytes())?.0 == 200);
    ntfy.next_publish(WAIT)?;
    ensure!(ntfy.requests() == 7);
    ensure!(ntfy.next_publish(Duration::from_millis(200)).is_err());
    Ok(())
}
