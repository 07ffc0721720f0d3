//! `microsoft.graph.publicError`: the diagnostic a run carries when it failed critically.

use crate::Code;
use serde::{Deserialize, Serialize};

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
