//! `cyberbrain scheduler`: the standalone worker process without HTTP (the build plan's
//! scheduler service). It fires due schedules (SPEC §3.5) and executes runs (claims with leases),
//! so any number of these processes and `cyberbrain serve` processes can share one database:
//! each slot fires once and each job runs once. Stops on SIGINT or SIGTERM.

use clap::Args;
use cyberbrain_core::Config;
use cyberbrain_core::engine::{DEFAULT_SCHEDULER_BATCH, Executor, Scheduler};

use super::signal::shutdown_signal;
use super::{CliError, open};

/// Flags of `cyberbrain scheduler`.
#[derive(Debug, Clone, Args)]
pub struct SchedulerArgs {
    /// Seconds between schedule polls, 1–30 (default: `scheduler.poll_interval_s`, 10).
    #[arg(long, value_name = "SECONDS")]
    pub poll_interval: Option<u64>,
    /// Most schedules fired per transaction (1–1000).
    #[arg(long, default_value_t = DEFAULT_SCHEDULER_BATCH)]
    pub batch: u32,
    /// The name this process logs its scheduler ticks under (default: scheduler-<pid>).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

pub(crate) async fn run(config: Config, args: SchedulerArgs) -> Result<(), CliError> {
    let cb = open::with_plugins(config).await?;
    let mut scheduler = Scheduler::new(cb.clone())
        .with_batch(args.batch)
        .map_err(|e| CliError::usage(e.to_string()))?;
    if let Some(seconds) = args.poll_interval {
        scheduler = scheduler
            .with_poll_interval(seconds)
            .map_err(|e| CliError::usage(e.to_string()))?;
    }
    if let Some(name) = args.name {
        scheduler = scheduler.with_name(name);
    }
    let shutdown = shutdown_signal();
    let schedules = scheduler.spawn();
    let executor = Executor::new(cb);
    let options = executor.options().clone();
    tracing::info!(
        owner = %options.owner,
        slots = options.slots,
        "cyberbrain {} worker started: firing schedules and executing runs until SIGINT or \
         SIGTERM",
        env!("CARGO_PKG_VERSION")
    );
    let executed = executor
        .run(shutdown)
        .await
        .map_err(|e| CliError::failed(format!("the executor stopped with an error: {e}")));
    schedules.shutdown().await;
    executed?;
    tracing::info!("cyberbrain worker stopped");
    Ok(())
}
