//! The gateway end to end in one process: pushes from a fake mfad are
//! published to a loopback ntfy stand-in (or signed to a webhook receiver)
//! and reported back; the approval page shows a push, forwards decisions
//! with the number typed, and refuses forged posts and garbage links
//! without asking mfad.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use mfa_proto::push::{Decision, Delivery, Provider, PushKind, PushView};
use mfa_proto::{Request, Sensitive};
use std::time::Duration;

const TOKEN: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const SECOND: Duration = Duration::from_secs(1);

fn delivery(id: &str, provider: Provider) -> Delivery {
    Delivery {
        id: id.into(),
        token: Sensitive::new(TOKEN),
        kind: PushKind::Login,
        provider,
        topic: Some(Sensitive::new("topic-Zx81")),
        label: "phone".into(),
        user: "ann".into(),
        host: "lab1".into(),
        service: "sshd".into(),
        rhost: Some("192.0.2.7".into()),
        created_at: 1_800_000_000,
        expires_at: 1_800_000_120,
    }
}

fn view() -> PushView {
    let now = mfa_gateway::deliver::unix_now();
    PushView {
        kind: PushKind::Login,
        label: "phone".into(),
        user: "ann".into(),
        host: "lab1".into(),
        service: "sshd".into(),
        rhost: Some("192.0.2.7".into()),
        created_at: now - 5,
        expires_at: now + 115,
        number_digits: 6,
    }
}

fn ntfy_config(dir: &std::path::Path, url: &str) -> String {
    let token = secret_file(dir, "ntfy-token", "tk_testtoken123\n");
    format!(
        "[ntfy]\nurl = \"{url}\"\npublic_url = \"https://ntfy.example.org\"\n\
         token_file = {token:?}\n[delivery]\ntimeout_secs = 2\n"
    )
}

fn report_for(id: &str) -> impl Fn(&Request) -> bool + '_ {
    move |r| matches!(r, Request::GatewayReport { id: i, .. } if i == id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_is_published_to_ntfy_and_reported() {
    if !running_as_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mfad = FakeMfad::start(dir.path());
    // The first attempt gets a 503: it is tried again after half a second.
    let ntfy = StandIn::start(1).await;
    let gw = start_gateway(&mfad.path, &ntfy_config(dir.path(), &ntfy.url)).await;

    // Every poll says what the gateway can deliver through.
    let poll = mfad
        .wait_for(5 * SECOND, |r| matches!(r, Request::GatewayPoll { .. }))
        .await;
    let Request::GatewayPoll { info, wait_secs } = poll else {
        unreachable!()
    };
    assert_eq!(info.providers, vec![Provider::Ntfy]);
    assert_eq!(info.ntfy_url.as_deref(), Some("https://ntfy.example.org"));
    assert_eq!(wait_secs, 25);
    assert!(mfad.seen().iter().any(|r| matches!(r,
        Request::Hello { client, .. } if client == "mfa-gateway")));

    mfad.queue(delivery("push-7", Provider::Ntfy));
    let got = ntfy.wait_for(2, 5 * SECOND).await;
    let link = format!("{}/p/{TOKEN}", gw.base);
    for r in &got {
        assert_eq!(r.method, "POST");
        assert_eq!(r.uri.path(), "/", "published to the server root");
        assert_eq!(r.headers["authorization"], "Bearer tk_testtoken123");
        assert_eq!(r.headers["content-type"], "application/json");
    }
    let json: serde_json::Value = serde_json::from_slice(&got[1].body).unwrap();
    assert_eq!(json["topic"], "topic-Zx81");
    assert_eq!(json["title"], "Login to lab1");
    assert_eq!(json["click"], link.as_str());
    assert_eq!(json["actions"][0]["action"], "view");
    assert_eq!(json["actions"][0]["url"], link.as_str());
    assert_eq!(json["actions"][0]["clear"], true);
    let message = json["message"].as_str().unwrap();
    for part in ["ann", "lab1", "sshd", "192.0.2.7"] {
        assert!(message.contains(part), "{message}");
    }
    let report = mfad.wait_for(5 * SECOND, report_for("push-7")).await;
    assert_eq!(
        report,
        Request::GatewayReport {
            id: "push-7".into(),
            delivered: true,
            error: None
        }
    );

    // A provider this gateway has not got is reported as such, at once.
    mfad.queue(delivery("push-8", Provider::Webhook));
    let report = mfad.wait_for(5 * SECOND, report_for("push-8")).await;
    assert_eq!(
        report,
        Request::GatewayReport {
            id: "push-8".into(),
            delivered: false,
            error: Some("provider webhook is not configured on the gateway".into())
        }
    );
    assert_eq!(ntfy.got().len(), 2);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_is_signed_per_standard_webhooks_and_failures_are_reported() {
    if !running_as_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mfad = FakeMfad::start(dir.path());
    // Always 503 at first: with one retry, both attempts fail.
    let hook = StandIn::start(2).await;
    let secret = secret_file(
        dir.path(),
        "whsec",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    );
    let body = format!(
        "[webhook]\nurl = \"{}/hook/S3CRET-PATH\"\nsecret_file = {secret:?}\n\
         [delivery]\ntimeout_secs = 2\nretries = 1\n",
        hook.url
    );
    let gw = start_gateway(&mfad.path, &body).await;
    mfad.queue(delivery("push-9", Provider::Webhook));
    let report = mfad.wait_for(5 * SECOND, report_for("push-9")).await;
    let Request::GatewayReport {
        delivered, error, ..
    } = report
    else {
        unreachable!()
    };
    assert!(!delivered);
    let error = error.unwrap();
    assert!(error.contains("503"), "{error}");
    assert!(!error.contains("S3CRET"), "{error}");

    let got = hook.got();
    assert_eq!(got.len(), 2);
    let key =
        mfa_gateway::secrets::WebhookKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    for r in &got {
        assert_eq!(r.uri.path(), "/hook/S3CRET-PATH");
        assert_eq!(r.headers["webhook-id"], "push-9");
        let ts: i64 = r.headers["webhook-timestamp"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((ts - mfa_gateway::deliver::unix_now()).abs() < 30);
        let want = mfa_gateway::webhook::sign(key.expose(), "push-9", ts, &r.body);
        assert_eq!(r.headers["webhook-signature"], want.as_str());
        assert_eq!(r.headers["content-type"], "application/json");
    }
    let json: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(
        json["approve_url"],
        format!("{}/p/{TOKEN}", gw.base).as_str()
    );
    assert_eq!(json["type"], "push.login");
    assert_eq!(json["created_at"], 1_800_000_000);
    assert_eq!(got[0].body, got[1].body, "retries send the same body");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_the_push_and_forwards_the_typed_number() {
    if !running_as_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mfad = FakeMfad::start(dir.path());
    mfad.add_push(TOKEN, view(), "482915");
    let gw = start_gateway(&mfad.path, &ntfy_config(dir.path(), "http://127.0.0.1:9")).await;
    let http = client();
    let url = format!("{}/p/{TOKEN}", gw.base);

    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers();
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = resp.text().await.unwrap();
    assert!(html.contains(r#"name="number""#) && html.contains(r#"maxlength="6""#));
    assert!(!html.contains("482915"), "the page never shows the number");
    let csrf = csrf_of(&html);
    assert_eq!(mfad.page_requests().len(), 1, "GET only views");

    let resp = post_form(
        &http,
        &url,
        &[
            ("csrf", csrf.as_str()),
            ("number", "482915"),
            ("decision", "approve"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("Approved. You can close this page."));
    let decide = mfad
        .wait_for(SECOND, |r| matches!(r, Request::GatewayDecide { .. }))
        .await;
    assert_eq!(
        decide,
        Request::GatewayDecide {
            token: Sensitive::new(TOKEN),
            number: Sensitive::new("482915"),
            decision: Decision::Approve,
        }
    );

    // Used once: the same form again finds nothing.
    let resp = post_form(
        &http,
        &url,
        &[
            ("csrf", csrf.as_str()),
            ("number", "482915"),
            ("decision", "approve"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 410);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("This link has expired or was already used."));

    // A wrong number and a report say what happened.
    mfad.add_push(TOKEN, view(), "111111");
    let resp = post_form(
        &http,
        &url,
        &[
            ("csrf", csrf.as_str()),
            ("number", "222222"),
            ("decision", "approve"),
        ],
    )
    .await;
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("That number does not match the one shown at the login. The login was denied."));
    mfad.add_push(TOKEN, view(), "111111");
    let resp = post_form(
        &http,
        &url,
        &[("csrf", csrf.as_str()), ("decision", "report")],
    )
    .await;
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("Reported. The login was denied and pushes to your account are paused."));
    let css = http
        .get(format!("{}/style.css", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert!(css.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_posts_and_garbage_links_never_reach_mfad() {
    if !running_as_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mfad = FakeMfad::start(dir.path());
    mfad.add_push(TOKEN, view(), "482915");
    let gw = start_gateway(&mfad.path, &ntfy_config(dir.path(), "http://127.0.0.1:9")).await;
    let http = client();
    let url = format!("{}/p/{TOKEN}", gw.base);

    for csrf in [None, Some(""), Some("AAAA"), Some(TOKEN)] {
        let mut form = vec![("number", "482915"), ("decision", "approve")];
        if let Some(c) = csrf {
            form.push(("csrf", c));
        }
        let resp = post_form(&http, &url, &form).await;
        assert_eq!(resp.status(), 403, "csrf {csrf:?}");
        assert_eq!(resp.headers()["x-frame-options"], "DENY");
        assert!(resp.text().await.unwrap().contains("Nothing was decided"));
    }
    for path in [
        "/p/garbage",
        "/p/AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9",
        "/p/AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8x",
        "/p/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    ] {
        let resp = http.get(format!("{}{path}", gw.base)).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let resp = post_form(
            &http,
            &format!("{}{path}", gw.base),
            &[("decision", "deny")],
        )
        .await;
        assert_eq!(resp.status(), 404, "{path}");
    }
    for path in ["/", "/p/", "/admin", &format!("/p/{TOKEN}/x")] {
        let resp = http.get(format!("{}{path}", gw.base)).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
    }
    let resp = http.put(&url).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["referrer-policy"], "no-referrer");
    let resp = http.delete(&url).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    let big = "x".repeat(5000);
    let resp = post_form(&http, &url, &[("csrf", big.as_str()), ("decision", "deny")]).await;
    assert_eq!(resp.status(), 413);
    assert!(
        mfad.page_requests().is_empty(),
        "{:?}",
        mfad.page_requests()
    );

    // A link mfad no longer knows is said to be used up.
    let other = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM";
    let resp = http
        .get(format!("{}/p/{other}", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 410);
    assert_eq!(mfad.page_requests().len(), 1);
    gw.stop().await;
}
