//! Cron expressions evaluated in an IANA zone (SPEC §3.5).
//!
//! croner parses the fields and walks the calendar, but only over *naive* wall-clock time (a
//! zone-free calendar, fed to it as UTC). Each matching wall-clock time is then mapped to the
//! instant it fires at by one rule, [`fire_instant`]: **the first instant at which the zone's
//! clock reads that time or later**. That single rule gives SPEC §3.5's DST behaviour for every
//! expression: a time skipped by a spring-forward gap fires once, at the gap's end; a time
//! repeated by a fall-back fires once, at its first occurrence; and two wall-clock times that
//! land on the same instant (02:30 in the gap and 03:00 after it) fire once. croner's own zone
//! handling differs (it fires wildcard-hour expressions in both halves of a repeated hour), which
//! is why it never sees the zone.
//!
//! The rule is monotone — a later wall-clock time never fires earlier — so walking matching
//! wall-clock times in order yields fire instants in order.

use std::fmt;

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::error::{Error, FieldErrors, Result};

/// A repeated hour holds at most this many matching times to step over (one per second of an
/// hour-long fold, with room for the rare longer historical ones). Bounds every walk.
const MAX_FOLD_STEPS: u32 = 200_000;

/// The widest UTC offset any zone has had is under 16 hours; a gap's end lies within this of
/// the skipped wall-clock time read as UTC.
const OFFSET_BOUND_SECS: i64 = 27 * 3600;

const CRON_RULE: &str = "a cron expression has 5 fields `minute hour day-of-month month \
     day-of-week`, or 6 with a seconds field first, e.g. `*/15 * * * *` or `0 30 2 * * *`";

/// A validated cron expression and the zone its wall-clock times are read in.
#[derive(Clone, PartialEq, Eq)]
pub struct CronSchedule {
    expr: String,
    /// croner's bit sets are a few hundred bytes; boxed so a [`Timing`](super::Timing) stays small.
    cron: Box<Cron>,
    tz: Tz,
}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CronSchedule")
            .field("expr", &self.expr)
            .field("tz", &self.tz.name())
            .finish()
    }
}

impl CronSchedule {
    /// Validates both fields, reporting every bad one (`cron_expr`, `timezone`).
    pub fn parse(expr: &str, timezone: &str) -> Result<Self> {
        let mut errors = FieldErrors::new();
        let cron = parse_cron_expr(expr).map_err(|message| errors.add("cron_expr", message));
        let tz = parse_timezone_name(timezone).map_err(|message| errors.add("timezone", message));
        match (cron, tz) {
            (Ok(cron), Ok(tz)) => Ok(Self {
                expr: expr.trim().to_owned(),
                cron: Box::new(cron),
                tz,
            }),
            _ => Err(Error::InvalidInput(errors)),
        }
    }

    /// The expression as given (trimmed).
    pub fn expr(&self) -> &str {
        &self.expr
    }

    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// The first fire instant strictly after `after`; `None` only past croner's year 5000.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut local = after.with_timezone(&self.tz).naive_local();
        // Wall-clock times up to `after`'s own never fire later than it (monotone rule); only in
        // the second half of a repeated hour do a few later ones still map to before `after`.
        for _ in 0..MAX_FOLD_STEPS {
            local = self.next_local(local)?;
            let at = fire_instant(self.tz, local)?;
            if at > after {
                return Some(at);
            }
        }
        None
    }

    /// The last fire instant at or before `t`, if the expression fired before it at all.
    pub fn latest_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let wall = t.with_timezone(&self.tz);
        let here = wall.naive_local();
        // In the second half of a repeated hour the clock has already shown later times (in the
        // first half), and those fired at or before `t`: start the walk above them.
        let upper = match self.tz.from_local_datetime(&here) {
            LocalResult::Ambiguous(first, later) if later == wall && first != later => {
                let extra = offset_secs(&first) - offset_secs(&later);
                here + TimeDelta::seconds(extra.max(0))
            }
            _ => here,
        };
        let mut local = self.prev_local_at_or_before(upper)?;
        for _ in 0..MAX_FOLD_STEPS {
            let at = fire_instant(self.tz, local)?;
            if at <= t {
                return Some(at);
            }
            local = self.prev_local_at_or_before(local - TimeDelta::seconds(1))?;
        }
        None
    }

    /// The next matching wall-clock second strictly after `after`.
    fn next_local(&self, after: NaiveDateTime) -> Option<NaiveDateTime> {
        let whole = after.with_nanosecond(0)?;
        self.cron
            .find_next_occurrence(&whole.and_utc(), false)
            .ok()
            .map(|at| at.naive_utc())
    }

    /// The last matching wall-clock second at or before `at`.
    fn prev_local_at_or_before(&self, at: NaiveDateTime) -> Option<NaiveDateTime> {
        let whole = at.with_nanosecond(0)?;
        self.cron
            .find_previous_occurrence(&whole.and_utc(), true)
            .ok()
            .map(|at| at.naive_utc())
    }
}

/// The instant a wall-clock time fires at in `tz`: the first instant at which the clock reads
/// `local` or later. An existing time maps to itself (its first occurrence when repeated); a
/// time inside a gap maps to the gap's end.
pub(crate) fn fire_instant(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) => Some(at.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        LocalResult::None => gap_end(tz, local),
    }
}

/// The first whole second whose wall-clock reading is at or past `local` (a time the clock
/// skipped). Zone transitions fall on whole seconds, so this is the transition itself; inside
/// a gap "the clock reads at least `local`" only turns true once, so bisection finds it.
fn gap_end(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let guess = local.and_utc().timestamp();
    let (mut before, mut after) = (guess - OFFSET_BOUND_SECS, guess + OFFSET_BOUND_SECS);
    let reads_past = |secs: i64| {
        DateTime::from_timestamp(secs, 0).map(|at| at.with_timezone(&tz).naive_local() >= local)
    };
    if reads_past(before)? || !reads_past(after)? {
        return None;
    }
    while after - before > 1 {
        let mid = before + (after - before) / 2;
        if reads_past(mid)? {
            after = mid;
        } else {
            before = mid;
        }
    }
    DateTime::from_timestamp(after, 0)
}

fn offset_secs(at: &DateTime<Tz>) -> i64 {
    i64::from(at.offset().fix().local_minus_utc())
}

/// Parses a 5- or 6-field cron expression; the error is the user-facing message.
fn parse_cron_expr(expr: &str) -> std::result::Result<Cron, String> {
    let trimmed = expr.trim();
    if trimmed.is_empty() {
        return Err(format!("is empty; {CRON_RULE}"));
    }
    let fields = trimmed.split_whitespace().count();
    if fields != 5 && fields != 6 {
        return Err(format!("`{trimmed}` has {fields} fields; {CRON_RULE}"));
    }
    let parser = CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build();
    let cron = parser
        .parse(trimmed)
        .map_err(|error| format!("`{trimmed}` is not valid ({error}); {CRON_RULE}"))?;
    // 30 February parses but never comes; a schedule that can never fire is a mistake.
    let start = DateTime::from_timestamp(946_684_800, 0).unwrap_or_default();
    if cron.find_next_occurrence(&start, false).is_err() {
        return Err(format!(
            "`{trimmed}` never matches a real date (e.g. 30 February); {CRON_RULE}"
        ));
    }
    Ok(cron)
}

/// Parses an IANA zone name (case-sensitive, as stored); the error is the user-facing message.
fn parse_timezone_name(name: &str) -> std::result::Result<Tz, String> {
    let trimmed = name.trim();
    if let Ok(tz) = trimmed.parse::<Tz>() {
        return Ok(tz);
    }
    let hint = chrono_tz::TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().eq_ignore_ascii_case(trimmed))
        .map(|tz| format!(" (did you mean `{}`?)", tz.name()))
        .unwrap_or_default();
    Err(format!(
        "`{trimmed}` is not an IANA time zone name{hint}; use a name such as `UTC`, \
         `Europe/Berlin` or `America/New_York`"
    ))
}

/// Validates an IANA time zone name (`timezone`), e.g. `Europe/Berlin`.
pub fn parse_timezone(name: &str) -> Result<Tz> {
    parse_timezone_name(name).map_err(|message| Error::invalid("timezone", message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().expect("test instant")
    }

    fn field_messages(error: &Error, field: &str) -> Vec<String> {
        match error {
            Error::InvalidInput(errors) => errors
                .fields()
                .find(|(name, _)| *name == field)
                .map(|(_, messages)| messages.to_vec())
                .unwrap_or_default(),
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    #[test]
    fn five_and_six_fields_parse_and_six_has_seconds_first() {
        let five = CronSchedule::parse("30 2 * * *", "UTC").unwrap();
        assert_eq!(
            five.next_after(utc("2024-01-01T00:00:00Z")),
            Some(utc("2024-01-01T02:30:00Z"))
        );
        let six = CronSchedule::parse("15 30 2 * * *", "UTC").unwrap();
        assert_eq!(
            six.next_after(utc("2024-01-01T00:00:00Z")),
            Some(utc("2024-01-01T02:30:15Z"))
        );
        assert_eq!(six.expr(), "15 30 2 * * *");
    }

    #[test]
    fn names_and_day_of_week_or_day_of_month_follow_vixie_cron() {
        // Both day fields restricted: either one matching fires (1 June 2024 is a Saturday).
        let cron = CronSchedule::parse("0 9 1 * mon", "UTC").unwrap();
        assert_eq!(
            cron.next_after(utc("2024-05-31T12:00:00Z")),
            Some(utc("2024-06-01T09:00:00Z"))
        );
        assert_eq!(
            cron.next_after(utc("2024-06-01T09:00:00Z")),
            Some(utc("2024-06-03T09:00:00Z"))
        );
        let sunday = CronSchedule::parse("0 0 * * 0", "UTC").unwrap();
        assert_eq!(
            sunday.next_after(utc("2024-06-01T00:00:00Z")),
            Some(utc("2024-06-02T00:00:00Z"))
        );
    }

    #[test]
    fn sub_second_instants_do_not_skip_or_repeat_a_second() {
        let every_second = CronSchedule::parse("* * * * * *", "UTC").unwrap();
        assert_eq!(
            every_second.next_after(utc("2024-01-01T00:00:00.500Z")),
            Some(utc("2024-01-01T00:00:01Z"))
        );
        assert_eq!(
            every_second.latest_at_or_before(utc("2024-01-01T00:00:00.500Z")),
            Some(utc("2024-01-01T00:00:00Z"))
        );
    }

    #[test]
    fn bad_expressions_name_cron_expr_with_the_rule() {
        for expr in [
            "",
            "* * *",
            "0 0 1 1 * 2030",
            "61 * * * *",
            "0 25 * * *",
            "banana * * * *",
            "0 0 30 2 *",
        ] {
            let error = CronSchedule::parse(expr, "UTC").unwrap_err();
            let messages = field_messages(&error, "cron_expr");
            assert_eq!(messages.len(), 1, "{expr:?}: {error}");
            assert!(messages[0].contains("*/15 * * * *"), "{}", messages[0]);
            assert!(field_messages(&error, "timezone").is_empty());
        }
    }

    #[test]
    fn unknown_zones_name_timezone_and_suggest_the_spelling() {
        let error = CronSchedule::parse("0 * * * *", "europe/berlin").unwrap_err();
        let messages = field_messages(&error, "timezone");
        assert!(
            messages[0].contains("did you mean `Europe/Berlin`"),
            "{messages:?}"
        );
        let error = parse_timezone("Mars/Olympus_Mons").unwrap_err();
        assert!(field_messages(&error, "timezone")[0].contains("`America/New_York`"));
        assert_eq!(parse_timezone("Asia/Kolkata").unwrap(), Tz::Asia__Kolkata);
    }

    #[test]
    fn both_bad_fields_are_reported_together() {
        let error = CronSchedule::parse("nope", "Nowhere/Else").unwrap_err();
        assert_eq!(field_messages(&error, "cron_expr").len(), 1);
        assert_eq!(field_messages(&error, "timezone").len(), 1);
    }

    #[test]
    fn gap_end_is_the_transition_instant() {
        let local = "2024-03-10T02:30:00".parse::<NaiveDateTime>().unwrap();
        assert_eq!(
            fire_instant(Tz::America__New_York, local),
            Some(utc("2024-03-10T07:00:00Z"))
        );
        let local = "2024-10-06T02:10:00".parse::<NaiveDateTime>().unwrap();
        assert_eq!(
            fire_instant(Tz::Australia__Lord_Howe, local),
            Some(utc("2024-10-05T15:30:00Z"))
        );
    }
}
