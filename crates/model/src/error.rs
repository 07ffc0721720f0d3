//! Domain errors: what went wrong, on which property, and how a client should read it.

use crate::Code;

/// A rule broken by a request, naming the property (`target`) and the precise cause (`code`, which
/// becomes Graph's `innerError.code` and decides the status).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    pub code: Code,
    pub target: String,
    pub message: String,
}

impl FieldError {
    pub fn new(target: impl Into<String>, code: Code, message: impl Into<String>) -> Self {
        Self { code, target: target.into(), message: message.into() }
    }
}

/// How a JSON value's kind is named in error messages ("a string", "an object", …).
pub fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
