//! `TaskStore` (SPEC §2.2).

use async_trait::async_trait;
use cyberbrain_core::domain::{
    NewTaskDefinition, Page, PageRequest, TaskDefinition, TaskDefinitionPatch,
};
use cyberbrain_core::store::TaskStore;
use cyberbrain_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, Row};

use super::{PgStore, json, next_updated_at, page_of, page_sql};
use crate::error::{PgContext, on_unique};

macro_rules! columns {
    () => {
        "id, task_key, name, description, default_directive_id, config, is_active, created_at, \
         updated_at"
    };
}

fn from_row(row: &PgRow) -> Result<TaskDefinition, sqlx::Error> {
    Ok(TaskDefinition {
        id: row.try_get("id")?,
        task_key: row.try_get("task_key")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        default_directive_id: row.try_get("default_directive_id")?,
        config: json(row, "config")?,
        is_active: row.try_get("is_active")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

async fn load(conn: &mut PgConnection, id: i64, for_update: bool) -> Result<TaskDefinition> {
    let sql = if for_update {
        concat!(
            "SELECT ",
            columns!(),
            " FROM task_definitions WHERE id = $1 FOR UPDATE"
        )
    } else {
        concat!(
            "SELECT ",
            columns!(),
            " FROM task_definitions WHERE id = $1"
        )
    };
    let what = format!("loading task definition {id}");
    sqlx::query(sql)
        .bind(id)
        .fetch_optional(conn)
        .await
        .context(&what)?
        .map(|row| from_row(&row))
        .transpose()
        .context(&what)?
        .ok_or_else(|| Error::not_found("task definition", id))
}

/// The default directive must exist; checked inside the write transaction (and share-locked,
/// so it cannot be deleted before the commit) so the answer is a `NotFound` naming it rather
/// than a bare foreign-key failure.
async fn check_directive(conn: &mut PgConnection, directive_id: Option<i64>) -> Result<()> {
    let Some(id) = directive_id else {
        return Ok(());
    };
    let found = sqlx::query("SELECT 1 FROM directives WHERE id = $1 FOR KEY SHARE")
        .bind(id)
        .fetch_optional(conn)
        .await
        .context(&format!("looking up directive {id}"))?;
    match found {
        Some(_) => Ok(()),
        None => Err(Error::not_found("directive", id)),
    }
}

#[async_trait]
impl TaskStore for PgStore {
    async fn list_tasks(&self, page: PageRequest) -> Result<Page<TaskDefinition>> {
        page_of(
            self,
            "listing task definitions",
            &page_sql!("task_definitions", columns!()),
            page,
            from_row,
        )
        .await
    }

    async fn get_task(&self, id: i64) -> Result<TaskDefinition> {
        let mut conn = self
            .pool()
            .acquire()
            .await
            .context(&format!("loading task definition {id}"))?;
        load(&mut conn, id, false).await
    }

    async fn get_task_by_key(&self, task_key: &str) -> Result<TaskDefinition> {
        let what = format!("loading task {task_key:?}");
        sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM task_definitions WHERE task_key = $1"
        ))
        .bind(task_key)
        .fetch_optional(self.pool())
        .await
        .context(&what)?
        .map(|row| from_row(&row))
        .transpose()
        .context(&what)?
        .ok_or_else(|| Error::not_found("task definition", format!("{task_key:?}")))
    }

    async fn create_task(&self, new: NewTaskDefinition) -> Result<TaskDefinition> {
        let what = "creating a task definition";
        let mut tx = self.begin(what).await?;
        check_directive(&mut tx, new.default_directive_id).await?;
        let row = sqlx::query(concat!(
            "INSERT INTO task_definitions (task_key, name, description, default_directive_id, \
             config, is_active, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, now(), now()) RETURNING ",
            columns!()
        ))
        .bind(&new.task_key)
        .bind(&new.name)
        .bind(&new.description)
        .bind(new.default_directive_id)
        .bind(Json(&new.config))
        .bind(new.is_active)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| {
            on_unique(e, "task_definitions_task_key_key", what, || {
                format!(
                    "a task with key {:?} already exists; choose another key or edit that task",
                    new.task_key
                )
            })
        })?;
        let created = from_row(&row).context(what)?;
        tx.commit().await.context(what)?;
        Ok(created)
    }

    async fn update_task(&self, id: i64, patch: TaskDefinitionPatch) -> Result<TaskDefinition> {
        let what = format!("updating task definition {id}");
        let mut tx = self.begin(&what).await?;
        let current = load(&mut tx, id, true).await?;
        let default_directive_id = patch
            .default_directive_id
            .unwrap_or(current.default_directive_id);
        if patch.default_directive_id.is_some() {
            check_directive(&mut tx, default_directive_id).await?;
        }
        let row = sqlx::query(concat!(
            "UPDATE task_definitions SET name = $1, description = $2, default_directive_id = $3, \
             config = $4, is_active = $5, updated_at = ",
            next_updated_at!(),
            " WHERE id = $6 RETURNING ",
            columns!()
        ))
        .bind(patch.name.unwrap_or(current.name))
        .bind(patch.description.unwrap_or(current.description))
        .bind(default_directive_id)
        .bind(Json(patch.config.unwrap_or(current.config)))
        .bind(patch.is_active.unwrap_or(current.is_active))
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .context(&what)?;
        let updated = from_row(&row).context(&what)?;
        tx.commit().await.context(&what)?;
        Ok(updated)
    }

    async fn delete_task(&self, id: i64) -> Result<()> {
        let what = format!("deleting task definition {id}");
        let mut tx = self.begin(&what).await?;
        let task = load(&mut tx, id, true).await?;
        let schedules: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM schedules WHERE task_key = $1")
                .bind(&task.task_key)
                .fetch_one(&mut *tx)
                .await
                .context(&what)?;
        if schedules > 0 {
            return Err(Error::conflict(format!(
                "task {:?} (id {id}) is used by {schedules} schedule(s) and cannot be deleted; \
                 delete those schedules first, or deactivate the task instead (set is_active to \
                 false)",
                task.task_key
            )));
        }
        sqlx::query("DELETE FROM task_definitions WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .context(&what)?;
        tx.commit().await.context(&what)
    }
}

#[cfg(test)]
mod tests {
    use cyberbrain_core::store::TaskStore;

    use super::*;
    use crate::test_support::fresh_store;

    /// The schedule is inserted directly, below the store API: a task a schedule uses
    /// cannot be deleted, by the explicit check and by the `ON DELETE RESTRICT` behind it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn task_used_by_a_schedule_cannot_be_deleted() {
        let (store, _guard) = fresh_store().await;
        let task = store.get_task_by_key("log_triage").await.unwrap();
        sqlx::query(
            "INSERT INTO schedules (name, task_key, schedule_type, interval_minutes, created_at, \
             updated_at) VALUES ('hourly', 'log_triage', 'interval', 60, now(), now())",
        )
        .execute(store.pool())
        .await
        .unwrap();

        let err = store.delete_task(task.id).await.unwrap_err();
        assert!(
            matches!(&err, Error::Conflict(m) if m.contains("schedule")),
            "{err}"
        );
        assert_eq!(store.get_task(task.id).await.unwrap(), task);

        let err = sqlx::query("DELETE FROM task_definitions WHERE id = $1")
            .bind(task.id)
            .execute(store.pool())
            .await
            .context("deleting directly")
            .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
    }
}
