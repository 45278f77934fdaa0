//! `StoreAdmin`: migrations, liveness and what the backend reports about itself.

use async_trait::async_trait;
use cyberbrain_core::Result;
use cyberbrain_core::store::{BackendInfo, StoreAdmin};

use super::PgStore;
use crate::error::PgContext;
use crate::migrate::{self, MIGRATIONS};

#[async_trait]
impl StoreAdmin for PgStore {
    async fn migrate(&self) -> Result<()> {
        let applied = migrate::apply_pending(self.pool(), self.config().schema.as_deref()).await?;
        if applied > 0 {
            tracing::info!(location = %self.config().location(), applied, "PostgreSQL schema migrated");
        }
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query_scalar::<_, i32>("SELECT 1")
            .fetch_one(self.pool())
            .await
            .context("pinging PostgreSQL")?;
        Ok(())
    }

    async fn info(&self) -> Result<BackendInfo> {
        let what = "reading PostgreSQL's status";
        let mut conn = self.pool().acquire().await.context(what)?;
        let (version, database): (String, String) =
            sqlx::query_as("SELECT current_setting('server_version'), current_database()::text")
                .fetch_one(&mut *conn)
                .await
                .context(what)?;
        let schema_version = migrate::applied_versions(&mut conn).await?.len();
        let vector = migrate::vector_status(&mut conn, "vector").await?;
        let known = MIGRATIONS.len();
        // A healthy pgvector is part of the version line; only problems become notes (which
        // `doctor` shows as warnings, with the fix).
        let version = match vector.installed_version() {
            Some(vector_version) => format!("{version} with pgvector {vector_version}"),
            None => version,
        };
        let mut notes: Vec<String> = vector.problem(&database).into_iter().collect();
        if schema_version < known {
            notes.push(format!(
                "{} of {known} schema migrations are pending; run `cyberbrain migrate`",
                known - schema_version
            ));
        }
        Ok(BackendInfo {
            backend: "postgres",
            version,
            location: self.config().location(),
            schema_version: i64::try_from(schema_version).unwrap_or(i64::MAX),
            notes,
        })
    }
}
