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
