use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{DirectiveSnapshot, wire_enum};

wire_enum! {
    /// Lifecycle of a run (rolled up from its jobs).
    RunStatus {
        Pending = "pending",
        Running = "running",
        Completed = "completed",
        Failed = "failed",
        Cancelled = "cancelled",
    }
}

wire_enum! {
    /// Lifecycle of one task's job inside a run.
    JobStatus {
        Pending = "pending",
        Running = "running",
        Completed = "completed",
        Failed = "failed",
        Cancelled = "cancelled",
    }
}

wire_enum! {
    /// Where a run was launched from.
    Trigger {
        Manual = "manual",
        Schedule = "schedule",
        Mcp = "mcp",
        Python = "python",
        Api = "api",
    }
}

wire_enum! {
    /// Approval state; `pending` and `denied` runs are never executed.
    ApprovalStatus {
        None = "none",
        Pending = "pending",
        Approved = "approved",
        Denied = "denied",
    }
}

wire_enum! {
    /// Which containers `service_map` may look at: the allowlist, or all (D4 only).
    Task3Scope {
        Allowlist = "allowlist",
        All = "all",
    }
}

wire_enum! {
    /// Outcome of one LLM call.
    LlmOutcome {
        Ok = "ok",
        Error = "error",
    }
}

/// A run: one launch of one or more tasks under one directive snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Run {
    pub id: i64,
    pub status: RunStatus,
    pub directive_snapshot: DirectiveSnapshot,
    pub snapshot_sha256: String,
    pub use_rag: bool,
    pub task3_scope: Task3Scope,
    pub trigger: Trigger,
    pub schedule_id: Option<i64>,
    pub approval_status: ApprovalStatus,
    pub approved_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    pub error_summary: Option<String>,
    /// Statuses, counts, findings' titles and severities, paths — never prompt or response text.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub report_summary: Value,
}

/// One task's work inside a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunJob {
    pub id: i64,
    pub run_id: i64,
    pub task_key: String,
    pub status: JobStatus,
    pub attempts: i32,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Counts and a findings summary.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub result: Value,
    pub error_summary: Option<String>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
}

/// One LLM call's accounting row (G2: no prompt, no response).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LlmCall {
    pub id: i64,
    pub run_id: i64,
    pub run_job_id: Option<i64>,
    pub model: String,
    pub endpoint_host: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    pub duration_ms: i64,
    pub outcome: LlmOutcome,
    pub created_at: DateTime<Utc>,
}

/// A validated launch, ready to be written with its jobs in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    pub directive_snapshot: DirectiveSnapshot,
    pub use_rag: bool,
    pub task3_scope: Task3Scope,
    pub trigger: Trigger,
    pub schedule_id: Option<i64>,
    pub approval_status: ApprovalStatus,
    /// Canonical task keys, one job each, in order.
    pub task_keys: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl NewRun {
    pub fn new(
        directive_snapshot: DirectiveSnapshot,
        task_keys: Vec<String>,
        created_at: DateTime<Utc>,
    ) -> Self {
        let approval_status = if directive_snapshot.approval_required {
            ApprovalStatus::Pending
        } else {
            ApprovalStatus::None
        };
        Self {
            directive_snapshot,
            use_rag: false,
            task3_scope: Task3Scope::Allowlist,
            trigger: Trigger::Api,
            schedule_id: None,
            approval_status,
            task_keys,
            created_at,
        }
    }

    pub fn with_trigger(mut self, trigger: Trigger) -> Self {
        self.trigger = trigger;
        self
    }

    pub fn with_use_rag(mut self, use_rag: bool) -> Self {
        self.use_rag = use_rag;
        self
    }

    pub fn with_task3_scope(mut self, scope: Task3Scope) -> Self {
        self.task3_scope = scope;
        self
    }

    pub fn with_schedule(mut self, schedule_id: i64) -> Self {
        self.schedule_id = Some(schedule_id);
        self
    }
}

/// A request to lease up to `limit` runnable jobs for `owner` until `lease_until`.
///
/// Runnable: the job is `pending` and its run is neither awaiting approval nor denied, nor
/// cancelled. Claiming marks each job `running`, sets the lease, increments `attempts` and
/// marks its run `running`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimJobs {
    pub owner: String,
    pub now: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
    pub limit: u32,
}

impl ClaimJobs {
    pub fn new(owner: impl Into<String>, now: DateTime<Utc>, lease: chrono::Duration) -> Self {
        Self {
            owner: owner.into(),
            now,
            lease_until: now + lease,
            limit: 1,
        }
    }

    pub fn with_limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }
}
