//! Claiming jobs under the concurrency limits (SPEC §3.1), and renewing leases.
//!
//! A claim must check the limits and take the jobs in one atomic step across processes. Row
//! locks alone cannot do that (`SKIP LOCKED` keeps two claimers off the same job, but both would
//! count the same free slot), so every claim transaction first takes one transaction-scoped
//! advisory lock keyed on the store's schema: claimers in every process take turns, and each
//! counts what the previous one committed (the lock is released only after the commit is
//! visible). Nothing else needs the lock: finishing, reaping and cancelling only lower the
//! counts, so a count read while they commit is at worst too high, never too low.
//!
//! Lock order, shared with [`super::lifecycle`] so nothing deadlocks: the advisory lock (claims
//! only), then run rows in id order, then job rows.

use std::collections::{BTreeMap, BTreeSet};

use cyberbrain_core::Result;
use cyberbrain_core::domain::{ClaimJobs, LeaseState, RenewLease, RunJob};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::runs::{job_columns, job_from_row};
use super::{PgStore, decode_all};
use crate::error::PgContext;

/// How many candidate jobs one scan reads; a claim keeps scanning in id order until it has its
/// jobs or none is left.
const SCAN_BATCH: i64 = 256;

/// Serialises claimers of this schema (any process): `pg_advisory_xact_lock` on a key derived
/// from the schema, so stores in other schemas of the same database do not wait for each other.
const CLAIM_LOCK: &str =
    "SELECT pg_advisory_xact_lock(hashtextextended('cyberbrain.claim:' || current_schema(), 0))";

/// Pending jobs of runnable runs (approved or needing no approval, not ended, no cancel request)
/// after `$1` in id order, with what the limits need: whether the run already runs, and its
/// schedule's limits. `$2`: tasks already at the global per-task limit; `$3`: whether the
/// global run limit is reached, in which case only jobs of running runs (or of `$4`, runs this
/// claim starts) can be taken.
const CANDIDATES: &str = "SELECT j.id, j.run_id, j.task_key, r.status = 'running' AS run_running, \
       s.max_global, s.max_per_job \
     FROM run_jobs j \
     JOIN runs r ON r.id = j.run_id \
     LEFT JOIN schedules s ON s.id = r.schedule_id \
     WHERE j.status = 'pending' AND j.id > $1 \
       AND r.approval_status IN ('none', 'approved') \
       AND r.status IN ('pending', 'running') \
       AND r.cancel_requested_at IS NULL \
       AND NOT (j.task_key = ANY ($2)) \
       AND (NOT $3 OR r.status = 'running' OR r.id = ANY ($4)) \
     ORDER BY j.id LIMIT $5";

/// Locks the chosen jobs' runs in id order and keeps those still runnable: a cancel or deny may
/// have committed since the scan. Once these locks are held nothing else changes the runs'
/// jobs, so the next statement sees them as they are.
const LOCK_RUNS: &str = "SELECT id FROM runs \
     WHERE id = ANY ($1) \
       AND approval_status IN ('none', 'approved') \
       AND status IN ('pending', 'running') \
       AND cancel_requested_at IS NULL \
     ORDER BY id FOR NO KEY UPDATE";

const TAKE_JOBS: &str = concat!(
    "UPDATE run_jobs SET status = 'running', lease_owner = $3, lease_until = $4, \
       attempts = attempts + 1, started_at = $5 \
     WHERE id = ANY ($1) AND run_id = ANY ($2) AND status = 'pending' \
     RETURNING ",
    job_columns!()
);

/// Marks the runs of claimed jobs running (once: `started_at` keeps the first claim's time).
const START_RUNS: &str = "UPDATE runs SET status = 'running', started_at = COALESCE(started_at, $2) \
     WHERE id = ANY ($1) AND status = 'pending'";

/// One pending job a claim may take.
struct Candidate {
    id: i64,
    run_id: i64,
    task_key: String,
    run_running: bool,
    max_global: Option<i32>,
    max_per_job: Option<i32>,
}

fn candidate(row: &PgRow) -> Result<Candidate, sqlx::Error> {
    Ok(Candidate {
        id: row.try_get("id")?,
        run_id: row.try_get("run_id")?,
        task_key: row.try_get("task_key")?,
        run_running: row.try_get("run_running")?,
        max_global: row.try_get("max_global")?,
        max_per_job: row.try_get("max_per_job")?,
    })
}

/// What is running, as the claim sees it, and what it has chosen so far.
struct Budget {
    max_runs: i64,
    max_per_task: i64,
    running_runs: i64,
    running_per_task: BTreeMap<String, i64>,
    started_runs: BTreeSet<i64>,
    chosen: Vec<i64>,
    chosen_runs: BTreeSet<i64>,
}

impl Budget {
    /// Takes `job` when neither the global limits nor its schedule's stricter ones would be
    /// exceeded; returns whether it did.
    fn take(&mut self, job: &Candidate) -> bool {
        let starts_run = !job.run_running && !self.started_runs.contains(&job.run_id);
        let max_runs = stricter(self.max_runs, job.max_global);
        let max_task = stricter(self.max_per_task, job.max_per_job);
        let task_running = self.running_per_task.get(&job.task_key).copied();
        if (starts_run && self.running_runs >= max_runs) || task_running.unwrap_or(0) >= max_task {
            return false;
        }
        *self
            .running_per_task
            .entry(job.task_key.clone())
            .or_default() += 1;
        if starts_run {
            self.running_runs += 1;
            self.started_runs.insert(job.run_id);
        }
        self.chosen.push(job.id);
        self.chosen_runs.insert(job.run_id);
        true
    }

    /// Tasks at the global per-task limit: no job of theirs can be taken.
    fn full_tasks(&self) -> Vec<String> {
        self.running_per_task
            .iter()
            .filter(|(_, running)| **running >= self.max_per_task)
            .map(|(task, _)| task.clone())
            .collect()
    }
}

fn stricter(limit: i64, schedule_limit: Option<i32>) -> i64 {
    schedule_limit.map_or(limit, |l| limit.min(i64::from(l)))
}

pub(super) async fn claim(store: &PgStore, claim: ClaimJobs) -> Result<Vec<RunJob>> {
    if claim.limit == 0 {
        return Ok(Vec::new());
    }
    let what = format!("claiming jobs for {:?}", claim.owner);
    let mut tx = store.begin(&what).await?;
    sqlx::query(CLAIM_LOCK)
        .execute(&mut *tx)
        .await
        .context(&what)?;
    let mut budget = Budget {
        max_runs: i64::from(claim.max_running_runs),
        max_per_task: i64::from(claim.max_running_per_task),
        running_runs: sqlx::query_scalar("SELECT COUNT(*) FROM runs WHERE status = 'running'")
            .fetch_one(&mut *tx)
            .await
            .context(&what)?,
        running_per_task: sqlx::query_as(
            "SELECT task_key, COUNT(*) FROM run_jobs WHERE status = 'running' GROUP BY task_key",
        )
        .fetch_all(&mut *tx)
        .await
        .context(&what)?
        .into_iter()
        .collect(),
        started_runs: BTreeSet::new(),
        chosen: Vec::new(),
        chosen_runs: BTreeSet::new(),
    };
    choose(&mut tx, &mut budget, claim.limit as usize, &what).await?;
    if budget.chosen.is_empty() {
        tx.commit().await.context(&what)?;
        return Ok(Vec::new());
    }
    let runs: Vec<i64> = sqlx::query_scalar(LOCK_RUNS)
        .bind(budget.chosen_runs.iter().copied().collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await
        .context(&what)?;
    let rows = sqlx::query(TAKE_JOBS)
        .bind(&budget.chosen)
        .bind(&runs)
        .bind(&claim.owner)
        .bind(claim.lease_until)
        .bind(claim.now)
        .fetch_all(&mut *tx)
        .await
        .context(&what)?;
    let mut claimed = decode_all(&rows, &what, job_from_row)?;
    claimed.sort_by_key(|job| job.id);
    let started: BTreeSet<i64> = claimed.iter().map(|job| job.run_id).collect();
    sqlx::query(START_RUNS)
        .bind(started.into_iter().collect::<Vec<_>>())
        .bind(claim.now)
        .execute(&mut *tx)
        .await
        .context(&what)?;
    tx.commit().await.context(&what)?;
    Ok(claimed)
}

/// Scans candidates in id order, batch by batch, until `limit` jobs are chosen or none is left.
/// Each batch excludes in SQL what the limits already rule out, so a backlog of jobs that cannot
/// run now does not hide later jobs that can.
async fn choose(
    conn: &mut PgConnection,
    budget: &mut Budget,
    limit: usize,
    what: &str,
) -> Result<()> {
    let mut after = 0i64;
    loop {
        let rows = sqlx::query(CANDIDATES)
            .bind(after)
            .bind(budget.full_tasks())
            .bind(budget.running_runs >= budget.max_runs)
            .bind(budget.started_runs.iter().copied().collect::<Vec<_>>())
            .bind(SCAN_BATCH)
            .fetch_all(&mut *conn)
            .await
            .context(what)?;
        let batch = decode_all(&rows, what, candidate)?;
        for job in &batch {
            after = job.id;
            if budget.take(job) && budget.chosen.len() >= limit {
                return Ok(());
            }
        }
        if batch.len() < SCAN_BATCH as usize {
            return Ok(());
        }
    }
}

/// Extends the lease when `owner` still holds it, and reports a cancel request on its run.
pub(super) async fn renew(store: &PgStore, renew: RenewLease) -> Result<LeaseState> {
    let what = format!("renewing the lease on job {}", renew.job_id);
    // One statement: the job's row lock makes it wait for a concurrent reap or finish, after
    // which the owner and status are re-checked on the row as they committed.
    let cancel_requested: Option<bool> = sqlx::query_scalar(
        "UPDATE run_jobs SET lease_until = $3 FROM runs \
         WHERE run_jobs.id = $1 AND run_jobs.lease_owner = $2 AND run_jobs.status = 'running' \
           AND runs.id = run_jobs.run_id \
         RETURNING runs.cancel_requested_at IS NOT NULL",
    )
    .bind(renew.job_id)
    .bind(&renew.owner)
    .bind(renew.lease_until)
    .fetch_optional(store.pool())
    .await
    .context(&what)?;
    Ok(match cancel_requested {
        None => LeaseState::Lost,
        Some(true) => LeaseState::CancelRequested,
        Some(false) => LeaseState::Held,
    })
}
