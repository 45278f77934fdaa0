//! `cyberbrain serve`: REST API, web UI, API docs and MCP on one address.
//!
//! With no configuration at all this creates `./cyberbrain-data/` (database, artifacts,
//! uploads) and listens on `127.0.0.1:9595`. SIGINT or SIGTERM stop it gracefully: the listener
//! closes and requests in flight finish.

use std::net::SocketAddr;
use std::path::Path;

use cyberbrain_core::Config;
use tokio::net::TcpListener;

use super::{CliError, open};
use crate::{AppState, RouterOptions};

pub(crate) async fn run(config: Config) -> Result<(), CliError> {
    create_directories(&config)?;
    let bind: SocketAddr = config.server.bind.parse().map_err(|_| {
        CliError::usage(format!(
            "server.bind {:?} is not an address:port such as 127.0.0.1:9595",
            config.server.bind
        ))
    })?;
    let options = RouterOptions::from_config(&config);
    let auth_enabled = config.auth.enabled;
    let cb = open::migrated(config).await?;
    let database = match cb.store().info().await {
        Ok(info) => format!(
            "{} at {} (schema {})",
            info.backend, info.location, info.schema_version
        ),
        Err(e) => format!("unknown ({e})"),
    };

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

    let app = crate::router_with(AppState::new(cb), options);
    tracing::info!(
        "cyberbrain {} listening on http://{local}/ (API /api/, docs /api/docs/, MCP /mcp; database {database})",
        env!("CARGO_PKG_VERSION")
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| CliError::failed(format!("the server stopped with an error: {e}")))?;
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

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM (`docker stop`, systemd).
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C; stop the server with SIGTERM");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM; stop the server with Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("interrupted; shutting down"),
        () = terminate => tracing::info!("terminated; shutting down"),
    }
}
