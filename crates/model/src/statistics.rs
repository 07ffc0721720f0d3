//! `runStatistics`: an open type, stored and returned exactly as given.

use crate::Code;
use serde_json::{Map, Value};

use crate::error::FieldError;

/// The most a `statistics` object may take, measured as compact UTF-8 JSON.
pub const STATISTICS_MAX_BYTES: usize = 64 * 1024;
pub const STATISTICS_ODATA_TYPE: &str = "#microsoft.graph.industryData.runStatistics";

/// A client's statistics object, without the `@odata.type` annotation (added on output).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Statistics(Map<String, Value>);

impl Statistics {
    pub fn parse(property: &str, value: &Value) -> Result<Self, FieldError> {
        let Value::Object(map) = value else {
            return Err(FieldError::new(
                property,
                Code::InvalidPropertyType,
                format!("'{property}' must be a JSON object, got {}", crate::error::json_kind(value)),
            ));
        };
        let mut map = map.clone();
        // A client echoing what it read back sends the annotation too: accept it if it is ours.
        if let Some(t) = map.remove("@odata.type") {
            let ok = t.as_str().is_some_and(|s| s.trim_start_matches('#') == &STATISTICS_ODATA_TYPE[1..]);
            if !ok {
                return Err(FieldError::new(
                    format!("{property}/@odata.type"),
                    Code::InvalidPropertyType,
                    format!("'{property}' is of type {STATISTICS_ODATA_TYPE}; '@odata.type' may only name that type"),
                ));
            }
        }
        let stats = Self(map);
        let size = stats.to_json().len();
        if size > STATISTICS_MAX_BYTES {
            return Err(FieldError::new(
                property,
                Code::PropertyTooLarge,
                format!("'{property}' is {size} bytes as compact JSON; at most {STATISTICS_MAX_BYTES} are allowed"),
            ));
        }
        Ok(stats)
    }

    /// Reads back what [`Statistics::to_json`] stored.
    pub fn from_stored(text: &str) -> Self {
        match serde_json::from_str(text) {
            Ok(Value::Object(map)) => Self(map),
            _ => Self::default(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".to_owned())
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }
}
