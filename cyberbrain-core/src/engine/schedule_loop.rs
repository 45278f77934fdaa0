//! The scheduler process loop (SPEC §3.5): every poll interval (1–30 s,
//! `scheduler.poll_interval_s`), or earlier at the earliest `next_run_at`, it fires the due
//! schedules through [`Cyberbrain::run_scheduler_tick`], in batches until none is left. Any number of loops may run against one database: each slot fires exactly once.

use std::future::Future;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::Cyberbrain;
use super::backoff::Backoff;
use crate::{Error, Result};

/// How many schedules one firing transaction takes at most.
pub const DEFAULT_SCHEDULER_BATCH: u32 = 100;

/// Runs the scheduler ticks of one process.
#[derive(Debug, Clone)]
pub struct Scheduler {
    cb: Cyberbrain,
    poll_interval: Duration,
    batch: u32,
    name: String,
}

impl Scheduler {
    /// A scheduler polling every `scheduler.poll_interval_s` (clamped to 1–30 s).
    pub fn new(cb: Cyberbrain) -> Self {
        let poll = cb.config().scheduler.poll_interval_s.clamp(1, 30);
        Self {
            poll_interval: Duration::from_secs(poll),
            batch: DEFAULT_SCHEDULER_BATCH,
            name: format!("scheduler-{}", std::process::id()),
            cb,
        }
    }

    /// Seconds between polls, 1–30.
    pub fn with_poll_interval(mut self, seconds: u64) -> Result<Self> {
        if !(1..=30).contains(&seconds) {
            return Err(Error::invalid(
                "poll_interval_s",
                format!("must be between 1 and 30 seconds, got {seconds}"),
            ));
        }
        self.poll_interval = Duration::from_secs(seconds);
        Ok(self)
    }

    /// Schedules per firing transaction, 1–1000.
    pub fn with_batch(mut self, batch: u32) -> Result<Self> {
        if !(1..=1000).contains(&batch) {
            return Err(Error::invalid(
                "batch",
                format!("must be between 1 and 1000, got {batch}"),
            ));
        }
        self.batch = batch;
        Ok(self)
    }

    /// The name this scheduler logs under (the claimant).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Ticks until `shutdown` resolves. Store errors are logged and retried after a growing
    /// pause; the loop never exits on them.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tracing::info!(
            scheduler = %self.name,
            poll_interval_s = self.poll_interval.as_secs(),
            batch = self.batch,
            "scheduler started"
        );
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        tokio::pin!(shutdown);
        loop {
            let wait = match self.fire_all_due().await {
                Ok(()) => {
                    backoff.reset();
                    self.until_next_due().await
                }
                Err(e) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(scheduler = %self.name, error = %e, "scheduler tick failed; retrying");
                    delay
                }
            };
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        tracing::info!(scheduler = %self.name, "scheduler stopped");
    }

    /// The poll interval, or less when a schedule comes due sooner (its `next_run_at`), so a
    /// slot fires on time without polling every second.
    async fn until_next_due(&self) -> Duration {
        match self.cb.store().next_due_at().await {
            Ok(Some(next)) => {
                let until = (next - self.cb.clock().now())
                    .to_std()
                    .unwrap_or(Duration::ZERO);
                until.min(self.poll_interval)
            }
            Ok(None) => self.poll_interval,
            Err(e) => {
                tracing::warn!(scheduler = %self.name, error = %e, "could not read the next due time");
                self.poll_interval
            }
        }
    }

    /// Ticks until a tick fires fewer schedules than the batch (nothing more is due).
    async fn fire_all_due(&self) -> Result<()> {
        loop {
            let fired = self.cb.run_scheduler_tick(self.batch).await?;
            if fired.len() < self.batch as usize {
                return Ok(());
            }
        }
    }

    /// Runs the loop on a task of its own until [`SchedulerHandle::shutdown`] (or drop).
    pub fn spawn(self) -> SchedulerHandle {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(self.run(async move {
            let _ = stopped.await;
        }));
        SchedulerHandle {
            stop: Some(stop),
            task,
        }
    }
}

/// A running scheduler loop (from [`Scheduler::spawn`]).
#[derive(Debug)]
pub struct SchedulerHandle {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl SchedulerHandle {
    /// Stops after the current tick.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}
