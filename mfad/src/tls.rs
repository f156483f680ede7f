//! TLS between lab machines and a central mfad (rustls, aws-lc-rs, the
//! provider the gateway already uses). The central side requires a client
//! certificate from the site's CA and takes the lab host's name from it;
//! the lab side verifies the central server against the site's CA. PEM
//! files are read once at start, so a bad path or a key that does not
//! match its certificate stops mfad with a message naming the file.

use crate::config_remote::{split_host_port, RemoteConfig, UpstreamConfig};
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName,
};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {msg}")]
    File { path: String, msg: String },
    #[error("{0}")]
    Config(String),
}

fn file_err(path: &Path, msg: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.display().to_string(),
        msg: msg.to_string(),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(path, e))?;
    if certs.is_empty() {
        return Err(file_err(path, "holds no PEM certificate"));
    }
    Ok(certs)
}

fn key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| file_err(path, e))
}

fn roots(path: &Path) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in certs(path)? {
        roots.add(c).map_err(|e| file_err(path, e))?;
    }
    Ok(Arc::new(roots))
}

/// The central side: its certificate, and lab machines' client
/// certificates checked against `client_ca` (and the CRLs).
pub fn acceptor(cfg: &RemoteConfig) -> Result<TlsAcceptor, TlsError> {
    let mut crls = Vec::new();
    for path in &cfg.crl {
        for crl in
            CertificateRevocationListDer::pem_file_iter(path).map_err(|e| file_err(path, e))?
        {
            crls.push(crl.map_err(|e| file_err(path, e))?);
        }
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(roots(&cfg.client_ca)?, provider())
        .with_crls(crls)
        .build()
        .map_err(|e| TlsError::Config(format!("remote.client_ca: {e}")))?;
    let server = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(&cfg.tls_cert)?, key(&cfg.tls_key)?)
        .map_err(|e| {
            file_err(
                &cfg.tls_key,
                format!("does not go with remote.tls_cert: {e}"),
            )
        })?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// The lab side: the central servers checked against `ca`, and this
/// host's certificate presented.
pub fn connector(cfg: &UpstreamConfig) -> Result<TlsConnector, TlsError> {
    let client = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots(&cfg.ca)?)
        .with_client_auth_cert(certs(&cfg.tls_cert)?, key(&cfg.tls_key)?)
        .map_err(|e| {
            file_err(
                &cfg.tls_key,
                format!("does not go with upstream.tls_cert: {e}"),
            )
        })?;
    Ok(TlsConnector::from(Arc::new(client)))
}

/// The name a central server's certificate must carry: the host part of
/// its "HOST:PORT" (a DNS name or an IP address).
pub fn server_name(server: &str) -> Result<ServerName<'static>, TlsError> {
    let (host, _) = split_host_port(server)
        .ok_or_else(|| TlsError::Config(format!("{server:?} is not HOST:PORT")))?;
    ServerName::try_from(host).map_err(|e| TlsError::Config(format!("{server:?}: {e}")))
}

/// The lab host a verified client certificate names: its one DNS name in
/// subjectAltName. A certificate with none, or several, names no single
/// host and is refused, as is a wildcard.
pub fn host_of(cert: &CertificateDer<'_>) -> Result<String, String> {
    let ee = webpki::EndEntityCert::try_from(cert)
        .map_err(|e| format!("unreadable certificate: {e}"))?;
    let names: Vec<&str> = ee.valid_dns_names().collect();
    match names.as_slice() {
        [one] if !one.contains('*') => Ok(one.to_ascii_lowercase()),
        [] => Err("the client certificate has no DNS name in subjectAltName".into()),
        [_] => Err("the client certificate names a wildcard, not one host".into()),
        _ => Err(format!(
            "the client certificate names {} hosts; a lab machine's names exactly one",
            names.len()
        )),
    }
}
