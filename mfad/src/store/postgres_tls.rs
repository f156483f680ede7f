//! TLS to PostgreSQL: rustls with the aws-lc-rs provider (the gateway's
//! too, so one crypto library is built), as tokio-postgres's
//! `MakeTlsConnect`, and the rule for when a connection string may go
//! without it. With `[store] postgres_ca` the server's certificate must
//! chain to that CA and name the host (libpq's verify-full), and a server
//! that offers no TLS is refused whatever `sslmode` says. Without a CA,
//! `sslmode=require` encrypts but cannot tell the server from an
//! impostor (libpq's require), which mfad says at start. Unix sockets
//! never use TLS (PostgreSQL offers none there).

use super::StoreError;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_postgres::Config;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{self, CryptoProvider};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{self, ClientConfig, DigitallySignedStruct, RootCertStore};
use tokio_rustls::TlsConnector;

/// How connections reach the server: the rustls setup every TCP
/// connection that uses TLS shares.
#[derive(Clone)]
pub struct Tls(Arc<ClientConfig>);

fn tls_error(msg: String) -> StoreError {
    StoreError::BadValue(format!("TLS to PostgreSQL: {msg}"))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(crypto::aws_lc_rs::default_provider())
}

impl Tls {
    /// Check `config` against the TLS rule and make the connector: with
    /// `ca`, verified TLS is required on every TCP connection. Warnings
    /// for what is allowed but weak go to stderr.
    pub(super) fn for_config(config: &mut Config, ca: Option<&Path>) -> Result<Tls, StoreError> {
        let tcp: Vec<String> = config
            .get_hosts()
            .iter()
            .filter_map(|h| match h {
                Host::Tcp(name) => Some(name.clone()),
                Host::Unix(_) => None,
            })
            .collect();
        let mode = config.get_ssl_mode();
        if tcp.is_empty() {
            // PostgreSQL has no TLS on a Unix socket; the socket's
            // permissions and peer authentication guard it instead.
            config.ssl_mode(SslMode::Disable);
        }
        let remote: Vec<&String> = tcp.iter().filter(|h| !is_loopback(h, config)).collect();
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error(e.to_string()))?;
        let Some(ca) = ca else {
            match mode {
                SslMode::Disable if !remote.is_empty() => eprintln!(
                    "mfad: warning: sslmode=disable: the database traffic to {remote:?} (codes' state, sealed secrets, a password) is not encrypted"
                ),
                SslMode::Require if !tcp.is_empty() => eprintln!(
                    "mfad: warning: sslmode=require without store.postgres_ca: the traffic to the database is encrypted, but its server is not verified"
                ),
                // Prefer falls back to plain text without a word, and
                // anyone on the path can make it.
                SslMode::Prefer if !remote.is_empty() => {
                    return Err(tls_error(format!(
                        "{remote:?} is not a local host: set store.postgres_ca (the CA of the server's certificate) with sslmode=require, or say sslmode=disable to send the traffic unencrypted"
                    )))
                }
                _ => {}
            }
            let unverified = builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider())))
                .with_no_client_auth();
            return Ok(Tls(Arc::new(unverified)));
        };
        if mode == SslMode::Disable && !tcp.is_empty() {
            return Err(tls_error(
                "store.postgres_ca is set, but the connection string says sslmode=disable".into(),
            ));
        }
        if !tcp.is_empty() {
            // A CA means verified TLS or nothing: never a silent fallback.
            config.ssl_mode(SslMode::Require);
        }
        let shown = ca.display();
        let mut roots = RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(ca)
            .map_err(|e| tls_error(format!("store.postgres_ca {shown}: {e}")))?;
        for cert in certs {
            let cert = cert.map_err(|e| tls_error(format!("store.postgres_ca {shown}: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| tls_error(format!("store.postgres_ca {shown}: {e}")))?;
        }
        if roots.is_empty() {
            return Err(tls_error(format!(
                "store.postgres_ca {shown}: no CERTIFICATE in the file"
            )));
        }
        Ok(Tls(Arc::new(
            builder.with_root_certificates(roots).with_no_client_auth(),
        )))
    }
}

/// A host on this machine: TLS cannot protect what never leaves it.
fn is_loopback(host: &str, config: &Config) -> bool {
    let addrs = config.get_hostaddrs();
    if !addrs.is_empty() {
        return addrs.iter().all(IpAddr::is_loopback);
    }
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|a| a.is_loopback())
}

impl<S> MakeTlsConnect<S> for Tls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Stream<S>;
    type TlsConnect = Connect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<Connect, io::Error> {
        // Asked for Unix sockets too (domain ""), which never use it.
        let name = ServerName::try_from(domain.to_string()).map_err(|e| e.to_string());
        Ok(Connect {
            config: self.0.clone(),
            name,
        })
    }
}

pub struct Connect {
    config: Arc<ClientConfig>,
    name: Result<ServerName<'static>, String>,
}

type Handshake<S> = Pin<Box<dyn Future<Output = Result<Stream<S>, io::Error>> + Send>>;

impl<S> TlsConnect<S> for Connect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Stream<S>;
    type Error = io::Error;
    type Future = Handshake<S>;

    fn connect(self, stream: S) -> Handshake<S> {
        Box::pin(async move {
            let name = self
                .name
                .map_err(|e| io::Error::other(format!("not a host name for TLS: {e}")))?;
            let tls = TlsConnector::from(self.config)
                .connect(name, stream)
                .await?;
            Ok(Stream(Box::new(tls)))
        })
    }
}

/// A TLS connection to the server.
pub struct Stream<S>(Box<tokio_rustls::client::TlsStream<S>>);

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for Stream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        // SCRAM's channel binding is optional (channel_binding=prefer);
        // the certificate check above is what binds the server.
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

/// sslmode=require without a CA: any certificate, as libpq does; the
/// handshake's signatures are still checked, so the session is encrypted
/// to whoever holds that certificate's key.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
