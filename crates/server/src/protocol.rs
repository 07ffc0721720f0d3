//! What every reply carries: `request-id`, the echoed `client-request-id`, `OData-Version`; and
//! each request served under its ids, with one log line (`crate::telemetry`).

use std::future::Future;
use std::time::Instant;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
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

/// The `request-id` of the request being served on this task, if any (for log lines).
pub fn current_request_id() -> Option<String> {
    IDS.try_with(|ids| ids.request_id.clone()).ok()
}

/// Fresh ids for a request: a new `request-id`, and its `client-request-id` when it sent a usable one.
pub fn new_ids(headers: &HeaderMap) -> RequestIds {
    let client_request_id = headers.get(&CLIENT_REQUEST_ID).and_then(|v| v.to_str().ok()).filter(|v| v.len() <= 256).map(str::to_owned);
    RequestIds { request_id: uuid::Uuid::new_v4().to_string(), client_request_id }
}

/// Serves one request under its ids: error bodies name them, the reply carries them with
/// `OData-Version`, and one log line records it. Used by the layer above, and for the requests of
/// a batch that are answered without reaching the router (`crate::routes::batch`).
/// `started`: when the request arrived, for the log line's latency.
pub async fn serve_as(method: &Method, path: &str, ids: RequestIds, started: Instant, serve: impl Future<Output = Response>) -> Response {
    let request_id = ids.request_id.clone();
    let client_request_id = ids.client_request_id.clone();
    let mut response = IDS.scope(ids, serve).await;
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert(REQUEST_ID.clone(), v);
    }
    if let Some(v) = client_request_id.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(CLIENT_REQUEST_ID.clone(), v);
    }
    headers.insert(ODATA_VERSION.clone(), HeaderValue::from_static("4.0"));
    crate::telemetry::log_request(&request_id, method, path, response.status(), started);
    response
}

/// Whether an `Accept` header admits a JSON reply: absent, or any media range of `application/json`,
/// `application/*` or `*/*` whose `q` is not 0 (parameters such as `odata.metadata` are ignored).
pub fn accepts_json(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return true };
    if accept.trim().is_empty() {
        return true;
    }
    accept.split(',').any(|range| {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim();
        let refused = parts.any(|p| {
            let (name, value) = p.split_once('=').unwrap_or((p, ""));
            name.trim().eq_ignore_ascii_case("q") && value.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
        });
        !refused && ["application/json", "application/*", "*/*"].iter().any(|m| media.eq_ignore_ascii_case(m))
    })
}

#[cfg(test)]
mod tests {
    use super::accepts_json;

    #[test]
    fn accept_ranges_that_admit_json() {
        for ok in [
            None,
            Some(""),
            Some("application/json"),
            Some("*/*"),
            Some("application/*;q=0.5"),
            Some("text/html, application/json;odata.metadata=minimal"),
            Some("APPLICATION/JSON"),
        ] {
            assert!(accepts_json(ok), "{ok:?}");
        }
        for refused in [Some("application/xml"), Some("text/plain"), Some("application/json;q=0"), Some("text/html, image/png")] {
            assert!(!accepts_json(refused), "{refused:?}");
        }
    }
}
