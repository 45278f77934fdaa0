//! `AllowlistStore` (SPEC §2.4, G5).

use async_trait::async_trait;
use cyberbrain_core::domain::{
    AllowlistEntry, AllowlistPatch, NewAllowlistEntry, Page, PageRequest,
};
use cyberbrain_core::store::AllowlistStore;
use cyberbrain_core::{Error, Result};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{SqliteStore, page_of};
use crate::codec::{Json, Time, next_update_time, now};
use crate::error::{SqlContext, on_unique};

const COLUMNS: &str = "id, container_id, name, description, enabled, tags, created_at, updated_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<AllowlistEntry> {
    Ok(AllowlistEntry {
        id: row.get("id")?,
        container_id: row.get("container_id")?,
        name: row.get("name")?,
        description: row.get("description")?,
        enabled: row.get("enabled")?,
        tags: row.get::<_, Json<Vec<String>>>("tags")?.0,
        created_at: row.get::<_, Time>("created_at")?.0,
        updated_at: row.get::<_, Time>("updated_at")?.0,
    })
}

fn load(conn: &Connection, id: i64) -> Result<AllowlistEntry> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM container_allowlist WHERE id = ?1"
    ))
    .and_then(|mut s| s.query_row([id], from_row).optional())
    .context(&format!("loading allowlist entry {id}"))?
    .ok_or_else(|| Error::not_found("allowlist entry", id))
}

fn find_by_container(conn: &Connection, container_id: &str) -> Result<Option<AllowlistEntry>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM container_allowlist WHERE container_id = ?1"
    ))
    .and_then(|mut s| s.query_row([container_id], from_row).optional())
    .context(&format!(
        "loading allowlist entry for container {container_id:?}"
    ))
}

fn container_taken(container_id: &str) -> String {
    format!(
        "container {container_id:?} is already on the allowlist; edit that entry instead \
         (or use the upsert, which replaces it)"
    )
}

fn insert(conn: &Connection, new: &NewAllowlistEntry) -> Result<AllowlistEntry> {
    conn.execute(
        "INSERT INTO container_allowlist (container_id, name, description, enabled, tags, \
         created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![
            new.container_id,
            new.name,
            new.description,
            new.enabled,
            Json(&new.tags),
            Time(now())
        ],
    )
    .map_err(|e| {
        on_unique(
            e,
            "container_allowlist.container_id",
            "adding an allowlist entry",
            || container_taken(&new.container_id),
        )
    })?;
    load(conn, conn.last_insert_rowid())
}

#[async_trait]
impl AllowlistStore for SqliteStore {
    async fn list_allowlist(&self, page: PageRequest) -> Result<Page<AllowlistEntry>> {
        self.read(move |conn| page_of(conn, "container_allowlist", COLUMNS, page, from_row))
            .await
    }

    async fn enabled_allowlist(&self) -> Result<Vec<AllowlistEntry>> {
        self.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM container_allowlist WHERE enabled = 1 ORDER BY id"
            ))
            .and_then(|mut s| s.query_map([], from_row)?.collect())
            .context("listing enabled allowlist entries")
        })
        .await
    }

    async fn get_allowlist_entry(&self, id: i64) -> Result<AllowlistEntry> {
        self.read(move |conn| load(conn, id)).await
    }

    async fn create_allowlist_entry(&self, new: NewAllowlistEntry) -> Result<AllowlistEntry> {
        self.write(move |conn| insert(conn, &new)).await
    }

    async fn upsert_allowlist_entry(&self, new: NewAllowlistEntry) -> Result<AllowlistEntry> {
        // Look-up and write share one IMMEDIATE transaction: no other writer, in this process
        // or another, can insert the same container in between.
        self.write(move |conn| {
            let Some(current) = find_by_container(conn, &new.container_id)? else {
                return insert(conn, &new);
            };
            conn.execute(
                "UPDATE container_allowlist SET name = ?1, description = ?2, enabled = ?3, \
                 tags = ?4, updated_at = ?5 WHERE id = ?6",
                params![
                    new.name,
                    new.description,
                    new.enabled,
                    Json(&new.tags),
                    Time(next_update_time(current.updated_at)),
                    current.id,
                ],
            )
            .context(&format!("replacing allowlist entry {}", current.id))?;
            load(conn, current.id)
        })
        .await
    }

    async fn update_allowlist_entry(
        &self,
        id: i64,
        patch: AllowlistPatch,
    ) -> Result<AllowlistEntry> {
        self.write(move |conn| {
            let current = load(conn, id)?;
            let container_id = patch.container_id.unwrap_or(current.container_id);
            conn.execute(
                "UPDATE container_allowlist SET container_id = ?1, name = ?2, description = ?3, \
                 enabled = ?4, tags = ?5, updated_at = ?6 WHERE id = ?7",
                params![
                    container_id,
                    patch.name.unwrap_or(current.name),
                    patch.description.unwrap_or(current.description),
                    patch.enabled.unwrap_or(current.enabled),
                    Json(patch.tags.unwrap_or(current.tags)),
                    Time(next_update_time(current.updated_at)),
                    id,
                ],
            )
            .map_err(|e| {
                on_unique(
                    e,
                    "container_allowlist.container_id",
                    &format!("updating allowlist entry {id}"),
                    || container_taken(&container_id),
                )
            })?;
            load(conn, id)
        })
        .await
    }

    async fn delete_allowlist_entry(&self, id: i64) -> Result<()> {
        self.write(move |conn| {
            let deleted = conn
                .execute("DELETE FROM container_allowlist WHERE id = ?1", [id])
                .context(&format!("deleting allowlist entry {id}"))?;
            if deleted == 0 {
                return Err(Error::not_found("allowlist entry", id));
            }
            Ok(())
        })
        .await
    }
}
