//! Everything that ends jobs and runs: finishing a leased job, reaping expired leases,
//! cancelling, approving and denying, and the roll-up they share (see `RunStore`'s docs).
//!
//! Each operation is one transaction that locks the run row first (`FOR NO KEY UPDATE`, which
//! foreign-key checks of inserted calls and artifacts do not wait for) and its jobs after, the
//! order claims use too. With the run locked, the roll-up reads every job as committed: when
//! the last two jobs of a run finish at once, the second finisher waits for the first and sees
//! its job ended, so exactly one of them ends the run.

use cyberbrain_core::domain::{
    ApprovalStatus, FinishJob, JobFinished, JobOutcome, JobStatus, ReapLeases, Run, Timestamp,
    expired_lease, roll_up as roll_up_rule,
};
use cyberbrain_core::{Error, Result};
use sqlx::types::Json;
use sqlx::{PgConnection, Row};

use super::runs::{job_columns, job_from_row, one_run, run_columns, run_from_row};
use super::{PgStore, decode_all, wire};
use crate::error::PgContext;

/// The run, locked for this transaction; `NotFound` when there is none.
async fn lock_run(conn: &mut PgConnection, id: i64, what: &str) -> Result<Run> {
    let row = sqlx::query(concat!(
        "SELECT ",
        run_columns!(),
        " FROM runs WHERE id = $1 FOR NO KEY UPDATE"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
    .context(what)?;
    one_run(row, id, what)
}

/// Ends `run` (locked by the caller) when none of its jobs is pending or running: `cancelled`
/// when `cancelled` or the run was cancelled or denied, else `completed` when every job
/// completed, `failed` when any failed, `cancelled` otherwise. Returns the run as it is now and
/// whether this call ended it.
async fn roll_up(
    conn: &mut PgConnection,
    run: Run,
    now: Timestamp,
    cancelled: bool,
    what: &str,
) -> Result<(Run, bool)> {
    if run.status.is_terminal() {
        return Ok((run, false));
    }
    let rows = sqlx::query(
        "SELECT task_key, status, error_summary FROM run_jobs WHERE run_id = $1 ORDER BY id",
    )
    .bind(run.id)
    .fetch_all(&mut *conn)
    .await
    .context(what)?;
    let mut jobs = Vec::with_capacity(rows.len());
    for row in &rows {
        let status: JobStatus = wire(row, "status").context(what)?;
        let task_key: String = row.try_get("task_key").context(what)?;
        let error: Option<String> = row.try_get("error_summary").context(what)?;
        jobs.push((task_key, status, error));
    }
    let outcomes: Vec<JobOutcome<'_>> = jobs
        .iter()
        .map(|(task_key, status, error)| JobOutcome {
            task_key,
            status: *status,
            error_summary: error.as_deref(),
        })
        .collect();
    let cancelled = cancelled
        || run.cancel_requested_at.is_some()
        || run.approval_status == ApprovalStatus::Denied;
    let Some((status, error_summary)) = roll_up_rule(cancelled, &outcomes) else {
        return Ok((run, false));
    };
    let row = sqlx::query(concat!(
        "UPDATE runs SET status = $2, ended_at = $3, error_summary = $4 WHERE id = $1 RETURNING ",
        run_columns!()
    ))
    .bind(run.id)
    .bind(status.as_str())
    .bind(now)
    .bind(error_summary)
    .fetch_one(&mut *conn)
    .await
    .context(what)?;
    Ok((run_from_row(&row).context(what)?, true))
}

async fn cancel_pending_jobs(
    conn: &mut PgConnection,
    run_id: i64,
    now: Timestamp,
    what: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE run_jobs SET status = 'cancelled', ended_at = $2 \
         WHERE run_id = $1 AND status = 'pending'",
    )
    .bind(run_id)
    .bind(now)
    .execute(conn)
    .await
    .context(what)?;
    Ok(())
}

pub(super) async fn finish(store: &PgStore, finish: FinishJob) -> Result<JobFinished> {
    if !finish.status.is_terminal() {
        return Err(Error::invalid(
            "status",
            format!(
                "a job is finished as \"completed\", \"failed\" or \"cancelled\", not {:?}",
                finish.status.as_str()
            ),
        ));
    }
    let what = format!("finishing job {}", finish.job_id);
    let lost = || {
        Error::conflict(format!(
            "job {} is not leased by {:?} (its lease expired and it was reclaimed, or it was \
             finished already); discard this result",
            finish.job_id, finish.owner
        ))
    };
    let mut tx = store.begin(&what).await?;
    // A job's run never changes, so it can be read before the run is locked.
    let run_id: Option<i64> = sqlx::query_scalar("SELECT run_id FROM run_jobs WHERE id = $1")
        .bind(finish.job_id)
        .fetch_optional(&mut *tx)
        .await
        .context(&what)?;
    let Some(run_id) = run_id else {
        return Err(lost());
    };
    let run = lock_run(&mut tx, run_id, &what).await?;
    let row = sqlx::query(concat!(
        "UPDATE run_jobs SET status = $3, result = $4, error_summary = $5, ended_at = $6, \
           lease_owner = NULL, lease_until = NULL \
         WHERE id = $1 AND lease_owner = $2 AND status = 'running' \
         RETURNING ",
        job_columns!()
    ))
    .bind(finish.job_id)
    .bind(&finish.owner)
    .bind(finish.status.as_str())
    .bind(Json(&finish.result))
    .bind(&finish.error_summary)
    .bind(finish.now)
    .fetch_optional(&mut *tx)
    .await
    .context(&what)?;
    let Some(row) = row else {
        return Err(lost());
    };
    let job = job_from_row(&row).context(&what)?;
    let (run, run_ended) = roll_up(&mut tx, run, finish.now, false, &what).await?;
    tx.commit().await.context(&what)?;
    Ok(JobFinished {
        job,
        run,
        run_ended,
    })
}

pub(super) async fn reap(store: &PgStore, reap: ReapLeases) -> Result<Vec<Run>> {
    let what = "recovering jobs whose lease expired";
    let mut tx = store.begin(what).await?;
    let rows = sqlx::query(concat!(
        "SELECT ",
        run_columns!(),
        " FROM runs WHERE id IN (SELECT run_id FROM run_jobs \
                                 WHERE status = 'running' AND lease_until < $1) \
         ORDER BY id FOR NO KEY UPDATE"
    ))
    .bind(reap.now)
    .fetch_all(&mut *tx)
    .await
    .context(what)?;
    let runs = decode_all(&rows, what, run_from_row)?;
    if runs.is_empty() {
        tx.commit().await.context(what)?;
        return Ok(Vec::new());
    }
    let locked: Vec<i64> = runs.iter().map(|run| run.id).collect();
    let expired = sqlx::query(
        "SELECT j.id, j.attempts, j.lease_owner, r.cancel_requested_at IS NOT NULL AS cancelling \
         FROM run_jobs j JOIN runs r ON r.id = j.run_id \
         WHERE j.run_id = ANY ($1) AND j.status = 'running' AND j.lease_until < $2 \
         ORDER BY j.id FOR NO KEY UPDATE OF j",
    )
    .bind(&locked)
    .bind(reap.now)
    .fetch_all(&mut *tx)
    .await
    .context(what)?;
    for row in &expired {
        let (id, attempts, owner, cancelling): (i64, i32, Option<String>, bool) = (
            row.try_get("id").context(what)?,
            row.try_get("attempts").context(what)?,
            row.try_get("lease_owner").context(what)?,
            row.try_get("cancelling").context(what)?,
        );
        let owner = owner.unwrap_or_default();
        let (status, error) =
            expired_lease(&owner, i64::from(attempts), reap.max_attempts, cancelling);
        let ended_at = (status != JobStatus::Pending).then_some(reap.now);
        sqlx::query(
            "UPDATE run_jobs SET status = $2, error_summary = $3, ended_at = $4, \
               lease_owner = NULL, lease_until = NULL \
             WHERE id = $1",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(error)
        .bind(ended_at)
        .execute(&mut *tx)
        .await
        .context(what)?;
    }
    let mut ended = Vec::new();
    for run in runs {
        let (run, run_ended) = roll_up(&mut tx, run, reap.now, false, what).await?;
        if run_ended {
            ended.push(run);
        }
    }
    tx.commit().await.context(what)?;
    Ok(ended)
}

/// `Conflict` for a run that has ended: `it can no longer be {action}`.
fn already_ended(run: &Run, action: &str) -> Error {
    Error::conflict(format!(
        "run {} has already ended ({}); it can no longer be {action}",
        run.id,
        run.status.as_str()
    ))
}

pub(super) async fn cancel(store: &PgStore, id: i64, now: Timestamp) -> Result<Run> {
    let what = format!("cancelling run {id}");
    let mut tx = store.begin(&what).await?;
    let run = lock_run(&mut tx, id, &what).await?;
    if run.status.is_terminal() {
        return Err(already_ended(&run, "cancelled"));
    }
    cancel_pending_jobs(&mut tx, id, now, &what).await?;
    let running: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM run_jobs WHERE run_id = $1 AND status = 'running'",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await
    .context(&what)?;
    let run = if running > 0 {
        // The running jobs stop at their next lease renewal; the last one to finish ends the
        // run. A repeated cancel keeps the first request's time.
        let row = sqlx::query(concat!(
            "UPDATE runs SET cancel_requested_at = COALESCE(cancel_requested_at, $2) \
             WHERE id = $1 RETURNING ",
            run_columns!()
        ))
        .bind(id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .context(&what)?;
        run_from_row(&row).context(&what)?
    } else {
        roll_up(&mut tx, run, now, true, &what).await?.0
    };
    tx.commit().await.context(&what)?;
    Ok(run)
}

/// The run, locked, when it awaits approval; `Conflict` naming its state otherwise.
async fn lock_awaiting_approval(
    conn: &mut PgConnection,
    id: i64,
    action: &str,
    what: &str,
) -> Result<Run> {
    let run = lock_run(conn, id, what).await?;
    if run.approval_status != ApprovalStatus::Pending {
        return Err(Error::conflict(format!(
            "run {id} is not awaiting approval (its approval status is {:?}); only runs whose \
             approval status is \"pending\" can be {action}",
            run.approval_status.as_str()
        )));
    }
    if run.status.is_terminal() {
        return Err(already_ended(&run, action));
    }
    Ok(run)
}

pub(super) async fn approve(
    store: &PgStore,
    id: i64,
    approver: &str,
    now: Timestamp,
) -> Result<Run> {
    let what = format!("approving run {id}");
    let mut tx = store.begin(&what).await?;
    lock_awaiting_approval(&mut tx, id, "approved", &what).await?;
    // The approver approved this snapshot; execution checks the run still carries it (G4).
    let row = sqlx::query(concat!(
        "UPDATE runs SET approval_status = 'approved', approved_by = $2, approved_at = $3, \
           approved_snapshot_sha256 = snapshot_sha256 \
         WHERE id = $1 RETURNING ",
        run_columns!()
    ))
    .bind(id)
    .bind(approver)
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .context(&what)?;
    let run = run_from_row(&row).context(&what)?;
    tx.commit().await.context(&what)?;
    Ok(run)
}

pub(super) async fn deny(store: &PgStore, id: i64, approver: &str, now: Timestamp) -> Result<Run> {
    let what = format!("denying run {id}");
    let mut tx = store.begin(&what).await?;
    lock_awaiting_approval(&mut tx, id, "denied", &what).await?;
    let row = sqlx::query(concat!(
        "UPDATE runs SET approval_status = 'denied', approved_by = $2, approved_at = $3 \
         WHERE id = $1 RETURNING ",
        run_columns!()
    ))
    .bind(id)
    .bind(approver)
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .context(&what)?;
    let run = run_from_row(&row).context(&what)?;
    // Nothing of a run awaiting approval has run, so every job is pending.
    cancel_pending_jobs(&mut tx, id, now, &what).await?;
    let (run, _) = roll_up(&mut tx, run, now, true, &what).await?;
    tx.commit().await.context(&what)?;
    Ok(run)
}
