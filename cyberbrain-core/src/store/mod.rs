//! Persistence and claiming: small focused traits composed into one [`Store`].
//!
//! Every method documents its contract; each bullet is a check in the conformance suite
//! (`cyberbrain_core::testing::conformance`) that every backend must pass. Collections are
//! ordered by id ascending. Errors: a missing row is [`Error::NotFound`](crate::Error::NotFound),
//! a unique or protection rule is [`Error::Conflict`](crate::Error::Conflict), a lost connection
//! is [`Error::Unavailable`](crate::Error::Unavailable). A failed call writes nothing.

use async_trait::async_trait;

use crate::Result;
use crate::domain::{
    AllowlistEntry, AllowlistPatch, Artifact, ArtifactQuery, ChunkHit, ChunkSearch, ClaimJobs,
    ClaimUpload, Directive, DirectivePatch, DirectiveUsage, Document, DocumentInfo, FailUpload,
    FinishJob, FireDecision, Fired, IngestedDocument, InventoryQuery, InventorySnapshot,
    JobFinished, LeaseState, LlmCall, ModelUsage, NetworkPolicyRecommendation, NewAllowlistEntry,
    NewArtifact, NewDirective, NewInventorySnapshot, NewLlmCall, NewNetworkPolicy,
    NewRetrievalEvent, NewRun, NewSchedule, NewTaskDefinition, NewUpload, Page, PageRequest,
    ReapLeases, RenewLease, RetrievalEvent, Run, RunJob, RunQuery, RunningCounts, Schedule,
    ScheduledRun, StoreMetrics, TaskDefinition, TaskDefinitionPatch, Timestamp, TokenStats, Upload,
    UploadCreated, UploadProgress, UploadQuery,
};

/// Directives (SPEC §2.1).
#[async_trait]
pub trait DirectiveStore: Send + Sync {
    /// - A page of directives ordered by id, with the total count.
    async fn list_directives(&self, page: PageRequest) -> Result<Page<Directive>>;

    /// - The directive with this id, or `NotFound`.
    async fn get_directive(&self, id: i64) -> Result<Directive>;

    /// - The directive with this exact name, or `NotFound`.
    async fn get_directive_by_name(&self, name: &str) -> Result<Directive>;

    /// - Inserts with `version = 1`, `is_builtin = false`, `created_at = updated_at`.
    /// - A name already taken is `Conflict` and nothing is written.
    async fn create_directive(&self, new: NewDirective) -> Result<Directive>;

    /// - Applies the fields present in the patch; `updated_at` changes.
    /// - `version` increments exactly when text, type or task config change value.
    /// - Unknown id is `NotFound`; a name already taken is `Conflict`.
    async fn update_directive(&self, id: i64, patch: DirectivePatch) -> Result<Directive>;

    /// - Deletes a non-built-in directive; runs keep their snapshots.
    /// - A built-in directive is `Conflict` (it can be deactivated instead); unknown id `NotFound`.
    async fn delete_directive(&self, id: i64) -> Result<()>;
}

/// Task definitions (SPEC §2.2).
#[async_trait]
pub trait TaskStore: Send + Sync {
    /// - A page of task definitions ordered by id, with the total count.
    async fn list_tasks(&self, page: PageRequest) -> Result<Page<TaskDefinition>>;

    /// - The task with this id, or `NotFound`.
    async fn get_task(&self, id: i64) -> Result<TaskDefinition>;

    /// - The task with this canonical key, or `NotFound`.
    async fn get_task_by_key(&self, task_key: &str) -> Result<TaskDefinition>;

    /// - Inserts; a key already taken is `Conflict`; an unknown default directive is `NotFound`.
    async fn create_task(&self, new: NewTaskDefinition) -> Result<TaskDefinition>;

    /// - Applies the fields present; unknown id or default directive is `NotFound`.
    async fn update_task(&self, id: i64, patch: TaskDefinitionPatch) -> Result<TaskDefinition>;

    /// - Deletes; a task referenced by a schedule is `Conflict`; unknown id `NotFound`.
    async fn delete_task(&self, id: i64) -> Result<()>;
}

/// The container allowlist (SPEC §2.4, G5).
#[async_trait]
pub trait AllowlistStore: Send + Sync {
    /// - A page of entries ordered by id, with the total count.
    async fn list_allowlist(&self, page: PageRequest) -> Result<Page<AllowlistEntry>>;

    /// - Every enabled entry, ordered by id (what G5 checks against).
    async fn enabled_allowlist(&self) -> Result<Vec<AllowlistEntry>>;

    /// - The entry with this id, or `NotFound`.
    async fn get_allowlist_entry(&self, id: i64) -> Result<AllowlistEntry>;

    /// - Inserts; a `container_id` already listed is `Conflict`.
    async fn create_allowlist_entry(&self, new: NewAllowlistEntry) -> Result<AllowlistEntry>;

    /// - Inserts, or replaces name/description/enabled/tags of the entry with the same
    ///   `container_id` (keeping its id and `created_at`). Atomic under concurrency.
    async fn upsert_allowlist_entry(&self, new: NewAllowlistEntry) -> Result<AllowlistEntry>;

    /// - Applies the fields present; unknown id `NotFound`; a taken `container_id` `Conflict`.
    async fn update_allowlist_entry(
        &self,
        id: i64,
        patch: AllowlistPatch,
    ) -> Result<AllowlistEntry>;

    /// - Deletes; unknown id `NotFound`.
    async fn delete_allowlist_entry(&self, id: i64) -> Result<()>;
}

/// Runs and their jobs (SPEC §2.3, §3.1): launch, claim, lease, finish, cancel, approve.
///
/// Roll-up (applied by every method that ends a job): while any job is pending or running the
/// run keeps its status; once every job ended the run becomes `cancelled` if it was cancelled
/// (cancel request or deny), else `completed` if every job completed, else `failed` if any job
/// failed, else `cancelled`; `ended_at` is set and `error_summary` lists the failed jobs'
/// `task_key: error` (at most 1000 characters).
#[async_trait]
pub trait RunStore: Send + Sync {
    /// - Writes the run (status `pending`, snapshot and its SHA-256) and one pending job per task
    ///   key, in one transaction. Returns the run.
    /// - An unknown `schedule_id` is `NotFound` and nothing is written.
    async fn create_run(&self, new: NewRun) -> Result<Run>;

    /// - The run with this id, or `NotFound`.
    async fn get_run(&self, id: i64) -> Result<Run>;

    /// - A page of runs ordered by id **descending** (newest first), with the total count of
    ///   runs matching every filter given (`status`, `task_key` = has a job of that task,
    ///   `approval_status`).
    async fn list_runs(&self, query: RunQuery) -> Result<Page<Run>>;

    /// - The jobs of a run ordered by id; unknown run `NotFound`.
    async fn list_run_jobs(&self, run_id: i64) -> Result<Vec<RunJob>>;

    /// - The job with this id, or `NotFound`.
    async fn get_run_job(&self, id: i64) -> Result<RunJob>;

    /// - Leases up to `limit` runnable jobs (see [`ClaimJobs`]) in id order, atomically: any
    ///   number of concurrent claimers, in any number of processes, never get the same job.
    /// - The limits in [`ClaimJobs`] are checked in the same atomic step: concurrent claimers
    ///   together never exceed them; a job that would exceed one stays pending and later jobs
    ///   that fit are still claimed.
    async fn claim_jobs(&self, claim: ClaimJobs) -> Result<Vec<RunJob>>;

    /// - When `owner` holds the job's lease (job `running`, same owner): extends `lease_until`
    ///   and returns `Held`, or `CancelRequested` when the run has a cancel request.
    /// - Otherwise returns `Lost` and writes nothing (unknown job included).
    async fn renew_lease(&self, renew: RenewLease) -> Result<LeaseState>;

    /// - When `owner` holds the lease: sets the job's status, `result`, `error_summary`,
    ///   `ended_at`, clears the lease, and rolls the run up (see the trait docs) in one
    ///   transaction. `run_ended` is true exactly for the call that ended the run.
    /// - A lease no longer held is `Conflict` and nothing is written; a non-terminal status is
    ///   `InvalidInput` naming `status`.
    async fn finish_job(&self, finish: FinishJob) -> Result<JobFinished>;

    /// - Every `running` job whose `lease_until` is before `now`: with `attempts` below
    ///   `max_attempts` it goes back to `pending` (lease cleared, so it is claimable and its next
    ///   claim counts one more attempt); otherwise it fails with an error summary containing
    ///   "lease expired". Runs roll up; returns the runs this call ended, ordered by id.
    async fn reap_expired_leases(&self, reap: ReapLeases) -> Result<Vec<Run>>;

    /// - A run with no running job (pending, awaiting approval, or between jobs): status
    ///   `cancelled`, `ended_at = now`, every pending job `cancelled`.
    /// - A run with running jobs: `cancel_requested_at = now` and pending jobs `cancelled`; the
    ///   run stays `running` until its running jobs finish (they see `CancelRequested`).
    /// - An ended run (completed, failed, cancelled) is `Conflict`; unknown id `NotFound`.
    async fn cancel_run(&self, id: i64, now: Timestamp) -> Result<Run>;

    /// - A run awaiting approval becomes `approved`, recording `approved_by`, `approved_at` and
    ///   `approved_snapshot_sha256 = snapshot_sha256`; its jobs become claimable.
    /// - Any other approval state, or an ended (e.g. cancelled) run, is `Conflict`; unknown id
    ///   `NotFound`.
    async fn approve_run(&self, id: i64, approver: &str, now: Timestamp) -> Result<Run>;

    /// - A run awaiting approval becomes `denied` (recording who and when) and is cancelled:
    ///   status `cancelled`, `ended_at = now`, every job `cancelled`.
    /// - Any other approval state, or an ended run, is `Conflict`; unknown id `NotFound`.
    async fn deny_run(&self, id: i64, approver: &str, now: Timestamp) -> Result<Run>;

    /// - Stores the run's report summary (replacing any previous one); unknown id `NotFound`.
    async fn set_run_report(&self, run_id: i64, report_summary: serde_json::Value) -> Result<Run>;

    /// - The completed job of this task that ended last (this task's last success), if any.
    async fn last_success(&self, task_key: &str) -> Result<Option<RunJob>>;
}

/// Report files and what `service_map` records (SPEC §2.4, §2.5, §2.8).
#[async_trait]
pub trait ArtifactStore: Send + Sync {
    /// - Registers a written file; a second registration of the same run and `relative_path`
    ///   replaces kind, job, size, hash, MIME type and time, keeping the id.
    /// - Unknown run is `NotFound`.
    async fn put_artifact(&self, new: NewArtifact) -> Result<Artifact>;

    /// - The artifact with this id, or `NotFound`.
    async fn get_artifact(&self, id: i64) -> Result<Artifact>;

    /// - A page of artifacts ordered by id, optionally of one run, with the total count.
    async fn list_artifacts(&self, query: ArtifactQuery) -> Result<Page<Artifact>>;

    /// - Inserts every snapshot in one transaction (all or nothing); unknown run `NotFound`.
    async fn add_inventory(&self, snapshots: Vec<NewInventorySnapshot>) -> Result<()>;

    /// - A page of one run's snapshots ordered by id; with no run, those of the run with the
    ///   highest id that has any (an empty page when none has).
    async fn list_inventory(&self, query: InventoryQuery) -> Result<Page<InventorySnapshot>>;

    /// - Inserts every recommendation in one transaction; unknown run `NotFound`.
    async fn add_network_policies(&self, policies: Vec<NewNetworkPolicy>) -> Result<()>;

    /// - A page of recommendations ordered by id, optionally of one run.
    async fn list_network_policies(
        &self,
        run_id: Option<i64>,
        page: PageRequest,
    ) -> Result<Page<NetworkPolicyRecommendation>>;
}

/// LLM call accounting and operational counts (SPEC §2.3, G2).
#[async_trait]
pub trait AccountingStore: Send + Sync {
    /// - Inserts the call and adds its token counts to its job's (when given) and its run's
    ///   totals, in one transaction, so run and job totals are always the sums of their calls.
    /// - Unknown run or job is `NotFound`; a job of another run is `InvalidInput` naming
    ///   `run_job_id`; negative counts are `InvalidInput`.
    async fn record_llm_call(&self, call: NewLlmCall) -> Result<LlmCall>;

    /// - The calls of a run ordered by id; unknown run `NotFound`.
    async fn list_llm_calls(&self, run_id: i64) -> Result<Vec<LlmCall>>;

    /// - Sums over every call (zeros when there are none).
    async fn token_stats(&self) -> Result<TokenStats>;

    /// - One row per model that has calls, ordered by model name.
    async fn usage_by_model(&self) -> Result<Vec<ModelUsage>>;

    /// - One row per (snapshot name, snapshot type) that has runs, ordered by name then type,
    ///   counting runs (with or without calls) and summing run token totals.
    async fn usage_by_directive(&self) -> Result<Vec<DirectiveUsage>>;

    /// - Counts per run status and job status (every status present, zero included), runnable
    ///   jobs (pending, run approved or needing none, not ended, no cancel request), and LLM call
    ///   sums.
    async fn metrics(&self) -> Result<StoreMetrics>;
}

/// Decides, inside the firing transaction, what to do with one locked due schedule, given the
/// counts limits are checked on. Pure and fast: it must not call the store.
pub type FirePlanner =
    std::sync::Arc<dyn Fn(&Schedule, &RunningCounts) -> FireDecision + Send + Sync>;

/// Schedules and their ledger (SPEC §2.6, §3.5).
#[async_trait]
pub trait ScheduleStore: Send + Sync {
    /// - Inserts (`created_at = updated_at = now`, no `last_run_at`); a name already taken is
    ///   `Conflict`; an unknown task key or directive is `NotFound`; nothing is written on error.
    async fn create_schedule(&self, new: NewSchedule) -> Result<Schedule>;

    /// - The schedule with this id, or `NotFound`.
    async fn get_schedule(&self, id: i64) -> Result<Schedule>;

    /// - A page of schedules ordered by id, with the total count.
    async fn list_schedules(&self, page: PageRequest) -> Result<Page<Schedule>>;

    /// - Replaces every field given in `new` (`updated_at = now`), keeping `created_at` and
    ///   `last_run_at`; same errors as create, unknown id `NotFound`.
    async fn replace_schedule(&self, id: i64, new: NewSchedule) -> Result<Schedule>;

    /// - Deletes the schedule and its ledger; its runs stay (with `schedule_id` cleared).
    ///   Unknown id `NotFound`.
    async fn delete_schedule(&self, id: i64) -> Result<()>;

    /// - One transaction: locks up to `limit` enabled schedules whose `next_run_at <= now`, in
    ///   (`next_run_at`, id) order, skipping schedules a concurrent call holds (Postgres
    ///   `FOR UPDATE SKIP LOCKED`; SQLite's write transaction), computes [`RunningCounts`] once,
    ///   calls `planner` for each schedule in order and applies its decision:
    ///   `Launch` writes the run and its jobs (with `schedule_id`), the ledger row (`pending`,
    ///   `run_id`, `scheduled_for`), `last_run_at = scheduled_for`, `next_run_at` and `enabled`,
    ///   then adds the run and its jobs to the counts the next planner call sees;
    ///   `Postpone` writes `next_run_at`; `Disable` sets `enabled = false` (and clears
    ///   `next_run_at`). Returns what was done, in order.
    /// - However many callers race (threads or processes), a due slot is fired exactly once: a
    ///   `(schedule_id, scheduled_for)` already in the ledger is never launched again.
    async fn fire_due_schedules(
        &self,
        now: Timestamp,
        limit: u32,
        planner: FirePlanner,
    ) -> Result<Vec<Fired>>;

    /// - Run-now: writes `run` (with `schedule_id`) and its ledger row for `scheduled_for` in one
    ///   transaction, whether the schedule is enabled or not; `next_run_at`/`last_run_at` stay.
    ///   Unknown schedule `NotFound`; a slot already in the ledger is `Conflict`.
    async fn record_run_now(
        &self,
        schedule_id: i64,
        run: NewRun,
        scheduled_for: Timestamp,
    ) -> Result<(Run, ScheduledRun)>;

    /// - The earliest `next_run_at` of an enabled schedule, if any (when the scheduler should
    ///   wake next).
    async fn next_due_at(&self) -> Result<Option<Timestamp>>;

    /// - A page of the schedule's ledger, newest `scheduled_for` first. Each row's status
    ///   follows its run: `pending` until the run starts, `started` (with `started_at`) while
    ///   it runs, then `finished` (completed) or `failed` (failed or cancelled) with
    ///   `finished_at` and the run's error summary. Unknown schedule `NotFound`.
    async fn schedule_history(
        &self,
        schedule_id: i64,
        page: PageRequest,
    ) -> Result<Page<ScheduledRun>>;
}

/// What a backend reports about itself (`cyberbrain doctor`, `/api/health`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackendInfo {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Server or library version.
    pub version: String,
    /// Where the data lives, with any password removed.
    pub location: String,
    /// Applied schema migrations.
    pub schema_version: i64,
    /// Notes an operator should see (a missing extension and its fix, …).
    pub notes: Vec<String>,
}

/// Schema and liveness.
#[async_trait]
pub trait StoreAdmin: Send + Sync {
    /// - Applies pending migrations (schema and seed data); running it twice changes nothing.
    async fn migrate(&self) -> Result<()>;

    /// - Succeeds when the database answers a trivial query.
    async fn ping(&self) -> Result<()>;

    /// - Backend name, version, location and schema version.
    async fn info(&self) -> Result<BackendInfo>;
}

/// The knowledge base (SPEC §2.7, §3.6). Vectors are compared by cosine similarity; the backend
/// keeps its approximate index (pgvector HNSW, hnsw_rs) in step with every write here.
#[async_trait]
pub trait RagStore: Send + Sync {
    /// - Inserts a `queued` upload with `attempts = 0`, `chunks_done = 0`, no total;
    ///   `created = true`.
    /// - The same `sha256` again returns the existing upload with `created = false` and writes
    ///   nothing, except that a `failed` one is re-queued (as `retry_upload`): uploading the same
    ///   bytes again retries it.
    async fn create_upload(&self, new: NewUpload) -> Result<UploadCreated>;

    /// - A page of uploads, newest first, optionally of one status, with the total count.
    async fn list_uploads(&self, query: UploadQuery) -> Result<Page<Upload>>;

    /// - The upload with this id, or `NotFound`.
    async fn get_upload(&self, id: i64) -> Result<Upload>;

    /// - Deletes the upload with its document, chunks, vectors and index entries (a later search
    ///   never returns them); returns what was deleted. Unknown id `NotFound`.
    /// - An ingestion still holding the lease then fails to complete (`NotFound`).
    async fn delete_upload(&self, id: i64) -> Result<Upload>;

    /// - A `failed` upload goes back to `queued`: attempts 0, error, lease and progress cleared.
    /// - Any other status is `Conflict`; unknown id `NotFound`.
    async fn retry_upload(&self, id: i64) -> Result<Upload>;

    /// - The oldest `queued` upload, or the oldest `processing` one whose lease ended before
    ///   `now`, becomes `processing`, leased to `owner` until `now + lease`, `attempts + 1`,
    ///   progress reset. `None` when nothing is claimable.
    /// - An expired one that already had `max_attempts` attempts is failed instead ("ingestion
    ///   interrupted … (lease expired)") and the next candidate is considered.
    /// - Concurrent claimers never receive the same upload.
    async fn claim_upload(&self, claim: ClaimUpload) -> Result<Option<Upload>>;

    /// - While `owner` holds the lease of a `processing` upload: stores the progress, extends the
    ///   lease, `Held`. Otherwise (expired and reclaimed, deleted, finished) `Lost`, nothing
    ///   written.
    async fn report_upload_progress(&self, progress: UploadProgress) -> Result<LeaseState>;

    /// - In one transaction: the document, its chunks (`chunk_index` 0, 1, …), one vector per
    ///   chunk under `model_id`; the upload becomes `ready` with `processed_at`, the lease
    ///   cleared and `chunks_done = chunks_total = chunks.len()`.
    /// - Not held by `owner` (or not `processing`) is `Conflict` and nothing is written; an
    ///   unknown (or deleted) upload is `NotFound`. A vector of the wrong dimension is `InvalidInput`.
    async fn complete_upload(&self, ingested: IngestedDocument) -> Result<Document>;

    /// - While `owner` holds it: `failed`, the message cut to 1000 characters, lease cleared,
    ///   `processed_at = now`. Otherwise `Conflict`; unknown id `NotFound`.
    async fn fail_upload(&self, fail: FailUpload) -> Result<Upload>;

    /// - A page of documents ordered by id with their chunk counts, with the total count.
    async fn list_documents(&self, page: PageRequest) -> Result<Page<DocumentInfo>>;

    /// - The `top_k` chunks nearest to `vector` among the vectors of `model_id`, restricted by
    ///   the filters (all must hold), scored by cosine similarity, sorted by score descending then
    ///   chunk id. Filters never make it return fewer than `top_k` hits when that many match.
    /// - No vectors (or none of the model) is an empty list, not an error.
    async fn search_chunks(&self, search: ChunkSearch) -> Result<Vec<ChunkHit>>;

    /// - Inserts a retrieval event; an unknown `run_id` is `NotFound`.
    async fn record_retrieval(&self, event: NewRetrievalEvent) -> Result<RetrievalEvent>;

    /// - Retrieval events ordered by id, of one run when given, with the total count.
    async fn list_retrievals(
        &self,
        run_id: Option<i64>,
        page: PageRequest,
    ) -> Result<Page<RetrievalEvent>>;
}

/// Everything a backend provides. Implemented automatically for any type implementing every
/// sub-trait, so engines hold one `Arc<dyn Store>`.
pub trait Store:
    DirectiveStore
    + TaskStore
    + AllowlistStore
    + RunStore
    + ArtifactStore
    + AccountingStore
    + ScheduleStore
    + RagStore
    + StoreAdmin
{
}

impl<T> Store for T where
    T: DirectiveStore
        + TaskStore
        + AllowlistStore
        + RunStore
        + ArtifactStore
        + AccountingStore
        + ScheduleStore
        + RagStore
        + StoreAdmin
{
}
