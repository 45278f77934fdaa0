//! `cyberbrain ingester`: the standalone knowledge-base worker (no HTTP). It claims queued
//! uploads with a lease, extracts, chunks and embeds them, and stores the chunks (SPEC §3.6);
//! any number of these and `cyberbrain serve` processes can share one database and uploads
//! directory, and each upload is ingested once. Stops on SIGINT or SIGTERM after the upload in
//! hand (an upload cut short is taken over once its lease ends).

use std::time::Duration;

use clap::Args;
use cyberbrain_core::Config;
use cyberbrain_core::engine::Ingester;

use super::signal::shutdown_signal;
use super::{CliError, open};

/// The poll intervals `rag.poll_interval_s` allows, in seconds.
const POLL_INTERVAL_RANGE: std::ops::RangeInclusive<u64> = 1..=60;

/// Flags of `cyberbrain ingester`.
#[derive(Debug, Clone, Args)]
pub struct IngesterArgs {
    /// The lease owner name this process claims uploads under and logs (default:
    /// ingester-<pid>-<random>).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Seconds between looks for queued uploads when idle, 1–60 (default:
    /// `rag.poll_interval_s`, 2). Uploads to another process are found this often.
    #[arg(long, value_name = "SECONDS")]
    pub poll_interval: Option<u64>,
}

pub(crate) async fn run(config: Config, args: IngesterArgs) -> Result<(), CliError> {
    let poll_interval = args
        .poll_interval
        .map(|seconds| {
            if POLL_INTERVAL_RANGE.contains(&seconds) {
                Ok(Duration::from_secs(seconds))
            } else {
                Err(CliError::usage(format!(
                    "--poll-interval must be between {} and {} seconds, got {seconds}",
                    POLL_INTERVAL_RANGE.start(),
                    POLL_INTERVAL_RANGE.end()
                )))
            }
        })
        .transpose()?;
    let name = match args.name.map(|name| name.trim().to_string()) {
        Some(name) if name.is_empty() => {
            return Err(CliError::usage(
                "--name must not be blank; leave it out for a generated name",
            ));
        }
        other => other,
    };
    let cb = open::with_plugins(config).await?;
    let uploads = cb.config().paths.uploads_dir();
    let mut ingester = Ingester::new(cb);
    if let Some(name) = name {
        ingester = ingester.with_owner(name);
    }
    if let Some(poll_interval) = poll_interval {
        ingester = ingester.with_poll_interval(poll_interval);
    }
    let shutdown = shutdown_signal();
    tracing::info!(
        owner = ingester.owner(),
        uploads = %uploads.display(),
        "cyberbrain {} ingester started: ingesting queued uploads until SIGINT or SIGTERM",
        env!("CARGO_PKG_VERSION")
    );
    ingester.run(shutdown).await;
    tracing::info!("cyberbrain ingester stopped");
    Ok(())
}
