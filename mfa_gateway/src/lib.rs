//! mfa-gateway: the only process of pam_mfa that talks HTTP. It polls mfad
//! for pushes and delivers them (ntfy, Standard Webhooks), sends one-time
//! codes to phones (SMS and voice, through an HTTP API or a local
//! command), and serves the approval page the push links to, where the
//! user types the number the login shows. It holds no state: mfad keeps
//! every push and code and decides.

pub mod budget;
pub mod config;
pub mod deliver;
pub mod link;
pub mod mfad;
pub mod ntfy;
pub mod page;
pub mod phone;
pub mod phone_command;
pub mod phone_config;
pub mod phone_http;
pub mod phone_template;
pub mod poller;
pub mod secrets;
pub mod server;
pub mod tls;
pub mod views;
pub mod webhook;

#[cfg(test)]
mod testing;

use config::Config;
use deliver::{Deliverer, NtfyTarget, WebhookTarget};
use link::CsrfKey;
use mfa_proto::push::GatewayInfo;
use secrets::{NtfyToken, SecretError, WebhookKey};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// Why the gateway cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Secret(#[from] SecretError),
    #[error("{0}")]
    Tls(#[from] tls::TlsError),
    #[error("{0}")]
    Config(String),
    #[error("cannot set up the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("no randomness for the CSRF key: {0}")]
    Random(String),
}

/// A gateway ready to run: configuration checked, secrets read.
pub struct Gateway {
    deliverer: Arc<Deliverer>,
    phone: Arc<phone::Phone>,
    mfad: Arc<mfad::Mfad>,
    tls: Option<TlsAcceptor>,
    csrf: CsrfKey,
    info: GatewayInfo,
}

impl Gateway {
    /// Everything that can fail at start, before listening: the secret
    /// files (read once, here), the TLS setup, the HTTP client.
    pub fn prepare(cfg: &Config) -> Result<Self, StartError> {
        let url = |key: &str, v: &str| {
            reqwest::Url::parse(v).map_err(|e| StartError::Config(format!("{key}: {e}")))
        };
        let ntfy = match &cfg.ntfy {
            Some(n) => Some(NtfyTarget {
                url: url("ntfy.url", &n.url)?,
                token: n.token_file.as_deref().map(NtfyToken::load).transpose()?,
                priority: n.priority,
            }),
            None => None,
        };
        let webhook = match &cfg.webhook {
            Some(w) => Some(WebhookTarget {
                url: url("webhook.url", &w.url)?,
                key: WebhookKey::load(&w.secret_file)?,
            }),
            None => None,
        };
        let tls = match cfg.tls() {
            Some((cert, key)) => Some(tls::acceptor(cert, key)?),
            None => None,
        };
        let deliverer = Deliverer::new(
            cfg.link_base(),
            ntfy,
            webhook,
            Duration::from_secs(cfg.delivery.timeout_secs),
            cfg.delivery.retries,
        )?;
        let phone = phone::Phone::prepare(cfg).map_err(StartError::Config)?;
        let info = GatewayInfo {
            providers: deliverer.providers(),
            ntfy_url: cfg.ntfy_public_url().map(str::to_owned),
            phone: phone.channels(),
        };
        Ok(Gateway {
            deliverer: Arc::new(deliverer),
            phone: Arc::new(phone),
            mfad: Arc::new(mfad::Mfad::new(&cfg.socket)),
            tls,
            csrf: CsrfKey::random().map_err(|e| StartError::Random(e.to_string()))?,
            info,
        })
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The phone channels and their providers, for the start-up lines.
    pub fn phone(&self) -> &phone::Phone {
        &self.phone
    }

    /// Poll mfad and serve the page on `listener` until `shutdown`
    /// completes; then stop accepting, let what is under way finish
    /// (a few seconds at most) and return.
    pub async fn run(self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        let (stop, stopped) = watch::channel(false);
        let poller = poller::Poller::new(self.mfad.clone(), self.deliverer, self.phone, self.info);
        let polling = tokio::spawn(poller.run(stopped.clone()));
        let state = Arc::new(page::PageState::new(self.mfad, self.csrf));
        let serving = tokio::spawn(server::serve(
            listener,
            self.tls,
            page::router(state),
            stopped,
        ));
        shutdown.await;
        let _ = stop.send(true);
        let _ = serving.await;
        let _ = polling.await;
    }
}
