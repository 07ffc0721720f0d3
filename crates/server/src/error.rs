//! Graph errors: `{"error": {"code", "message", "target"?, "innerError": {...}}}`. The
//! top-level code follows the status; `innerError.code` names the precise cause.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use runhub_model::{Code, FieldError};
use runhub_odata::QueryError;
use runhub_store::StoreError;
use serde_json::json;

use crate::protocol::{self, JSON_CONTENT_TYPE};

#[derive(Debug, Clone)]
pub struct ApiError {
    /// `innerError.code`; it decides the status.
    pub code: Code,
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
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), target: None, headers: Vec::new() }
    }

    /// The status the code is answered with.
    pub fn status(&self) -> StatusCode {
        status_of(self.code)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::ItemNotFound, message)
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

    pub fn method_not_allowed(allowed: &[&str]) -> Self {
        let allow = allowed.join(", ");
        Self::new(Code::MethodNotAllowed, format!("this resource does not support that method; allowed: {allow}"))
            .with_header(header::ALLOW, allow)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Code::GeneralException, message)
    }

    pub fn body(&self) -> serde_json::Value {
        let ids = protocol::current_ids();
        let mut inner = json!({
            "code": self.code.as_str(),
            "date": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "request-id": ids.request_id,
        });
        if let Some(client) = ids.client_request_id {
            inner["client-request-id"] = json!(client);
        }
        let mut error = json!({ "code": graph_code(self.status()), "message": self.message });
        if let Some(target) = &self.target {
            error["target"] = json!(target);
        }
        error["innerError"] = inner;
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(status = %status, code = self.code.as_str(), message = %self.message, "request failed");
        }
        let mut response = (status, self.body().to_string()).into_response();
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
        ApiError::new(e.code, e.message).with_target(e.target)
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        ApiError::new(e.code, e.message.clone()).with_target(e.option.clone())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(message) => ApiError::not_found(message),
            StoreError::PreconditionFailed { current } => ApiError::new(
                Code::EntityTagDoesNotMatch,
                "If-Match does not match the current version of the resource; read it again and retry",
            )
            .with_target("If-Match")
            .with_header(header::ETAG, current),
            StoreError::Rule(field) => field.into(),
            StoreError::Unavailable(message) => {
                ApiError::new(Code::StoreUnavailable, format!("the store is unavailable: {message}")).with_header(header::RETRY_AFTER, "1")
            }
            StoreError::LimitReached(message) => ApiError::new(Code::QuotaLimitReached, message),
            StoreError::Internal(message) => ApiError::internal(message),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The HTTP status a code is answered with.
fn status_of(code: Code) -> StatusCode {
    StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The error-code table of docs/api.md, one row per [`Code`], in the table's order.
pub fn code_table() -> String {
    let mut table = String::from("| `innerError.code` | status | `code` | meaning |\n|---|---|---|---|\n");
    for code in Code::ALL {
        let status = status_of(*code);
        table.push_str(&format!("| `{code}` | {} | `{}` | {} |\n", code.status(), graph_code(status), code.meaning()));
    }
    table
}

#[cfg(test)]
mod tests {
    const BEGIN: &str = "<!-- error codes: generated from runhub_model::Code -->\n";
    const END: &str = "<!-- end of error codes -->";

    /// docs/api.md lists exactly the codes the service answers with. `RUNHUB_UPDATE_DOCS=1 cargo test -p
    /// runhub-server the_api_reference` rewrites the table after a code is added or changed.
    #[test]
    fn the_api_reference_lists_every_error_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md");
        let doc = std::fs::read_to_string(path).expect("docs/api.md");
        let start = doc.find(BEGIN).expect("docs/api.md has the error-code markers") + BEGIN.len();
        let end = doc[start..].find(END).expect("docs/api.md has the end marker") + start;
        let table = super::code_table();
        if std::env::var_os("RUNHUB_UPDATE_DOCS").is_some() {
            std::fs::write(path, format!("{}{table}{}", &doc[..start], &doc[end..])).expect("write docs/api.md");
            return;
        }
        assert_eq!(&doc[start..end], table, "docs/api.md's error codes differ from runhub_model::Code: rerun with RUNHUB_UPDATE_DOCS=1");
    }
}
