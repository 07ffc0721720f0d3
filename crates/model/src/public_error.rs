//! `microsoft.graph.publicError`: the diagnostic a run carries when it failed critically.

use crate::Code;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::error::FieldError;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PublicErrorDetail {
    #[serde(rename = "@odata.type", default, skip_serializing)]
    odata_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PublicInnerError {
    #[serde(rename = "@odata.type", default, skip_serializing)]
    odata_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<PublicErrorDetail>>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PublicError {
    #[serde(rename = "@odata.type", default, skip_serializing)]
    odata_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<PublicErrorDetail>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inner_error: Option<PublicInnerError>,
}

impl PublicError {
    pub fn parse(property: &str, value: &serde_json::Value) -> Result<Self, FieldError> {
        if !value.is_object() {
            return Err(FieldError::new(
                property,
                Code::InvalidPropertyType,
                format!("'{property}' must be a microsoft.graph.publicError object, got {}", crate::error::json_kind(value)),
            ));
        }
        serde_json::from_value(value.clone()).map_err(|e| {
            FieldError::new(property, Code::InvalidProperty, format!("'{property}' is not a valid microsoft.graph.publicError: {e}"))
        })
    }

    pub fn with_code(code: &str, message: &str) -> Self {
        Self { code: Some(code.to_owned()), message: Some(message.to_owned()), ..Self::default() }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    pub fn from_stored(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }
}

/// A run's `blockingError` as it is stored and served: the compact JSON of a [`PublicError`],
/// checked to be one JSON object when made. A page of failed runs is read and written out without
/// parsing each error into its fields; the few places that need them parse it ([`Self::error`]).
#[derive(Debug, Clone)]
pub struct ErrorJson(Box<RawValue>);

/// The same text: both sides are what [`PublicError::to_json`] wrote, so equal errors are equal
/// text.
impl PartialEq for ErrorJson {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl From<PublicError> for ErrorJson {
    fn from(error: PublicError) -> Self {
        // Serializing a struct of strings cannot fail; were it to, the error would read as null.
        Self(serde_json::value::to_raw_value(&error).unwrap_or_else(|_| RawValue::NULL.to_owned()))
    }
}

impl Serialize for ErrorJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl ErrorJson {
    /// Reads back what [`Self::as_json`] stored: `None` unless it is one JSON object.
    pub fn from_stored(text: String) -> Option<Self> {
        if !text.trim_start().starts_with('{') {
            return None;
        }
        RawValue::from_string(text).ok().map(Self)
    }

    /// The error as compact JSON text.
    pub fn as_json(&self) -> &str {
        self.0.get()
    }

    /// The error's fields (empty if the text is not a publicError).
    pub fn error(&self) -> PublicError {
        PublicError::from_stored(self.as_json()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stored text is what a reply carries: the same JSON the parsed error serializes to, and
    /// the same error when parsed back.
    #[test]
    fn stored_text_renders_and_reads_back_as_the_error() {
        let body = serde_json::json!({
            "code": "sourceUnreachable",
            "message": "the SIS did not answer: \"timeout\"",
            "details": [{"code": "dns", "target": "sis.example"}],
            "innerError": {"code": "E42"}
        });
        let error = PublicError::parse("blockingError", &body).unwrap();
        let stored = ErrorJson::from(error.clone());
        assert_eq!(serde_json::to_string(&stored).unwrap(), serde_json::to_string(&error).unwrap());
        let back = ErrorJson::from_stored(stored.as_json().to_owned()).unwrap();
        assert_eq!(back, stored);
        assert_eq!(back.error(), error);
        assert_ne!(back, ErrorJson::from(PublicError::with_code("other", "")));
    }

    #[test]
    fn stored_text_that_is_not_one_object_reads_as_none() {
        for text in ["", "null", "[1]", "\"x\"", "{", "{} {}", "not json"] {
            assert!(ErrorJson::from_stored(text.to_owned()).is_none(), "{text:?}");
        }
    }
}
