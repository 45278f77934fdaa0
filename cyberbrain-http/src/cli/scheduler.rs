//! `cyberbrain scheduler`: a standalone worker process without HTTP.
//!
//! For now it runs an executor only: it claims and runs launched jobs (with leases, so any
//! number of these workers and `cyberbrain serve` processes can share one database), until
//! SIGINT or SIGTERM. The schedule poller (SPEC §3.5) and the notifier join this process in
//! later releases; until then schedules do not fire on their own.

use cyberbrain_core::Config;
use cyberbrain_core::engine::Executor;

use super::signal::shutdown_signal;
use super::{CliError, open};

pub(crate) async fn run(config: Config) -> Result<(), CliError> {
    let cb = open::with_plugins(config).await?;
    let shutdown = shutdown_signal();
    let executor = Executor::new(cb);
    let options = executor.options().clone();
    tracing::info!(
        owner = %options.owner,
        slots = options.slots,
        "cyberbrain {} worker started: executing runs until SIGINT or SIGTERM (the schedule \
         poller is not part of this release yet)",
        env!("CARGO_PKG_VERSION")
    );
    executor
        .run(shutdown)
        .await
        .map_err(|e| CliError::failed(format!("the executor stopped with an error: {e}")))?;
    tracing::info!("cyberbrain worker stopped");
    Ok(())
}
