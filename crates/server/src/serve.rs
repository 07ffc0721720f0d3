//! The connection loop: hyper (HTTP/1.1 and HTTP/2) under the router, with the connection-level
//! limits — a cap on open connections (over it: one 503 with `Retry-After`, then the connection is
//! closed), a header read timeout (a client still sending its request head is cut off), a bound on
//! the head's size — and graceful shutdown (stop accepting, finish in-flight requests).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::error::ApiError;
use crate::limits::Limits;
use crate::protocol::REQUEST_ID;

/// Connections over the cap that still get their 503 (beyond these they are just closed).
const OVERFLOW_REPLIES: usize = 64;
/// How long shutdown waits for in-flight requests.
const DRAIN: Duration = Duration::from_secs(30);

fn saturated() -> axum::response::Response {
    let mut response = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "tooManyConnections",
        "the service has its maximum number of open connections; retry shortly",
    )
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

/// Serves `app` on `listener` until `shutdown` resolves, then drains.
pub async fn serve(listener: TcpListener, app: Router, limits: &Limits, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
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
        match connections.clone().try_acquire_owned() {
            Ok(permit) => {
                let service = app.clone().map_request(move |mut request: axum::extract::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    request
                });
                let connection =
                    builder.serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service)).into_owned();
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    let _ = connection.await;
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
                    let service = hyper::service::service_fn(|_request| async { Ok::<_, Infallible>(saturated()) });
                    let mut http1 = hyper::server::conn::http1::Builder::new();
                    http1.keep_alive(false).timer(TokioTimer::new()).header_read_timeout(header_timeout.min(Duration::from_secs(5)));
                    let _ = tokio::time::timeout(Duration::from_secs(10), http1.serve_connection(TokioIo::new(stream), service)).await;
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

/// The address a listener is bound to is only reachable from this machine.
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}
