//! Validated strings.

use crate::Code;
use crate::error::FieldError;

/// The longest `displayName`, counted in characters after trimming.
pub const DISPLAY_NAME_MAX_CHARS: usize = 256;

/// A `displayName`: trimmed, not blank, at most 256 characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(property: &str, raw: &str) -> Result<Self, FieldError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(FieldError::new(property, Code::InvalidProperty, format!("'{property}' must not be empty or blank")));
        }
        let chars = trimmed.chars().count();
        if chars > DISPLAY_NAME_MAX_CHARS {
            return Err(FieldError::new(
                property,
                Code::InvalidProperty,
                format!("'{property}' is {chars} characters long; at most {DISPLAY_NAME_MAX_CHARS} are allowed"),
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// Wraps a value read back from the store, which only ever holds validated names.
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DisplayName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_counts_characters() {
        assert_eq!(DisplayName::parse("displayName", "  nightly  ").unwrap().as_str(), "nightly");
        let max = "é".repeat(256);
        assert!(DisplayName::parse("displayName", &format!(" {max} ")).is_ok());
        assert!(DisplayName::parse("displayName", &format!("{max}x")).is_err());
        assert!(DisplayName::parse("displayName", "   ").is_err());
        assert!(DisplayName::parse("displayName", "").is_err());
    }
}
