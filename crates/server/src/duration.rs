//! Durations given on the command line: humane text such as `500ms`, `30s`, `1h 30m`, `7d`.

use std::time::Duration;

/// The longest duration accepted (a typo such as `9999999d` is refused rather than overflowing).
const LONGEST: Duration = Duration::from_secs(100 * 365 * 86_400);

/// A duration that must be longer than zero (`--retention`, `--run-timeout`, `--change-retention`):
/// leaving the flag out is how such a setting is turned off.
pub fn parse_positive(text: &str) -> Result<Duration, String> {
    match parse_or_zero(text)? {
        d if d.is_zero() => Err(format!("'{}' is zero; leave the flag out to turn this off", text.trim())),
        d => Ok(d),
    }
}

/// A duration where `0` means off (`--schedule-interval`, `--metrics-runs-ttl`).
pub fn parse_or_zero(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    match humantime::parse_duration(t) {
        Ok(d) if d > LONGEST => Err(format!("'{t}' is longer than 100 years")),
        Ok(d) => Ok(d),
        Err(e) => Err(format!("'{t}' is not a duration such as 500ms, 30s, 12h or 7d: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_or_zero("12h").unwrap(), Duration::from_secs(12 * 3600));
        assert_eq!(parse_or_zero("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_or_zero("0").unwrap(), Duration::ZERO);
        assert!(parse_or_zero("soon").is_err());
        assert_eq!(parse_positive("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert_eq!(parse_positive("1h 30m").unwrap(), Duration::from_secs(5400));
        for bad in ["0", "0s", "soon", "-5m", "999999999d"] {
            assert!(parse_positive(bad).is_err(), "{bad}");
        }
    }
}
