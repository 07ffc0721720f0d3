//! The service document, `$metadata` and `/healthz`.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use runhub_model::Code;
use serde_json::json;

use super::{Ctx, json_reply};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn service_document(ctx: &Ctx) -> ApiResult<Response> {
    let doc = runhub_odata::service_document(&format!("{}/$metadata", ctx.root));
    Ok(json_reply(StatusCode::OK, &doc))
}

pub fn metadata(_ctx: &Ctx) -> ApiResult<Response> {
    let mut response = (StatusCode::OK, runhub_odata::metadata_xml()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    Ok(response)
}

/// 200 while the process serves HTTP, without touching the store: a liveness probe, and the
/// do-nothing route the benchmarks measure this machine's HTTP ceiling with.
pub async fn livez() -> Response {
    json_reply(StatusCode::OK, &json!({ "status": "live" }))
}

/// 200 when the store answers, 503 when it does not.
pub async fn healthz(State(state): State<AppState>) -> Response {
    match state.store.health().await {
        Ok(()) => json_reply(StatusCode::OK, &json!({ "status": "healthy" })),
        Err(e) => ApiError::new(Code::StoreUnavailable, format!("the store does not answer: {e}"))
            .with_header(header::RETRY_AFTER, "1")
            .into_response(),
    }
}
