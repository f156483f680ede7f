//! `[remote]` and `[upstream]` in mfad.toml: the two ends of a fleet. A
//! central mfad with `[remote] listen` also serves lab machines over TLS,
//! each proving its name with a client certificate from the site's CA; a
//! lab machine's mfad with `[upstream] servers` keeps no state and relays
//! every request to the first central mfad that answers.

use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteConfig {
    /// "HOST:PORT" to listen on with TLS; empty: no remote listener.
    pub listen: String,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// The CA that issues the lab machines' client certificates.
    pub client_ca: PathBuf,
    /// Optional PEM CRLs from that CA: a revoked certificate is refused.
    pub crl: Vec<PathBuf>,
    /// Lab hosts refused by name (the name their certificate gives).
    pub deny_hosts: Vec<String>,
    /// Hosts whose root and admin group may manage accounts (remove,
    /// unlock, reset, bypass, list, import, another user's status). From
    /// any other host root may only log users in.
    pub admin_hosts: Vec<String>,
    /// If not empty, an account that has no enrollment may get its first
    /// one only through these hosts.
    pub enroll_hosts: Vec<String>,
    /// Connections all lab machines together may hold at once.
    pub max_connections: usize,
    /// Connections one lab host may hold at once.
    pub max_connections_per_host: usize,
    /// Requests a second one lab host may send, and its burst.
    pub host_rate: u32,
    pub host_burst: u32,
}

impl Default for RemoteConfig {
    fn default() -> Self {
        RemoteConfig {
            listen: String::new(),
            tls_cert: PathBuf::new(),
            tls_key: PathBuf::new(),
            client_ca: PathBuf::new(),
            crl: Vec::new(),
            deny_hosts: Vec::new(),
            admin_hosts: Vec::new(),
            enroll_hosts: Vec::new(),
            max_connections: 4096,
            max_connections_per_host: 64,
            host_rate: 200,
            host_burst: 400,
        }
    }
}

impl RemoteConfig {
    pub fn enabled(&self) -> bool {
        !self.listen.is_empty()
    }

    pub fn validate(&self) -> Result<(), String> {
        if !self.enabled() {
            return Ok(());
        }
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(format!(
                "remote.listen must be an address and port such as \"0.0.0.0:7400\", not {:?}",
                self.listen
            ));
        }
        for (key, path) in [
            ("remote.tls_cert", &self.tls_cert),
            ("remote.tls_key", &self.tls_key),
            ("remote.client_ca", &self.client_ca),
        ] {
            if path.as_os_str().is_empty() {
                return Err(format!("remote.listen needs {key}"));
            }
        }
        if self.max_connections == 0
            || self.max_connections_per_host == 0
            || self.host_rate == 0
            || self.host_burst == 0
        {
            return Err(
                "remote.max_connections, remote.max_connections_per_host, remote.host_rate and remote.host_burst must be at least 1"
                    .into(),
            );
        }
        Ok(())
    }

    /// Whether `host` is in `list`; names compare without case, as DNS does.
    pub fn names(list: &[String], host: &str) -> bool {
        list.iter().any(|h| h.eq_ignore_ascii_case(host))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// Central mfads as "HOST:PORT", tried in order.
    pub servers: Vec<String>,
    /// The CA that issued the central mfads' server certificates.
    pub ca: PathBuf,
    /// This lab machine's client certificate and key.
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// How long one server may take to accept a connection and finish the
    /// TLS handshake before the next is tried. The servers together stay
    /// within the PAM module's timeout (10 s by default).
    pub connect_timeout_ms: u64,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            servers: Vec::new(),
            ca: PathBuf::new(),
            tls_cert: PathBuf::new(),
            tls_key: PathBuf::new(),
            connect_timeout_ms: 2000,
        }
    }
}

impl UpstreamConfig {
    pub fn enabled(&self) -> bool {
        !self.servers.is_empty()
    }

    pub fn validate(&self) -> Result<(), String> {
        if !self.enabled() {
            return Ok(());
        }
        for s in &self.servers {
            if split_host_port(s).is_none() {
                return Err(format!(
                    "upstream.servers: {s:?} is not \"HOST:PORT\" (write an IPv6 address as \"[::1]:7400\")"
                ));
            }
        }
        for (key, path) in [
            ("upstream.ca", &self.ca),
            ("upstream.tls_cert", &self.tls_cert),
            ("upstream.tls_key", &self.tls_key),
        ] {
            if path.as_os_str().is_empty() {
                return Err(format!("upstream.servers needs {key}"));
            }
        }
        if self.connect_timeout_ms == 0 || self.connect_timeout_ms > 10_000 {
            return Err("upstream.connect_timeout_ms must be 1..=10000".into());
        }
        Ok(())
    }
}

/// "host:port" or "[v6]:port" → (host, port).
pub fn split_host_port(s: &str) -> Option<(String, u16)> {
    let (host, port) = s.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.strip_suffix(']')?.to_string(),
        None if host.contains(':') => return None,
        None => host.to_string(),
    };
    (!host.is_empty()).then_some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_host_and_port() {
        assert_eq!(
            split_host_port("central:7400"),
            Some(("central".into(), 7400))
        );
        assert_eq!(split_host_port("[::1]:7400"), Some(("::1".into(), 7400)));
        assert_eq!(split_host_port("::1:7400"), None);
        assert_eq!(split_host_port("central"), None);
        assert_eq!(split_host_port(":7400"), None);
        assert_eq!(split_host_port("central:http"), None);
    }

    #[test]
    fn a_listener_needs_its_certificates() {
        let r = RemoteConfig {
            listen: "127.0.0.1:7400".into(),
            ..Default::default()
        };
        assert!(r.validate().is_err_and(|e| e.contains("remote.tls_cert")));
        let r = RemoteConfig {
            listen: "central:7400".into(),
            ..Default::default()
        };
        assert!(r.validate().is_err_and(|e| e.contains("remote.listen")));
        assert!(RemoteConfig::default().validate().is_ok());
    }
}
