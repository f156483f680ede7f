//! `mfa-gateway --config FILE`: delivers pam_mfa's pushes and phone codes
//! and serves the approval page, in the foreground until SIGTERM or SIGINT
//! (exit 0).

use anyhow::Context;
use clap::Parser;
use mfa_gateway::config::Config;
use mfa_gateway::Gateway;
use std::path::PathBuf;
use tokio::signal::unix::{signal, SignalKind};

#[derive(Parser)]
#[command(
    version,
    about = "Push gateway for pam_mfa: delivers pushes and phone codes, serves the approval page"
)]
struct Args {
    /// Configuration file (TOML).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cfg = Config::load(&args.config)?;
    let addr = cfg.listen_addr().map_err(anyhow::Error::msg)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let gateway = Gateway::prepare(&cfg).context("refusing to start")?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let shown = listener.local_addr().unwrap_or(addr);
        let scheme = if gateway.is_tls() { "https" } else { "http" };
        eprintln!(
            "mfa-gateway {} serving {scheme} on {shown}, links under {}/p/, mfad at {}",
            env!("CARGO_PKG_VERSION"),
            cfg.link_base(),
            cfg.socket.display()
        );
        if cfg.public_url.starts_with("http://") {
            eprintln!(
                "mfa-gateway: warning: public_url is plain http: phones would open approval \
                 links unencrypted; use https outside of tests"
            );
        }
        let providers = [
            ("ntfy.url", cfg.ntfy.as_ref().map(|n| n.url.as_str())),
            ("webhook.url", cfg.webhook.as_ref().map(|w| w.url.as_str())),
        ];
        for (key, url) in providers {
            if let Some(url) = url.filter(|u| plain_off_host(u)) {
                eprintln!(
                    "mfa-gateway: warning: {key} {url} is plain http to another host: tokens, \
                     topics and approval links would cross the network unencrypted"
                );
            }
        }
        for channel in gateway.phone().channels() {
            if let Some(p) = gateway.phone().provider(channel) {
                eprintln!(
                    "mfa-gateway: codes by {} via {} ({})",
                    channel.as_str(),
                    p.kind(),
                    p.target()
                );
            }
        }
        let phone_urls = [
            ("sms.url", cfg.sms.as_ref().and_then(|s| s.url.as_deref())),
            (
                "voice.url",
                cfg.voice.as_ref().and_then(|v| v.url.as_deref()),
            ),
        ];
        for (key, url) in phone_urls {
            if url.is_some_and(plain_off_host) {
                eprintln!(
                    "mfa-gateway: warning: {key} is plain http to another host: codes and \
                     phone numbers would cross the network unencrypted"
                );
            }
        }
        gateway
            .run(listener, async move {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            })
            .await;
        eprintln!("mfa-gateway: stopped");
        anyhow::Ok(())
    })
}

/// An http:// URL to anywhere but this host.
fn plain_off_host(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    !matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}
