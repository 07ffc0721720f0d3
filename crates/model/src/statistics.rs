//! `runStatistics`: an open type, stored and returned exactly as given.

use crate::Code;
use serde_json::{Map, Value};

use crate::error::FieldError;

/// The most a `statistics` object may take, measured as compact UTF-8 JSON.
pub const STATISTICS_MAX_BYTES: usize = 64 * 1024;
pub const STATISTICS_ODATA_TYPE: &str = "#microsoft.graph.industryData.runStatistics";

/// A client's statistics object, without the `@odata.type` annotation (added on output), held as
/// the compact JSON text it is stored as: a reply splices it in without parsing it again.
#[derive(Debug, Clone)]
pub struct Statistics {
    /// Always one JSON object.
    json: String,
}

impl Default for Statistics {
    fn default() -> Self {
        Self { json: "{}".to_owned() }
    }
}

/// Equal as JSON objects: the same members, in any order.
impl PartialEq for Statistics {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json || self.to_map() == other.to_map()
    }
}

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
        let stats = Self { json: serde_json::to_string(&map).unwrap_or_else(|_| "{}".to_owned()) };
        let size = stats.json.len();
        if size > STATISTICS_MAX_BYTES {
            return Err(FieldError::new(
                property,
                Code::PropertyTooLarge,
                format!("'{property}' is {size} bytes as compact JSON; at most {STATISTICS_MAX_BYTES} are allowed"),
            ));
        }
        Ok(stats)
    }

    /// Reads back what [`Statistics::as_json`] stored (checked to be one JSON object, else empty).
    pub fn from_stored(text: String) -> Self {
        let is_object = text.trim_start().starts_with('{') && serde_json::from_str::<&serde_json::value::RawValue>(&text).is_ok();
        if is_object { Self { json: text } } else { Self::default() }
    }

    /// The object as compact JSON text.
    pub fn as_json(&self) -> &str {
        &self.json
    }

    /// The object's members as JSON text, without the braces (empty for `{}`).
    pub fn members_json(&self) -> &str {
        let inner = self.json.trim();
        inner.strip_prefix('{').and_then(|s| s.strip_suffix('}')).unwrap_or("").trim()
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.to_map().contains_key(key)
    }

    pub fn to_map(&self) -> Map<String, Value> {
        match serde_json::from_str(&self.json) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kept_as_stored_text_and_compared_as_objects() {
        let stats =
            Statistics::parse("statistics", &json!({"b": 2, "@odata.type": "#microsoft.graph.industryData.runStatistics", "a": [1]}))
                .unwrap();
        assert_eq!(stats.as_json(), r#"{"b":2,"a":[1]}"#);
        assert_eq!(stats.members_json(), r#""b":2,"a":[1]"#);
        let reordered = Statistics::from_stored(r#"{"a":[1],"b":2}"#.to_owned());
        assert_eq!(stats, reordered, "the same members in another order");
        assert_ne!(stats, Statistics::from_stored(r#"{"a":[1],"b":3}"#.to_owned()));
        assert_eq!(Statistics::default().members_json(), "");
    }

    #[test]
    fn stored_text_that_is_not_one_object_reads_as_empty() {
        for bad in ["", "[1]", "{\"a\":", "{} {}", "null"] {
            assert_eq!(Statistics::from_stored(bad.to_owned()).as_json(), "{}", "{bad:?}");
        }
    }
}
