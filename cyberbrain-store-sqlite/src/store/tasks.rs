//! `TaskStore` (SPEC §2.2).

use async_trait::async_trait;
use cyberbrain_core::domain::{
    NewTaskDefinition, Page, PageRequest, TaskDefinition, TaskDefinitionPatch,
};
use cyberbrain_core::store::TaskStore;
use cyberbrain_core::{Error, Result};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::{Map, Value};

use super::{SqliteStore, exists, page_of};
use crate::codec::{Json, Time, next_update_time, now};
use crate::error::{SqlContext, on_unique};

const COLUMNS: &str = "id, task_key, name, description, default_directive_id, config, is_active, \
                       created_at, updated_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<TaskDefinition> {
    Ok(TaskDefinition {
        id: row.get("id")?,
        task_key: row.get("task_key")?,
        name: row.get("name")?,
        description: row.get("description")?,
        default_directive_id: row.get("default_directive_id")?,
        config: row.get::<_, Json<Map<String, Value>>>("config")?.0,
        is_active: row.get("is_active")?,
        created_at: row.get::<_, Time>("created_at")?.0,
        updated_at: row.get::<_, Time>("updated_at")?.0,
    })
}

fn load(conn: &Connection, id: i64) -> Result<TaskDefinition> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM task_definitions WHERE id = ?1"
    ))
    .and_then(|mut s| s.query_row([id], from_row).optional())
    .context(&format!("loading task definition {id}"))?
    .ok_or_else(|| Error::not_found("task definition", id))
}

/// The default directive must exist; checked inside the write transaction so the answer is a
/// `NotFound` naming it rather than a bare foreign-key failure.
fn check_directive(conn: &Connection, directive_id: Option<i64>) -> Result<()> {
    match directive_id {
        Some(id) if !exists(conn, "directives", id)? => Err(Error::not_found("directive", id)),
        _ => Ok(()),
    }
}

#[async_trait]
impl TaskStore for SqliteStore {
    async fn list_tasks(&self, page: PageRequest) -> Result<Page<TaskDefinition>> {
        self.read(move |conn| page_of(conn, "task_definitions", COLUMNS, page, from_row))
            .await
    }

    async fn get_task(&self, id: i64) -> Result<TaskDefinition> {
        self.read(move |conn| load(conn, id)).await
    }

    async fn get_task_by_key(&self, task_key: &str) -> Result<TaskDefinition> {
        let task_key = task_key.to_string();
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM task_definitions WHERE task_key = ?1"
            ))
            .and_then(|mut s| s.query_row([&task_key], from_row).optional())
            .context(&format!("loading task {task_key:?}"))?
            .ok_or_else(|| Error::not_found("task definition", format!("{task_key:?}")))
        })
        .await
    }

    async fn create_task(&self, new: NewTaskDefinition) -> Result<TaskDefinition> {
        self.write(move |conn| {
            check_directive(conn, new.default_directive_id)?;
            let at = now();
            conn.execute(
                "INSERT INTO task_definitions (task_key, name, description, \
                 default_directive_id, config, is_active, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                params![
                    new.task_key,
                    new.name,
                    new.description,
                    new.default_directive_id,
                    Json(&new.config),
                    new.is_active,
                    Time(at),
                ],
            )
            .map_err(|e| {
                on_unique(e, "task_definitions.task_key", "creating a task definition", || {
                    format!(
                        "a task with key {:?} already exists; choose another key or edit that task",
                        new.task_key
                    )
                })
            })?;
            load(conn, conn.last_insert_rowid())
        })
        .await
    }

    async fn update_task(&self, id: i64, patch: TaskDefinitionPatch) -> Result<TaskDefinition> {
        self.write(move |conn| {
            let current = load(conn, id)?;
            let default_directive_id = patch
                .default_directive_id
                .unwrap_or(current.default_directive_id);
            if patch.default_directive_id.is_some() {
                check_directive(conn, default_directive_id)?;
            }
            conn.execute(
                "UPDATE task_definitions SET name = ?1, description = ?2, \
                 default_directive_id = ?3, config = ?4, is_active = ?5, updated_at = ?6 \
                 WHERE id = ?7",
                params![
                    patch.name.unwrap_or(current.name),
                    patch.description.unwrap_or(current.description),
                    default_directive_id,
                    Json(patch.config.unwrap_or(current.config)),
                    patch.is_active.unwrap_or(current.is_active),
                    Time(next_update_time(current.updated_at)),
                    id,
                ],
            )
            .context(&format!("updating task definition {id}"))?;
            load(conn, id)
        })
        .await
    }

    async fn delete_task(&self, id: i64) -> Result<()> {
        self.write(move |conn| {
            let task = load(conn, id)?;
            let what = format!("deleting task definition {id}");
            let schedules: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM schedules WHERE task_key = ?1",
                    [&task.task_key],
                    |r| r.get(0),
                )
                .context(&what)?;
            if schedules > 0 {
                return Err(Error::conflict(format!(
                    "task {:?} (id {id}) is used by {schedules} schedule(s) and cannot be \
                     deleted; delete those schedules first, or deactivate the task instead \
                     (set is_active to false)",
                    task.task_key
                )));
            }
            conn.execute("DELETE FROM task_definitions WHERE id = ?1", [id])
                .context(&what)?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use cyberbrain_core::store::{ScheduleStore, StoreAdmin, TaskStore};

    use super::*;
    use cyberbrain_core::testing::conformance::new_schedule;

    /// The explicit check is in the conformance suite; behind it, the foreign key's
    /// `ON DELETE RESTRICT` refuses too, should a caller skip the check.
    #[tokio::test]
    async fn the_foreign_key_alone_keeps_a_scheduled_task() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::connect(dir.path().join("cb.db").to_str().unwrap())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let task = store.get_task_by_key("log_triage").await.unwrap();
        store
            .create_schedule(new_schedule("hourly", "log_triage", None))
            .await
            .unwrap();

        let err = store
            .write(move |conn| {
                conn.execute("DELETE FROM task_definitions WHERE id = ?1", [task.id])
                    .context("deleting directly")
            })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
    }
}
