//! `StoreAdmin`: migrations, liveness and what the backend reports about itself.

use async_trait::async_trait;
use cyberbrain_core::Result;
use cyberbrain_core::store::{BackendInfo, StoreAdmin};

use super::SqliteStore;
use crate::error::SqlContext;
use crate::migrate;

#[async_trait]
impl StoreAdmin for SqliteStore {
    async fn migrate(&self) -> Result<()> {
        let applied = self.write(migrate::apply_pending).await?;
        if applied > 0 {
            tracing::info!(path = %self.path().display(), applied, "SQLite schema migrated");
        }
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        self.read(|conn| {
            conn.query_row("SELECT 1", [], |row| row.get::<_, i64>(0))
                .context("pinging")?;
            Ok(())
        })
        .await
    }

    async fn info(&self) -> Result<BackendInfo> {
        let schema_version = self.read(migrate::applied_versions).await?.len();
        let known = migrate::MIGRATIONS.len();
        let mut notes = Vec::new();
        if schema_version < known {
            notes.push(format!(
                "{} of {known} schema migrations are pending; run `cyberbrain migrate`",
                known - schema_version
            ));
        }
        if self.pool.journal_mode != "wal" {
            notes.push(format!(
                "SQLite is in {:?} journal mode, not WAL (the filesystem may not support it): \
                 readers and writers block each other; put the database on a local disk",
                self.pool.journal_mode
            ));
        }
        Ok(BackendInfo {
            backend: "sqlite",
            version: rusqlite::version().to_string(),
            location: self.path().display().to_string(),
            schema_version: i64::try_from(schema_version).unwrap_or(i64::MAX),
            notes,
        })
    }
}
