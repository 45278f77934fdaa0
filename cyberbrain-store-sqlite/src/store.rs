//! [`SqliteStore`]: the connection pool and the read/write helpers every trait impl uses. The
//! trait impls live in one module per area.

/// The SQL condition on a run `r` whose pending jobs an executor may claim (`ClaimJobs`): not
/// awaiting or refused approval, not ended, no cancel request. A macro so `concat!` can build
/// constant statements around it.
macro_rules! runnable_run {
    () => {
        "r.approval_status IN ('none', 'approved') AND r.status IN ('pending', 'running') \
         AND r.cancel_requested_at IS NULL"
    };
}

mod accounting;
mod admin;
mod allowlist;
mod artifacts;
mod directives;
mod rag;
mod runs;
mod schedules;
mod tasks;

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use cyberbrain_core::domain::{Page, PageRequest};
use cyberbrain_core::{Error, Result};
use rusqlite::{Connection, OpenFlags, Row, ToSql, TransactionBehavior};

use crate::codec::sql_int;
use crate::config::SqliteConfig;
use crate::error::{SqlContext, from_sqlite, worker_failed};
use crate::vector_index::VectorIndexes;

/// The Cyberbrain store on one SQLite file. Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct SqliteStore {
    pool: Arc<Pool>,
}

struct Pool {
    config: SqliteConfig,
    /// Every write of this process goes through this connection, one transaction at a time.
    writer: Mutex<Connection>,
    /// Read-only connections; WAL lets them read while the writer writes.
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    /// The journal mode SQLite accepted (`wal` unless the filesystem cannot do it).
    journal_mode: String,
    /// The vector index beside the database file, shared by every clone of the store.
    vectors: Arc<VectorIndexes>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.pool.config.path)
            .field("readers", &self.pool.readers.len())
            .field("journal_mode", &self.pool.journal_mode)
            .finish()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database a URL or path names: `sqlite:///abs/path.db`,
    /// `sqlite://relative/path.db`, or a bare path. See [`SqliteConfig::from_url`]. Does not
    /// migrate; call `StoreAdmin::migrate`.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(SqliteConfig::from_url(url)?).await
    }

    /// Opens the database with an explicit configuration.
    pub async fn connect_with(config: SqliteConfig) -> Result<Self> {
        let pool = tokio::task::spawn_blocking(move || Pool::open(config))
            .await
            .map_err(worker_failed)??;
        Ok(Self {
            pool: Arc::new(pool),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.pool.config.path
    }

    pub fn config(&self) -> &SqliteConfig {
        &self.pool.config
    }

    /// Runs `f` on a reader connection inside one read transaction, so every query in `f` sees
    /// the same snapshot (a page and its total count agree).
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let pool = Arc::clone(&self.pool);
        tokio::task::spawn_blocking(move || {
            let conn = pool.reader();
            let tx = conn
                .unchecked_transaction()
                .context("starting a read transaction")?;
            f(&tx)
        })
        .await
        .map_err(worker_failed)?
    }

    /// Runs `f` on the writer connection inside one `BEGIN IMMEDIATE` transaction, committed
    /// when `f` succeeds and rolled back otherwise. Taking the write lock up front is what makes
    /// read-then-write sequences safe across processes.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let pool = Arc::clone(&self.pool);
        tokio::task::spawn_blocking(move || {
            let mut conn = lock(&pool.writer);
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .context("starting a write transaction")?;
            let out = f(&tx)?;
            tx.commit().context("committing a write transaction")?;
            Ok(out)
        })
        .await
        .map_err(worker_failed)?
    }
}

impl Pool {
    fn open(config: SqliteConfig) -> Result<Self> {
        let path = config.path.clone();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                Error::unavailable(
                    "database",
                    format!(
                        "cannot create the directory {} for the SQLite database: {e}; create it \
                         or choose another path in the database URL",
                        parent.display()
                    ),
                )
            })?;
        }
        let what = format!("opening SQLite database {}", path.display());
        let writer = Connection::open(&path).context(&what)?;
        writer.busy_timeout(config.busy_timeout).context(&what)?;
        // WAL: readers never block the writer and vice versa; persistent in the file.
        let journal_mode: String = writer
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .context(&what)?;
        writer
            .pragma_update(None, "foreign_keys", "ON")
            .context(&what)?;
        // NORMAL is durable across application crashes in WAL mode and much faster than FULL.
        writer
            .pragma_update(None, "synchronous", "NORMAL")
            .context(&what)?;
        let readers = (0..config.readers.max(1))
            .map(|_| {
                let reader = Connection::open_with_flags(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .context(&what)?;
                reader.busy_timeout(config.busy_timeout).context(&what)?;
                reader
                    .pragma_update(None, "foreign_keys", "ON")
                    .context(&what)?;
                // A reader must never write: writes belong in an IMMEDIATE transaction.
                reader
                    .pragma_update(None, "query_only", "ON")
                    .context(&what)?;
                Ok(Mutex::new(reader))
            })
            .collect::<Result<Vec<_>>>()?;
        if journal_mode != "wal" {
            tracing::warn!(path = %path.display(), journal_mode, "SQLite refused WAL journal mode");
        }
        Ok(Self {
            vectors: Arc::new(VectorIndexes::new(&path)),
            config,
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
            journal_mode,
        })
    }

    /// A free reader if there is one, else the next in turn (waiting for it).
    fn reader(&self) -> MutexGuard<'_, Connection> {
        for reader in &self.readers {
            if let Ok(guard) = reader.try_lock() {
                return guard;
            }
        }
        let index = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        lock(&self.readers[index])
    }
}

/// A panic while holding a connection rolls its transaction back (the transaction's `Drop`), so
/// the connection is still usable and a poisoned lock can be taken over.
fn lock(mutex: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One page of `table` ordered by id, and the table's row count, from one snapshot.
pub(crate) fn page_of<T>(
    conn: &Connection,
    table: &str,
    columns: &str,
    page: PageRequest,
    from_row: fn(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Page<T>> {
    page_matching(
        conn,
        Listing {
            table,
            columns,
            filter: "1",
            order: "id",
        },
        &[],
        page,
        from_row,
    )
}

/// What [`page_matching`] lists: `columns` of the rows of `table` matching `filter` (an SQL
/// condition over the parameters `?1`, `?2`, …), sorted by `order`.
pub(crate) struct Listing<'a> {
    pub table: &'a str,
    pub columns: &'a str,
    pub filter: &'a str,
    pub order: &'a str,
}

/// One page of the rows a [`Listing`] selects with `args` bound to its filter, and how many rows
/// match, from one snapshot (callers run it inside one read transaction).
pub(crate) fn page_matching<T>(
    conn: &Connection,
    listing: Listing<'_>,
    args: &[&dyn ToSql],
    page: PageRequest,
    from_row: fn(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Page<T>> {
    let Listing {
        table,
        columns,
        filter,
        order,
    } = listing;
    let what = format!("listing {table}");
    let count: i64 = conn
        .prepare_cached(&format!("SELECT COUNT(*) FROM {table} WHERE {filter}"))
        .and_then(|mut s| s.query_row(args, |row| row.get(0)))
        .context(&what)?;
    let n = args.len();
    let (limit, offset) = (sql_int(page.limit()), sql_int(page.offset()));
    let mut all_args = args.to_vec();
    all_args.extend([&limit as &dyn ToSql, &offset]);
    let items = conn
        .prepare_cached(&format!(
            "SELECT {columns} FROM {table} WHERE {filter} ORDER BY {order} LIMIT ?{} OFFSET ?{}",
            n + 1,
            n + 2
        ))
        .and_then(|mut s| {
            s.query_map(all_args.as_slice(), from_row)?
                .collect::<rusqlite::Result<Vec<T>>>()
        })
        .context(&what)?;
    Ok(Page {
        count: u64::try_from(count).unwrap_or(0),
        items,
    })
}

/// Whether a row with this id exists in `table`.
pub(crate) fn exists(conn: &Connection, table: &str, id: i64) -> Result<bool> {
    conn.query_row(
        &format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE id = ?1)"),
        [id],
        |row| row.get(0),
    )
    .map_err(|e| from_sqlite(e, &format!("looking up {table} {id}")))
}
