//! `DirectiveStore` (SPEC §2.1).

use async_trait::async_trait;
use cyberbrain_core::domain::{
    Directive, DirectivePatch, DirectiveType, NewDirective, Page, PageRequest,
};
use cyberbrain_core::store::DirectiveStore;
use cyberbrain_core::{Error, Result};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::{Map, Value};

use super::{SqliteStore, page_of};
use crate::codec::{Json, Time, Wire, next_update_time, now};
use crate::error::{SqlContext, on_unique};

const COLUMNS: &str = "id, name, directive_type, description, directive_text, task_config, \
                       is_builtin, is_active, approval_required, version, created_at, updated_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Directive> {
    Ok(Directive {
        id: row.get("id")?,
        name: row.get("name")?,
        directive_type: row.get::<_, Wire<DirectiveType>>("directive_type")?.0,
        description: row.get("description")?,
        directive_text: row.get("directive_text")?,
        task_config: row.get::<_, Json<Map<String, Value>>>("task_config")?.0,
        is_builtin: row.get("is_builtin")?,
        is_active: row.get("is_active")?,
        approval_required: row.get("approval_required")?,
        version: row.get("version")?,
        created_at: row.get::<_, Time>("created_at")?.0,
        updated_at: row.get::<_, Time>("updated_at")?.0,
    })
}

pub(crate) fn load(conn: &Connection, id: i64) -> Result<Directive> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM directives WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id], from_row).optional())
        .context(&format!("loading directive {id}"))?
        .ok_or_else(|| Error::not_found("directive", id))
}

fn name_taken(name: &str) -> String {
    format!("a directive named {name:?} already exists; choose another name or edit that directive")
}

#[async_trait]
impl DirectiveStore for SqliteStore {
    async fn list_directives(&self, page: PageRequest) -> Result<Page<Directive>> {
        self.read(move |conn| page_of(conn, "directives", COLUMNS, page, from_row))
            .await
    }

    async fn get_directive(&self, id: i64) -> Result<Directive> {
        self.read(move |conn| load(conn, id)).await
    }

    async fn get_directive_by_name(&self, name: &str) -> Result<Directive> {
        let name = name.to_string();
        self.read(move |conn| {
            conn.prepare_cached(&format!("SELECT {COLUMNS} FROM directives WHERE name = ?1"))
                .and_then(|mut s| s.query_row([&name], from_row).optional())
                .context(&format!("loading directive {name:?}"))?
                .ok_or_else(|| Error::not_found("directive", format!("{name:?}")))
        })
        .await
    }

    async fn create_directive(&self, new: NewDirective) -> Result<Directive> {
        self.write(move |conn| {
            let at = now();
            conn.execute(
                "INSERT INTO directives (name, directive_type, description, directive_text, \
                 task_config, is_builtin, is_active, approval_required, version, created_at, \
                 updated_at) VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7, 1, ?8, ?8)",
                params![
                    new.name,
                    Wire(new.directive_type),
                    new.description,
                    new.directive_text,
                    Json(&new.task_config),
                    new.is_active,
                    new.effective_approval_required(),
                    Time(at),
                ],
            )
            .map_err(|e| {
                on_unique(e, "directives.name", "creating a directive", || {
                    name_taken(&new.name)
                })
            })?;
            load(conn, conn.last_insert_rowid())
        })
        .await
    }

    async fn update_directive(&self, id: i64, patch: DirectivePatch) -> Result<Directive> {
        self.write(move |conn| {
            let current = load(conn, id)?;
            let version = if patch.changes_versioned_fields(&current) {
                current.version + 1
            } else {
                current.version
            };
            let name = patch.name.unwrap_or(current.name);
            conn.execute(
                "UPDATE directives SET name = ?1, directive_type = ?2, description = ?3, \
                 directive_text = ?4, task_config = ?5, is_active = ?6, approval_required = ?7, \
                 version = ?8, updated_at = ?9 WHERE id = ?10",
                params![
                    name,
                    Wire(patch.directive_type.unwrap_or(current.directive_type)),
                    patch.description.unwrap_or(current.description),
                    patch.directive_text.unwrap_or(current.directive_text),
                    Json(patch.task_config.unwrap_or(current.task_config)),
                    patch.is_active.unwrap_or(current.is_active),
                    patch.approval_required.unwrap_or(current.approval_required),
                    version,
                    Time(next_update_time(current.updated_at)),
                    id,
                ],
            )
            .map_err(|e| {
                on_unique(
                    e,
                    "directives.name",
                    &format!("updating directive {id}"),
                    || name_taken(&name),
                )
            })?;
            load(conn, id)
        })
        .await
    }

    async fn delete_directive(&self, id: i64) -> Result<()> {
        self.write(move |conn| {
            let directive = load(conn, id)?;
            if directive.is_builtin {
                return Err(Error::conflict(format!(
                    "directive {:?} (id {id}) is built-in and cannot be deleted; deactivate it \
                     instead (set is_active to false)",
                    directive.name
                )));
            }
            let schedules: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM schedules WHERE directive_id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .context(&format!("deleting directive {id}"))?;
            if schedules > 0 {
                return Err(Error::conflict(format!(
                    "directive {:?} (id {id}) is used by {schedules} schedule(s); point those \
                     schedules at another directive or delete them first, or deactivate the \
                     directive instead",
                    directive.name
                )));
            }
            // Runs hold snapshots, not references: they are untouched (G4).
            conn.execute("DELETE FROM directives WHERE id = ?1", [id])
                .context(&format!("deleting directive {id}"))?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use cyberbrain_core::store::{DirectiveStore, ScheduleStore, StoreAdmin};

    use super::*;
    use cyberbrain_core::domain::NewSchedule;
    use cyberbrain_core::testing::conformance::new_schedule;

    /// A directive a schedule runs under cannot be deleted (the schedule would silently change directive otherwise).
    #[tokio::test]
    async fn directive_used_by_a_schedule_cannot_be_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::connect(dir.path().join("cb.db").to_str().unwrap())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let directive = store
            .create_directive(NewDirective::new("Nightly", DirectiveType::D2))
            .await
            .unwrap();
        let id = directive.id;
        store
            .create_schedule(NewSchedule {
                directive_id: Some(id),
                ..new_schedule("nightly", "log_triage", None)
            })
            .await
            .unwrap();
        let err = store.delete_directive(id).await.unwrap_err();
        assert!(
            matches!(&err, Error::Conflict(m) if m.contains("schedule")),
            "{err}"
        );
        assert_eq!(store.get_directive(id).await.unwrap(), directive);
    }
}
