//! The long poll outlives mfad: started before mfad is there, the gateway
//! keeps trying (1 s, then longer, up to 10 s) and polls as soon as it is.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use mfa_proto::Request;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_polls_once_mfad_comes_up() {
    if !running_as_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let token_file = secret_file(dir.path(), "t", "tk_x");
    let cfg = format!("[ntfy]\nurl = \"http://127.0.0.1:9\"\ntoken_file = {token_file:?}\n");
    let gw = start_gateway(&dir.path().join("mfad.sock"), &cfg).await;
    // The page answers while mfad is away: 503, nothing decided.
    let r = client()
        .get(format!(
            "{}/p/AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
            gw.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mfad = FakeMfad::start(dir.path());
    mfad.wait_for(Duration::from_secs(4), |r| {
        matches!(r, Request::GatewayPoll { .. })
    })
    .await;
    gw.stop().await;
}
