//! The page stays bounded under load: past the cap on requests in
//! progress the gateway answers 429 at once, and recovers when they end.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use mfa_proto::push::{PushKind, PushView};
use std::time::{Duration, Instant};

const TOKEN: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_the_cap_get_429_and_the_rest_are_served() {
    if !running_as_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mfad = FakeMfad::start(dir.path());
    let now = mfa_gateway::deliver::unix_now();
    mfad.add_push(
        TOKEN,
        PushView {
            kind: PushKind::Login,
            label: "phone".into(),
            user: "ann".into(),
            host: "lab1".into(),
            service: "sshd".into(),
            rhost: None,
            created_at: now,
            expires_at: now + 120,
            number_digits: 6,
        },
        "123456",
    );
    let token_file = secret_file(dir.path(), "t", "tk_x");
    let cfg = format!("[ntfy]\nurl = \"http://127.0.0.1:9\"\ntoken_file = {token_file:?}\n");
    let gw = start_gateway(&mfad.path, &cfg).await;
    mfad.stall_views();

    let cap = mfa_gateway::page::MAX_IN_FLIGHT;
    let http = client();
    let url = format!("{}/p/{TOKEN}", gw.base);
    let held: Vec<_> = (0..cap)
        .map(|_| tokio::spawn(http.get(&url).send()))
        .collect();
    // Once all of them are in, anything more is refused at once.
    let deadline = Instant::now() + Duration::from_secs(5);
    let refused = loop {
        let r = http
            .get(format!("{}/style.css", gw.base))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "never refused past {cap} requests"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(refused.headers()["retry-after"], "5");
    assert_eq!(refused.headers()["cache-control"], "no-store");
    // mfad itself sees at most four of them at once.
    assert!(mfad.page_requests().len() <= mfa_gateway::mfad::MAX_CALLS);

    mfad.release();
    for h in held {
        assert_eq!(h.await.unwrap().unwrap().status(), 200);
    }
    let r = http
        .get(format!("{}/style.css", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_declared_too_large_is_refused_before_it_is_read() {
    if !running_as_root() {
        return;
    }
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let mfad = FakeMfad::start(dir.path());
    let token_file = secret_file(dir.path(), "t", "tk_x");
    let cfg = format!("[ntfy]\nurl = \"http://127.0.0.1:9\"\ntoken_file = {token_file:?}\n");
    let gw = start_gateway(&mfad.path, &cfg).await;
    let addr = gw.base.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /p/{TOKEN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: 99999999\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(2), tcp.read(&mut buf))
        .await
        .expect("no answer without the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(mfad.page_requests().is_empty());
    gw.stop().await;
}
