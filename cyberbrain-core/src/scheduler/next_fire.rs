//! When a schedule fires: its [`Timing`], the next slot after an instant, and what is due at a
//! tick after downtime ([`Timing::due`], SPEC §3.5).

use chrono::{DateTime, TimeDelta, Utc};

use super::cron::{CronSchedule, parse_timezone};
use crate::domain::{MisfirePolicy, ScheduleType};
use crate::error::{Error, FieldErrors, Result};

/// The longest interval accepted: one year of minutes.
pub const MAX_INTERVAL_MINUTES: i64 = 525_600;

/// Grid slots are whole minutes apart; nanosecond arithmetic in i128 never overflows.
const NANOS_PER_MINUTE: i128 = 60_000_000_000;

/// A fixed grid: `anchor + k × minutes` for k ≥ 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    minutes: u32,
    anchor: DateTime<Utc>,
}

impl Interval {
    pub fn minutes(&self) -> u32 {
        self.minutes
    }

    /// The grid's first slot.
    pub fn anchor(&self) -> DateTime<Utc> {
        self.anchor
    }

    /// The slot `k` steps from the anchor; `None` past chrono's range.
    fn slot(&self, k: i128) -> Option<DateTime<Utc>> {
        let minutes = i64::try_from(k.checked_mul(i128::from(self.minutes))?).ok()?;
        self.anchor
            .checked_add_signed(TimeDelta::try_minutes(minutes)?)
    }

    /// Whole steps from the anchor to `t`, rounded down (negative before the anchor).
    fn steps_to(&self, t: DateTime<Utc>) -> i128 {
        let elapsed = t - self.anchor;
        let nanos =
            i128::from(elapsed.num_seconds()) * 1_000_000_000 + i128::from(elapsed.subsec_nanos());
        nanos.div_euclid(i128::from(self.minutes) * NANOS_PER_MINUTE)
    }
}

/// How a schedule's slots are laid out in time. Pure: callers pass every instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Timing {
    /// Every N minutes on a grid anchored at a slot, so late ticks never cause drift.
    Interval(Interval),
    /// A cron expression read in the schedule's IANA zone (DST rules: see [`CronSchedule`]).
    Cron(CronSchedule),
    /// Exactly one slot.
    OneShot { run_at: DateTime<Utc> },
}

/// The timing columns of a schedule as a user sent them (SPEC §2.6), for [`Timing::from_spec`].
#[derive(Debug, Clone, Copy)]
pub struct TimingSpec<'a> {
    pub schedule_type: ScheduleType,
    pub interval_minutes: Option<i64>,
    pub cron_expr: Option<&'a str>,
    pub run_at: Option<DateTime<Utc>>,
    /// IANA zone name; validated for every schedule type (it is stored with each).
    pub timezone: &'a str,
}

/// What a scheduler tick does for one schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// The slot to launch now (the scheduled run's `scheduled_for`), if any.
    pub fire: Option<DateTime<Utc>>,
    /// The schedule's new `next_run_at`: the first slot after `now`, or `None` when the timing
    /// has no further slot (a one-shot, which then disables itself).
    pub next_run_at: Option<DateTime<Utc>>,
}

impl Timing {
    /// An interval grid whose first slot is `anchor`. `anchor` must itself be a slot (a new
    /// schedule's creation time, or the stored pending `next_run_at`), never a launch time,
    /// or the grid drifts. Field `interval_minutes`: 1 to [`MAX_INTERVAL_MINUTES`].
    pub fn interval(minutes: i64, anchor: DateTime<Utc>) -> Result<Self> {
        match u32::try_from(minutes) {
            Ok(valid) if (1..=MAX_INTERVAL_MINUTES).contains(&minutes) => {
                Ok(Self::Interval(Interval {
                    minutes: valid,
                    anchor,
                }))
            }
            _ => Err(Error::invalid(
                "interval_minutes",
                format!(
                    "`{minutes}` is out of range: interval_minutes is a whole number of minutes \
                     from 1 to {MAX_INTERVAL_MINUTES} (one year), e.g. 5"
                ),
            )),
        }
    }

    /// A cron expression (field `cron_expr`) read in an IANA zone (field `timezone`).
    pub fn cron(expr: &str, timezone: &str) -> Result<Self> {
        CronSchedule::parse(expr, timezone).map(Self::Cron)
    }

    pub fn one_shot(run_at: DateTime<Utc>) -> Self {
        Self::OneShot { run_at }
    }

    /// Validates user input, reporting every bad field at once (`interval_minutes`,
    /// `cron_expr`, `run_at`, `timezone`): the field the type needs must be present, and a
    /// one-shot's `run_at` must not be before `now`. A new interval grid starts at `now`.
    pub fn from_spec(spec: &TimingSpec<'_>, now: DateTime<Utc>) -> Result<Self> {
        let mut errors = FieldErrors::new();
        let mut collect = |error: Error| match error {
            Error::InvalidInput(fields) => {
                for (field, messages) in fields.fields() {
                    for message in messages {
                        errors.add(field, message.clone());
                    }
                }
            }
            other => errors.add("schedule", other.to_string()),
        };
        let timing = match spec.schedule_type {
            ScheduleType::Interval => {
                if let Err(error) = parse_timezone(spec.timezone) {
                    collect(error);
                }
                match spec.interval_minutes {
                    Some(minutes) => Self::interval(minutes, now).map_err(&mut collect).ok(),
                    None => {
                        collect(Error::invalid(
                            "interval_minutes",
                            "is required when schedule_type is `interval`: a whole number of \
                             minutes from 1, e.g. 5",
                        ));
                        None
                    }
                }
            }
            ScheduleType::Cron => match spec.cron_expr {
                Some(expr) => Self::cron(expr, spec.timezone).map_err(&mut collect).ok(),
                None => {
                    if let Err(error) = parse_timezone(spec.timezone) {
                        collect(error);
                    }
                    collect(Error::invalid(
                        "cron_expr",
                        "is required when schedule_type is `cron`, e.g. `0 2 * * *` (02:00 \
                         every day in the schedule's timezone)",
                    ));
                    None
                }
            },
            ScheduleType::OneShot => {
                if let Err(error) = parse_timezone(spec.timezone) {
                    collect(error);
                }
                let example = (now + TimeDelta::days(1)).to_rfc3339();
                match spec.run_at {
                    Some(run_at) if run_at >= now => Some(Self::one_shot(run_at)),
                    Some(run_at) => {
                        collect(Error::invalid(
                            "run_at",
                            format!(
                                "`{}` is in the past (now is {}); give a future RFC 3339 time, \
                                 e.g. `{example}`",
                                run_at.to_rfc3339(),
                                now.to_rfc3339()
                            ),
                        ));
                        None
                    }
                    None => {
                        collect(Error::invalid(
                            "run_at",
                            format!(
                                "is required when schedule_type is `one_shot`: an RFC 3339 \
                                 time, e.g. `{example}`"
                            ),
                        ));
                        None
                    }
                }
            }
        };
        match timing {
            Some(timing) if errors.is_empty() => Ok(timing),
            _ => Err(Error::InvalidInput(errors)),
        }
    }

    /// The first slot strictly after `after`; `None` when there is none (a past one-shot).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::Interval(grid) => {
                let k = (grid.steps_to(after) + 1).max(0);
                grid.slot(k)
            }
            Self::Cron(cron) => cron.next_after(after),
            Self::OneShot { run_at } => (*run_at > after).then_some(*run_at),
        }
    }

    /// The latest slot at or before `t`, if any.
    pub fn latest_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::Interval(grid) => {
                let k = grid.steps_to(t);
                if k < 0 { None } else { grid.slot(k) }
            }
            Self::Cron(cron) => cron.latest_at_or_before(t),
            Self::OneShot { run_at } => (*run_at <= t).then_some(*run_at),
        }
    }

    /// A new schedule's `next_run_at`: its first slot at or after `now` for a one-shot (so a
    /// `run_at` of exactly now still fires), else its first slot strictly after `now`.
    pub fn first_run_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::OneShot { run_at } => (*run_at >= now).then_some(*run_at),
            _ => self.next_after(now),
        }
    }

    /// What a tick at `now` fires for a schedule whose stored `next_run_at` is `pending` (the
    /// earliest slot not yet fired). The slots due are `pending` and every slot after it up to
    /// `now`. A slot older than `grace` is *missed* (the scheduler was down): `run_once` fires
    /// exactly one run for the whole batch, at the latest due slot; `skip` fires the latest due
    /// slot only if it is on time (within `grace`), so missed slots fire nothing. Either way
    /// `next_run_at` becomes the first slot after `now`, on the grid. `grace` should cover the
    /// poll interval plus launch slack, so that an ordinary late tick is never a misfire.
    pub fn due(
        &self,
        pending: DateTime<Utc>,
        now: DateTime<Utc>,
        policy: MisfirePolicy,
        grace: TimeDelta,
    ) -> Due {
        if pending > now {
            return Due {
                fire: None,
                next_run_at: Some(pending),
            };
        }
        let latest = self
            .latest_at_or_before(now)
            .filter(|slot| *slot > pending)
            .unwrap_or(pending);
        let on_time = now - latest <= grace.max(TimeDelta::zero());
        let fire = match policy {
            MisfirePolicy::RunOnce => Some(latest),
            MisfirePolicy::Skip => on_time.then_some(latest),
        };
        Due {
            fire,
            next_run_at: self.next_after(now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().expect("test instant")
    }

    fn fields(error: &Error) -> Vec<String> {
        match error {
            Error::InvalidInput(errors) => errors.fields().map(|(f, _)| f.to_owned()).collect(),
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    fn message(error: &Error, field: &str) -> String {
        match error {
            Error::InvalidInput(errors) => errors
                .fields()
                .find(|(name, _)| *name == field)
                .map(|(_, messages)| messages.join(" | "))
                .unwrap_or_default(),
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    fn spec(schedule_type: ScheduleType) -> TimingSpec<'static> {
        TimingSpec {
            schedule_type,
            interval_minutes: None,
            cron_expr: None,
            run_at: None,
            timezone: "UTC",
        }
    }

    const MINUTE: TimeDelta = TimeDelta::minutes(1);

    #[test]
    fn interval_stays_on_the_anchor_grid_however_late_the_tick() {
        let anchor = utc("2024-01-01T00:00:00Z");
        let every_five = Timing::interval(5, anchor).unwrap();
        // Exactly on a slot: the next one, strictly later.
        assert_eq!(
            every_five.next_after(anchor),
            Some(utc("2024-01-01T00:05:00Z"))
        );
        // A tick 7 s late still lands the next slot on the grid (no drift).
        assert_eq!(
            every_five.next_after(utc("2024-01-01T00:05:07Z")),
            Some(utc("2024-01-01T00:10:00Z"))
        );
        // Before the anchor: the anchor itself is the first slot.
        assert_eq!(
            every_five.next_after(utc("2023-12-31T00:00:00Z")),
            Some(anchor)
        );
        assert_eq!(every_five.latest_at_or_before(anchor - MINUTE), None);
        assert_eq!(
            every_five.latest_at_or_before(utc("2024-01-01T00:14:59.999Z")),
            Some(utc("2024-01-01T00:10:00Z"))
        );
        // A thousand ticks each a little late never move the grid.
        let mut at = anchor;
        for tick in 0..1000 {
            let next = every_five.next_after(at + TimeDelta::seconds(3)).unwrap();
            assert_eq!(next, anchor + TimeDelta::minutes(5 * (tick + 1)));
            at = next;
        }
    }

    #[test]
    fn interval_anchor_with_seconds_keeps_them() {
        let anchor = utc("2024-01-01T00:00:42.250Z");
        let hourly = Timing::interval(60, anchor).unwrap();
        assert_eq!(
            hourly.next_after(utc("2024-03-01T12:30:00Z")),
            Some(utc("2024-03-01T13:00:42.250Z"))
        );
    }

    #[test]
    fn interval_range_is_checked() {
        for bad in [0, -5, MAX_INTERVAL_MINUTES + 1, i64::MAX] {
            let error = Timing::interval(bad, utc("2024-01-01T00:00:00Z")).unwrap_err();
            assert_eq!(fields(&error), ["interval_minutes"]);
            assert!(message(&error, "interval_minutes").contains("e.g. 5"));
        }
        assert!(Timing::interval(1, utc("2024-01-01T00:00:00Z")).is_ok());
        assert!(Timing::interval(MAX_INTERVAL_MINUTES, utc("2024-01-01T00:00:00Z")).is_ok());
    }

    #[test]
    fn misfire_run_once_fires_the_latest_missed_slot_then_continues_on_the_grid() {
        let anchor = utc("2024-01-01T00:00:00Z");
        let every_ten = Timing::interval(10, anchor).unwrap();
        // Down from 00:05 to 01:03: slots 00:10 … 01:00 were missed.
        let now = utc("2024-01-01T01:03:00Z");
        let due = every_ten.due(
            utc("2024-01-01T00:10:00Z"),
            now,
            MisfirePolicy::RunOnce,
            MINUTE,
        );
        assert_eq!(
            due,
            Due {
                fire: Some(utc("2024-01-01T01:00:00Z")),
                next_run_at: Some(utc("2024-01-01T01:10:00Z")),
            }
        );
        // The following tick (at the new pending slot) fires it normally: exactly one catch-up.
        let again = every_ten.due(
            due.next_run_at.unwrap(),
            utc("2024-01-01T01:10:04Z"),
            MisfirePolicy::RunOnce,
            MINUTE,
        );
        assert_eq!(again.fire, Some(utc("2024-01-01T01:10:00Z")));
        assert_eq!(again.next_run_at, Some(utc("2024-01-01T01:20:00Z")));
    }

    #[test]
    fn misfire_skip_fires_nothing_for_missed_slots_but_fires_on_time_ones() {
        let anchor = utc("2024-01-01T00:00:00Z");
        let every_ten = Timing::interval(10, anchor).unwrap();
        let missed = every_ten.due(
            utc("2024-01-01T00:10:00Z"),
            utc("2024-01-01T01:03:00Z"),
            MisfirePolicy::Skip,
            MINUTE,
        );
        assert_eq!(
            missed,
            Due {
                fire: None,
                next_run_at: Some(utc("2024-01-01T01:10:00Z")),
            }
        );
        // Back up just after a slot: the on-time slot fires, the older ones do not.
        let on_time = every_ten.due(
            utc("2024-01-01T00:10:00Z"),
            utc("2024-01-01T01:00:20Z"),
            MisfirePolicy::Skip,
            MINUTE,
        );
        assert_eq!(on_time.fire, Some(utc("2024-01-01T01:00:00Z")));
        assert_eq!(on_time.next_run_at, Some(utc("2024-01-01T01:10:00Z")));
    }

    #[test]
    fn nothing_is_due_before_the_pending_slot() {
        let every_ten = Timing::interval(10, utc("2024-01-01T00:00:00Z")).unwrap();
        let pending = utc("2024-01-01T00:10:00Z");
        for policy in [MisfirePolicy::RunOnce, MisfirePolicy::Skip] {
            let due = every_ten.due(pending, utc("2024-01-01T00:09:59Z"), policy, MINUTE);
            assert_eq!(
                due,
                Due {
                    fire: None,
                    next_run_at: Some(pending),
                }
            );
        }
    }

    #[test]
    fn a_deferred_pending_slot_fires_at_its_deferred_time() {
        // Limits were saturated at 00:10, so the caller moved next_run_at to 00:11.
        let every_ten = Timing::interval(10, utc("2024-01-01T00:00:00Z")).unwrap();
        let due = every_ten.due(
            utc("2024-01-01T00:11:00Z"),
            utc("2024-01-01T00:11:02Z"),
            MisfirePolicy::Skip,
            MINUTE,
        );
        assert_eq!(due.fire, Some(utc("2024-01-01T00:11:00Z")));
        assert_eq!(due.next_run_at, Some(utc("2024-01-01T00:20:00Z")));
    }

    #[test]
    fn cron_misfire_catches_up_once_in_local_time() {
        let nightly = Timing::cron("30 2 * * *", "Europe/Berlin").unwrap();
        // Down for three nights in January (CET, UTC+1).
        let pending = utc("2024-01-10T01:30:00Z");
        let now = utc("2024-01-13T08:00:00Z");
        let run_once = nightly.due(pending, now, MisfirePolicy::RunOnce, MINUTE);
        assert_eq!(run_once.fire, Some(utc("2024-01-13T01:30:00Z")));
        assert_eq!(run_once.next_run_at, Some(utc("2024-01-14T01:30:00Z")));
        let skip = nightly.due(pending, now, MisfirePolicy::Skip, MINUTE);
        assert_eq!(skip.fire, None);
        assert_eq!(skip.next_run_at, Some(utc("2024-01-14T01:30:00Z")));
    }

    #[test]
    fn one_shot_fires_once_at_run_at() {
        let run_at = utc("2024-05-01T12:00:00Z");
        let once = Timing::one_shot(run_at);
        assert_eq!(once.first_run_at(run_at), Some(run_at));
        assert_eq!(once.next_after(run_at - MINUTE), Some(run_at));
        assert_eq!(once.next_after(run_at), None);
        let due = once.due(
            run_at,
            run_at + TimeDelta::seconds(3),
            MisfirePolicy::Skip,
            MINUTE,
        );
        assert_eq!(
            due,
            Due {
                fire: Some(run_at),
                next_run_at: None,
            }
        );
        // Missed by a day: run_once still fires it, skip drops it; neither has a next slot.
        let late = run_at + TimeDelta::days(1);
        assert_eq!(
            once.due(run_at, late, MisfirePolicy::RunOnce, MINUTE),
            Due {
                fire: Some(run_at),
                next_run_at: None,
            }
        );
        assert_eq!(
            once.due(run_at, late, MisfirePolicy::Skip, MINUTE),
            Due {
                fire: None,
                next_run_at: None,
            }
        );
    }

    #[test]
    fn first_run_at_for_new_schedules() {
        let now = utc("2024-01-01T08:00:00Z");
        let interval = Timing::from_spec(
            &TimingSpec {
                interval_minutes: Some(5),
                ..spec(ScheduleType::Interval)
            },
            now,
        )
        .unwrap();
        assert_eq!(
            interval.first_run_at(now),
            Some(utc("2024-01-01T08:05:00Z"))
        );
        let cron = Timing::from_spec(
            &TimingSpec {
                cron_expr: Some("0 9 * * *"),
                timezone: "Asia/Kolkata",
                ..spec(ScheduleType::Cron)
            },
            now,
        )
        .unwrap();
        // 09:00 IST is 03:30 UTC: today's has passed, tomorrow's is next.
        assert_eq!(cron.first_run_at(now), Some(utc("2024-01-02T03:30:00Z")));
    }

    #[test]
    fn spec_validation_names_each_bad_field() {
        let now = utc("2024-01-01T08:00:00Z");
        let cases: Vec<(TimingSpec<'_>, Vec<&str>)> = vec![
            (spec(ScheduleType::Interval), vec!["interval_minutes"]),
            (
                TimingSpec {
                    interval_minutes: Some(0),
                    timezone: "Nowhere",
                    ..spec(ScheduleType::Interval)
                },
                vec!["interval_minutes", "timezone"],
            ),
            (spec(ScheduleType::Cron), vec!["cron_expr"]),
            (
                TimingSpec {
                    cron_expr: Some("* * *"),
                    timezone: "Europe/Nowhere",
                    ..spec(ScheduleType::Cron)
                },
                vec!["cron_expr", "timezone"],
            ),
            (
                TimingSpec {
                    timezone: "Mars/Base",
                    ..spec(ScheduleType::Cron)
                },
                vec!["cron_expr", "timezone"],
            ),
            (spec(ScheduleType::OneShot), vec!["run_at"]),
            (
                TimingSpec {
                    run_at: Some(now - MINUTE),
                    ..spec(ScheduleType::OneShot)
                },
                vec!["run_at"],
            ),
            (
                TimingSpec {
                    run_at: Some(now + MINUTE),
                    timezone: "",
                    ..spec(ScheduleType::OneShot)
                },
                vec!["timezone"],
            ),
        ];
        for (input, expected) in cases {
            let error = Timing::from_spec(&input, now).unwrap_err();
            assert_eq!(fields(&error), expected, "{input:?}");
        }
        let past = Timing::from_spec(
            &TimingSpec {
                run_at: Some(now - MINUTE),
                ..spec(ScheduleType::OneShot)
            },
            now,
        )
        .unwrap_err();
        assert!(message(&past, "run_at").contains("2024-01-02T08:00:00+00:00"));
        let missing = Timing::from_spec(&spec(ScheduleType::Interval), now).unwrap_err();
        assert!(message(&missing, "interval_minutes").contains("e.g. 5"));
    }

    #[test]
    fn valid_specs_build_their_timing() {
        let now = utc("2024-01-01T08:00:00Z");
        let once = Timing::from_spec(
            &TimingSpec {
                run_at: Some(now),
                ..spec(ScheduleType::OneShot)
            },
            now,
        )
        .unwrap();
        assert_eq!(once, Timing::one_shot(now));
        let grid = Timing::from_spec(
            &TimingSpec {
                interval_minutes: Some(15),
                ..spec(ScheduleType::Interval)
            },
            now,
        )
        .unwrap();
        match grid {
            Timing::Interval(grid) => {
                assert_eq!(grid.minutes(), 15);
                assert_eq!(grid.anchor(), now);
            }
            other => panic!("expected an interval, got {other:?}"),
        }
    }
}
