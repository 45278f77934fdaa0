//! `RunStore` (SPEC §2.3, §3.1): runs, their jobs, and job claiming.

use std::collections::BTreeSet;

use async_trait::async_trait;
use cyberbrain_core::domain::{
    ApprovalStatus, ClaimJobs, DirectiveSnapshot, JobStatus, NewRun, Page, PageRequest, Run,
    RunJob, RunStatus, Task3Scope, Trigger,
};
use cyberbrain_core::store::RunStore;
use cyberbrain_core::{Error, Result};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use super::{SqliteStore, exists, page_of};
use crate::codec::{Json, Time, Wire};
use crate::error::SqlContext;

const RUN_COLUMNS: &str = "id, status, directive_snapshot, snapshot_sha256, use_rag, task3_scope, \
     \"trigger\", schedule_id, approval_status, approved_by, approved_at, created_at, started_at, \
     ended_at, prompt_tokens, completion_tokens, total_tokens, error_summary, report_summary";

const JOB_COLUMNS: &str = "id, run_id, task_key, status, attempts, lease_owner, lease_until, \
     started_at, ended_at, result, error_summary, prompt_tokens, completion_tokens, total_tokens";

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

fn job_from_row(row: &Row<'_>) -> rusqlite::Result<RunJob> {
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

fn load_run(conn: &Connection, id: i64) -> Result<Run> {
    conn.prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id], run_from_row).optional())
        .context(&format!("loading run {id}"))?
        .ok_or_else(|| Error::not_found("run", id))
}

fn jobs_of(conn: &Connection, run_id: i64) -> Result<Vec<RunJob>> {
    conn.prepare_cached(&format!(
        "SELECT {JOB_COLUMNS} FROM run_jobs WHERE run_id = ?1 ORDER BY id"
    ))
    .and_then(|mut s| s.query_map([run_id], job_from_row)?.collect())
    .context(&format!("listing jobs of run {run_id}"))
}

/// Picks runnable pending jobs and leases them in one statement. Runnable: the run is not
/// waiting for (or refused) approval and has not ended or been cancelled.
const CLAIM: &str = "UPDATE run_jobs SET status = 'running', lease_owner = ?1, lease_until = ?2, \
     attempts = attempts + 1, started_at = ?3 \
     WHERE id IN (SELECT j.id FROM run_jobs j JOIN runs r ON r.id = j.run_id \
                  WHERE j.status = 'pending' \
                    AND r.approval_status IN ('none', 'approved') \
                    AND r.status IN ('pending', 'running') \
                  ORDER BY j.id LIMIT ?4) \
     RETURNING ";

#[async_trait]
impl RunStore for SqliteStore {
    async fn create_run(&self, new: NewRun) -> Result<Run> {
        self.write(move |conn| {
            if let Some(schedule_id) = new.schedule_id
                && !exists(conn, "schedules", schedule_id)?
            {
                return Err(Error::not_found("schedule", schedule_id));
            }
            // The canonical JSON is what the hash covers, so the stored text is exactly it.
            let snapshot = new.directive_snapshot.canonical_json();
            conn.execute(
                "INSERT INTO runs (status, directive_snapshot, snapshot_sha256, use_rag, \
                 task3_scope, \"trigger\", schedule_id, approval_status, created_at) \
                 VALUES ('pending', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    snapshot,
                    new.directive_snapshot.sha256(),
                    new.use_rag,
                    Wire(new.task3_scope),
                    Wire(new.trigger),
                    new.schedule_id,
                    Wire(new.approval_status),
                    Time(new.created_at),
                ],
            )
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
        })
        .await
    }

    async fn get_run(&self, id: i64) -> Result<Run> {
        self.read(move |conn| load_run(conn, id)).await
    }

    async fn list_runs(&self, page: PageRequest) -> Result<Page<Run>> {
        self.read(move |conn| page_of(conn, "runs", RUN_COLUMNS, page, run_from_row))
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

    async fn claim_jobs(&self, claim: ClaimJobs) -> Result<Vec<RunJob>> {
        if claim.limit == 0 {
            return Ok(Vec::new());
        }
        // One IMMEDIATE transaction: the write lock is held from the selection to the commit,
        // so concurrent claimers (tasks or processes) see each other's leases.
        self.write(move |conn| {
            let what = format!("claiming jobs for {:?}", claim.owner);
            let mut jobs = conn
                .prepare_cached(&format!("{CLAIM}{JOB_COLUMNS}"))
                .and_then(|mut s| {
                    s.query_map(
                        params![
                            claim.owner,
                            Time(claim.lease_until),
                            Time(claim.now),
                            i64::from(claim.limit)
                        ],
                        job_from_row,
                    )?
                    .collect::<rusqlite::Result<Vec<RunJob>>>()
                })
                .context(&what)?;
            jobs.sort_by_key(|job| job.id);
            let runs: BTreeSet<i64> = jobs.iter().map(|job| job.run_id).collect();
            let mut start_run = conn
                .prepare_cached(
                    "UPDATE runs SET status = 'running', started_at = COALESCE(started_at, ?2) \
                     WHERE id = ?1 AND status = 'pending'",
                )
                .context(&what)?;
            for run_id in runs {
                start_run
                    .execute(params![run_id, Time(claim.now)])
                    .context(&what)?;
            }
            Ok(jobs)
        })
        .await
    }
}
