//! Embedded schema migrations, applied in order and recorded in `schema_migrations`.
//!
//! All pending migrations run inside the caller's `BEGIN IMMEDIATE` transaction (SQLite DDL is
//! transactional), so two processes migrating at once serialise and the second finds nothing
//! to do; a failing migration leaves the database as it was.

use std::collections::BTreeSet;

use cyberbrain_core::{Error, Result};
use rusqlite::{Connection, params};

use crate::codec::{Time, now};
use crate::error::SqlContext;

/// One embedded migration.
#[derive(Debug)]
pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, in the order they apply. Never edit one that has shipped; add a new one.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "schema",
        sql: include_str!("../migrations/0001_schema.sql"),
    },
    Migration {
        version: 2,
        name: "seed",
        sql: include_str!("../migrations/0002_seed.sql"),
    },
    Migration {
        version: 3,
        name: "run_engine",
        sql: include_str!("../migrations/0003_run_engine.sql"),
    },
    Migration {
        version: 4,
        name: "rag_progress",
        sql: include_str!("../migrations/0004_rag_progress.sql"),
    },
];

const CREATE_TRACKING_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
)";

/// Applies every pending migration; returns how many were applied.
pub(crate) fn apply_pending(conn: &Connection) -> Result<usize> {
    conn.execute_batch(CREATE_TRACKING_TABLE)
        .context("creating schema_migrations")?;
    let applied = applied_versions(conn)?;
    let newest_known = MIGRATIONS.last().map_or(0, |m| m.version);
    if let Some(&newest_applied) = applied.last()
        && newest_applied > newest_known
    {
        return Err(Error::unavailable(
            "database",
            format!(
                "the database schema is at version {newest_applied}, newer than this build of \
                 Cyberbrain knows ({newest_known}); upgrade Cyberbrain or use another database file"
            ),
        ));
    }
    let mut count = 0;
    for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let what = format!(
            "applying migration {:04}_{}",
            migration.version, migration.name
        );
        conn.execute_batch(migration.sql).context(&what)?;
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            params![migration.version, migration.name, Time(now())],
        )
        .context(&what)?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied migration"
        );
        count += 1;
    }
    Ok(count)
}

/// Versions recorded as applied (empty when the tracking table does not exist yet).
pub(crate) fn applied_versions(conn: &Connection) -> Result<BTreeSet<i64>> {
    let exists: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')",
            [],
            |row| row.get(0),
        )
        .context("reading schema_migrations")?;
    if !exists {
        return Ok(BTreeSet::new());
    }
    let mut statement = conn
        .prepare("SELECT version FROM schema_migrations ORDER BY version")
        .context("reading schema_migrations")?;
    let versions = statement
        .query_map([], |row| row.get::<_, i64>(0))
        .and_then(|rows| rows.collect::<rusqlite::Result<BTreeSet<i64>>>())
        .context("reading schema_migrations")?;
    Ok(versions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_strictly_increasing() {
        for pair in MIGRATIONS.windows(2) {
            assert!(pair[0].version < pair[1].version, "{pair:?}");
        }
    }

    #[test]
    fn migrations_apply_once_on_a_bare_connection() {
        let conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        assert_eq!(apply_pending(&conn).unwrap(), MIGRATIONS.len());
        assert_eq!(apply_pending(&conn).unwrap(), 0);
        assert_eq!(applied_versions(&conn).unwrap().len(), MIGRATIONS.len());
        let fk_problems: i64 = conn
            .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(fk_problems, 0);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let conn = Connection::open_in_memory().unwrap();
        apply_pending(&conn).unwrap();
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 'x')",
            [],
        )
        .unwrap();
        let err = apply_pending(&conn).unwrap_err();
        assert!(err.to_string().contains("newer than this build"), "{err}");
    }
}
