//! `RunStore` (SPEC §2.3, §3.1): runs, their jobs, and job claiming.

use std::collections::BTreeSet;

use async_trait::async_trait;
use cyberbrain_core::domain::{ClaimJobs, NewRun, Page, PageRequest, Run, RunJob};
use cyberbrain_core::store::RunStore;
use cyberbrain_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::{PgStore, json, page_of, page_sql, wire};
use crate::error::PgContext;

macro_rules! run_columns {
    () => {
        "id, status, directive_snapshot, snapshot_sha256, use_rag, task3_scope, \"trigger\", \
         schedule_id, approval_status, approved_by, approved_at, created_at, started_at, \
         ended_at, prompt_tokens, completion_tokens, total_tokens, error_summary, report_summary"
    };
}

macro_rules! job_columns {
    () => {
        "id, run_id, task_key, status, attempts, lease_owner, lease_until, started_at, ended_at, \
         result, error_summary, prompt_tokens, completion_tokens, total_tokens"
    };
}

fn run_from_row(row: &PgRow) -> Result<Run, sqlx::Error> {
    Ok(Run {
        id: row.try_get("id")?,
        status: wire(row, "status")?,
        // A JSON (not JSONB) column: the stored text is exactly the canonical JSON hashed.
        directive_snapshot: json(row, "directive_snapshot")?,
        snapshot_sha256: row.try_get("snapshot_sha256")?,
        use_rag: row.try_get("use_rag")?,
        task3_scope: wire(row, "task3_scope")?,
        trigger: wire(row, "trigger")?,
        schedule_id: row.try_get("schedule_id")?,
        approval_status: wire(row, "approval_status")?,
        approved_by: row.try_get("approved_by")?,
        approved_at: row.try_get("approved_at")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        prompt_tokens: row.try_get("prompt_tokens")?,
        completion_tokens: row.try_get("completion_tokens")?,
        total_tokens: row.try_get("total_tokens")?,
        error_summary: row.try_get("error_summary")?,
        report_summary: json(row, "report_summary")?,
    })
}

fn job_from_row(row: &PgRow) -> Result<RunJob, sqlx::Error> {
    Ok(RunJob {
        id: row.try_get("id")?,
        run_id: row.try_get("run_id")?,
        task_key: row.try_get("task_key")?,
        status: wire(row, "status")?,
        attempts: row.try_get("attempts")?,
        lease_owner: row.try_get("lease_owner")?,
        lease_until: row.try_get("lease_until")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        result: json(row, "result")?,
        error_summary: row.try_get("error_summary")?,
        prompt_tokens: row.try_get("prompt_tokens")?,
        completion_tokens: row.try_get("completion_tokens")?,
        total_tokens: row.try_get("total_tokens")?,
    })
}

fn jobs(rows: &[PgRow], what: &str) -> Result<Vec<RunJob>> {
    rows.iter()
        .map(job_from_row)
        .collect::<Result<Vec<_>, _>>()
        .context(what)
}

async fn run_exists(conn: &mut PgConnection, id: i64, what: &str) -> Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM runs WHERE id = $1)")
        .bind(id)
        .fetch_one(conn)
        .await
        .context(what)
}

/// Picks runnable pending jobs in id order and leases them in one statement. Runnable: the run
/// is not waiting for (or refused) approval and has not ended or been cancelled.
/// `FOR UPDATE OF j SKIP LOCKED` makes concurrent claimers — any number of pools and processes
/// — pass over each other's rows instead of waiting for them or taking them twice: a row locked
/// by another claimer is skipped, and a row that claimer has already committed no longer matches
/// `status = 'pending'` when it is re-checked.
const CLAIM: &str = concat!(
    "WITH picked AS (\
       SELECT j.id FROM run_jobs j JOIN runs r ON r.id = j.run_id \
       WHERE j.status = 'pending' \
         AND r.approval_status IN ('none', 'approved') \
         AND r.status IN ('pending', 'running') \
       ORDER BY j.id LIMIT $4 \
       FOR UPDATE OF j SKIP LOCKED) \
     UPDATE run_jobs SET status = 'running', lease_owner = $1, lease_until = $2, \
       attempts = attempts + 1, started_at = $3 \
     FROM picked WHERE run_jobs.id = picked.id \
     RETURNING ",
    "run_jobs.id, run_jobs.run_id, run_jobs.task_key, run_jobs.status, run_jobs.attempts, \
     run_jobs.lease_owner, run_jobs.lease_until, run_jobs.started_at, run_jobs.ended_at, \
     run_jobs.result, run_jobs.error_summary, run_jobs.prompt_tokens, \
     run_jobs.completion_tokens, run_jobs.total_tokens"
);

/// Marks the runs of claimed jobs running (once: `started_at` keeps the first claim's time).
/// Rows are locked in id order, so claimers touching overlapping runs cannot deadlock.
const START_RUNS: &str = "UPDATE runs SET status = 'running', started_at = COALESCE(started_at, $2) \
     FROM (SELECT id FROM runs WHERE id = ANY($1) AND status = 'pending' ORDER BY id FOR UPDATE) \
       AS locked \
     WHERE runs.id = locked.id";

#[async_trait]
impl RunStore for PgStore {
    async fn create_run(&self, new: NewRun) -> Result<Run> {
        let what = "creating a run";
        let mut tx = self.begin(what).await?;
        if let Some(schedule_id) = new.schedule_id {
            let found = sqlx::query("SELECT 1 FROM schedules WHERE id = $1 FOR KEY SHARE")
                .bind(schedule_id)
                .fetch_optional(&mut *tx)
                .await
                .context(what)?;
            if found.is_none() {
                return Err(Error::not_found("schedule", schedule_id));
            }
        }
        // The canonical JSON is what the hash covers; the JSON column keeps exactly that text.
        let row = sqlx::query(concat!(
            "INSERT INTO runs (status, directive_snapshot, snapshot_sha256, use_rag, task3_scope, \
             \"trigger\", schedule_id, approval_status, created_at) \
             VALUES ('pending', $1::text::json, $2, $3, $4, $5, $6, $7, $8) RETURNING ",
            run_columns!()
        ))
        .bind(new.directive_snapshot.canonical_json())
        .bind(new.directive_snapshot.sha256())
        .bind(new.use_rag)
        .bind(new.task3_scope.as_str())
        .bind(new.trigger.as_str())
        .bind(new.schedule_id)
        .bind(new.approval_status.as_str())
        .bind(new.created_at)
        .fetch_one(&mut *tx)
        .await
        .context(what)?;
        let run = run_from_row(&row).context(what)?;
        // One row per key, inserted in the keys' order so job ids follow it.
        sqlx::query(
            "INSERT INTO run_jobs (run_id, task_key) \
             SELECT $1, key FROM unnest($2::text[]) WITH ORDINALITY AS keys (key, n) ORDER BY n",
        )
        .bind(run.id)
        .bind(&new.task_keys)
        .execute(&mut *tx)
        .await
        .context("creating run jobs")?;
        tx.commit().await.context(what)?;
        Ok(run)
    }

    async fn get_run(&self, id: i64) -> Result<Run> {
        let what = format!("loading run {id}");
        sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .context(&what)?
        .map(|row| run_from_row(&row))
        .transpose()
        .context(&what)?
        .ok_or_else(|| Error::not_found("run", id))
    }

    async fn list_runs(&self, page: PageRequest) -> Result<Page<Run>> {
        page_of(
            self,
            "listing runs",
            &page_sql!("runs", run_columns!()),
            page,
            run_from_row,
        )
        .await
    }

    async fn list_run_jobs(&self, run_id: i64) -> Result<Vec<RunJob>> {
        let what = format!("listing jobs of run {run_id}");
        let mut tx = self.snapshot(&what).await?;
        if !run_exists(&mut tx, run_id, &what).await? {
            return Err(Error::not_found("run", run_id));
        }
        let rows = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM run_jobs WHERE run_id = $1 ORDER BY id"
        ))
        .bind(run_id)
        .fetch_all(&mut *tx)
        .await
        .context(&what)?;
        tx.commit().await.context(&what)?;
        jobs(&rows, &what)
    }

    async fn claim_jobs(&self, claim: ClaimJobs) -> Result<Vec<RunJob>> {
        if claim.limit == 0 {
            return Ok(Vec::new());
        }
        let what = format!("claiming jobs for {:?}", claim.owner);
        // The selection, the lease and the runs' state change commit together.
        let mut tx = self.begin(&what).await?;
        let rows = sqlx::query(CLAIM)
            .bind(&claim.owner)
            .bind(claim.lease_until)
            .bind(claim.now)
            .bind(i64::from(claim.limit))
            .fetch_all(&mut *tx)
            .await
            .context(&what)?;
        let mut claimed = jobs(&rows, &what)?;
        claimed.sort_by_key(|job| job.id);
        let runs: Vec<i64> = claimed
            .iter()
            .map(|job| job.run_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !runs.is_empty() {
            sqlx::query(START_RUNS)
                .bind(&runs)
                .bind(claim.now)
                .execute(&mut *tx)
                .await
                .context(&what)?;
        }
        tx.commit().await.context(&what)?;
        Ok(claimed)
    }
}
