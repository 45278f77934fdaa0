//! `DirectiveStore` (SPEC §2.1).

use async_trait::async_trait;
use cyberbrain_core::domain::{Directive, DirectivePatch, NewDirective, Page, PageRequest};
use cyberbrain_core::store::DirectiveStore;
use cyberbrain_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, Row};

use super::{PgStore, json, next_updated_at, page_of, page_sql, wire};
use crate::error::{PgContext, on_unique};

macro_rules! columns {
    () => {
        "id, name, directive_type, description, directive_text, task_config, is_builtin, \
         is_active, approval_required, version, created_at, updated_at"
    };
}

const NAME_KEY: &str = "directives_name_key";

fn from_row(row: &PgRow) -> Result<Directive, sqlx::Error> {
    Ok(Directive {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        directive_type: wire(row, "directive_type")?,
        description: row.try_get("description")?,
        directive_text: row.try_get("directive_text")?,
        task_config: json(row, "task_config")?,
        is_builtin: row.try_get("is_builtin")?,
        is_active: row.try_get("is_active")?,
        approval_required: row.try_get("approval_required")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The directive with this id, locked for update when `for_update` (inside a transaction).
async fn load(conn: &mut PgConnection, id: i64, for_update: bool) -> Result<Directive> {
    let sql = if for_update {
        concat!(
            "SELECT ",
            columns!(),
            " FROM directives WHERE id = $1 FOR UPDATE"
        )
    } else {
        concat!("SELECT ", columns!(), " FROM directives WHERE id = $1")
    };
    let what = format!("loading directive {id}");
    sqlx::query(sql)
        .bind(id)
        .fetch_optional(conn)
        .await
        .context(&what)?
        .map(|row| from_row(&row))
        .transpose()
        .context(&what)?
        .ok_or_else(|| Error::not_found("directive", id))
}

fn name_taken(name: &str) -> String {
    format!("a directive named {name:?} already exists; choose another name or edit that directive")
}

#[async_trait]
impl DirectiveStore for PgStore {
    async fn list_directives(&self, page: PageRequest) -> Result<Page<Directive>> {
        page_of(
            self,
            "listing directives",
            &page_sql!("directives", columns!()),
            page,
            from_row,
        )
        .await
    }

    async fn get_directive(&self, id: i64) -> Result<Directive> {
        let mut conn = self
            .pool()
            .acquire()
            .await
            .context(&format!("loading directive {id}"))?;
        load(&mut conn, id, false).await
    }

    async fn get_directive_by_name(&self, name: &str) -> Result<Directive> {
        let what = format!("loading directive {name:?}");
        sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM directives WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(self.pool())
        .await
        .context(&what)?
        .map(|row| from_row(&row))
        .transpose()
        .context(&what)?
        .ok_or_else(|| Error::not_found("directive", format!("{name:?}")))
    }

    async fn create_directive(&self, new: NewDirective) -> Result<Directive> {
        let what = "creating a directive";
        let row = sqlx::query(concat!(
            "INSERT INTO directives (name, directive_type, description, directive_text, \
             task_config, is_builtin, is_active, approval_required, version, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, FALSE, $6, $7, 1, now(), now()) RETURNING ",
            columns!()
        ))
        .bind(&new.name)
        .bind(new.directive_type.as_str())
        .bind(&new.description)
        .bind(&new.directive_text)
        .bind(Json(&new.task_config))
        .bind(new.is_active)
        .bind(new.effective_approval_required())
        .fetch_one(self.pool())
        .await
        .map_err(|e| on_unique(e, NAME_KEY, what, || name_taken(&new.name)))?;
        from_row(&row).context(what)
    }

    async fn update_directive(&self, id: i64, patch: DirectivePatch) -> Result<Directive> {
        let what = format!("updating directive {id}");
        let mut tx = self.begin(&what).await?;
        // The row lock makes the version decision and the write one step: a concurrent update
        // waits, then sees this one's result.
        let current = load(&mut tx, id, true).await?;
        let version = if patch.changes_versioned_fields(&current) {
            current.version + 1
        } else {
            current.version
        };
        let name = patch.name.unwrap_or(current.name);
        let row = sqlx::query(concat!(
            "UPDATE directives SET name = $1, directive_type = $2, description = $3, \
             directive_text = $4, task_config = $5, is_active = $6, approval_required = $7, \
             version = $8, updated_at = ",
            next_updated_at!(),
            " WHERE id = $9 RETURNING ",
            columns!()
        ))
        .bind(&name)
        .bind(
            patch
                .directive_type
                .unwrap_or(current.directive_type)
                .as_str(),
        )
        .bind(patch.description.unwrap_or(current.description))
        .bind(patch.directive_text.unwrap_or(current.directive_text))
        .bind(Json(patch.task_config.unwrap_or(current.task_config)))
        .bind(patch.is_active.unwrap_or(current.is_active))
        .bind(patch.approval_required.unwrap_or(current.approval_required))
        .bind(version)
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| on_unique(e, NAME_KEY, &what, || name_taken(&name)))?;
        let updated = from_row(&row).context(&what)?;
        tx.commit().await.context(&what)?;
        Ok(updated)
    }

    async fn delete_directive(&self, id: i64) -> Result<()> {
        let what = format!("deleting directive {id}");
        let mut tx = self.begin(&what).await?;
        let directive = load(&mut tx, id, true).await?;
        if directive.is_builtin {
            return Err(Error::conflict(format!(
                "directive {:?} (id {id}) is built-in and cannot be deleted; deactivate it \
                 instead (set is_active to false)",
                directive.name
            )));
        }
        let schedules: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM schedules WHERE directive_id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .context(&what)?;
        if schedules > 0 {
            return Err(Error::conflict(format!(
                "directive {:?} (id {id}) is used by {schedules} schedule(s); point those \
                 schedules at another directive or delete them first, or deactivate the \
                 directive instead",
                directive.name
            )));
        }
        // Runs hold snapshots, not references: they are untouched (G4). A schedule created
        // since the count is still refused by the foreign key (ON DELETE RESTRICT).
        sqlx::query("DELETE FROM directives WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .context(&what)?;
        tx.commit().await.context(&what)
    }
}

#[cfg(test)]
mod tests {
    use cyberbrain_core::domain::DirectiveType;
    use cyberbrain_core::store::DirectiveStore;

    use super::*;
    use crate::test_support::fresh_store;

    /// The schedule is inserted directly, below the store API: a directive a schedule
    /// runs under cannot be deleted (the schedule would silently change directive otherwise).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn directive_used_by_a_schedule_cannot_be_deleted() {
        let (store, _guard) = fresh_store().await;
        let directive = store
            .create_directive(NewDirective::new("Nightly", DirectiveType::D2))
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO schedules (name, task_key, directive_id, schedule_type, \
             interval_minutes, created_at, updated_at) VALUES ('nightly', 'log_triage', $1, \
             'interval', 1440, now(), now())",
        )
        .bind(directive.id)
        .execute(store.pool())
        .await
        .unwrap();
        let err = store.delete_directive(directive.id).await.unwrap_err();
        assert!(
            matches!(&err, Error::Conflict(m) if m.contains("schedule")),
            "{err}"
        );
        assert_eq!(store.get_directive(directive.id).await.unwrap(), directive);

        // The foreign key alone also refuses, should a caller skip the check.
        let err = sqlx::query("DELETE FROM directives WHERE id = $1")
            .bind(directive.id)
            .execute(store.pool())
            .await
            .context("deleting directly")
            .unwrap_err();
        assert!(
            matches!(&err, Error::Conflict(m) if m.contains("deleting directly")),
            "{err}"
        );
    }
}
