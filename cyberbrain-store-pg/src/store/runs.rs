//! `RunStore` (SPEC §2.3, §3.1): runs and their jobs. Reads and launches live here; claiming
//! and leases in [`super::claims`], and everything that ends jobs or runs (finish, reap,
//! cancel, approve, deny and the roll-up) in [`super::lifecycle`].

use async_trait::async_trait;
use cyberbrain_core::domain::{
    ClaimJobs, FinishJob, JobFinished, LeaseState, NewRun, Page, ReapLeases, RenewLease, Run,
    RunJob, RunQuery, Timestamp,
};
use cyberbrain_core::store::RunStore;
use cyberbrain_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, Row};

use super::{PageSql, PgStore, claims, decode_all, json, lifecycle, page_where, wire};
use crate::error::PgContext;

macro_rules! run_columns {
    () => {
        "id, status, directive_snapshot, snapshot_sha256, use_rag, task3_scope, \"trigger\", \
         schedule_id, approval_status, approved_by, approved_at, approved_snapshot_sha256, \
         cancel_requested_at, created_at, started_at, ended_at, prompt_tokens, \
         completion_tokens, total_tokens, error_summary, report_summary"
    };
}
pub(crate) use run_columns;

macro_rules! job_columns {
    () => {
        "id, run_id, task_key, status, attempts, lease_owner, lease_until, started_at, ended_at, \
         result, error_summary, prompt_tokens, completion_tokens, total_tokens"
    };
}
pub(crate) use job_columns;

pub(crate) fn run_from_row(row: &PgRow) -> Result<Run, sqlx::Error> {
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
        approved_snapshot_sha256: row.try_get("approved_snapshot_sha256")?,
        cancel_requested_at: row.try_get("cancel_requested_at")?,
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

pub(crate) fn job_from_row(row: &PgRow) -> Result<RunJob, sqlx::Error> {
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

/// One run row (from `RETURNING` or `SELECT`), decoded; an absent row is `NotFound`.
pub(crate) fn one_run(row: Option<PgRow>, id: i64, what: &str) -> Result<Run> {
    row.map(|row| run_from_row(&row))
        .transpose()
        .context(what)?
        .ok_or_else(|| Error::not_found("run", id))
}

/// One job row, decoded; an absent row is `NotFound`.
pub(crate) fn one_job(row: Option<PgRow>, id: i64, what: &str) -> Result<RunJob> {
    row.map(|row| job_from_row(&row))
        .transpose()
        .context(what)?
        .ok_or_else(|| Error::not_found("run job", id))
}

/// Writes `new` and its jobs inside the caller's transaction: every launch (manual, scheduled,
/// run-now) goes through here. A schedule it names must exist (`NotFound` otherwise); the
/// `FOR KEY SHARE` lock keeps it from being deleted before the commit, and does not wait for a
/// scheduler firing it (`FOR NO KEY UPDATE`).
pub(crate) async fn insert_run(conn: &mut PgConnection, new: &NewRun, what: &str) -> Result<Run> {
    if let Some(schedule_id) = new.schedule_id {
        let found = sqlx::query("SELECT 1 FROM schedules WHERE id = $1 FOR KEY SHARE")
            .bind(schedule_id)
            .fetch_optional(&mut *conn)
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
    .fetch_one(&mut *conn)
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
    .execute(&mut *conn)
    .await
    .context("creating run jobs")?;
    Ok(run)
}

async fn run_exists(conn: &mut PgConnection, id: i64, what: &str) -> Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM runs WHERE id = $1)")
        .bind(id)
        .fetch_one(conn)
        .await
        .context(what)
}

macro_rules! runs_filter {
    () => {
        "WHERE ($1::text IS NULL OR status = $1) \
           AND ($2::text IS NULL \
                OR EXISTS (SELECT 1 FROM run_jobs j WHERE j.run_id = runs.id AND j.task_key = $2)) \
           AND ($3::text IS NULL OR approval_status = $3)"
    };
}

/// Runs matching every filter given (`$1` status, `$2` a job's task key, `$3` approval state),
/// newest first.
const LIST_RUNS: PageSql = PageSql {
    count: concat!("SELECT COUNT(*) FROM runs ", runs_filter!()),
    page: concat!(
        "SELECT ",
        run_columns!(),
        " FROM runs ",
        runs_filter!(),
        " ORDER BY id DESC LIMIT $4 OFFSET $5"
    ),
};

#[async_trait]
impl RunStore for PgStore {
    async fn create_run(&self, new: NewRun) -> Result<Run> {
        let what = "creating a run";
        let mut tx = self.begin(what).await?;
        let run = insert_run(&mut tx, &new, what).await?;
        tx.commit().await.context(what)?;
        Ok(run)
    }

    async fn get_run(&self, id: i64) -> Result<Run> {
        let what = format!("loading run {id}");
        let row = sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .context(&what)?;
        one_run(row, id, &what)
    }

    async fn list_runs(&self, query: RunQuery) -> Result<Page<Run>> {
        let status = query.status.map(|s| s.as_str());
        let approval = query.approval_status.map(|s| s.as_str());
        let task_key = query.task_key;
        page_where(
            self,
            "listing runs",
            &LIST_RUNS,
            query.page,
            move |q| q.bind(status).bind(task_key.clone()).bind(approval),
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
        decode_all(&rows, &what, job_from_row)
    }

    async fn get_run_job(&self, id: i64) -> Result<RunJob> {
        let what = format!("loading run job {id}");
        let row = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM run_jobs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .context(&what)?;
        one_job(row, id, &what)
    }

    async fn claim_jobs(&self, claim: ClaimJobs) -> Result<Vec<RunJob>> {
        claims::claim(self, claim).await
    }

    async fn renew_lease(&self, renew: RenewLease) -> Result<LeaseState> {
        claims::renew(self, renew).await
    }

    async fn finish_job(&self, finish: FinishJob) -> Result<JobFinished> {
        lifecycle::finish(self, finish).await
    }

    async fn reap_expired_leases(&self, reap: ReapLeases) -> Result<Vec<Run>> {
        lifecycle::reap(self, reap).await
    }

    async fn cancel_run(&self, id: i64, now: Timestamp) -> Result<Run> {
        lifecycle::cancel(self, id, now).await
    }

    async fn approve_run(&self, id: i64, approver: &str, now: Timestamp) -> Result<Run> {
        lifecycle::approve(self, id, approver, now).await
    }

    async fn deny_run(&self, id: i64, approver: &str, now: Timestamp) -> Result<Run> {
        lifecycle::deny(self, id, approver, now).await
    }

    async fn set_run_report(&self, run_id: i64, report_summary: serde_json::Value) -> Result<Run> {
        let what = format!("storing the report summary of run {run_id}");
        let row = sqlx::query(concat!(
            "UPDATE runs SET report_summary = $2 WHERE id = $1 RETURNING ",
            run_columns!()
        ))
        .bind(run_id)
        .bind(Json(&report_summary))
        .fetch_optional(self.pool())
        .await
        .context(&what)?;
        one_run(row, run_id, &what)
    }

    async fn last_success(&self, task_key: &str) -> Result<Option<RunJob>> {
        let what = format!("loading the last success of task {task_key:?}");
        sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM run_jobs WHERE task_key = $1 AND status = 'completed' \
             ORDER BY ended_at DESC, id DESC LIMIT 1"
        ))
        .bind(task_key)
        .fetch_optional(self.pool())
        .await
        .context(&what)?
        .map(|row| job_from_row(&row))
        .transpose()
        .context(&what)
    }
}
