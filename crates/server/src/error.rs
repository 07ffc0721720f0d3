//! Graph errors: `{"error": {"code", "message", "target"?, "innerError": {...}}}`. The
//! top-level code follows the status; `innerError.code` names the precise cause.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use runhub_model::{ErrorKind, FieldError};
use runhub_odata::QueryError;
use runhub_store::StoreError;
use serde_json::json;

use crate::protocol::{self, JSON_CONTENT_TYPE};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// `innerError.code`.
    pub inner_code: &'static str,
    pub message: String,
    pub target: Option<String>,
    /// Extra headers: `Allow` on 405, `Retry-After` on 429/503, `ETag` on 412.
    pub headers: Vec<(header::HeaderName, String)>,
}

/// The top-level Graph code of a status.
pub fn graph_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "badRequest",
        401 => "unauthenticated",
        403 => "accessDenied",
        404 => "itemNotFound",
        405 => "methodNotAllowed",
        406 => "notAcceptable",
        408 => "requestTimeout",
        409 => "conflict",
        // A delta token whose changes the log no longer holds: start over (Graph's code).
        410 => "syncStateNotFound",
        412 => "preconditionFailed",
        413 => "payloadTooLarge",
        414 => "uriTooLong",
        415 => "unsupportedMediaType",
        424 => "failedDependency",
        431 => "requestHeaderFieldsTooLarge",
        429 => "tooManyRequests",
        503 => "serviceNotAvailable",
        _ if status.is_client_error() => "badRequest",
        _ => "generalException",
    }
}

impl ApiError {
    pub fn new(status: StatusCode, inner_code: &'static str, message: impl Into<String>) -> Self {
        Self { status, inner_code, message: message.into(), target: None, headers: Vec::new() }
    }

    pub fn bad_request(inner_code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, inner_code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "itemNotFound", message)
    }

    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        let target = target.into();
        self.target = (!target.is_empty()).then_some(target);
        self
    }

    pub fn with_header(mut self, name: header::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn method_not_allowed(allowed: &[axum::http::Method]) -> Self {
        let allow = allowed.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ");
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "methodNotAllowed",
            format!("this resource does not support that method; allowed: {allow}"),
        )
        .with_header(header::ALLOW, allow)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "generalException", message)
    }

    pub fn body(&self) -> serde_json::Value {
        let ids = protocol::current_ids();
        let mut inner = json!({
            "code": self.inner_code,
            "date": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "request-id": ids.request_id,
        });
        if let Some(client) = ids.client_request_id {
            inner["client-request-id"] = json!(client);
        }
        let mut error = json!({ "code": graph_code(self.status), "message": self.message });
        if let Some(target) = &self.target {
            error["target"] = json!(target);
        }
        error["innerError"] = inner;
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, code = self.inner_code, message = %self.message, "request failed");
        }
        let mut response = (self.status, self.body().to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
        for (name, value) in &self.headers {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(name.clone(), v);
            }
        }
        response
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        let status = match e.kind {
            ErrorKind::Invalid => StatusCode::BAD_REQUEST,
            ErrorKind::Conflict => StatusCode::CONFLICT,
        };
        ApiError::new(status, e.code, e.message).with_target(e.target)
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        ApiError::bad_request(e.code, e.message.clone()).with_target(e.option.clone())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(message) => ApiError::not_found(message),
            StoreError::PreconditionFailed { current } => ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "entityTagDoesNotMatch",
                "If-Match does not match the current version of the resource; read it again and retry",
            )
            .with_target("If-Match")
            .with_header(header::ETAG, current),
            StoreError::Rule(field) => field.into(),
            StoreError::Unavailable(message) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storeUnavailable", format!("the store is unavailable: {message}"))
                    .with_header(header::RETRY_AFTER, "1")
            }
            StoreError::LimitReached(message) => ApiError::new(StatusCode::FORBIDDEN, "quotaLimitReached", message),
            StoreError::Internal(message) => ApiError::internal(message),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
