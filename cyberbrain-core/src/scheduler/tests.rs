//! DST behaviour of cron schedules (SPEC §3.5): a hand-checked table, a brute-force oracle around
//! every transition of a few zones, and a property test over random (cron, zone, instant).

use chrono::{DateTime, Datelike, NaiveDateTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestRunner};

use super::{CronSchedule, Timing};

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().expect("test instant")
}

fn wall(tz: Tz, at: DateTime<Utc>) -> NaiveDateTime {
    at.with_timezone(&tz).naive_local()
}

/// Standard cron semantics for the subset the tests write (numbers, `*`, `a-b`, `*/n`,
/// `a-b/n`, lists), written independently of croner to check it.
#[derive(Debug)]
struct Fields {
    seconds: Vec<bool>,
    minutes: Vec<bool>,
    hours: Vec<bool>,
    days: Vec<bool>,
    months: Vec<bool>,
    weekdays: Vec<bool>,
    days_star: bool,
    weekdays_star: bool,
}

fn parse_field(text: &str, min: u32, max: u32) -> Vec<bool> {
    let mut set = vec![false; max as usize + 1];
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, step.parse::<u32>().expect("step")),
            None => (part, 1),
        };
        let (low, high) = match range {
            "*" => (min, max),
            _ => match range.split_once('-') {
                Some((a, b)) => (a.parse().expect("low"), b.parse().expect("high")),
                None if step > 1 => (range.parse().expect("start"), max),
                None => {
                    let v = range.parse().expect("value");
                    (v, v)
                }
            },
        };
        for v in (low..=high).step_by(step as usize) {
            set[v as usize] = true;
        }
    }
    set
}

impl Fields {
    fn parse(expr: &str) -> Self {
        let mut parts: Vec<&str> = expr.split_whitespace().collect();
        if parts.len() == 5 {
            parts.insert(0, "0");
        }
        let mut weekdays = parse_field(parts[5], 0, 7);
        weekdays[0] |= weekdays[7];
        Self {
            seconds: parse_field(parts[0], 0, 59),
            minutes: parse_field(parts[1], 0, 59),
            hours: parse_field(parts[2], 0, 23),
            days: parse_field(parts[3], 1, 31),
            months: parse_field(parts[4], 1, 12),
            weekdays,
            days_star: parts[3] == "*",
            weekdays_star: parts[5] == "*",
        }
    }

    fn matches(&self, local: NaiveDateTime) -> bool {
        let day = self.days[local.day() as usize];
        let weekday = self.weekdays[local.weekday().num_days_from_sunday() as usize];
        // Vixie cron: with both day fields restricted, either one matching is enough.
        let day_ok = match (self.days_star, self.weekdays_star) {
            (false, false) => day || weekday,
            _ => day && weekday,
        };
        self.seconds[local.second() as usize]
            && self.minutes[local.minute() as usize]
            && self.hours[local.hour() as usize]
            && self.months[local.month() as usize]
            && day_ok
    }
}

/// Consecutive fire times strictly after `from`, up to `until`.
fn fires(cron: &CronSchedule, from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let mut at = from;
    while let Some(next) = cron.next_after(at) {
        if next > until {
            break;
        }
        out.push(next);
        at = next;
    }
    out
}

#[test]
fn dst_table_fires_each_wall_clock_time_once() {
    // (zone, expression, from, the next fire times). Transitions, 2024:
    // New York 10 Mar 02:00 EST→03:00 EDT, 3 Nov 02:00 EDT→01:00 EST;
    // Berlin 31 Mar 02:00 CET→03:00 CEST, 27 Oct 03:00 CEST→02:00 CET;
    // Lord Howe 7 Apr 02:00 +11→01:30 +10:30, 6 Oct 02:00 +10:30→02:30 +11;
    // Kolkata has no DST.
    let table: &[(&str, &str, &str, &[&str])] = &[
        // New York, spring forward: 02:30 does not exist and fires at the gap's end.
        (
            "America/New_York",
            "30 2 * * *",
            "2024-03-09T00:00:00Z",
            &[
                "2024-03-09T07:30:00Z",
                "2024-03-10T07:00:00Z",
                "2024-03-11T06:30:00Z",
            ],
        ),
        // 02:00 (skipped) and 03:00 land on one instant: one fire.
        (
            "America/New_York",
            "0 * * * *",
            "2024-03-10T05:30:00Z",
            &[
                "2024-03-10T06:00:00Z",
                "2024-03-10T07:00:00Z",
                "2024-03-10T08:00:00Z",
            ],
        ),
        (
            "America/New_York",
            "*/15 * * * *",
            "2024-03-10T06:40:00Z",
            &[
                "2024-03-10T06:45:00Z",
                "2024-03-10T07:00:00Z",
                "2024-03-10T07:15:00Z",
            ],
        ),
        // New York, fall back: 02:30 happens once (after the repeated hour); 01:30 twice and
        // fires at its first (EDT) occurrence only.
        (
            "America/New_York",
            "30 2 * * *",
            "2024-11-02T00:00:00Z",
            &[
                "2024-11-02T06:30:00Z",
                "2024-11-03T07:30:00Z",
                "2024-11-04T07:30:00Z",
            ],
        ),
        (
            "America/New_York",
            "30 1 * * *",
            "2024-11-02T00:00:00Z",
            &[
                "2024-11-02T05:30:00Z",
                "2024-11-03T05:30:00Z",
                "2024-11-04T06:30:00Z",
            ],
        ),
        (
            "America/New_York",
            "0 * * * *",
            "2024-11-03T03:30:00Z",
            &[
                "2024-11-03T04:00:00Z",
                "2024-11-03T05:00:00Z",
                "2024-11-03T07:00:00Z",
                "2024-11-03T08:00:00Z",
            ],
        ),
        (
            "America/New_York",
            "*/15 * * * *",
            "2024-11-03T05:40:00Z",
            &[
                "2024-11-03T05:45:00Z",
                "2024-11-03T07:00:00Z",
                "2024-11-03T07:15:00Z",
            ],
        ),
        // Starting inside the repeated hour's second half (01:20 EST): the repeated quarter
        // hours already fired in the first half.
        (
            "America/New_York",
            "*/15 * * * *",
            "2024-11-03T06:20:00Z",
            &["2024-11-03T07:00:00Z", "2024-11-03T07:15:00Z"],
        ),
        // Berlin, spring forward.
        (
            "Europe/Berlin",
            "30 2 * * *",
            "2024-03-30T00:00:00Z",
            &[
                "2024-03-30T01:30:00Z",
                "2024-03-31T01:00:00Z",
                "2024-04-01T00:30:00Z",
            ],
        ),
        (
            "Europe/Berlin",
            "0 * * * *",
            "2024-03-30T23:30:00Z",
            &[
                "2024-03-31T00:00:00Z",
                "2024-03-31T01:00:00Z",
                "2024-03-31T02:00:00Z",
            ],
        ),
        // Berlin, fall back: 02:00–03:00 repeats; 02:30 fires at its CEST occurrence.
        (
            "Europe/Berlin",
            "30 2 * * *",
            "2024-10-26T00:00:00Z",
            &[
                "2024-10-26T00:30:00Z",
                "2024-10-27T00:30:00Z",
                "2024-10-28T01:30:00Z",
            ],
        ),
        (
            "Europe/Berlin",
            "0 * * * *",
            "2024-10-26T23:30:00Z",
            &[
                "2024-10-27T00:00:00Z",
                "2024-10-27T02:00:00Z",
                "2024-10-27T03:00:00Z",
            ],
        ),
        (
            "Europe/Berlin",
            "*/15 * * * *",
            "2024-10-27T00:40:00Z",
            &[
                "2024-10-27T00:45:00Z",
                "2024-10-27T02:00:00Z",
                "2024-10-27T02:15:00Z",
            ],
        ),
        // Lord Howe, fall back by 30 minutes: 01:30–02:00 repeats.
        (
            "Australia/Lord_Howe",
            "30 2 * * *",
            "2024-04-04T16:00:00Z",
            &[
                "2024-04-05T15:30:00Z",
                "2024-04-06T16:00:00Z",
                "2024-04-07T16:00:00Z",
            ],
        ),
        (
            "Australia/Lord_Howe",
            "45 1 * * *",
            "2024-04-05T16:00:00Z",
            &["2024-04-06T14:45:00Z", "2024-04-07T15:15:00Z"],
        ),
        (
            "Australia/Lord_Howe",
            "0 * * * *",
            "2024-04-06T13:30:00Z",
            &[
                "2024-04-06T14:00:00Z",
                "2024-04-06T15:30:00Z",
                "2024-04-06T16:30:00Z",
            ],
        ),
        (
            "Australia/Lord_Howe",
            "*/15 * * * *",
            "2024-04-06T14:40:00Z",
            &[
                "2024-04-06T14:45:00Z",
                "2024-04-06T15:30:00Z",
                "2024-04-06T15:45:00Z",
            ],
        ),
        // Lord Howe, spring forward by 30 minutes: 02:00–02:30 is skipped.
        (
            "Australia/Lord_Howe",
            "30 2 * * *",
            "2024-10-04T00:00:00Z",
            &[
                "2024-10-04T16:00:00Z",
                "2024-10-05T15:30:00Z",
                "2024-10-06T15:30:00Z",
            ],
        ),
        (
            "Australia/Lord_Howe",
            "0 2 * * *",
            "2024-10-04T00:00:00Z",
            &[
                "2024-10-04T15:30:00Z",
                "2024-10-05T15:30:00Z",
                "2024-10-06T15:00:00Z",
            ],
        ),
        (
            "Australia/Lord_Howe",
            "*/15 * * * *",
            "2024-10-05T15:10:00Z",
            &[
                "2024-10-05T15:15:00Z",
                "2024-10-05T15:30:00Z",
                "2024-10-05T15:45:00Z",
            ],
        ),
        (
            "Australia/Lord_Howe",
            "0 * * * *",
            "2024-10-05T14:00:00Z",
            &[
                "2024-10-05T14:30:00Z",
                "2024-10-05T15:30:00Z",
                "2024-10-05T16:00:00Z",
            ],
        ),
        // Kolkata (UTC+05:30, no DST) on the New York transition days: nothing moves.
        (
            "Asia/Kolkata",
            "30 2 * * *",
            "2024-03-10T00:00:00Z",
            &["2024-03-10T21:00:00Z", "2024-03-11T21:00:00Z"],
        ),
        (
            "Asia/Kolkata",
            "0 * * * *",
            "2024-11-03T05:40:00Z",
            &[
                "2024-11-03T06:30:00Z",
                "2024-11-03T07:30:00Z",
                "2024-11-03T08:30:00Z",
            ],
        ),
        (
            "Asia/Kolkata",
            "*/15 * * * *",
            "2024-11-03T05:40:00Z",
            &[
                "2024-11-03T05:45:00Z",
                "2024-11-03T06:00:00Z",
                "2024-11-03T06:15:00Z",
            ],
        ),
    ];
    // From inside a repeated hour's second half, the latest slot is in its first half.
    let quarter_hours = CronSchedule::parse("*/15 * * * *", "America/New_York").unwrap();
    assert_eq!(
        quarter_hours.latest_at_or_before(utc("2024-11-03T06:20:00Z")),
        Some(utc("2024-11-03T05:45:00Z"))
    );
    for (zone, expr, from, expected) in table {
        let cron = CronSchedule::parse(expr, zone).unwrap();
        let expected: Vec<DateTime<Utc>> = expected.iter().map(|s| utc(s)).collect();
        let until = *expected.last().unwrap();
        assert_eq!(
            fires(&cron, utc(from), until),
            expected,
            "{zone} `{expr}` from {from}"
        );
        // Walking back gives the same slots.
        for pair in expected.windows(2) {
            assert_eq!(
                cron.latest_at_or_before(pair[1] - TimeDelta::nanoseconds(1)),
                Some(pair[0]),
                "{zone} `{expr}` before {}",
                pair[1]
            );
            assert_eq!(cron.latest_at_or_before(pair[1]), Some(pair[1]));
        }
    }
}

/// Instants at which `tz`'s UTC offset changes during `year` (to the minute).
fn transitions(tz: Tz, year: i32) -> Vec<DateTime<Utc>> {
    let start = Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).unwrap();
    let offset = |at: DateTime<Utc>| wall(tz, at) - at.naive_utc();
    let mut found = Vec::new();
    let mut at = start;
    while at.year() == year {
        let next = at + TimeDelta::hours(1);
        if offset(at) != offset(next) {
            let mut minute = at;
            while offset(minute) == offset(at) {
                minute += TimeDelta::minutes(1);
            }
            found.push(minute);
        }
        at = next;
    }
    found
}

#[test]
fn brute_force_oracle_agrees_around_every_transition() {
    let zones = [
        Tz::America__New_York,
        Tz::Europe__Berlin,
        Tz::Australia__Lord_Howe,
        Tz::Asia__Kolkata,
        Tz::America__Santiago,
        Tz::Pacific__Chatham,
    ];
    let exprs = [
        "30 2 * * *",
        "0 2 * * *",
        "30 1 * * *",
        "45 1 * * *",
        "0 0 * * *",
        "59 23 * * *",
        "0 * * * *",
        "*/15 * * * *",
        "*/7 * * * *",
        "10-50/20 0-4 * * *",
    ];
    let mut windows = 0;
    for tz in zones {
        let mut around: Vec<DateTime<Utc>> = Vec::new();
        for year in [2024, 2025] {
            around.extend(transitions(tz, year));
        }
        if around.is_empty() {
            // No DST: check the same calendar days as New York's.
            around = transitions(Tz::America__New_York, 2024);
        }
        for transition in around {
            windows += 1;
            let (from, until) = (
                transition - TimeDelta::hours(26),
                transition + TimeDelta::hours(26),
            );
            for expr in exprs {
                let fields = Fields::parse(expr);
                // A wall-clock time fires at the first instant the clock reads it or later:
                // at each minute, fire if a matching time lies in (highest reading so far, now].
                let mut expected = Vec::new();
                let mut highest = wall(tz, from);
                let mut at = from + TimeDelta::minutes(1);
                while at <= until {
                    let reading = wall(tz, at);
                    let mut local = highest + TimeDelta::minutes(1);
                    while local <= reading {
                        if fields.matches(local) {
                            expected.push(at);
                            break;
                        }
                        local += TimeDelta::minutes(1);
                    }
                    highest = highest.max(reading);
                    at += TimeDelta::minutes(1);
                }
                let cron = CronSchedule::parse(expr, tz.name()).unwrap();
                assert_eq!(
                    fires(&cron, from, until),
                    expected,
                    "{} `{expr}` around {transition}",
                    tz.name()
                );
                for pair in expected.windows(2) {
                    assert_eq!(
                        cron.latest_at_or_before(pair[1] - TimeDelta::seconds(1)),
                        Some(pair[0]),
                        "{} `{expr}` before {}",
                        tz.name(),
                        pair[1]
                    );
                }
            }
        }
    }
    // Two transitions a year in each DST zone, over two years (Kolkata borrows New York's).
    assert!(windows >= 20, "only {windows} transition windows");
}

/// One field; `star` weighs `*` against the five other shapes (weight 6 together).
fn field(min: u32, max: u32, star: u32) -> impl Strategy<Value = String> {
    prop_oneof![
        star => Just("*".to_owned()),
        2 => (min..=max).prop_map(|v| v.to_string()),
        1 => (min..=max, min..=max).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
        1 => (2..=(max - min).clamp(2, 20)).prop_map(|n| format!("*/{n}")),
        1 => (min..=max, min..=max).prop_map(|(a, b)| {
            if a == b { a.to_string() } else { format!("{a},{b}") }
        }),
        1 => (min..max, 2u32..=7).prop_map(move |(a, n)| format!("{a}-{max}/{n}")),
    ]
}

fn cron_expr() -> impl Strategy<Value = String> {
    (
        prop::option::weighted(0.2, field(0, 59, 3)),
        field(0, 59, 3),
        field(0, 23, 3),
        // Mostly every day, so that runs of fires cross the clock changes.
        field(1, 31, 18),
        field(1, 12, 18),
        field(0, 6, 12),
    )
        .prop_map(|(seconds, minute, hour, day, month, weekday)| {
            let five = format!("{minute} {hour} {day} {month} {weekday}");
            match seconds {
                Some(seconds) => format!("{seconds} {five}"),
                None => five,
            }
        })
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    // Half the draws fall in the months where most zones change their clocks.
    let month = prop_oneof![1u32..=12, prop::sample::select(vec![3u32, 4, 9, 10, 11])];
    (
        2020i32..=2030,
        month,
        1u32..=28,
        0u32..86_400,
        0u32..1_000_000_000,
    )
        .prop_map(|(year, month, day, second, nanos)| {
            Utc.with_ymd_and_hms(year, month, day, 0, 0, 0).unwrap()
                + TimeDelta::seconds(i64::from(second))
                + TimeDelta::nanoseconds(i64::from(nanos))
        })
}

const ZONES: &[&str] = &[
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/Santiago",
    "Pacific/Chatham",
    "America/St_Johns",
    "Europe/London",
    "UTC",
];

/// A fire time either shows a matching wall-clock time, or is the end of a gap that skipped one.
fn explains(fields: &Fields, tz: Tz, fire: DateTime<Utc>) -> bool {
    let reading = wall(tz, fire);
    if fields.matches(reading) {
        return true;
    }
    let before = wall(tz, fire - TimeDelta::seconds(1)) + TimeDelta::seconds(1);
    let mut local = before;
    while local < reading {
        if fields.matches(local) {
            return true;
        }
        local += TimeDelta::seconds(1);
    }
    false
}

#[test]
fn random_cron_zone_instant_triples_fire_in_order_and_match_local_time() {
    let config = Config {
        cases: 256,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(0x5c4e_d01e),
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    // Half the starts are near one of the zone's clock changes (within 36 hours of it).
    let near_change = prop::option::of((2020i32..=2030, 0usize..2, -129_600i64..129_600));
    let strategy = (
        cron_expr(),
        prop::sample::select(ZONES),
        instant(),
        near_change,
        0u32..1000,
    );
    let result = runner.run(&strategy, |(expr, zone, instant, near_change, probe)| {
        let timing = match Timing::cron(&expr, zone) {
            Ok(timing) => timing,
            // Only an expression that never meets a real date (31 in February only) may fail.
            Err(error) => {
                prop_assert!(error.to_string().contains("never matches"), "{error}");
                return Ok(());
            }
        };
        let Timing::Cron(cron) = &timing else {
            unreachable!("Timing::cron builds a cron timing")
        };
        let tz = cron.timezone();
        let fields = Fields::parse(&expr);
        let start = near_change
            .and_then(|(year, which, offset)| {
                let changes = transitions(tz, year);
                let change = changes.get(which % changes.len().max(1))?;
                Some(*change + TimeDelta::seconds(offset))
            })
            .unwrap_or(instant);
        let mut previous = start;
        let mut fired = Vec::new();
        for _ in 0..24 {
            let Some(next) = timing.next_after(previous) else {
                break;
            };
            prop_assert!(next > previous, "{next} after {previous}");
            prop_assert!(
                explains(&fields, tz, next),
                "{next} = {} local does not match `{expr}`",
                wall(tz, next)
            );
            prop_assert_eq!(timing.latest_at_or_before(next), Some(next));
            fired.push(next);
            previous = next;
        }
        prop_assert!(!fired.is_empty(), "`{expr}` never fired after {start}");
        // Any instant between two fires leads to the later one and back to the earlier one.
        for pair in fired.windows(2) {
            let gap = pair[1] - pair[0];
            let probe = pair[0] + gap / 1000 * i32::try_from(probe).unwrap_or(0);
            prop_assert_eq!(timing.next_after(probe), Some(pair[1]));
            prop_assert_eq!(
                timing.latest_at_or_before(pair[1] - TimeDelta::nanoseconds(1)),
                Some(pair[0])
            );
        }
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
