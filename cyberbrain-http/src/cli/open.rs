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

/// Connects, applies pending migrations, and returns the SDK handle.
pub(crate) async fn migrated(config: Config) -> Result<Cyberbrain, CliError> {
    let store = store(&config).await?;
    store
        .migrate()
        .await
        .map_err(|e| CliError::failed(format!("cannot migrate the database: {e}")))?;
    Ok(Cyberbrain::new(store, config))
}
