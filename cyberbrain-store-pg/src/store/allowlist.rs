//! `AllowlistStore` (SPEC §2.4, G5).

use async_trait::async_trait;
use cyberbrain_core::domain::{
    AllowlistEntry, AllowlistPatch, NewAllowlistEntry, Page, PageRequest,
};
use cyberbrain_core::store::AllowlistStore;
use cyberbrain_core::{Error, Result};
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::{PgStore, next_updated_at, page_of, page_sql};
use crate::error::{PgContext, on_unique};

macro_rules! columns {
    () => {
        "id, container_id, name, description, enabled, tags, created_at, updated_at"
    };
}

const CONTAINER_KEY: &str = "container_allowlist_container_id_key";

fn from_row(row: &PgRow) -> Result<AllowlistEntry, sqlx::Error> {
    Ok(AllowlistEntry {
        id: row.try_get("id")?,
        container_id: row.try_get("container_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        enabled: row.try_get("enabled")?,
        tags: row.try_get("tags")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn container_taken(container_id: &str) -> String {
    format!(
        "container {container_id:?} is already on the allowlist; edit that entry instead \
         (or use the upsert, which replaces it)"
    )
}

fn entry(row: Option<PgRow>, id: i64, what: &str) -> Result<AllowlistEntry> {
    row.map(|row| from_row(&row))
        .transpose()
        .context(what)?
        .ok_or_else(|| Error::not_found("allowlist entry", id))
}

#[async_trait]
impl AllowlistStore for PgStore {
    async fn list_allowlist(&self, page: PageRequest) -> Result<Page<AllowlistEntry>> {
        page_of(
            self,
            "listing allowlist entries",
            &page_sql!("container_allowlist", columns!()),
            page,
            from_row,
        )
        .await
    }

    async fn enabled_allowlist(&self) -> Result<Vec<AllowlistEntry>> {
        let what = "listing enabled allowlist entries";
        sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM container_allowlist WHERE enabled ORDER BY id"
        ))
        .fetch_all(self.pool())
        .await
        .context(what)?
        .iter()
        .map(from_row)
        .collect::<Result<Vec<_>, _>>()
        .context(what)
    }

    async fn get_allowlist_entry(&self, id: i64) -> Result<AllowlistEntry> {
        let what = format!("loading allowlist entry {id}");
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM container_allowlist WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .context(&what)?;
        entry(row, id, &what)
    }

    async fn create_allowlist_entry(&self, new: NewAllowlistEntry) -> Result<AllowlistEntry> {
        let what = "adding an allowlist entry";
        let row = sqlx::query(concat!(
            "INSERT INTO container_allowlist (container_id, name, description, enabled, tags, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, now(), now()) RETURNING ",
            columns!()
        ))
        .bind(&new.container_id)
        .bind(&new.name)
        .bind(&new.description)
        .bind(new.enabled)
        .bind(&new.tags)
        .fetch_one(self.pool())
        .await
        .map_err(|e| {
            on_unique(e, CONTAINER_KEY, what, || {
                container_taken(&new.container_id)
            })
        })?;
        from_row(&row).context(what)
    }

    async fn upsert_allowlist_entry(&self, new: NewAllowlistEntry) -> Result<AllowlistEntry> {
        // One statement: PostgreSQL's ON CONFLICT makes insert-or-replace atomic however many
        // writers race for the same container.
        let what = format!(
            "upserting allowlist entry for container {:?}",
            new.container_id
        );
        let row = sqlx::query(concat!(
            "INSERT INTO container_allowlist (container_id, name, description, enabled, tags, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, now(), now()) \
             ON CONFLICT (container_id) DO UPDATE SET name = EXCLUDED.name, \
             description = EXCLUDED.description, enabled = EXCLUDED.enabled, \
             tags = EXCLUDED.tags, \
             updated_at = GREATEST(now(), container_allowlist.updated_at + interval '1 microsecond') \
             RETURNING ",
            columns!()
        ))
        .bind(&new.container_id)
        .bind(&new.name)
        .bind(&new.description)
        .bind(new.enabled)
        .bind(&new.tags)
        .fetch_one(self.pool())
        .await
        .context(&what)?;
        from_row(&row).context(&what)
    }

    async fn update_allowlist_entry(
        &self,
        id: i64,
        patch: AllowlistPatch,
    ) -> Result<AllowlistEntry> {
        let what = format!("updating allowlist entry {id}");
        let mut tx = self.begin(&what).await?;
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM container_allowlist WHERE id = $1 FOR UPDATE"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .context(&what)?;
        let current = entry(row, id, &what)?;
        let container_id = patch.container_id.unwrap_or(current.container_id);
        let row = sqlx::query(concat!(
            "UPDATE container_allowlist SET container_id = $1, name = $2, description = $3, \
             enabled = $4, tags = $5, updated_at = ",
            next_updated_at!(),
            " WHERE id = $6 RETURNING ",
            columns!()
        ))
        .bind(&container_id)
        .bind(patch.name.unwrap_or(current.name))
        .bind(patch.description.unwrap_or(current.description))
        .bind(patch.enabled.unwrap_or(current.enabled))
        .bind(patch.tags.unwrap_or(current.tags))
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| on_unique(e, CONTAINER_KEY, &what, || container_taken(&container_id)))?;
        let updated = from_row(&row).context(&what)?;
        tx.commit().await.context(&what)?;
        Ok(updated)
    }

    async fn delete_allowlist_entry(&self, id: i64) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM container_allowlist WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await
            .context(&format!("deleting allowlist entry {id}"))?
            .rows_affected();
        if deleted == 0 {
            return Err(Error::not_found("allowlist entry", id));
        }
        Ok(())
    }
}
