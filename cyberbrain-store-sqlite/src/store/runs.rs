//! `RunStore` (SPEC §2.3, §3.1): runs and their jobs. Reading and launching live here; claiming
//! in [`claim`], and everything that moves a job or run through its lifecycle (leases, finish,
//! reap, cancel, approvals, roll-up) in [`lifecycle`].

mod claim;
mod lifecycle;

use async_trait::async_trait;
use cyberbrain_core::domain::{
    ApprovalStatus, ClaimJobs, DirectiveSnapshot, FinishJob, JobFinished, JobStatus, LeaseState,
    NewRun, Page, ReapLeases, RenewLease, Run, RunJob, RunQuery, RunStatus, Task3Scope, Timestamp,
    Trigger,
};
use cyberbrain_core::store::RunStore;
use cyberbrain_core::{Error, Result};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use super::{Listing, SqliteStore, exists, page_matching};
use crate::codec::{Json, Time, Wire};
use crate::error::SqlContext;

pub(crate) const RUN_COLUMNS: &str = "id, status, directive_snapshot, snapshot_sha256, use_rag, \
     task3_scope, \"trigger\", schedule_id, approval_status, approved_by, approved_at, \
     approved_snapshot_sha256, cancel_requested_at, created_at, started_at, ended_at, \
     prompt_tokens, completion_tokens, total_tokens, error_summary, report_summary";

pub(crate) const JOB_COLUMNS: &str = "id, run_id, task_key, status, attempts, lease_owner, \
     lease_until, started_at, ended_at, result, error_summary, prompt_tokens, completion_tokens, \
     total_tokens";

fn run_from_row(row: &Row<'_>) -> rusqlite::Result<Run> {
    Ok(Run {
        id: row.get("id")?,
        status: row.get::<_, Wire<RunStatus>>("status")?.0,
        directive_snapshot: row
            .get::<_, Json<DirectiveSnapshot>>("directive_snapshot")?
            .0,
        snapshot_sha256: row.get("snapshot_sha256")?,
        use_rag: row.get("use_rag")?,
        task3_scope: row.get::<_, Wire<Task3Scope>>("task3_scope")?.0,
        trigger: row.get::<_, Wire<Trigger>>("trigger")?.0,
        schedule_id: row.get("schedule_id")?,
        approval_status: row.get::<_, Wire<ApprovalStatus>>("approval_status")?.0,
        approved_by: row.get("approved_by")?,
        approved_at: row.get::<_, Option<Time>>("approved_at")?.map(|t| t.0),
        approved_snapshot_sha256: row.get("approved_snapshot_sha256")?,
        cancel_requested_at: row
            .get::<_, Option<Time>>("cancel_requested_at")?
            .map(|t| t.0),
        created_at: row.get::<_, Time>("created_at")?.0,
        started_at: row.get::<_, Option<Time>>("started_at")?.map(|t| t.0),
        ended_at: row.get::<_, Option<Time>>("ended_at")?.map(|t| t.0),
        prompt_tokens: row.get("prompt_tokens")?,
        completion_tokens: row.get("completion_tokens")?,
        total_tokens: row.get("total_tokens")?,
        error_summary: row.get("error_summary")?,
        report_summary: row.get::<_, Json<Value>>("report_summary")?.0,
    })
}

pub(crate) fn job_from_row(row: &Row<'_>) -> rusqlite::Result<RunJob> {
    Ok(RunJob {
        id: row.get("id")?,
        run_id: row.get("run_id")?,
        task_key: row.get("task_key")?,
        status: row.get::<_, Wire<JobStatus>>("status")?.0,
        attempts: row.get("attempts")?,
        lease_owner: row.get("lease_owner")?,
        lease_until: row.get::<_, Option<Time>>("lease_until")?.map(|t| t.0),
        started_at: row.get::<_, Option<Time>>("started_at")?.map(|t| t.0),
        ended_at: row.get::<_, Option<Time>>("ended_at")?.map(|t| t.0),
        result: row.get::<_, Json<Value>>("result")?.0,
        error_summary: row.get("error_summary")?,
        prompt_tokens: row.get("prompt_tokens")?,
        completion_tokens: row.get("completion_tokens")?,
        total_tokens: row.get("total_tokens")?,
    })
}

pub(crate) fn load_run(conn: &Connection, id: i64) -> Result<Run> {
    conn.prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id], run_from_row).optional())
        .context(&format!("loading run {id}"))?
        .ok_or_else(|| Error::not_found("run", id))
}

pub(crate) fn load_job(conn: &Connection, id: i64) -> Result<RunJob> {
    find_job(conn, id)?.ok_or_else(|| Error::not_found("run job", id))
}

pub(crate) fn find_job(conn: &Connection, id: i64) -> Result<Option<RunJob>> {
    conn.prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM run_jobs WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id], job_from_row).optional())
        .context(&format!("loading run job {id}"))
}

fn jobs_of(conn: &Connection, run_id: i64) -> Result<Vec<RunJob>> {
    conn.prepare_cached(&format!(
        "SELECT {JOB_COLUMNS} FROM run_jobs WHERE run_id = ?1 ORDER BY id"
    ))
    .and_then(|mut s| s.query_map([run_id], job_from_row)?.collect())
    .context(&format!("listing jobs of run {run_id}"))
}

/// Writes a run and one pending job per task key (the caller checked `schedule_id`).
pub(crate) fn insert_run(conn: &Connection, new: &NewRun) -> Result<Run> {
    // The canonical JSON is what the hash covers, so the stored text is exactly it.
    let snapshot = new.directive_snapshot.canonical_json();
    conn.prepare_cached(
        "INSERT INTO runs (status, directive_snapshot, snapshot_sha256, use_rag, task3_scope, \
         \"trigger\", schedule_id, approval_status, created_at) \
         VALUES ('pending', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut s| {
        s.execute(params![
            snapshot,
            new.directive_snapshot.sha256(),
            new.use_rag,
            Wire(new.task3_scope),
            Wire(new.trigger),
            new.schedule_id,
            Wire(new.approval_status),
            Time(new.created_at),
        ])
    })
    .context("creating a run")?;
    let run_id = conn.last_insert_rowid();
    let mut insert_job = conn
        .prepare_cached("INSERT INTO run_jobs (run_id, task_key) VALUES (?1, ?2)")
        .context("creating run jobs")?;
    for task_key in &new.task_keys {
        insert_job
            .execute(params![run_id, task_key])
            .context("creating run jobs")?;
    }
    load_run(conn, run_id)
}

/// Runs matching every filter given (`?1` status, `?2` task key, `?3` approval state; NULL
/// means any).
const RUN_FILTER: &str = "(?1 IS NULL OR status = ?1) \
     AND (?2 IS NULL OR EXISTS (SELECT 1 FROM run_jobs j WHERE j.run_id = runs.id \
                                AND j.task_key = ?2)) \
     AND (?3 IS NULL OR approval_status = ?3)";

#[async_trait]
impl RunStore for SqliteStore {
    async fn create_run(&self, new: NewRun) -> Result<Run> {
        self.write(move |conn| {
            if let Some(schedule_id) = new.schedule_id
                && !exists(conn, "schedules", schedule_id)?
            {
                return Err(Error::not_found("schedule", schedule_id));
            }
            insert_run(conn, &new)
        })
        .await
    }

    async fn get_run(&self, id: i64) -> Result<Run> {
        self.read(move |conn| load_run(conn, id)).await
    }

    async fn list_runs(&self, query: RunQuery) -> Result<Page<Run>> {
        self.read(move |conn| {
            let status = query.status.map(Wire);
            let approval = query.approval_status.map(Wire);
            page_matching(
                conn,
                Listing {
                    table: "runs",
                    columns: RUN_COLUMNS,
                    filter: RUN_FILTER,
                    order: "id DESC",
                },
                &[&status, &query.task_key, &approval],
                query.page,
                run_from_row,
            )
        })
        .await
    }

    async fn list_run_jobs(&self, run_id: i64) -> Result<Vec<RunJob>> {
        self.read(move |conn| {
            if !exists(conn, "runs", run_id)? {
                return Err(Error::not_found("run", run_id));
            }
            jobs_of(conn, run_id)
        })
        .await
    }

    async fn get_run_job(&self, id: i64) -> Result<RunJob> {
        self.read(move |conn| load_job(conn, id)).await
    }

    async fn claim_jobs(&self, claim: ClaimJobs) -> Result<Vec<RunJob>> {
        if claim.limit == 0 {
            return Ok(Vec::new());
        }
        // One IMMEDIATE transaction: the write lock is held from counting what runs to the
        // commit, so concurrent claimers (tasks or processes) see each other's leases and the
        // limits hold together.
        self.write(move |conn| claim::claim_jobs(conn, &claim))
            .await
    }

    async fn renew_lease(&self, renew: RenewLease) -> Result<LeaseState> {
        self.write(move |conn| lifecycle::renew_lease(conn, &renew))
            .await
    }

    async fn finish_job(&self, finish: FinishJob) -> Result<JobFinished> {
        self.write(move |conn| lifecycle::finish_job(conn, finish))
            .await
    }

    async fn reap_expired_leases(&self, reap: ReapLeases) -> Result<Vec<Run>> {
        self.write(move |conn| lifecycle::reap_expired_leases(conn, &reap))
            .await
    }

    async fn cancel_run(&self, id: i64, now: Timestamp) -> Result<Run> {
        self.write(move |conn| lifecycle::cancel_run(conn, id, now))
            .await
    }

    async fn approve_run(&self, id: i64, approver: &str, now: Timestamp) -> Result<Run> {
        let approver = approver.to_string();
        self.write(move |conn| lifecycle::approve_run(conn, id, &approver, now))
            .await
    }

    async fn deny_run(&self, id: i64, approver: &str, now: Timestamp) -> Result<Run> {
        let approver = approver.to_string();
        self.write(move |conn| lifecycle::deny_run(conn, id, &approver, now))
            .await
    }

    async fn set_run_report(&self, run_id: i64, report_summary: Value) -> Result<Run> {
        self.write(move |conn| {
            let changed = conn
                .execute(
                    "UPDATE runs SET report_summary = ?2 WHERE id = ?1",
                    params![run_id, Json(&report_summary)],
                )
                .context(&format!("storing the report summary of run {run_id}"))?;
            if changed == 0 {
                return Err(Error::not_found("run", run_id));
            }
            load_run(conn, run_id)
        })
        .await
    }

    async fn last_success(&self, task_key: &str) -> Result<Option<RunJob>> {
        let task_key = task_key.to_string();
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM run_jobs \
                 WHERE task_key = ?1 AND status = 'completed' AND ended_at IS NOT NULL \
                 ORDER BY ended_at DESC, id DESC LIMIT 1"
            ))
            .and_then(|mut s| s.query_row([&task_key], job_from_row).optional())
            .context(&format!("finding the last success of task {task_key:?}"))
        })
        .await
    }
}
