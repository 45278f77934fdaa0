//! Everything after a claim: lease renewal, finishing, reaping expired leases, cancelling,
//! approving and denying — and the roll-up that ends a run once its last job ended. Each
//! function runs inside the caller's `BEGIN IMMEDIATE` transaction, so its reads and writes are
//! one atomic step across processes.

use std::collections::BTreeSet;

use cyberbrain_core::domain::{
    ApprovalStatus, FinishJob, JobFinished, JobOutcome, JobStatus, LeaseState, ReapLeases,
    RenewLease, Run, RunJob, Timestamp, expired_lease, roll_up as roll_up_rule,
};
use cyberbrain_core::{Error, Result};
use rusqlite::{Connection, OptionalExtension, params};

use super::{jobs_of, load_job, load_run};
use crate::codec::{Json, Time, Wire};
use crate::error::SqlContext;

/// Extends a held lease; see `RunStore::renew_lease`.
pub(super) fn renew_lease(conn: &Connection, renew: &RenewLease) -> Result<LeaseState> {
    let what = format!("renewing the lease of job {}", renew.job_id);
    let cancel_requested: Option<bool> = conn
        .prepare_cached(
            "UPDATE run_jobs SET lease_until = ?3 \
             WHERE id = ?1 AND status = 'running' AND lease_owner = ?2 \
             RETURNING (SELECT cancel_requested_at IS NOT NULL FROM runs \
                        WHERE runs.id = run_jobs.run_id)",
        )
        .and_then(|mut s| {
            s.query_row(
                params![renew.job_id, renew.owner, Time(renew.lease_until)],
                |r| r.get(0),
            )
            .optional()
        })
        .context(&what)?;
    Ok(match cancel_requested {
        None => LeaseState::Lost,
        Some(true) => LeaseState::CancelRequested,
        Some(false) => LeaseState::Held,
    })
}

/// A finish must end the job: `completed`, `failed` or `cancelled`.
fn check_finish_status(finish: &FinishJob) -> Result<()> {
    if finish.status.is_terminal() {
        Ok(())
    } else {
        Err(Error::invalid(
            "status",
            format!(
                "a job is finished as \"completed\", \"failed\" or \"cancelled\", not \"{}\" \
                 (job {}); renew the lease to keep working on it",
                finish.status, finish.job_id
            ),
        ))
    }
}

/// Ends a leased job and rolls its run up; see `RunStore::finish_job`.
pub(super) fn finish_job(conn: &Connection, finish: FinishJob) -> Result<JobFinished> {
    check_finish_status(&finish)?;
    let what = format!("finishing job {}", finish.job_id);
    let run_id: Option<i64> = conn
        .prepare_cached(
            "UPDATE run_jobs SET status = ?3, result = ?4, error_summary = ?5, ended_at = ?6, \
             lease_owner = NULL, lease_until = NULL \
             WHERE id = ?1 AND status = 'running' AND lease_owner = ?2 RETURNING run_id",
        )
        .and_then(|mut s| {
            s.query_row(
                params![
                    finish.job_id,
                    finish.owner,
                    Wire(finish.status),
                    Json(&finish.result),
                    finish.error_summary,
                    Time(finish.now),
                ],
                |r| r.get(0),
            )
            .optional()
        })
        .context(&what)?;
    let Some(run_id) = run_id else {
        return Err(Error::conflict(format!(
            "job {} is not leased by {:?} any more (its lease expired and it was requeued or \
             taken by another executor, or it already finished); its result was not recorded — \
             renew the lease more often than it expires",
            finish.job_id, finish.owner
        )));
    };
    let (run, run_ended) = roll_up(conn, run_id, finish.now)?;
    Ok(JobFinished {
        job: load_job(conn, finish.job_id)?,
        run,
        run_ended,
    })
}

/// Requeues or fails jobs whose lease expired; see `RunStore::reap_expired_leases`.
pub(super) fn reap_expired_leases(conn: &Connection, reap: &ReapLeases) -> Result<Vec<Run>> {
    let what = "recovering jobs whose lease expired";
    let expired: Vec<(i64, i64, i64, Option<String>, bool)> = conn
        .prepare_cached(
            "SELECT j.id, j.run_id, j.attempts, j.lease_owner, r.cancel_requested_at IS NOT NULL \
             FROM run_jobs j JOIN runs r ON r.id = j.run_id \
             WHERE j.status = 'running' AND j.lease_until < ?1 ORDER BY j.id",
        )
        .and_then(|mut s| {
            s.query_map([Time(reap.now)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect()
        })
        .context(what)?;
    let mut ended_jobs_of = BTreeSet::new();
    for (job_id, run_id, attempts, owner, cancel_requested) in expired {
        let owner = owner.unwrap_or_default();
        let (status, error) = expired_lease(&owner, attempts, reap.max_attempts, cancel_requested);
        let ended_at = (status != JobStatus::Pending).then_some(Time(reap.now));
        conn.prepare_cached(
            "UPDATE run_jobs SET status = ?2, error_summary = ?3, ended_at = ?4, \
             lease_owner = NULL, lease_until = NULL WHERE id = ?1",
        )
        .and_then(|mut s| s.execute(params![job_id, Wire(status), error, ended_at]))
        .context(what)?;
        if ended_at.is_some() {
            ended_jobs_of.insert(run_id);
        }
    }
    let mut ended = Vec::new();
    for run_id in ended_jobs_of {
        let (run, run_ended) = roll_up(conn, run_id, reap.now)?;
        if run_ended {
            ended.push(run);
        }
    }
    Ok(ended)
}

/// Cancels a run now, or asks its running jobs to stop; see `RunStore::cancel_run`.
pub(super) fn cancel_run(conn: &Connection, id: i64, now: Timestamp) -> Result<Run> {
    let what = format!("cancelling run {id}");
    let run = load_run(conn, id)?;
    if run.status.is_terminal() {
        return Err(Error::conflict(format!(
            "run {id} already ended ({}); only a pending or running run can be cancelled",
            run.status
        )));
    }
    cancel_open_jobs(conn, id, false, now)?;
    let running: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM run_jobs WHERE run_id = ?1 AND status = 'running'",
            [id],
            |r| r.get(0),
        )
        .context(&what)?;
    if running > 0 {
        conn.execute(
            "UPDATE runs SET cancel_requested_at = COALESCE(cancel_requested_at, ?2) \
             WHERE id = ?1",
            params![id, Time(now)],
        )
        .context(&what)?;
    } else {
        // Every job has ended now (pending ones were just cancelled); keep earlier failures.
        let jobs = jobs_of(conn, id)?;
        let error_summary = roll_up_rule(true, &outcomes(&jobs)).and_then(|(_, summary)| summary);
        conn.execute(
            "UPDATE runs SET status = 'cancelled', ended_at = ?2, error_summary = ?3 \
             WHERE id = ?1",
            params![id, Time(now), error_summary],
        )
        .context(&what)?;
    }
    load_run(conn, id)
}

/// Loads a run that must be awaiting approval for `action` ("approved", "denied").
fn awaiting_approval(conn: &Connection, id: i64, action: &str) -> Result<Run> {
    let run = load_run(conn, id)?;
    if run.approval_status != ApprovalStatus::Pending {
        return Err(Error::conflict(format!(
            "run {id} is not awaiting approval (its approval is \"{}\"); only a run awaiting \
             approval can be {action}",
            run.approval_status
        )));
    }
    if run.status.is_terminal() {
        return Err(Error::conflict(format!(
            "run {id} already ended ({}); an ended run cannot be {action}",
            run.status
        )));
    }
    Ok(run)
}

/// Approves a run awaiting approval; see `RunStore::approve_run`.
pub(super) fn approve_run(
    conn: &Connection,
    id: i64,
    approver: &str,
    now: Timestamp,
) -> Result<Run> {
    let run = awaiting_approval(conn, id, "approved")?;
    if run.status.is_terminal() {
        return Err(Error::conflict(format!(
            "run {id} was {} while awaiting approval; launch it again instead",
            run.status
        )));
    }
    conn.execute(
        "UPDATE runs SET approval_status = 'approved', approved_by = ?2, approved_at = ?3, \
         approved_snapshot_sha256 = snapshot_sha256 WHERE id = ?1",
        params![id, approver, Time(now)],
    )
    .context(&format!("approving run {id}"))?;
    load_run(conn, id)
}

/// Denies a run awaiting approval and cancels it; see `RunStore::deny_run`.
pub(super) fn deny_run(conn: &Connection, id: i64, approver: &str, now: Timestamp) -> Result<Run> {
    awaiting_approval(conn, id, "denied")?;
    cancel_open_jobs(conn, id, true, now)?;
    conn.execute(
        "UPDATE runs SET approval_status = 'denied', approved_by = ?2, approved_at = ?3, \
         status = 'cancelled', ended_at = COALESCE(ended_at, ?3) WHERE id = ?1",
        params![id, approver, Time(now)],
    )
    .context(&format!("denying run {id}"))?;
    load_run(conn, id)
}

/// Cancels the pending jobs of run `id`, and its running ones too when `running_too`.
fn cancel_open_jobs(conn: &Connection, id: i64, running_too: bool, now: Timestamp) -> Result<()> {
    conn.prepare_cached(
        "UPDATE run_jobs SET status = 'cancelled', ended_at = ?2, lease_owner = NULL, \
         lease_until = NULL \
         WHERE run_id = ?1 AND (status = 'pending' OR (?3 AND status = 'running'))",
    )
    .and_then(|mut s| s.execute(params![id, Time(now), running_too]))
    .context(&format!("cancelling the jobs of run {id}"))?;
    Ok(())
}

/// The roll-up after a job of `run_id` ended (see `RunStore`'s docs): once every job ended the
/// run ends with the status its jobs give it. Returns the run and whether this call ended it.
pub(super) fn roll_up(conn: &Connection, run_id: i64, now: Timestamp) -> Result<(Run, bool)> {
    let run = load_run(conn, run_id)?;
    if run.status.is_terminal() {
        return Ok((run, false));
    }
    let jobs = jobs_of(conn, run_id)?;
    let cancelled =
        run.cancel_requested_at.is_some() || run.approval_status == ApprovalStatus::Denied;
    let Some((status, error_summary)) = roll_up_rule(cancelled, &outcomes(&jobs)) else {
        return Ok((run, false));
    };
    conn.execute(
        "UPDATE runs SET status = ?2, ended_at = ?3, error_summary = ?4 WHERE id = ?1",
        params![run_id, Wire(status), Time(now), error_summary],
    )
    .context(&format!("ending run {run_id}"))?;
    Ok((load_run(conn, run_id)?, true))
}

fn outcomes(jobs: &[RunJob]) -> Vec<JobOutcome<'_>> {
    jobs.iter()
        .map(|job| JobOutcome {
            task_key: &job.task_key,
            status: job.status,
            error_summary: job.error_summary.as_deref(),
        })
        .collect()
}
