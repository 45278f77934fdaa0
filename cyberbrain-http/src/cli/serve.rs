//! `cyberbrain serve`: REST API, web UI, API docs and MCP on one address, and (unless
//! `--no-executor` / `--no-scheduler` / `--no-ingester`) an executor that runs launched jobs, a
//! scheduler that fires due schedules and an ingester that ingests uploads in the same process.
//!
//! With no configuration at all this creates `./cyberbrain-data/` (database, artifacts,
//! uploads) and listens on `127.0.0.1:9595`. The configured LLM and container engine are
//! attached at start-up, so a public LLM endpoint stops the server before it listens (G1).
//! SIGINT or SIGTERM stop it gracefully: the listener closes, requests in flight finish, and the
//! executor stops claiming and waits for its running jobs (their leases let another executor
//! take over whatever is still running after the grace period); the ingester finishes the upload
//! in hand.

use std::net::SocketAddr;
use std::path::Path;

use cyberbrain_core::Config;
use tokio::net::TcpListener;

use cyberbrain_core::engine::{Executor, Ingester, Scheduler};

use super::signal::shutdown_signal;
use super::{CliError, open};
use crate::{AppState, RouterOptions};

/// Which background workers run in the server's process.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Workers {
    pub executor: bool,
    pub scheduler: bool,
    pub ingester: bool,
}

pub(crate) async fn run(config: Config, workers: Workers) -> Result<(), CliError> {
    create_directories(&config)?;
    let bind: SocketAddr = config.server.bind.parse().map_err(|_| {
        CliError::usage(format!(
            "server.bind {:?} is not an address:port such as 127.0.0.1:9595",
            config.server.bind
        ))
    })?;
    let options = RouterOptions::from_config(&config);
    let auth_enabled = config.auth.enabled;
    let cb = open::with_plugins(config).await?;
    let database = match cb.store().info().await {
        Ok(info) => format!(
            "{} at {} (schema {})",
            info.backend, info.location, info.schema_version
        ),
        Err(e) => format!("unknown ({e})"),
    };

    // Installed before the listener opens, so a signal at any later moment stops gracefully.
    let shutdown = shutdown_signal();
    let listener = TcpListener::bind(bind).await.map_err(|e| {
        CliError::failed(format!(
            "cannot listen on {bind}: {e}; choose a free address with CYBERBRAIN_BIND or server.bind"
        ))
    })?;
    let local = listener.local_addr().unwrap_or(bind);
    if !auth_enabled && !local.ip().is_loopback() {
        warn_exposed(local);
    }
    if !local.ip().is_loopback() {
        tracing::info!(
            "/mcp accepts the Host names localhost, 127.0.0.1, ::1 and {:?}; add others to server.allowed_hosts",
            options.mcp_allowed_hosts
        );
    }

    let executor = if workers.executor {
        let executor = Executor::new(cb.clone());
        tracing::info!(owner = executor.owner(), "executing runs in this process");
        Some(executor.spawn())
    } else {
        tracing::info!(
            "--no-executor: runs are executed by `cyberbrain scheduler` workers, not here"
        );
        None
    };
    let schedules = if workers.scheduler {
        Some(Scheduler::new(cb.clone()).spawn())
    } else {
        tracing::info!("--no-scheduler: schedules are fired by `cyberbrain scheduler`, not here");
        None
    };
    let ingester = if workers.ingester {
        let ingester = Ingester::new(cb.clone());
        tracing::info!(
            owner = ingester.owner(),
            "ingesting uploads in this process"
        );
        Some(ingester.spawn())
    } else {
        tracing::info!("--no-ingester: uploads are ingested by `cyberbrain ingester`, not here");
        None
    };
    let app = crate::router_with(AppState::new(cb), options);
    tracing::info!(
        "cyberbrain {} listening on http://{local}/ (API /api/, docs /api/docs/, MCP /mcp; database {database})",
        env!("CARGO_PKG_VERSION")
    );
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| CliError::failed(format!("the server stopped with an error: {e}")));
    if let Some(schedules) = schedules {
        schedules.shutdown().await;
    }
    if let Some(ingester) = ingester {
        ingester.shutdown().await;
    }
    if let Some(executor) = executor
        && let Err(e) = executor.shutdown().await
    {
        tracing::error!(error = %e, "the executor stopped with an error");
    }
    served?;
    tracing::info!("cyberbrain stopped");
    Ok(())
}

/// The data directory and the artifact and upload roots; the database's own directory is
/// created by the store.
fn create_directories(config: &Config) -> Result<(), CliError> {
    let paths = &config.paths;
    for (what, dir) in [
        (
            "data directory (paths.data_dir, CYBERBRAIN_DATA_DIR)",
            paths.data_dir.clone(),
        ),
        (
            "artifacts directory (CYBERBRAIN_ARTIFACTS_DIR)",
            paths.artifacts_dir(),
        ),
        (
            "uploads directory (CYBER_BRAIN_UPLOADS)",
            paths.uploads_dir(),
        ),
    ] {
        create_dir(what, &dir)?;
    }
    Ok(())
}

fn create_dir(what: &str, dir: &Path) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        CliError::failed(format!(
            "cannot create the {what} {}: {e}; point it at a writable directory",
            dir.display()
        ))
    })
}

/// Without authentication, anyone who can reach a non-loopback address can change directives
/// and the container allowlist: say so where an operator will see it.
fn warn_exposed(local: SocketAddr) {
    tracing::warn!("**************************************************************************");
    tracing::warn!(
        "AUTHENTICATION IS OFF and the server listens on {local}, which other machines can reach."
    );
    tracing::warn!(
        "Anyone on that network can change directives and the container allowlist. Bind to \
         127.0.0.1 (CYBERBRAIN_BIND=127.0.0.1:9595) or turn authentication on (AUTH_ENABLED=true)."
    );
    tracing::warn!("**************************************************************************");
}
