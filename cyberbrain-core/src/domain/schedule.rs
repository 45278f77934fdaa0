use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Task3Scope, wire_enum};

wire_enum! {
    /// How a schedule's fire times are computed.
    ScheduleType {
        Interval = "interval",
        Cron = "cron",
        OneShot = "one_shot",
    }
}

wire_enum! {
    /// What to do with slots missed while no scheduler was running.
    MisfirePolicy {
        /// Fire one catch-up run, then continue on the grid.
        RunOnce = "run_once",
        /// Fire nothing for the missed slots.
        Skip = "skip",
    }
}

wire_enum! {
    /// History state of one scheduled slot.
    ScheduledRunStatus {
        Pending = "pending",
        Started = "started",
        Finished = "finished",
        Failed = "failed",
    }
}

/// A recurring or one-shot launch of one task (Phase 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Schedule {
    pub id: i64,
    pub name: String,
    pub task_key: String,
    pub directive_id: Option<i64>,
    pub custom_directive_text: Option<String>,
    pub enabled: bool,
    pub schedule_type: ScheduleType,
    pub interval_minutes: Option<i32>,
    pub cron_expr: Option<String>,
    pub run_at: Option<DateTime<Utc>>,
    /// IANA zone name.
    pub timezone: String,
    pub task3_scope: Task3Scope,
    pub use_rag: bool,
    pub max_global: Option<i32>,
    pub max_per_job: Option<i32>,
    pub misfire_policy: MisfirePolicy,
    pub last_run_at: Option<DateTime<Utc>>,
    pub next_run_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The ledger row of one fired slot; `(schedule_id, scheduled_for)` is unique.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduledRun {
    pub id: i64,
    pub schedule_id: i64,
    pub run_id: Option<i64>,
    pub scheduled_for: DateTime<Utc>,
    pub status: ScheduledRunStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error_summary: Option<String>,
}

/// A validated schedule to insert (the engine validates, resolves the task key and computes
/// `next_run_at`; the store writes).
#[derive(Debug, Clone, PartialEq)]
pub struct NewSchedule {
    pub name: String,
    pub task_key: String,
    pub directive_id: Option<i64>,
    pub custom_directive_text: Option<String>,
    pub enabled: bool,
    pub schedule_type: ScheduleType,
    pub interval_minutes: Option<i32>,
    pub cron_expr: Option<String>,
    pub run_at: Option<DateTime<Utc>>,
    pub timezone: String,
    pub task3_scope: Task3Scope,
    pub use_rag: bool,
    pub max_global: Option<i32>,
    pub max_per_job: Option<i32>,
    pub misfire_policy: MisfirePolicy,
    pub next_run_at: Option<DateTime<Utc>>,
    /// Becomes `created_at` and `updated_at` on insert, `updated_at` on replace.
    pub now: DateTime<Utc>,
}

/// What the scheduler decided for one due schedule, inside the store's firing transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum FireDecision {
    /// Launch `run` for the slot `scheduled_for`, record it in the ledger and move on to
    /// `next_run_at` (`None` ends the schedule: one-shot). `enabled` is written too (a one-shot
    /// disables itself).
    Launch {
        run: super::NewRun,
        scheduled_for: DateTime<Utc>,
        next_run_at: Option<DateTime<Utc>>,
        enabled: bool,
    },
    /// No run now (limits saturated, or missed slots skipped): only move `next_run_at`.
    Postpone { next_run_at: DateTime<Utc> },
    /// Disable the schedule without a run (its task is inactive or gone); the reason is logged.
    Disable { reason: String },
}

/// What a firing transaction did for one schedule.
// Returned once per tick for at most `limit` schedules and consumed at once; boxing the run
// would only add an allocation per launch.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Fired {
    Launched {
        run: super::Run,
        scheduled_run: ScheduledRun,
    },
    Postponed {
        schedule_id: i64,
        next_run_at: DateTime<Utc>,
    },
    Disabled {
        schedule_id: i64,
        reason: String,
    },
}

/// Running counts the planner sees while deciding (the same numbers limits are checked on).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunningCounts {
    /// Runs `running` or `pending` with approval none/approved (about to run), across processes.
    pub active_runs: i64,
    /// Per task key: jobs `running` or `pending` in such runs.
    pub active_jobs_per_task: std::collections::BTreeMap<String, i64>,
}

impl Fired {
    /// What a `Launch` becomes when its slot is already in the ledger (a run-now took it): no
    /// run, and the schedule moves on — to `next_run_at`, or disabled when it has none.
    pub fn slot_taken(
        schedule_id: i64,
        scheduled_for: DateTime<Utc>,
        next_run_at: Option<DateTime<Utc>>,
        enabled: bool,
    ) -> Self {
        tracing::info!(
            schedule_id,
            %scheduled_for,
            "slot already in the ledger; not launched again"
        );
        match next_run_at {
            Some(next_run_at) if enabled => Fired::Postponed {
                schedule_id,
                next_run_at,
            },
            _ => Fired::Disabled {
                schedule_id,
                reason: slot_already_fired(schedule_id, scheduled_for),
            },
        }
    }
}

/// The message for a slot that already has a run.
pub fn slot_already_fired(schedule_id: i64, scheduled_for: DateTime<Utc>) -> String {
    format!(
        "schedule {schedule_id} already has a run for the slot {}; a slot runs once — see its \
         history",
        scheduled_for.to_rfc3339()
    )
}

impl RunningCounts {
    /// Adds a just-launched run of `task_keys` when it counts (approval none or approved; a run
    /// awaiting approval will not run yet).
    pub fn count_launch(&mut self, approval: super::ApprovalStatus, task_keys: &[String]) {
        if !matches!(
            approval,
            super::ApprovalStatus::None | super::ApprovalStatus::Approved
        ) {
            return;
        }
        self.active_runs += 1;
        for key in task_keys {
            *self.active_jobs_per_task.entry(key.clone()).or_default() += 1;
        }
    }
}
