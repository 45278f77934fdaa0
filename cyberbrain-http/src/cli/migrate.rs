//! `cyberbrain migrate`: apply pending migrations and print the schema version.

use cyberbrain_core::Config;

use super::{CliError, open};

pub(crate) async fn run(config: Config) -> Result<(), CliError> {
    let cb = open::migrated(config).await?;
    let info = cb.store().info().await.map_err(|e| {
        CliError::failed(format!("migrated, but cannot read the schema version: {e}"))
    })?;
    println!(
        "database migrated: {} {} at {}, schema version {}",
        info.backend, info.version, info.location, info.schema_version
    );
    Ok(())
}
