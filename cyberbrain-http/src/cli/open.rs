//! Opening the store a configuration names: SQLite (the embedded default) or PostgreSQL.

use std::sync::Arc;

use cyberbrain_core::{Config, Cyberbrain, Store};
use cyberbrain_store_sqlite::SqliteStore;

use super::CliError;

/// Connects to the configured database without changing it.
pub(crate) async fn store(config: &Config) -> Result<Arc<dyn Store>, CliError> {
    let url = config.database_url();
    // The URL may carry a password: errors name the backend's message, never the URL itself.
    if cyberbrain_store_pg::handles_url(&url) {
        let store = cyberbrain_store_pg::PgStore::connect(&url)
            .await
            .map_err(|e| CliError::failed(format!("cannot connect to PostgreSQL: {e}")))?;
        return Ok(Arc::new(store));
    }
    let store = SqliteStore::connect(&url)
        .await
        .map_err(|e| CliError::failed(format!("cannot open the SQLite database: {e}")))?;
    Ok(Arc::new(store))
}

/// [`migrated`] with the LLM and container engine the configuration names attached: what
/// every command that executes runs uses. A public LLM endpoint is refused here (G1), before
/// anything runs.
pub(crate) async fn with_plugins(config: Config) -> Result<Cyberbrain, CliError> {
    let cb = Cyberbrain::new(store(&config).await?, config);
    let cb = cb.with_configured_plugins().map_err(|e| match e {
        cyberbrain_core::Error::Forbidden(_) => CliError::usage(format!(
            "refused at start-up: {e}\nset LLM_ENDPOINT (llm.endpoint) to a local server \
             (loopback or a private address), or list the host in llm.allow_hosts if it really \
             is on your network"
        )),
        cyberbrain_core::Error::InvalidInput(_) => CliError::usage(format!(
            "the configuration cannot be used: {e}\n\
             fix the value in the configuration file or the environment variable named above"
        )),
        other => CliError::failed(format!(
            "cannot set up the configured LLM or container engine: {other}"
        )),
    })?;
    migrate(cb.store()).await?;
    Ok(cb)
}

/// Connects, applies pending migrations, and returns the SDK handle.
pub(crate) async fn migrated(config: Config) -> Result<Cyberbrain, CliError> {
    let store = store(&config).await?;
    migrate(&store).await?;
    Ok(Cyberbrain::new(store, config))
}

async fn migrate(store: &Arc<dyn Store>) -> Result<(), CliError> {
    store
        .migrate()
        .await
        .map_err(|e| CliError::failed(format!("cannot migrate the database: {e}")))
}
