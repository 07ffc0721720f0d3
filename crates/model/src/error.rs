//! Domain errors: what went wrong, on which property, and how a client should read it.

/// The class of a domain error; the HTTP layer maps each to one status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request itself is wrong (400).
    Invalid,
    /// The request is well-formed but conflicts with the state of the resource (409).
    Conflict,
}

/// A rule broken by a request, naming the property (`target`) and the precise cause (`code`,
/// which becomes Graph's `innerError.code`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    pub kind: ErrorKind,
    pub code: &'static str,
    pub target: String,
    pub message: String,
}

impl FieldError {
    pub fn invalid(target: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::Invalid, code, target: target.into(), message: message.into() }
    }

    pub fn conflict(target: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::Conflict, code, target: target.into(), message: message.into() }
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
