//! How domain values are stored in columns: times as fixed-width RFC 3339 text, JSON as text,
//! enums as their wire names.

use std::fmt::Display;
use std::str::FromStr;

use chrono::{DateTime, SubsecRound, Utc};
use cyberbrain_core::domain::Timestamp;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, Value, ValueRef};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// RFC 3339 UTC with exactly six fractional digits: fixed width, so text order is time order.
const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

/// The current time at the precision the database keeps.
pub(crate) fn now() -> Timestamp {
    Utc::now().trunc_subsecs(6)
}

/// The time to store as `updated_at`: now, but always later than the previous value, so an
/// update is visible as a change even within one microsecond or after a clock step back.
pub(crate) fn next_update_time(previous: Timestamp) -> Timestamp {
    now().max(previous + chrono::Duration::microseconds(1))
}

pub(crate) fn format_time(time: &Timestamp) -> String {
    time.format(TIME_FORMAT).to_string()
}

pub(crate) fn parse_time(text: &str) -> Result<Timestamp, chrono::ParseError> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc))
}

/// A time column.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Time(pub Timestamp);

impl ToSql for Time {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Owned(Value::Text(format_time(&self.0))))
    }
}

impl FromSql for Time {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        parse_time(text).map(Time).map_err(|e| {
            FromSqlError::Other(format!("stored time {text:?} is not RFC 3339: {e}").into())
        })
    }
}

/// A JSON text column.
#[derive(Debug, Clone)]
pub(crate) struct Json<T>(pub T);

impl<T: Serialize> ToSql for Json<T> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        serde_json::to_string(&self.0)
            .map(|text| ToSqlOutput::Owned(Value::Text(text)))
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
    }
}

impl<T: DeserializeOwned> FromSql for Json<T> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        serde_json::from_str(text)
            .map(Json)
            .map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

/// An enum column holding the enum's wire name (`Display` writes it, `FromStr` reads it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wire<T>(pub T);

impl<T: Display> ToSql for Wire<T> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Owned(Value::Text(self.0.to_string())))
    }
}

impl<T: FromStr<Err = String>> FromSql for Wire<T> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value
            .as_str()?
            .parse()
            .map(Wire)
            .map_err(|e: String| FromSqlError::Other(e.into()))
    }
}

/// Page offsets and limits as SQLite integers (saturating; a page that far out is just empty).
pub(crate) fn sql_int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_are_fixed_width_and_round_trip_at_microseconds() {
        let time = Utc.with_ymd_and_hms(2025, 1, 31, 8, 15, 0).unwrap();
        assert_eq!(format_time(&time), "2025-01-31T08:15:00.000000Z");
        let precise = time + chrono::Duration::nanoseconds(123_456_789);
        assert_eq!(format_time(&precise), "2025-01-31T08:15:00.123456Z");
        assert_eq!(
            parse_time(&format_time(&precise)).unwrap(),
            precise.trunc_subsecs(6)
        );
        // The seed migration writes `strftime('%Y-%m-%dT%H:%M:%f') || '000Z'`.
        assert_eq!(
            parse_time("2025-01-31T08:15:00.123000Z").unwrap(),
            time + chrono::Duration::milliseconds(123)
        );
    }

    #[test]
    fn text_order_is_time_order() {
        let early = Utc.with_ymd_and_hms(2025, 1, 31, 8, 15, 0).unwrap();
        let times = [
            early,
            early + chrono::Duration::microseconds(1),
            early + chrono::Duration::milliseconds(999),
            early + chrono::Duration::seconds(1),
            early + chrono::Duration::days(400),
        ];
        for pair in times.windows(2) {
            assert!(format_time(&pair[0]) < format_time(&pair[1]), "{pair:?}");
        }
    }

    #[test]
    fn updates_always_move_time_forward() {
        let future = now() + chrono::Duration::hours(1);
        assert_eq!(
            next_update_time(future),
            future + chrono::Duration::microseconds(1)
        );
        let past = now() - chrono::Duration::hours(1);
        assert!(next_update_time(past) > past + chrono::Duration::minutes(59));
    }
}
