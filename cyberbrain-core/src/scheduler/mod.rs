//! Schedule fire times (SPEC §2.6, §3.5): pure and deterministic — no I/O and no clock reads;
//! callers pass every instant.
//!
//! The scheduler drives it like this:
//!
//! 1. **Create / edit timing.** [`Timing::from_spec`] validates the user's timing columns
//!    ([`TimingSpec`]) and names every bad field (`interval_minutes`, `cron_expr`, `run_at`,
//!    `timezone`) in one [`Error::InvalidInput`](crate::Error::InvalidInput). Store
//!    `next_run_at = timing.first_run_at(now)`. A PATCH that does not touch timing keeps
//!    `next_run_at`.
//! 2. **Tick.** For each locked schedule with `next_run_at <= now`, rebuild its [`Timing`]
//!    ([`Timing::interval`] with the grid's anchor slot — the stored pending `next_run_at` is one
//!    — [`Timing::cron`], [`Timing::one_shot`]) and call [`Timing::due`] with the pending slot,
//!    `now`, the misfire policy and a grace that covers the poll interval: launch
//!    [`Due::fire`] (it is the scheduled run's `scheduled_for`) if any, and store
//!    [`Due::next_run_at`] (`None`: a finished one-shot, which disables itself).
//!
//! Rules: interval slots are `anchor + k × interval` (no drift however late a tick is); cron is
//! read in the schedule's zone, and every matching wall-clock time fires exactly once at the first
//! instant the clock reads it or later — a time skipped by spring-forward fires at the gap's end,
//! a repeated time fires at its first occurrence ([`CronSchedule`]); after downtime `run_once`
//! fires one run for the latest missed slot and `skip` fires none, both continuing on the grid.

mod cron;
mod next_fire;

#[cfg(test)]
mod tests;

pub use self::cron::{CronSchedule, parse_timezone};
pub use chrono_tz::Tz;
pub use next_fire::{Due, Interval, MAX_INTERVAL_MINUTES, Timing, TimingSpec};
