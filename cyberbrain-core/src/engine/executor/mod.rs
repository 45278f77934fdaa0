//! Executors (SPEC §3.1): claim runnable jobs with leases, run each with its task's runner while
//! renewing the lease, finish it (rolling the run up and writing its report when it ended), and
//! recover jobs whose executor died (an expired lease is claimable again, up to `max_attempts`).
//!
//! Any number of executors, in any number of processes, may share one database: the store's
//! claim is atomic and checks the concurrency limits in the same step, so a job never runs twice
//! at once and the limits hold across processes.
//!
//! ```no_run
//! # async fn demo(cb: cyberbrain_core::Cyberbrain) -> cyberbrain_core::Result<()> {
//! use cyberbrain_core::engine::Executor;
//! let handle = Executor::new(cb).spawn();
//! // … serve requests …
//! handle.shutdown().await?;
//! # Ok(()) }
//! ```

mod attempt;
mod options;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

pub use options::{DEFAULT_SHUTDOWN_GRACE, DEFAULT_SLOTS, ExecutorOptions, MAX_IDLE_POLL};

use super::{Cyberbrain, TaskRunner, builtin_runners};
use crate::domain::{ClaimJobs, ReapLeases, Run, RunJob, TaskKey};
use crate::engine::backoff::Backoff;
use crate::{Error, Result};

/// Runs jobs. Starts with the built-in tasks' runners; embedders add their own with
/// [`Executor::with_runner`]. Options default from `[scheduler]` in the configuration.
pub struct Executor {
    cb: Cyberbrain,
    runners: HashMap<String, Arc<dyn TaskRunner>>,
    options: ExecutorOptions,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut tasks: Vec<&str> = self.runners.keys().map(String::as_str).collect();
        tasks.sort_unstable();
        f.debug_struct("Executor")
            .field("tasks", &tasks)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// What the run loop shares with the jobs it runs.
struct Shared {
    cb: Cyberbrain,
    runners: HashMap<String, Arc<dyn TaskRunner>>,
    options: ExecutorOptions,
    /// Turns true when a shutdown's grace is over: running jobs stop their runners and leave
    /// their leases to expire.
    stopping: watch::Sender<bool>,
}

impl Shared {
    /// Writes an ended run's report; a failure is logged (the run's status is already stored).
    async fn finalize(&self, run: &Run) {
        if let Err(e) = self.cb.finalize_run(run).await {
            tracing::error!(run_id = run.id, error = %e, "writing the run report failed");
        }
    }
}

impl Executor {
    /// An executor over `cb` with the built-in runners and options from its configuration.
    pub fn new(cb: Cyberbrain) -> Self {
        let options = ExecutorOptions::from_config(&cb.config().scheduler);
        let runners = builtin_runners()
            .into_iter()
            .map(|(key, runner)| (key.to_string(), runner))
            .collect();
        Self {
            cb,
            runners,
            options,
        }
    }

    /// Runs jobs of `task_key` (a key or alias) with `runner`, replacing any runner it had.
    pub fn with_runner(mut self, task_key: &str, runner: Arc<dyn TaskRunner>) -> Self {
        self.runners
            .insert(TaskKey::canonical(task_key).to_string(), runner);
        self
    }

    pub fn with_options(mut self, options: ExecutorOptions) -> Self {
        self.options = options;
        self
    }

    pub fn options(&self) -> &ExecutorOptions {
        &self.options
    }

    /// The lease owner this executor writes on the jobs it claims.
    pub fn owner(&self) -> &str {
        &self.options.owner
    }

    /// Claims and runs jobs until `shutdown` resolves, then waits up to the shutdown grace for
    /// running jobs; jobs still running after it keep their lease and are recovered by expiry.
    ///
    /// Store errors are logged and retried after a growing pause; only invalid options are an
    /// error.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        self.options.validate()?;
        let shared = Arc::new(Shared {
            cb: self.cb,
            runners: self.runners,
            options: self.options,
            stopping: watch::Sender::new(false),
        });
        let options = &shared.options;
        tracing::info!(
            owner = %options.owner,
            slots = options.slots,
            max_running_runs = options.max_running_runs,
            max_running_per_task = options.max_running_per_task,
            "executor started"
        );
        let mut jobs: JoinSet<()> = JoinSet::new();
        let mut backoff = Backoff::new(
            options.poll_interval.min(Duration::from_millis(200)),
            Duration::from_secs(30),
        );
        // Reap and claim at once on start.
        let mut next_poll = Instant::now();
        // After a store error nothing is tried before this.
        let mut paused_until = Instant::now();
        tokio::pin!(shutdown);
        loop {
            let now = Instant::now();
            if now >= paused_until {
                match tick(&shared, &mut jobs, now >= next_poll).await {
                    Ok(()) => backoff.reset(),
                    Err(e) => {
                        let delay = backoff.next_delay();
                        tracing::warn!(
                            owner = %options.owner,
                            error = %e,
                            retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                            "executor store call failed; retrying"
                        );
                        paused_until = Instant::now() + delay;
                    }
                }
                if now >= next_poll {
                    next_poll = Instant::now() + options.poll_interval;
                }
            }
            let has_room = jobs.len() < options.slots as usize;
            let paused = Instant::now() < paused_until;
            let wake_at = if paused { paused_until } else { next_poll };
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                Some(joined) = jobs.join_next(), if !jobs.is_empty() => log_job_task(joined),
                () = shared.cb.work_available(), if has_room && !paused => {}
                () = tokio::time::sleep_until(wake_at) => {}
            }
        }
        drain(&shared, jobs).await;
        Ok(())
    }

    /// Runs the executor on a task of its own until [`ExecutorHandle::shutdown`] (or until the
    /// handle is dropped, which shuts it down the same way in the background).
    pub fn spawn(self) -> ExecutorHandle {
        let owner = self.options.owner.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(self.run(async move {
            // A sent signal and a dropped handle both stop the executor.
            let _ = stopped.await;
        }));
        ExecutorHandle {
            owner,
            stop: Some(stop),
            task,
        }
    }
}

/// One round: reap expired leases (on poll ticks only), then claim as many jobs as there are
/// free slots and start them.
async fn tick(shared: &Arc<Shared>, jobs: &mut JoinSet<()>, reap: bool) -> Result<()> {
    let options = &shared.options;
    if reap {
        let ended = shared
            .cb
            .store
            .reap_expired_leases(ReapLeases {
                now: shared.cb.clock.now(),
                max_attempts: options.max_attempts,
            })
            .await?;
        for run in ended {
            tracing::info!(
                run_id = run.id,
                status = run.status.as_str(),
                "run ended by lease expiry"
            );
            shared.finalize(&run).await;
        }
    }
    let free = (options.slots as usize).saturating_sub(jobs.len());
    if free == 0 {
        return Ok(());
    }
    let now = shared.cb.clock.now();
    let claim = ClaimJobs::new(&options.owner, now, options.lease_chrono())
        .with_limit(u32::try_from(free).unwrap_or(u32::MAX))
        .with_limits(options.max_running_runs, options.max_running_per_task);
    let claimed: Vec<RunJob> = shared.cb.store.claim_jobs(claim).await?;
    for job in claimed {
        jobs.spawn(attempt::execute(Arc::clone(shared), job));
    }
    Ok(())
}

/// Waits up to the shutdown grace for running jobs, then stops the rest: their runners are
/// stopped and awaited (so none outlives the executor) and their leases are left to expire, so
/// another executor runs them again.
async fn drain(shared: &Shared, mut jobs: JoinSet<()>) {
    let options = &shared.options;
    tracing::info!(
        owner = %options.owner,
        running = jobs.len(),
        "executor stopping; waiting for running jobs"
    );
    if !join_all_until(&mut jobs, Instant::now() + options.shutdown_grace).await {
        tracing::warn!(
            owner = %options.owner,
            running = jobs.len(),
            "shutdown grace over; stopping running jobs and leaving them to lease expiry"
        );
        shared.stopping.send_replace(true);
        let stopped = Instant::now() + attempt::STOP_GRACE + Duration::from_secs(1);
        if !join_all_until(&mut jobs, stopped).await {
            jobs.shutdown().await;
        }
    }
    tracing::info!(owner = %options.owner, "executor stopped");
}

/// Joins job tasks until none is left (true) or `deadline` passed (false).
async fn join_all_until(jobs: &mut JoinSet<()>, deadline: Instant) -> bool {
    while !jobs.is_empty() {
        match tokio::time::timeout_at(deadline, jobs.join_next()).await {
            Ok(Some(joined)) => log_job_task(joined),
            Ok(None) => break,
            Err(_) => return false,
        }
    }
    true
}

/// A job's own task never fails (its errors are job outcomes); anything else is a bug worth a
/// log line, not a crash of the executor.
fn log_job_task(joined: std::result::Result<(), tokio::task::JoinError>) {
    if let Err(e) = joined {
        tracing::error!(error = %e, "job supervisor stopped abnormally");
    }
}

/// A running executor (from [`Executor::spawn`]).
#[derive(Debug)]
pub struct ExecutorHandle {
    owner: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<()>>,
}

impl ExecutorHandle {
    /// The lease owner the executor writes on the jobs it claims.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Whether the executor has stopped (invalid options stop it at once).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops claiming, waits for running jobs (up to the shutdown grace) and returns what the
    /// executor returned.
    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.join().await
    }

    /// Waits until the executor stops on its own (invalid options) or is shut down.
    pub async fn join(self) -> Result<()> {
        let Self { owner, stop, task } = self;
        let joined = task.await;
        // Held until here: dropping the sender earlier would stop the executor.
        drop(stop);
        joined.map_err(|e| Error::backend(format!("executor {owner} stopped abnormally: {e}")))?
    }
}
