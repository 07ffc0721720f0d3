//! The one layer around every route. In order, outermost first: the request's ids, the headers
//! every reply carries and its access-log line (`protocol`); its metrics; a panic becomes a 500;
//! URL and header sizes (414, 431); requests in flight (503); the request timeout (408); who is
//! calling and how often (401, 429). The routes then check permissions (403).
//!
//! One hand-written layer rather than one middleware per concern: each middleware boxed its future
//! and cloned the service below it for every request, and together they cost more than a
//! do-nothing request.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use runhub_model::Code;

use crate::error::ApiError;
use crate::limits::{self, Guard};
use crate::metrics::{self, RouteLabel};
use crate::protocol;

pub async fn layer(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let ids = protocol::new_ids(request.headers());
    protocol::serve_as(&method, &path, ids, started, async {
        let mut response = match AssertUnwindSafe(guarded(&guard, request, next)).catch_unwind().await {
            Ok(response) => response,
            Err(_) => ApiError::new(Code::GeneralException, "the server failed while serving this request").into_response(),
        };
        let route = response.extensions_mut().remove::<RouteLabel>();
        metrics::record_request(&method, &path, route.as_ref(), response.status().as_u16(), started.elapsed());
        response
    })
    .await
}

/// The limits, then the route.
async fn guarded(guard: &Guard, mut request: Request, next: Next) -> Response {
    if let Some(refusal) = limits::check_sizes(guard, &request) {
        return refusal;
    }
    let Some(_in_flight) = limits::admit(guard) else {
        return limits::busy(guard);
    };
    limits::within_timeout(guard, async move {
        if let Some(refusal) = limits::check_access(guard, &mut request) {
            return refusal;
        }
        next.run(request).await
    })
    .await
}
