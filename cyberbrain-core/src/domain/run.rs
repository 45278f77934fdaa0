use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{DirectiveSnapshot, PageRequest, wire_enum};

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

impl RunStatus {
    /// Completed, failed or cancelled: nothing more will happen to the run.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
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

impl JobStatus {
    /// Completed, failed or cancelled.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
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
    /// The snapshot hash the approver approved (G4); execution requires it to match.
    pub approved_snapshot_sha256: Option<String>,
    /// Set by a cancel while jobs were running; they stop at their next lease check.
    pub cancel_requested_at: Option<DateTime<Utc>>,
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
/// Runnable: the job is `pending`; its run is neither awaiting approval nor denied, has not
/// ended and has no cancel request. Claiming marks each job `running`, sets the lease and
/// `started_at`, increments `attempts` and marks its run `running`.
///
/// Limits (SPEC §3.1) are checked and taken in the same atomic step as the claim, across
/// processes: a job is skipped (stays pending) when claiming it would make more than
/// `max_running_runs` runs `running` (a job of an already running run adds none), or more than
/// `max_running_per_task` jobs of its task `running`. A run launched by a schedule also obeys the
/// schedule's `max_global` / `max_per_job` when they are stricter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimJobs {
    pub owner: String,
    pub now: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
    pub limit: u32,
    pub max_running_runs: u32,
    pub max_running_per_task: u32,
}

impl ClaimJobs {
    /// One job, no practical limits (set them with [`ClaimJobs::with_limits`]).
    pub fn new(owner: impl Into<String>, now: DateTime<Utc>, lease: chrono::Duration) -> Self {
        Self {
            owner: owner.into(),
            now,
            lease_until: now + lease,
            limit: 1,
            max_running_runs: u32::MAX,
            max_running_per_task: u32::MAX,
        }
    }

    pub fn with_limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    /// The global running-runs limit and the per-task running-jobs limit.
    pub fn with_limits(mut self, max_running_runs: u32, max_running_per_task: u32) -> Self {
        self.max_running_runs = max_running_runs;
        self.max_running_per_task = max_running_per_task;
        self
    }
}

/// Extends a held lease (`lease_until`), if `owner` still holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewLease {
    pub job_id: i64,
    pub owner: String,
    pub now: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
}

/// What an executor learns when it renews (or checks) its lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    /// Still ours; the lease now runs until the requested time.
    Held,
    /// Still ours, but the run was cancelled: stop and finish the job as `cancelled`.
    CancelRequested,
    /// No longer ours (expired and reclaimed, or finished elsewhere): stop, write nothing.
    Lost,
}

/// Ends a leased job and rolls its run up.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishJob {
    pub job_id: i64,
    pub owner: String,
    /// `completed`, `failed` or `cancelled`.
    pub status: JobStatus,
    /// Counts and findings summary (never prompt or response text).
    pub result: Value,
    pub error_summary: Option<String>,
    pub now: DateTime<Utc>,
}

/// A finished job and its run after roll-up.
#[derive(Debug, Clone, PartialEq)]
pub struct JobFinished {
    pub job: RunJob,
    pub run: Run,
    /// True when this finish ended the run (every job ended): the caller writes its report.
    pub run_ended: bool,
}

/// Recovers jobs whose lease expired before `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReapLeases {
    pub now: DateTime<Utc>,
    /// A job that already had this many attempts fails with "lease expired".
    pub max_attempts: u32,
}

/// Filters for listing runs; all optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunQuery {
    pub status: Option<RunStatus>,
    /// Runs with a job of this canonical task key.
    pub task_key: Option<String>,
    pub approval_status: Option<ApprovalStatus>,
    pub page: PageRequest,
}

impl RunQuery {
    pub fn new(page: PageRequest) -> Self {
        Self {
            page,
            ..Self::default()
        }
    }

    pub fn with_status(mut self, status: RunStatus) -> Self {
        self.status = Some(status);
        self
    }

    pub fn with_task_key(mut self, task_key: impl Into<String>) -> Self {
        self.task_key = Some(task_key.into());
        self
    }

    pub fn with_approval_status(mut self, approval_status: ApprovalStatus) -> Self {
        self.approval_status = Some(approval_status);
        self
    }
}

/// One LLM call's accounting (G2: counts only, exactly as the server reported them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLlmCall {
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
