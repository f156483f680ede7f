//! The HTTP(S) listener of the approval page: accepts connections (at most
//! [`MAX_CONNECTIONS`] open), runs the TLS handshake when configured and
//! HTTP/1.1 over hyper, each with its own time limits, so slow or
//! half-open connections cannot pile up. Stops on the shutdown signal,
//! letting requests in progress finish.

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

/// Connections open at once; the next accept waits for one to close.
pub const MAX_CONNECTIONS: usize = 256;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// For a request's head; hyper also applies it to an idle keep-alive
/// connection waiting for its next request.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection is closed (after its current request) once this old.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Time the requests in progress get at shutdown.
const GRACE: Duration = Duration::from_secs(5);
/// hyper's read buffer, which bounds a request's head (its minimum is 8 KiB).
const MAX_BUF: usize = 16 * 1024;

/// Serve `app` on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let open = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut last_error_log: Option<Instant> = None;
    loop {
        let slot = tokio::select! {
            s = open.clone().acquire_owned() => s,
            _ = shutdown.wait_for(|&stop| stop) => break,
        };
        let Ok(slot) = slot else { break };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait_for(|&stop| stop) => break,
        };
        match accepted {
            Ok((tcp, _peer)) => {
                tokio::spawn(connection(
                    tcp,
                    tls.clone(),
                    app.clone(),
                    shutdown.clone(),
                    slot,
                ));
            }
            Err(e) => {
                // Out of file descriptors and the like: pause instead of
                // spinning, and say so at most every ten seconds.
                if last_error_log.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                    eprintln!("mfa-gateway: cannot accept a connection: {e}");
                    last_error_log = Some(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    drop(listener);
    let all = MAX_CONNECTIONS as u32;
    let _ = tokio::time::timeout(GRACE + Duration::from_secs(1), open.acquire_many(all)).await;
}

async fn connection(
    tcp: TcpStream,
    tls: Option<TlsAcceptor>,
    app: Router,
    shutdown: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let _ = tcp.set_nodelay(true);
    match tls {
        // Failed handshakes are not logged: every scanner makes some.
        Some(acceptor) => {
            if let Ok(Ok(stream)) =
                tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
            {
                http(stream, app, shutdown).await;
            }
        }
        None => http(tcp, app, shutdown).await,
    }
}

async fn http<IO>(io: IO, app: Router, mut shutdown: watch::Receiver<bool>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_BUF)
        .max_headers(64);
    let conn = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(app));
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = shutdown.wait_for(|&stop| stop) => {}
        _ = tokio::time::sleep(CONNECTION_LIFETIME) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(GRACE, conn).await;
}
