//! Embedded schema migrations, applied in order and recorded in `schema_migrations`, and the
//! pgvector check that comes before them.
//!
//! All pending migrations run in one transaction (PostgreSQL DDL is transactional) that first
//! takes a transaction-scoped advisory lock keyed on the target schema: any number of processes
//! migrating the same schema at once serialise, and the later ones find nothing to do. A failing
//! migration leaves the database as it was.

use std::collections::BTreeSet;

use cyberbrain_core::{Error, Result};
use sqlx::{PgConnection, PgPool};

use crate::error::{PgContext, sqlstate};

/// One embedded migration.
#[derive(Debug)]
pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, in the order they apply. Never edit one that has shipped; add a new one.
/// Versions and names match the SQLite store's, so both report the same schema version.
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

/// The oldest pgvector with HNSW indexes.
const MIN_VECTOR_VERSION: (u32, u32) = (0, 5);

const CREATE_TRACKING_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    BIGINT      PRIMARY KEY,
    name       TEXT        NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)";

/// Applies every pending migration in `schema` (or the connection's current schema); returns
/// how many were applied.
pub(crate) async fn apply_pending(pool: &PgPool, schema: Option<&str>) -> Result<usize> {
    ensure_vector(pool, schema.is_some()).await?;
    let mut tx = pool.begin().await.context("starting the migration")?;
    let target: String = match schema {
        Some(schema) => schema.to_string(),
        None => sqlx::query_scalar("SELECT COALESCE(current_schema(), 'public')")
            .fetch_one(&mut *tx)
            .await
            .context("reading the current schema")?,
    };
    // Serialise every migrator of this schema, in any process, until this transaction ends.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("cyberbrain.migrate:{target}"))
        .execute(&mut *tx)
        .await
        .context("taking the migration lock")?;
    if let Some(schema) = schema {
        // The name was checked by `PgConfig` to need no quoting.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}; SET LOCAL search_path TO {schema}, public"
        )))
        .execute(&mut *tx)
        .await
        .context(&format!("creating schema {schema}"))?;
    }
    sqlx::raw_sql(CREATE_TRACKING_TABLE)
        .execute(&mut *tx)
        .await
        .context("creating schema_migrations")?;
    let applied = versions(&mut tx).await?;
    let newest_known = MIGRATIONS.last().map_or(0, |m| m.version);
    if let Some(&newest_applied) = applied.last()
        && newest_applied > newest_known
    {
        return Err(Error::unavailable(
            "database",
            format!(
                "the database schema is at version {newest_applied}, newer than this build of \
                 Cyberbrain knows ({newest_known}); upgrade Cyberbrain or use another database"
            ),
        ));
    }
    let mut count = 0;
    for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let what = format!(
            "applying migration {:04}_{}",
            migration.version, migration.name
        );
        sqlx::raw_sql(migration.sql)
            .execute(&mut *tx)
            .await
            .context(&what)?;
        sqlx::query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)")
            .bind(migration.version)
            .bind(migration.name)
            .execute(&mut *tx)
            .await
            .context(&what)?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            schema = %target,
            "applied migration"
        );
        count += 1;
    }
    tx.commit().await.context("committing the migration")?;
    Ok(count)
}

/// Versions recorded as applied (empty when the tracking table does not exist yet).
pub(crate) async fn applied_versions(conn: &mut PgConnection) -> Result<BTreeSet<i64>> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('schema_migrations') IS NOT NULL")
        .fetch_one(&mut *conn)
        .await
        .context("reading schema_migrations")?;
    if !exists {
        return Ok(BTreeSet::new());
    }
    versions(conn).await
}

async fn versions(conn: &mut PgConnection) -> Result<BTreeSet<i64>> {
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await
            .context("reading schema_migrations")?;
    Ok(versions.into_iter().collect())
}

/// Whether and where pgvector is installed in this database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VectorStatus {
    /// `CREATE EXTENSION vector` was run: its version and schema, and whether the `vector` type
    /// resolves on this connection's search path.
    Installed {
        version: String,
        schema: String,
        on_search_path: bool,
    },
    /// The server has the extension files but this database has not enabled it.
    Available { version: String },
    /// The server has no pgvector at all; the server's major version, for the fix.
    Missing { server_major: Option<i32> },
}

impl VectorStatus {
    /// The problem an operator must fix (`doctor` shows it as a warning), or `None` when
    /// pgvector is installed, new enough for HNSW and on the search path.
    pub(crate) fn problem(&self, database: &str) -> Option<String> {
        match self {
            Self::Installed {
                version, schema, ..
            } if !version_at_least(version, MIN_VECTOR_VERSION) => Some(format!(
                "pgvector {version} (schema {schema}) is too old for HNSW indexes (needs 0.5.0 or \
                 newer): install a newer pgvector (scripts/pg.sh builds 0.8.0), then run \
                 ALTER EXTENSION vector UPDATE"
            )),
            Self::Installed {
                schema,
                on_search_path: false,
                ..
            } => Some(format!(
                "pgvector is installed in schema {schema}, which is not on this connection's \
                 search path: add it (options=-c search_path=...) or install the extension in \
                 schema public"
            )),
            Self::Installed { .. } => None,
            Self::Available { version } => Some(format!(
                "pgvector {version} is available on this server but not enabled in database \
                 {database}: run `cyberbrain migrate` as a superuser, or have one run \
                 CREATE EXTENSION vector; in that database"
            )),
            Self::Missing { server_major } => Some(missing_vector_message(*server_major)),
        }
    }

    /// The installed version, for the backend's version line.
    pub(crate) fn installed_version(&self) -> Option<&str> {
        match self {
            Self::Installed { version, .. } => Some(version),
            _ => None,
        }
    }
}

/// The error for a server without pgvector: what is wrong and how to fix it. `major` is the
/// server's major version, for the package name.
pub(crate) fn missing_vector_message(major: Option<i32>) -> String {
    let package = match major {
        Some(major) => format!("postgresql-{major}-pgvector"),
        None => "postgresql-<major>-pgvector".to_string(),
    };
    format!(
        "the pgvector extension is not installed on this PostgreSQL server (no `vector` in \
         pg_available_extensions): install it — on Debian/Ubuntu `apt-get install {package}`, \
         or build pgvector 0.8 from source as scripts/pg.sh does — then run `cyberbrain migrate` \
         again"
    )
}

/// Reads where pgvector stands for this connection.
pub(crate) async fn vector_status(
    conn: &mut PgConnection,
    extension: &str,
) -> Result<VectorStatus> {
    let installed: Option<(String, String)> = sqlx::query_as(
        "SELECT e.extversion, n.nspname FROM pg_extension e \
         JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = $1",
    )
    .bind(extension)
    .fetch_optional(&mut *conn)
    .await
    .context("checking the pgvector extension")?;
    if let Some((version, schema)) = installed {
        let on_search_path: bool = sqlx::query_scalar("SELECT $1 = ANY (current_schemas(true))")
            .bind(&schema)
            .fetch_one(&mut *conn)
            .await
            .context("checking the search path")?;
        return Ok(VectorStatus::Installed {
            version,
            schema,
            on_search_path,
        });
    }
    let available: Option<String> =
        sqlx::query_scalar("SELECT default_version FROM pg_available_extensions WHERE name = $1")
            .bind(extension)
            .fetch_optional(&mut *conn)
            .await
            .context("checking the available extensions")?;
    if let Some(version) = available {
        return Ok(VectorStatus::Available { version });
    }
    let server_major: Option<i32> =
        sqlx::query_scalar("SELECT current_setting('server_version_num')::int / 10000")
            .fetch_optional(&mut *conn)
            .await
            .context("reading the server version")?;
    Ok(VectorStatus::Missing { server_major })
}

/// Makes sure pgvector is usable before the schema that needs it is created: enables it when the
/// server has it (in `public` when the store has its own schema, so dropping that schema never
/// drops the extension other schemas use), or fails naming the fix.
pub(crate) async fn ensure_vector(pool: &PgPool, own_schema: bool) -> Result<()> {
    ensure_extension(pool, "vector", own_schema).await
}

/// [`ensure_vector`] for any extension name (the tests check the "missing" branch with a name no
/// server has).
pub(crate) async fn ensure_extension(
    pool: &PgPool,
    extension: &str,
    own_schema: bool,
) -> Result<()> {
    let mut conn = pool
        .acquire()
        .await
        .context("checking the pgvector extension")?;
    let (database, role): (String, String) =
        sqlx::query_as("SELECT current_database()::text, current_user::text")
            .fetch_one(&mut *conn)
            .await
            .context("reading the database name")?;
    match vector_status(&mut conn, extension).await? {
        status @ VectorStatus::Installed { .. } => match status.problem(&database) {
            Some(problem) => Err(Error::unavailable("pgvector", problem)),
            None => Ok(()),
        },
        status @ VectorStatus::Missing { .. } => Err(Error::unavailable(
            "pgvector",
            status.problem(&database).unwrap_or_default(),
        )),
        VectorStatus::Available { .. } => {
            let mut tx = sqlx::Connection::begin(&mut *conn)
                .await
                .context("enabling the pgvector extension")?;
            // One creator per database at a time: concurrent `CREATE EXTENSION IF NOT EXISTS`
            // would otherwise race on the catalog's unique index.
            sqlx::query(
                "SELECT pg_advisory_xact_lock(hashtextextended('cyberbrain.extension', 0))",
            )
            .execute(&mut *tx)
            .await
            .context("taking the extension lock")?;
            let sql = match (extension, own_schema) {
                ("vector", true) => "CREATE EXTENSION IF NOT EXISTS vector SCHEMA public",
                ("vector", false) => "CREATE EXTENSION IF NOT EXISTS vector",
                _ => {
                    return Err(Error::backend(format!(
                        "enabling extension {extension:?} is not supported"
                    )));
                }
            };
            match sqlx::query(sql).execute(&mut *tx).await {
                Ok(_) => {}
                Err(err) if sqlstate(&err).as_deref() == Some("42501") => {
                    return Err(Error::unavailable(
                        "pgvector",
                        format!(
                            "the pgvector extension is available on this server but not enabled \
                             in database {database}, and role {role} may not enable it \
                             (CREATE EXTENSION vector needs a superuser or the database owner \
                             with a trusted extension): have a superuser run \
                             CREATE EXTENSION vector; in database {database}, then run \
                             `cyberbrain migrate` again"
                        ),
                    ));
                }
                Err(err) => return Err(err).context("enabling the pgvector extension"),
            }
            tx.commit()
                .await
                .context("enabling the pgvector extension")?;
            tracing::info!(database, "enabled the pgvector extension");
            Ok(())
        }
    }
}

/// `"0.8.0" >= (0, 5)`; unparseable versions count as new enough (the server knows better).
fn version_at_least(version: &str, (major, minor): (u32, u32)) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>());
    match (parts.next(), parts.next()) {
        (Some(Ok(a)), Some(Ok(b))) => (a, b) >= (major, minor),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fresh_store;

    /// No server here lacks pgvector (the test cluster has it), so the "not installed on this
    /// server" branch is driven with an extension name no server has: the same lookup in
    /// pg_available_extensions comes back empty, as it would for `vector` on a server without
    /// pgvector's files.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_without_the_extension_names_the_fix() {
        let (store, _schema) = fresh_store().await;
        let mut conn = store.pool().acquire().await.unwrap();
        let status = vector_status(&mut conn, "cyberbrain_no_such_extension")
            .await
            .unwrap();
        let VectorStatus::Missing {
            server_major: Some(major),
        } = status
        else {
            panic!("expected Missing with the server's major version, got {status:?}");
        };
        assert!(major >= 13, "{major}");
        assert!(matches!(
            vector_status(&mut conn, "vector").await.unwrap(),
            VectorStatus::Installed {
                on_search_path: true,
                ..
            }
        ));
        let err = ensure_extension(store.pool(), "cyberbrain_no_such_extension", true)
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(&err, Error::Unavailable { component, .. } if component == "pgvector"),
            "{text}"
        );
        assert!(
            text.contains("not installed on this PostgreSQL server")
                && text.contains(&format!("apt-get install postgresql-{major}-pgvector"))
                && text.contains("scripts/pg.sh"),
            "{text}"
        );
        // With the extension present, the same check passes (and migrate ran it already).
        ensure_vector(store.pool(), true).await.unwrap();
    }

    #[test]
    fn versions_are_strictly_increasing() {
        for pair in MIGRATIONS.windows(2) {
            assert!(pair[0].version < pair[1].version, "{pair:?}");
        }
    }

    #[test]
    fn pgvector_versions_compare() {
        assert!(version_at_least("0.8.0", MIN_VECTOR_VERSION));
        assert!(version_at_least("0.5.0", MIN_VECTOR_VERSION));
        assert!(version_at_least("1.0", MIN_VECTOR_VERSION));
        assert!(!version_at_least("0.4.4", MIN_VECTOR_VERSION));
        assert!(version_at_least("dev", MIN_VECTOR_VERSION));
    }

    #[test]
    fn every_vector_problem_says_what_to_do() {
        let fine = VectorStatus::Installed {
            version: "0.8.0".into(),
            schema: "public".into(),
            on_search_path: true,
        };
        assert_eq!(fine.problem("cb"), None);
        assert_eq!(fine.installed_version(), Some("0.8.0"));
        let old = VectorStatus::Installed {
            version: "0.4.4".into(),
            schema: "public".into(),
            on_search_path: true,
        };
        assert!(
            old.problem("cb")
                .unwrap()
                .contains("ALTER EXTENSION vector UPDATE")
        );
        let hidden = VectorStatus::Installed {
            version: "0.8.0".into(),
            schema: "ext".into(),
            on_search_path: false,
        };
        assert!(hidden.problem("cb").unwrap().contains("search path"));
        let available = VectorStatus::Available {
            version: "0.8.0".into(),
        };
        let text = available.problem("cb").unwrap();
        assert!(
            text.contains("CREATE EXTENSION vector") && text.contains("database cb"),
            "{text}"
        );
        assert_eq!(available.installed_version(), None);
        let missing = VectorStatus::Missing {
            server_major: Some(16),
        }
        .problem("cb")
        .unwrap();
        assert!(missing.contains("postgresql-16-pgvector"), "{missing}");
        assert!(
            missing.contains("pgvector") && missing.contains("scripts/pg.sh"),
            "{missing}"
        );
    }
}
