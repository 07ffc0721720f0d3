//! The connection loop: hyper (HTTP/1.1 and HTTP/2) under the router, with the connection-level
//! limits — a cap on open connections (over it: one 503 with `Retry-After`, then the connection is
//! closed), a header read timeout (a client still sending its request head is cut off), a bound on
//! the head's size — and graceful shutdown (stop accepting, finish in-flight requests); over TLS
//! when the service has a certificate (crate::tls).

use runhub_model::Code;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tower::ServiceExt;

use crate::error::ApiError;
use crate::limits::Limits;
use crate::protocol::REQUEST_ID;
use crate::tls::Tls;

/// Connections over the cap that still get their 503 (beyond these they are just closed).
const OVERFLOW_REPLIES: usize = 64;
/// How long shutdown waits for in-flight requests.
const DRAIN: Duration = Duration::from_secs(30);

fn saturated() -> axum::response::Response {
    let mut response = ApiError::new(Code::TooManyConnections, "the service has its maximum number of open connections; retry shortly")
        .with_header(header::RETRY_AFTER, "1")
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        headers.insert(REQUEST_ID.clone(), v);
    }
    headers.insert("odata-version", HeaderValue::from_static("4.0"));
    response
}

/// How the connection a request came on was made. The connection loop puts it in every request's
/// extensions; the routes build their links' scheme from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// Serves `app` over plain HTTP on `listener` until `shutdown` resolves, then drains.
pub async fn serve(listener: TcpListener, app: Router, limits: &Limits, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    serve_with(listener, app, limits, None, shutdown).await
}

/// Serves `app` on `listener` — over TLS when `tls` is given — until `shutdown` resolves, then
/// drains. The connection cap, the header timeout (which also bounds the TLS handshake) and the
/// graceful shutdown are the same either way.
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    limits: &Limits,
    tls: Option<Arc<Tls>>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper's own bound on the head is a backstop above ours (the `sizes` layer answers with a
    // Graph error first); hyper answers a bare 431/414 past it.
    let buffer = (limits.max_url_bytes + limits.max_header_bytes + 16 * 1024).max(8192);
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(buffer)
        .max_headers(limits.max_headers.max(1));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes + limits.max_url_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(u32::try_from(limits.max_concurrent_requests).unwrap_or(u32::MAX).max(1));
    let builder = Arc::new(builder);
    let header_timeout = limits.header_timeout;
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(limits.max_connections.clamp(1, Semaphore::MAX_PERMITS)));
    let overflow = Arc::new(Semaphore::new(OVERFLOW_REPLIES));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let tls = tls.clone();
        match connections.clone().try_acquire_owned() {
            Ok(permit) => {
                // Taken now, so a shutdown that starts during the handshake still waits for (and
                // gracefully closes) this connection.
                let watcher = graceful.watcher();
                let (app, builder) = (app.clone(), builder.clone());
                tokio::spawn(async move {
                    match tls {
                        None => serve_connection(stream, Scheme::Http, peer, app, &builder, watcher).await,
                        Some(tls) => {
                            if let Some(stream) = handshake(tls.acceptor(), stream, peer, header_timeout).await {
                                serve_connection(stream, Scheme::Https, peer, app, &builder, watcher).await;
                            }
                        }
                    }
                    drop(permit);
                });
            }
            Err(_) => {
                let Ok(permit) = overflow.clone().try_acquire_owned() else {
                    drop(stream);
                    continue;
                };
                tracing::warn!(%peer, "connection limit reached: answering 503");
                tokio::spawn(async move {
                    let reply = async {
                        match tls {
                            None => reply_saturated(stream, header_timeout).await,
                            Some(tls) => {
                                if let Some(stream) = handshake(tls.http1_acceptor(), stream, peer, header_timeout).await {
                                    reply_saturated(stream, header_timeout).await;
                                }
                            }
                        }
                    };
                    let _ = tokio::time::timeout(Duration::from_secs(10), reply).await;
                    drop(permit);
                });
            }
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {},
        () = tokio::time::sleep(DRAIN) => tracing::warn!("shutdown: some connections were still open after {} s", DRAIN.as_secs()),
    }
    Ok(())
}

/// The TLS handshake, bounded by the header timeout. A client that speaks plain HTTP or sends
/// anything but a ClientHello fails here and its connection is closed.
async fn handshake(acceptor: &TlsAcceptor, stream: TcpStream, peer: SocketAddr, limit: Duration) -> Option<TlsStream<TcpStream>> {
    match tokio::time::timeout(limit, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed: connection closed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out: connection closed");
            None
        }
    }
}

/// Serves one connection's requests (HTTP/1.1, or HTTP/2 by preface or ALPN) until it closes.
async fn serve_connection<I>(io: I, scheme: Scheme, peer: SocketAddr, app: Router, builder: &auto::Builder<TokioExecutor>, watcher: Watcher)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = app.map_request(move |mut request: axum::extract::Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request.extensions_mut().insert(scheme);
        request
    });
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service)).into_owned();
    let _ = watcher.watch(connection).await;
}

/// Answers a connection over the cap with one 503 and closes it.
async fn reply_saturated<I>(io: I, header_timeout: Duration)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(|_request| async { Ok::<_, Infallible>(saturated()) });
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1.keep_alive(false).timer(TokioTimer::new()).header_read_timeout(header_timeout.min(Duration::from_secs(5)));
    let _ = http1.serve_connection(TokioIo::new(io), service).await;
}

/// The address a listener is bound to is only reachable from this machine.
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}
