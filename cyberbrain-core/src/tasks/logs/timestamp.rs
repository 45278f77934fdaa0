//! Timestamps found in log lines, for first/last-seen times and the since-last-success window.
//!
//! Recognised, wherever they appear in the line (the leftmost one wins):
//! - ISO 8601 / RFC 3339: `2024-05-01T12:00:00Z`, `2024-05-01 12:00:00,123`,
//!   `2024-05-01T12:00:00.123456789+02:00` (Docker and CRI prefixes, Python logging, JSON fields);
//! - nginx error logs: `2024/05/01 12:00:03`;
//! - common/combined access logs: `01/May/2024:12:00:03 +0000`.
//!
//! A time without an offset is taken as UTC: the machine's zone is not part of a deterministic
//! analysis, and logs written in local time shift by the zone offset (documented for operators).
//! Syslog times (`May  1 12:00:00`) carry no year and are not parsed.

use std::sync::LazyLock;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use regex::{Captures, Regex};

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("timestamp pattern compiles")
}

static ISO: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})[T ](?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})(?:[.,](?P<frac>\d{1,9})\d*)?(?:\s?(?P<off>Z|[+-]\d{2}:?\d{2}))?",
    )
});

static NGINX: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"(?P<y>\d{4})/(?P<mo>\d{2})/(?P<d>\d{2}) (?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})")
});

static ACCESS: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?P<d>\d{2})/(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/(?P<y>\d{4}):(?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})(?: (?P<off>[+-]\d{4}))?",
    )
});

/// The first timestamp in `line`, converted to UTC.
pub fn parse_timestamp(line: &str) -> Option<DateTime<Utc>> {
    let candidates = [
        ISO.captures(line)
            .map(|c| (c.get(0).map_or(0, |m| m.start()), Format::Iso, c)),
        NGINX
            .captures(line)
            .map(|c| (c.get(0).map_or(0, |m| m.start()), Format::Nginx, c)),
        ACCESS
            .captures(line)
            .map(|c| (c.get(0).map_or(0, |m| m.start()), Format::Access, c)),
    ];
    let mut found: Vec<_> = candidates.into_iter().flatten().collect();
    found.sort_by_key(|(start, format, _)| (*start, *format as u8));
    found
        .into_iter()
        .find_map(|(_, format, caps)| from_captures(format, &caps))
}

/// A Unix timestamp as JSON loggers write it: seconds, milliseconds, microseconds or nanoseconds,
/// told apart by magnitude (anything from 2001 to 2286 in seconds).
pub fn from_epoch(value: f64) -> Option<DateTime<Utc>> {
    if !value.is_finite() || value <= 0.0 {
        return None;
    }
    let seconds = if value < 1e11 {
        value
    } else if value < 1e14 {
        value / 1e3
    } else if value < 1e17 {
        value / 1e6
    } else {
        value / 1e9
    };
    if !(1e9..1e10).contains(&seconds) {
        return None;
    }
    let whole = seconds.floor();
    let nanos = ((seconds - whole) * 1e9).round().min(999_999_999.0) as u32;
    DateTime::from_timestamp(whole as i64, nanos)
}

/// [`from_epoch`] for integers, exact to the nanosecond (`__REALTIME_TIMESTAMP` is in
/// microseconds and does not fit an `f64` exactly).
pub fn from_epoch_integer(value: i64) -> Option<DateTime<Utc>> {
    const SECONDS_LIMIT: i64 = 100_000_000_000;
    let (seconds, nanos) = match value {
        ..=0 => return None,
        v if v < SECONDS_LIMIT => (v, 0),
        v if v < SECONDS_LIMIT * 1_000 => (v / 1_000, (v % 1_000) * 1_000_000),
        v if v < SECONDS_LIMIT * 1_000_000 => (v / 1_000_000, (v % 1_000_000) * 1_000),
        v => (v / 1_000_000_000, v % 1_000_000_000),
    };
    if !(1_000_000_000..10_000_000_000).contains(&seconds) {
        return None;
    }
    DateTime::from_timestamp(seconds, u32::try_from(nanos).ok()?)
}

/// An epoch timestamp written as text: integers exactly, decimals through `f64`.
pub fn from_epoch_text(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return from_epoch_integer(text.parse().ok()?);
    }
    from_epoch(text.parse().ok()?)
}

#[derive(Debug, Clone, Copy)]
enum Format {
    Iso,
    Nginx,
    Access,
}

fn number(caps: &Captures<'_>, name: &str) -> Option<u32> {
    caps.name(name)?.as_str().parse().ok()
}

fn from_captures(format: Format, caps: &Captures<'_>) -> Option<DateTime<Utc>> {
    let year: i32 = caps.name("y")?.as_str().parse().ok()?;
    if !(1970..=9999).contains(&year) {
        return None;
    }
    let month = match format {
        Format::Access => month_number(caps.name("mon")?.as_str())?,
        Format::Iso | Format::Nginx => number(caps, "mo")?,
    };
    let date = NaiveDate::from_ymd_opt(year, month, number(caps, "d")?)?;
    let nanos = match caps.name("frac") {
        Some(frac) => {
            let digits = frac.as_str();
            let value: u32 = digits.parse().ok()?;
            value * 10u32.pow(9 - digits.len() as u32)
        }
        None => 0,
    };
    let time = NaiveTime::from_hms_nano_opt(
        number(caps, "h")?,
        number(caps, "mi")?,
        number(caps, "s")?,
        nanos,
    )?;
    let naive = NaiveDateTime::new(date, time);
    match caps.name("off").map(|m| m.as_str()) {
        None | Some("Z") => Some(Utc.from_utc_datetime(&naive)),
        Some(offset) => {
            let offset = parse_offset(offset)?;
            offset
                .from_local_datetime(&naive)
                .single()
                .map(|t| t.with_timezone(&Utc))
        }
    }
}

fn parse_offset(text: &str) -> Option<FixedOffset> {
    let sign = if text.starts_with('-') { -1 } else { 1 };
    let digits: String = text[1..].chars().filter(char::is_ascii_digit).collect();
    if digits.len() != 4 {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = digits[2..].parse().ok()?;
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

fn month_number(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS.iter().position(|m| *m == name).map(|i| i as u32 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("valid test timestamp")
            .with_timezone(&Utc)
    }

    #[test]
    fn formats_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("2024-05-01T12:00:00Z hello", Some("2024-05-01T12:00:00Z")),
            (
                "2024-05-01T12:00:02.123456789Z   File \"x\"",
                Some("2024-05-01T12:00:02.123456789Z"),
            ),
            (
                "2024-05-01T14:00:00+02:00 shifted",
                Some("2024-05-01T12:00:00Z"),
            ),
            ("2024-05-01T07:00:00-0500 x", Some("2024-05-01T12:00:00Z")),
            (
                "2024-05-01 12:00:01,517 ERROR [worker] x",
                Some("2024-05-01T12:00:01.517Z"),
            ),
            (
                r#"{"time":"2024-05-01T12:00:01.000Z","level":"error"}"#,
                Some("2024-05-01T12:00:01Z"),
            ),
            (
                "2024/05/01 12:00:03 [error] 31#31: x",
                Some("2024-05-01T12:00:03Z"),
            ),
            (
                r#"10.0.0.7 - - [01/May/2024:14:00:03 +0200] "POST / HTTP/1.1" 502 1"#,
                Some("2024-05-01T12:00:03Z"),
            ),
            // A time with more than nine fractional digits keeps nanosecond precision.
            (
                "2024-05-01T12:00:00.1234567891Z",
                Some("2024-05-01T12:00:00.123456789Z"),
            ),
            // No year, impossible dates and plain numbers are not timestamps.
            ("May  1 12:00:00 host sshd[1]: x", None),
            ("2024-13-01T12:00:00Z", None),
            ("2024-02-30 12:00:00", None),
            ("2024-05-01T25:00:00Z", None),
            ("0000-05-01T12:00:00Z", None),
            ("request took 1714564800 ms", None),
            ("", None),
        ];
        for (line, expected) in cases {
            assert_eq!(parse_timestamp(line), expected.map(utc), "{line:?}");
        }
    }

    #[test]
    fn leftmost_timestamp_wins() {
        let line = "2024/05/01 12:00:03 [error] upstream said 2030-01-01T00:00:00Z";
        assert_eq!(parse_timestamp(line), Some(utc("2024-05-01T12:00:03Z")));
    }

    #[test]
    fn epoch_magnitudes() {
        let expected = Some(utc("2024-05-01T12:00:00Z"));
        assert_eq!(from_epoch(1_714_564_800.0), expected);
        assert_eq!(from_epoch(1_714_564_800_000.0), expected);
        assert_eq!(from_epoch(1_714_564_800_000_000.0), expected);
        assert_eq!(from_epoch(1_714_564_800_000_000_000.0), expected);
        assert_eq!(
            from_epoch(1_714_564_800.5),
            Some(utc("2024-05-01T12:00:00.5Z"))
        );
        assert_eq!(from_epoch(0.0), None);
        assert_eq!(from_epoch(-5.0), None);
        assert_eq!(from_epoch(f64::NAN), None);
        assert_eq!(from_epoch(42.0), None);

        assert_eq!(from_epoch_integer(1_714_564_800), expected);
        assert_eq!(from_epoch_integer(1_714_564_800_000), expected);
        assert_eq!(
            from_epoch_text("1714564800123456"),
            Some(utc("2024-05-01T12:00:00.123456Z"))
        );
        assert_eq!(
            from_epoch_text("1714564800123456789"),
            Some(utc("2024-05-01T12:00:00.123456789Z"))
        );
        assert_eq!(
            from_epoch_text("1714564800.25"),
            Some(utc("2024-05-01T12:00:00.25Z"))
        );
        assert_eq!(from_epoch_integer(0), None);
        assert_eq!(from_epoch_integer(-1), None);
        assert_eq!(from_epoch_integer(99), None);
        assert_eq!(from_epoch_text(""), None);
        assert_eq!(from_epoch_text("soon"), None);
    }
}
