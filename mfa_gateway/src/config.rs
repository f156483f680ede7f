//! The gateway's configuration: TOML, unknown keys an error, checked as a
//! whole before anything starts, so a mistake stops the gateway with a
//! message naming the key instead of surfacing as a failed push later.
//! The secret files it names are read by [`crate::secrets`]; the `[sms]`
//! and `[voice]` tables are checked by [`crate::phone_config`].

use crate::phone_config::{PhoneConfig, PhoneSpec};
use reqwest::Url;
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// The commented example configuration shipped with the gateway.
pub const EXAMPLE_TOML: &str = include_str!("../mfa-gateway.example.toml");

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// mfad's socket.
    #[serde(default = "default_socket")]
    pub socket: PathBuf,
    /// `HOST:PORT` the approval page listens on.
    pub listen: String,
    /// Base of the links sent to phones (`{public_url}/p/{token}`).
    pub public_url: String,
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    #[serde(default)]
    pub ntfy: Option<NtfyConfig>,
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// The name that texts and calls start with (mfad's `issuer`).
    #[serde(default = "default_issuer")]
    pub issuer: String,
    /// Codes by text message.
    #[serde(default)]
    pub sms: Option<PhoneConfig>,
    /// Codes by voice call.
    #[serde(default)]
    pub voice: Option<PhoneConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NtfyConfig {
    /// The server's root URL; messages are published there (JSON), never
    /// to a topic URL, so the topic stays out of URLs and access logs.
    pub url: String,
    /// The server as phones reach it, shown to users who subscribe
    /// (default: `url`).
    #[serde(default)]
    pub public_url: Option<String>,
    /// A file holding an access token (`tk_…`), sent as a bearer token.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// ntfy priority 1–5.
    #[serde(default = "default_priority")]
    pub priority: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    /// A file holding the Standard Webhooks secret (`whsec_…`).
    pub secret_file: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Time for one attempt (connect, send, answer).
    pub timeout_secs: u64,
    /// Attempts after the first, only after a network error, 5xx or 429.
    pub retries: u32,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            timeout_secs: 5,
            retries: 2,
        }
    }
}

fn default_socket() -> PathBuf {
    PathBuf::from("/run/mfad.sock")
}

fn default_priority() -> u8 {
    4
}

fn default_issuer() -> String {
    "pam_mfa".into()
}

/// Longest `issuer`: it starts every text message, which has 160 characters.
const MAX_ISSUER: usize = 40;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: String,
        source: toml::de::Error,
    },
    #[error("{path}: {msg}")]
    Invalid { path: String, msg: String },
}

impl Config {
    /// Parse and check TOML text; `origin` names it in error messages.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: origin.into(),
            source,
        })?;
        cfg.validate().map_err(|msg| ConfigError::Invalid {
            path: origin.into(),
            msg,
        })?;
        Ok(cfg)
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// The address to bind. `localhost` means 127.0.0.1 here, not whatever
    /// a resolver says, so the loopback rule below cannot be talked around.
    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        parse_listen(&self.listen)
    }

    /// Whether the page is served over TLS by the gateway itself.
    pub fn tls(&self) -> Option<(&Path, &Path)> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => Some((c, k)),
            _ => None,
        }
    }

    /// `public_url` without its trailing `/`, ready for `/p/{token}`.
    pub fn link_base(&self) -> &str {
        self.public_url.trim_end_matches('/')
    }

    /// The ntfy server as shown to users (`ntfy.public_url`, else `ntfy.url`).
    pub fn ntfy_public_url(&self) -> Option<&str> {
        self.ntfy
            .as_ref()
            .map(|n| n.public_url.as_deref().unwrap_or(&n.url))
    }

    fn validate(&self) -> Result<(), String> {
        let addr = self.listen_addr()?;
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) | (None, Some(_)) => {
                return Err("tls_cert and tls_key go together: set both or neither".into())
            }
            (None, None) if !addr.ip().to_canonical().is_loopback() => {
                return Err(format!(
                    "listen = \"{}\" is not a loopback address and no TLS is configured: \
                     set tls_cert and tls_key, or listen on loopback (127.0.0.1, ::1, localhost) \
                     behind a reverse proxy that terminates HTTPS",
                    self.listen
                ))
            }
            _ => {}
        }
        check_url("public_url", &self.public_url, true)?;
        if self.ntfy.is_none()
            && self.webhook.is_none()
            && self.sms.is_none()
            && self.voice.is_none()
        {
            return Err("no provider: configure at least one of [ntfy], [webhook] \
                        (pushes), [sms] and [voice] (codes)"
                .into());
        }
        if let Some(n) = &self.ntfy {
            check_url("ntfy.url", &n.url, false)?;
            if let Some(p) = &n.public_url {
                check_url("ntfy.public_url", p, false)?;
            }
            if !(1..=5).contains(&n.priority) {
                return Err(format!("ntfy.priority must be 1..=5, not {}", n.priority));
            }
        }
        if let Some(w) = &self.webhook {
            check_url("webhook.url", &w.url, false)?;
        }
        let d = &self.delivery;
        if !(1..=60).contains(&d.timeout_secs) {
            return Err(format!(
                "delivery.timeout_secs must be 1..=60, not {}",
                d.timeout_secs
            ));
        }
        if d.retries > 5 {
            return Err(format!("delivery.retries must be 0..=5, not {}", d.retries));
        }
        self.phone_specs()?;
        let issuer_ok = |c: char| c.is_alphanumeric() || " -_.()".contains(c);
        if self.issuer.trim().is_empty()
            || self.issuer.chars().count() > MAX_ISSUER
            || !self.issuer.chars().all(issuer_ok)
        {
            return Err(format!(
                "issuer must be 1 to {MAX_ISSUER} letters, digits, spaces or - _ . ( ): \
                 it starts every text message and call, inside URLs, JSON and XML alike"
            ));
        }
        Ok(())
    }

    /// The checked `[sms]` and `[voice]` tables, each if present.
    pub fn phone_specs(&self) -> Result<(Option<PhoneSpec>, Option<PhoneSpec>), String> {
        let timeout = self.delivery.timeout_secs;
        let sms = self.sms.as_ref().map(|c| c.resolve("sms", timeout));
        let voice = self.voice.as_ref().map(|c| c.resolve("voice", timeout));
        Ok((sms.transpose()?, voice.transpose()?))
    }
}

fn parse_listen(listen: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = listen.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bad = || {
        format!(
            "listen = \"{listen}\" is not HOST:PORT with an IP address or localhost \
             (e.g. 127.0.0.1:8080, [::1]:8080, 0.0.0.0:8443)"
        )
    };
    let (host, port) = listen.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    Err(bad())
}

/// An http(s) URL with a host and no credentials, query or fragment. The
/// value is never echoed: a webhook URL can carry a secret of its own.
pub(crate) fn check_url(key: &str, value: &str, is_link_base: bool) -> Result<(), String> {
    let url = Url::parse(value).map_err(|e| format!("{key} is not a valid URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{key} must be an http:// or https:// URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{key} must name a host"));
    }
    if is_link_base {
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("{key} must not contain a user name or password"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "{key} must not have a query or fragment: links are {key}/p/TOKEN"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
