//! HTTPS for the approval page: the configured PEM certificate chain and
//! key, through rustls with the aws-lc-rs provider (the one reqwest uses
//! too, so only one crypto library is built). The key file must not be
//! readable by every user, like the other secrets.

use crate::secrets::{read_secret_file, SecretError};
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("tls_cert {path}: {msg}")]
    Cert { path: String, msg: String },
    #[error("tls_key: {0}")]
    KeyFile(#[from] SecretError),
    #[error("tls_key {path}: {msg}")]
    Key { path: String, msg: String },
    #[error("tls_cert and tls_key do not make a usable TLS setup: {0}")]
    Config(#[from] rustls::Error),
}

pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let cert_err = |msg: String| TlsError::Cert {
        path: cert.display().to_string(),
        msg,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_err("no CERTIFICATE in the file".into()));
    }
    let pem = read_secret_file(key)?;
    let private = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsError::Key {
        path: key.display().to_string(),
        msg: format!("no usable private key ({e})"),
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, private)?;
    // Only HTTP/1.1 is served.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
