//! What every reply carries (SPEC §5): `request-id`, the echoed `client-request-id`,
//! `OData-Version`, and one log line per request.

use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

pub const JSON_CONTENT_TYPE: &str = "application/json;odata.metadata=minimal";
pub static REQUEST_ID: HeaderName = HeaderName::from_static("request-id");
pub static CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("client-request-id");
pub static ODATA_VERSION: HeaderName = HeaderName::from_static("odata-version");

/// The ids of the request being served, for error bodies.
#[derive(Debug, Clone, Default)]
pub struct RequestIds {
    pub request_id: String,
    pub client_request_id: Option<String>,
}

tokio::task_local! {
    static IDS: RequestIds;
}

/// The ids of the current request (empty outside a request).
pub fn current_ids() -> RequestIds {
    IDS.try_with(Clone::clone).unwrap_or_default()
}

/// The outermost layer: ids, headers, and the log line.
pub async fn layer(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id =
        request.headers().get(&CLIENT_REQUEST_ID).and_then(|v| v.to_str().ok()).filter(|v| v.len() <= 256).map(str::to_owned);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let ids = RequestIds { request_id: request_id.clone(), client_request_id: client_request_id.clone() };
    let mut response = IDS.scope(ids, next.run(request)).await;
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert(REQUEST_ID.clone(), v);
    }
    if let Some(v) = client_request_id.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(CLIENT_REQUEST_ID.clone(), v);
    }
    headers.insert(ODATA_VERSION.clone(), HeaderValue::from_static("4.0"));
    tracing::info!(
        request_id = %request_id,
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}
