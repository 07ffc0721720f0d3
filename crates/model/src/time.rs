//! DateTimeOffset as the API has it: accepted with any offset and up to 7 fractional digits,
//! kept with microsecond precision, rendered in UTC with `Z` and no trailing zeros.

use crate::Code;
use chrono::{DateTime, Datelike, SecondsFormat, Utc};

use crate::error::FieldError;

/// A point in time, in microseconds since the Unix epoch (UTC). The integer form is what the store
/// keeps, so ordering and range queries are integer comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn now() -> Self {
        Self(Utc::now().timestamp_micros())
    }

    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    pub const fn micros(self) -> i64 {
        self.0
    }

    /// Parses an OData DateTimeOffset literal: `YYYY-MM-DDThh:mm[:ss[.fffffff]](Z|±hh:mm)`.
    /// Digits past the 6th fractional one are truncated (the 7th is allowed, more are refused).
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        let bytes = text.as_bytes();
        // chrono's RFC 3339 parser is lenient about the separator and requires seconds; OData is
        // strict about `T` and makes seconds optional, so normalise first.
        if bytes.len() < 17 || bytes[10] != b'T' || bytes[13] != b':' {
            return Err(TimestampError::Shape);
        }
        let normalised;
        let text = if bytes.get(16).is_some_and(|b| *b != b':') {
            normalised = format!("{}:00{}", &text[..16], &text[16..]);
            normalised.as_str()
        } else {
            text
        };
        if let Some(dot) = text.find('.') {
            let digits = text[dot + 1..].bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(TimestampError::Shape);
            }
            if digits > 7 {
                return Err(TimestampError::TooPrecise);
            }
        }
        let parsed = DateTime::parse_from_rfc3339(text).map_err(|_| TimestampError::Shape)?;
        let utc = parsed.with_timezone(&Utc);
        // An offset can carry a local time inside 0000–9999 to an instant outside it, which RFC 3339
        // cannot render.
        if !(0..=9999).contains(&utc.year()) {
            return Err(TimestampError::OutOfRange);
        }
        Ok(Self(utc.timestamp_micros()))
    }

    /// Parses the value of a body property, naming it in the error.
    pub fn parse_property(property: &str, text: &str) -> Result<Self, FieldError> {
        Self::parse(text).map_err(|e| {
            FieldError::new(property, Code::InvalidDateTimeOffset, format!("'{property}' is not a valid DateTimeOffset ('{text}'): {e}"))
        })
    }

    /// RFC 3339 in UTC with `Z`; the fraction only when non-zero, without trailing zeros.
    pub fn to_rfc3339(self) -> String {
        let secs = self.0.div_euclid(1_000_000);
        let micros = self.0.rem_euclid(1_000_000);
        let Some(dt) = DateTime::from_timestamp(secs, 0) else {
            return String::new();
        };
        // chrono's fixed RFC 3339 writer, not strftime: this runs for every timestamp of every
        // reply, and strftime re-parses its format string each time.
        let mut out = dt.to_rfc3339_opts(SecondsFormat::Secs, true);
        if micros != 0 {
            out.pop(); // the 'Z'
            let fraction = format!(".{micros:06}");
            out.push_str(fraction.trim_end_matches('0'));
            out.push('Z');
        }
        out
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("expected YYYY-MM-DDThh:mm[:ss[.fffffff]] followed by Z or an offset ±hh:mm")]
    Shape,
    #[error("at most 7 fractional second digits are allowed")]
    TooPrecise,
    #[error("the instant is outside the years 0000-9999 in UTC")]
    OutOfRange,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_offsets_and_renders_utc() {
        let t = Timestamp::parse("2024-03-01T10:00:00+02:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-03-01T08:00:00Z");
    }

    #[test]
    fn truncates_to_micros_and_trims_zeros() {
        let t = Timestamp::parse("2024-03-01T10:00:00.1234567Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-03-01T10:00:00.123456Z");
        let t = Timestamp::parse("2024-03-01T10:00:00.5000Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-03-01T10:00:00.5Z");
    }

    #[test]
    fn seconds_are_optional() {
        assert_eq!(Timestamp::parse("2024-03-01T10:00Z").unwrap().to_rfc3339(), "2024-03-01T10:00:00Z");
        assert_eq!(Timestamp::parse("2024-03-01T10:00-01:30").unwrap().to_rfc3339(), "2024-03-01T11:30:00Z");
    }

    #[test]
    fn refuses_bad_shapes() {
        for bad in [
            "",
            "2024-03-01",
            "2024-03-01 10:00:00Z",
            "2024-03-01T10:00:00",
            "2024-13-01T10:00:00Z",
            "2024-03-01T10:00:00.12345678Z",
            "2024-03-01T10:00:00.Z",
            "yesterday",
            "2024-03-01T25:00:00Z",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn instants_must_stay_within_four_digit_years() {
        assert_eq!(Timestamp::parse("9999-12-31T23:59:59-14:00"), Err(TimestampError::OutOfRange));
        assert_eq!(Timestamp::parse("0000-01-01T00:00:00+14:00"), Err(TimestampError::OutOfRange));
        assert!(Timestamp::parse("9999-12-31T23:59:59Z").is_ok());
    }

    #[test]
    fn before_epoch_renders() {
        let t = Timestamp::parse("1969-12-31T23:59:59.5Z").unwrap();
        assert_eq!(t.micros(), -500_000);
        assert_eq!(t.to_rfc3339(), "1969-12-31T23:59:59.5Z");
    }
}
