//! [`PgStore`]: the connection pool and the helpers every trait impl uses. The trait impls live
//! in one module per area.

mod accounting;
mod admin;
mod allowlist;
mod artifacts;
mod claims;
mod directives;
mod lifecycle;
mod rag;
mod runs;
mod schedules;
mod tasks;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use cyberbrain_core::domain::{Page, PageRequest};
use cyberbrain_core::{Error, Result};
use sqlx::postgres::{PgArguments, PgPoolOptions, PgRow};
use sqlx::query::Query;
use sqlx::{Connection, PgConnection, PgPool, Postgres, Row, Transaction};

use crate::config::PgConfig;
use crate::error::PgContext;

/// The Cyberbrain store on PostgreSQL. Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    config: PgConfig,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("location", &self.inner.config.location())
            .field("pool_size", &self.inner.config.pool_size)
            .finish()
    }
}

impl PgStore {
    /// Connects to the database a `postgres://` URL names (see [`PgConfig::from_url`] for the
    /// parameters). Fails with `Unavailable` when the server cannot be reached or refuses the
    /// login, and `InvalidInput` for a malformed URL. Does not migrate; call
    /// `StoreAdmin::migrate`.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(PgConfig::from_url(url)?).await
    }

    /// Connects with an explicit configuration.
    pub async fn connect_with(config: PgConfig) -> Result<Self> {
        let what = format!("connecting to {}", config.location());
        // One direct attempt first: an unreachable server or a refused login fails now, with
        // the real reason, instead of as a pool timeout on first use.
        let first = tokio::time::timeout(
            config.acquire_timeout,
            PgConnection::connect_with(&config.connect),
        )
        .await
        .map_err(|_| {
            Error::unavailable(
                "database",
                format!(
                    "{what}: no answer within {} ms; check that the server is running and \
                     reachable, or raise acquire_timeout_ms in the database URL",
                    config.acquire_timeout.as_millis()
                ),
            )
        })?
        .context(&what)?;
        // Only a probe: a failure to say goodbye politely changes nothing.
        let _ = first.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(config.pool_size)
            .min_connections(0)
            .acquire_timeout(config.acquire_timeout)
            .connect_lazy_with(config.connect.clone());
        tracing::debug!(location = %config.location(), pool_size = config.pool_size, "connected to PostgreSQL");
        Ok(Self {
            inner: Arc::new(Inner { pool, config }),
        })
    }

    pub fn config(&self) -> &PgConfig {
        &self.inner.config
    }

    /// The connection pool, for code in this crate and for tests that inspect the tables.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// Closes every pooled connection; later calls fail with `Unavailable`.
    pub async fn close(&self) {
        self.inner.pool.close().await;
    }

    /// A read-write transaction (READ COMMITTED; row locks make read-modify-write safe).
    pub(crate) async fn begin(&self, what: &str) -> Result<Transaction<'static, Postgres>> {
        self.inner.pool.begin().await.context(what)
    }

    /// A read-only snapshot: every query in it sees the same data (a page and its total agree).
    pub(crate) async fn snapshot(&self, what: &str) -> Result<Transaction<'static, Postgres>> {
        self.inner
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .context(what)
    }
}

/// The SQL a page of one table needs: the row count and one page ordered by id.
pub(crate) struct PageSql {
    pub count: &'static str,
    pub page: &'static str,
}

/// `PageSql` for a table and its column list (both literals, or macros expanding to them).
macro_rules! page_sql {
    ($table:literal, $columns:expr) => {
        $crate::store::PageSql {
            count: concat!("SELECT COUNT(*) FROM ", $table),
            page: concat!(
                "SELECT ",
                $columns,
                " FROM ",
                $table,
                " ORDER BY id LIMIT $1 OFFSET $2"
            ),
        }
    };
}
pub(crate) use page_sql;

/// One page ordered by id and the table's row count, from one snapshot.
pub(crate) async fn page_of<T>(
    store: &PgStore,
    what: &str,
    sql: &PageSql,
    page: PageRequest,
    from_row: fn(&PgRow) -> Result<T, sqlx::Error>,
) -> Result<Page<T>> {
    page_where(store, what, sql, page, |query| query, from_row).await
}

/// A query whose parameters are being bound.
pub(crate) type PgQuery<'q> = Query<'q, Postgres, PgArguments>;

/// One page of the rows a filter selects and their count, from one snapshot. `bind` binds the
/// filter's parameters (`$1`…`$k`) to both statements; the page statement takes its limit and
/// offset after them (`$k+1`, `$k+2`).
pub(crate) async fn page_where<T>(
    store: &PgStore,
    what: &str,
    sql: &PageSql,
    page: PageRequest,
    bind: impl for<'q> Fn(PgQuery<'q>) -> PgQuery<'q>,
    from_row: fn(&PgRow) -> Result<T, sqlx::Error>,
) -> Result<Page<T>> {
    let mut tx = store.snapshot(what).await?;
    let count: i64 = bind(sqlx::query(sql.count))
        .fetch_one(&mut *tx)
        .await
        .and_then(|row| row.try_get(0))
        .context(what)?;
    let rows = bind(sqlx::query(sql.page))
        .bind(sql_int(page.limit()))
        .bind(sql_int(page.offset()))
        .fetch_all(&mut *tx)
        .await
        .context(what)?;
    let items = rows
        .iter()
        .map(from_row)
        .collect::<Result<Vec<T>, _>>()
        .context(what)?;
    tx.commit().await.context(what)?;
    Ok(Page {
        count: u64::try_from(count).unwrap_or(0),
        items,
    })
}

/// Rows decoded with `from_row`, errors in the context of `what`.
pub(crate) fn decode_all<T>(
    rows: &[PgRow],
    what: &str,
    from_row: fn(&PgRow) -> Result<T, sqlx::Error>,
) -> Result<Vec<T>> {
    rows.iter()
        .map(from_row)
        .collect::<Result<Vec<T>, _>>()
        .context(what)
}

/// An enum column holding the enum's wire name.
pub(crate) fn wire<T>(row: &PgRow, column: &str) -> Result<T, sqlx::Error>
where
    T: FromStr<Err = String>,
{
    let text: String = row.try_get(column)?;
    text.parse().map_err(|e: String| sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: e.into(),
    })
}

/// A JSONB column decoded into `T`.
pub(crate) fn json<T>(row: &PgRow, column: &str) -> Result<T, sqlx::Error>
where
    T: serde::de::DeserializeOwned,
{
    row.try_get::<sqlx::types::Json<T>, _>(column)
        .map(|json| json.0)
}

/// Page offsets and limits as BIGINT (saturating; a page that far out is just empty).
pub(crate) fn sql_int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The SQL that moves `updated_at` on every update: now, but always later than before, so an
/// update is visible as a change even within one microsecond or after a clock step back.
macro_rules! next_updated_at {
    () => {
        "GREATEST(now(), updated_at + interval '1 microsecond')"
    };
}
pub(crate) use next_updated_at;
