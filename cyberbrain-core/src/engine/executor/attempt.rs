//! One attempt at one claimed job: the checks before it may run (cancel, approval and the
//! snapshot hash, G4), the runner on a task of its own under a lease-renewal loop, and the
//! finish that rolls the run up (and writes its report when this job ended it).
//!
//! Logs carry ids, statuses and durations only — never a task's error text, prompt or response
//! (G2); the error text goes to the job row, which is what the report shows.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::Shared;
use crate::domain::{
    ApprovalStatus, FinishJob, JobStatus, LeaseState, RenewLease, Run, RunJob, Timestamp,
};
use crate::engine::backoff::Backoff;
use crate::engine::{JobContext, TaskRunner};
use crate::{Error, Result};

/// How long a stopped (cancelled or lost) runner gets to unwind before the executor moves on.
pub(super) const STOP_GRACE: Duration = Duration::from_secs(5);

/// Tries of a `finish_job` that fails with a retryable (connection) error.
const FINISH_TRIES: u32 = 5;

/// How one attempt ends.
enum Outcome {
    /// Write this terminal status.
    Finish {
        status: JobStatus,
        result: Value,
        error: Option<String>,
    },
    /// The lease is gone (expired and reclaimed, or finished elsewhere): write nothing.
    Lost,
    /// The store failed before the runner started: write nothing, so the lease expires and the
    /// job is tried again (up to `max_attempts`).
    Abandoned(Error),
    /// The executor shut down past its grace: write nothing; the lease expires and another
    /// executor runs the job again.
    Stopped,
}

impl Outcome {
    fn failed(message: impl Into<String>) -> Self {
        Self::Finish {
            status: JobStatus::Failed,
            result: json!({}),
            error: Some(crate::domain::clip_error_summary(&message.into())),
        }
    }

    fn cancelled(message: &str) -> Self {
        Self::Finish {
            status: JobStatus::Cancelled,
            result: json!({}),
            error: Some(message.to_string()),
        }
    }
}

/// Runs one claimed job to its end and records the outcome.
pub(super) async fn execute(shared: Arc<Shared>, job: RunJob) {
    let started = Instant::now();
    tracing::info!(
        job_id = job.id,
        run_id = job.run_id,
        task_key = %job.task_key,
        attempt = job.attempts,
        owner = %shared.options.owner,
        "job started"
    );
    match attempt(&shared, &job).await {
        Outcome::Finish {
            status,
            result,
            error,
        } => finish(&shared, &job, status, result, error, started).await,
        Outcome::Lost => tracing::warn!(
            job_id = job.id,
            run_id = job.run_id,
            task_key = %job.task_key,
            duration_ms = millis(started),
            "job lease lost; stopped without writing a result"
        ),
        Outcome::Stopped => tracing::warn!(
            job_id = job.id,
            run_id = job.run_id,
            task_key = %job.task_key,
            duration_ms = millis(started),
            "job stopped by the executor's shutdown; it is run again after its lease expires"
        ),
        Outcome::Abandoned(e) => tracing::warn!(
            job_id = job.id,
            run_id = job.run_id,
            task_key = %job.task_key,
            duration_ms = millis(started),
            error = %e,
            "job not started: the store failed; it is retried after its lease expires"
        ),
    }
}

async fn attempt(shared: &Arc<Shared>, job: &RunJob) -> Outcome {
    let run = match shared.cb.store.get_run(job.run_id).await {
        Ok(run) => run,
        Err(e) => return Outcome::Abandoned(e),
    };
    // Cancelled between the claim and now: do not start.
    if run.cancel_requested_at.is_some() {
        return Outcome::cancelled("run cancelled before the job started");
    }
    if let Some(refusal) = approval_refusal(&run) {
        tracing::warn!(
            job_id = job.id,
            run_id = run.id,
            "job refused: the run's approval does not cover its snapshot (G4)"
        );
        return Outcome::failed(refusal);
    }
    let Some(runner) = shared.runners.get(&job.task_key).cloned() else {
        return Outcome::failed(format!(
            "no runner for task {:?} in executor {}; register one with Executor::with_runner \
             (or run this task in a process whose executor has it)",
            job.task_key, shared.options.owner
        ));
    };
    let ctx = match JobContext::load(shared.cb.clone(), run, job.clone()).await {
        Ok(ctx) => ctx,
        Err(e) => return Outcome::Abandoned(e),
    };
    supervise(shared, job, runner, ctx).await
}

/// Why a run may not execute, if it may not (G4): an approved run executes only the snapshot
/// that was approved; a run awaiting approval or denied never executes.
fn approval_refusal(run: &Run) -> Option<String> {
    match run.approval_status {
        ApprovalStatus::None => None,
        ApprovalStatus::Approved => match &run.approved_snapshot_sha256 {
            Some(approved) if *approved == run.snapshot_sha256 => None,
            Some(approved) => Some(format!(
                "run {}: the approved directive snapshot (SHA-256 {approved}) is not the run's \
                 snapshot (SHA-256 {}); refusing to execute a snapshot nobody approved (G4) — \
                 launch the run again and approve the new run",
                run.id, run.snapshot_sha256
            )),
            None => Some(format!(
                "run {}: approved without a recorded snapshot hash, so the approval cannot be \
                 matched to the snapshot (G4) — launch the run again and approve the new run",
                run.id
            )),
        },
        ApprovalStatus::Pending | ApprovalStatus::Denied => Some(format!(
            "run {} is {} approval and must not execute; approve it first",
            run.id,
            match run.approval_status {
                ApprovalStatus::Denied => "denied",
                _ => "awaiting",
            }
        )),
    }
}

/// Aborts the runner's task when the attempt is dropped (executor shutdown past its grace), so
/// a runner never outlives its supervision.
struct AbortOnDrop(JoinHandle<Result<Value>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs the runner on its own task (so a panic is caught as a join error) while renewing the
/// lease; a cancel request or a lost lease stops the runner.
async fn supervise(
    shared: &Arc<Shared>,
    job: &RunJob,
    runner: Arc<dyn TaskRunner>,
    ctx: JobContext,
) -> Outcome {
    let mut task = AbortOnDrop(tokio::spawn(async move { runner.run(&ctx).await }));
    let renew_every = shared.options.renew_interval;
    let mut renew = tokio::time::interval_at(Instant::now() + renew_every, renew_every);
    renew.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let clock = shared.cb.clock.clone();
    let mut lease_until: Timestamp = job.lease_until.unwrap_or_else(|| clock.now());
    let mut stopping = shared.stopping.subscribe();
    loop {
        tokio::select! {
            () = shutdown_past_grace(&mut stopping) => {
                stop(task).await;
                return Outcome::Stopped;
            }
            joined = &mut task.0 => {
                return match joined {
                    Ok(Ok(result)) => Outcome::Finish {
                        status: JobStatus::Completed,
                        result,
                        error: None,
                    },
                    Ok(Err(e)) => Outcome::failed(e.to_string()),
                    Err(e) if e.is_panic() => Outcome::failed("task panicked"),
                    Err(e) => Outcome::Abandoned(Error::backend(format!("task stopped: {e}"))),
                };
            }
            _ = renew.tick() => {
                let now = clock.now();
                let until = now + shared.options.lease_chrono();
                let renewal = shared.cb.store.renew_lease(RenewLease {
                    job_id: job.id,
                    owner: shared.options.owner.clone(),
                    now,
                    lease_until: until,
                }).await;
                match renewal {
                    Ok(LeaseState::Held) => lease_until = until,
                    Ok(LeaseState::CancelRequested) => {
                        stop(task).await;
                        return Outcome::cancelled("run cancelled while the job was running");
                    }
                    Ok(LeaseState::Lost) => {
                        stop(task).await;
                        return Outcome::Lost;
                    }
                    Err(e) => {
                        tracing::warn!(job_id = job.id, run_id = job.run_id, error = %e,
                            "renewing the job lease failed; retrying");
                        // Past our lease another executor may already run the job.
                        if clock.now() >= lease_until {
                            stop(task).await;
                            return Outcome::Lost;
                        }
                    }
                }
            }
        }
    }
}

/// Resolves once the executor's shutdown grace is over.
async fn shutdown_past_grace(stopping: &mut watch::Receiver<bool>) {
    if stopping.wait_for(|stopping| *stopping).await.is_err() {
        // The executor is gone without a signal; nothing to wait for.
        std::future::pending::<()>().await;
    }
}

/// Aborts the runner and waits (briefly) until it has unwound, so nothing it does lands after
/// the job's end is written.
async fn stop(mut task: AbortOnDrop) {
    task.0.abort();
    let _ = tokio::time::timeout(STOP_GRACE, &mut task.0).await;
}

/// Writes the job's end (retrying connection errors) and, when that ended the run, its report.
async fn finish(
    shared: &Arc<Shared>,
    job: &RunJob,
    status: JobStatus,
    result: Value,
    error: Option<String>,
    started: Instant,
) {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
    let mut tries = 0;
    loop {
        tries += 1;
        let finished = shared
            .cb
            .store
            .finish_job(FinishJob {
                job_id: job.id,
                owner: shared.options.owner.clone(),
                status,
                result: result.clone(),
                error_summary: error.clone(),
                now: shared.cb.clock.now(),
            })
            .await;
        match finished {
            Ok(finished) => {
                tracing::info!(
                    job_id = job.id,
                    run_id = job.run_id,
                    task_key = %job.task_key,
                    status = status.as_str(),
                    duration_ms = millis(started),
                    "job ended"
                );
                if finished.run_ended {
                    shared.finalize(&finished.run).await;
                }
                return;
            }
            Err(Error::Conflict(_)) => {
                tracing::warn!(
                    job_id = job.id,
                    run_id = job.run_id,
                    task_key = %job.task_key,
                    status = status.as_str(),
                    duration_ms = millis(started),
                    "job lease lost before its end was written; the outcome is discarded"
                );
                return;
            }
            Err(e) if e.is_retryable() && tries < FINISH_TRIES => {
                tracing::warn!(job_id = job.id, run_id = job.run_id, error = %e,
                    "writing the job's end failed; retrying");
                tokio::time::sleep(backoff.next_delay()).await;
            }
            Err(e) => {
                tracing::error!(
                    job_id = job.id,
                    run_id = job.run_id,
                    error = %e,
                    "writing the job's end failed; it is retried after its lease expires"
                );
                return;
            }
        }
    }
}

fn millis(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
