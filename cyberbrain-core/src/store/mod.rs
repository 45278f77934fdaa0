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
    AllowlistEntry, AllowlistPatch, ClaimJobs, Directive, DirectivePatch, NewAllowlistEntry,
    NewDirective, NewRun, NewTaskDefinition, Page, PageRequest, Run, RunJob, TaskDefinition,
    TaskDefinitionPatch,
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

/// Runs and their jobs (SPEC §2.3, §3.1).
#[async_trait]
pub trait RunStore: Send + Sync {
    /// - Writes the run (status `pending`, snapshot and its SHA-256) and one pending job per task
    ///   key, in one transaction. Returns the run.
    async fn create_run(&self, new: NewRun) -> Result<Run>;

    /// - The run with this id, or `NotFound`.
    async fn get_run(&self, id: i64) -> Result<Run>;

    /// - A page of runs ordered by id, with the total count.
    async fn list_runs(&self, page: PageRequest) -> Result<Page<Run>>;

    /// - The jobs of a run ordered by id; unknown run `NotFound`.
    async fn list_run_jobs(&self, run_id: i64) -> Result<Vec<RunJob>>;

    /// - Leases up to `limit` runnable jobs (see [`ClaimJobs`]) in id order, atomically: any
    ///   number of concurrent claimers, in any number of processes, never get the same job.
    async fn claim_jobs(&self, claim: ClaimJobs) -> Result<Vec<RunJob>>;
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

/// Everything a backend provides. Implemented automatically for any type implementing every
/// sub-trait, so engines hold one `Arc<dyn Store>`.
pub trait Store: DirectiveStore + TaskStore + AllowlistStore + RunStore + StoreAdmin {}

impl<T> Store for T where T: DirectiveStore + TaskStore + AllowlistStore + RunStore + StoreAdmin {}
