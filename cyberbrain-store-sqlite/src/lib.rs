//! Cyberbrain's [`Store`](cyberbrain_core::Store) on SQLite: one database file, usable by any
//! number of tasks and processes at once.
//!
//! ```no_run
//! # async fn demo() -> cyberbrain_core::Result<()> {
//! use cyberbrain_core::store::StoreAdmin;
//! let store = cyberbrain_store_sqlite::SqliteStore::connect("sqlite://cyberbrain-data/cyberbrain.db").await?;
//! store.migrate().await?;
//! # Ok(()) }
//! ```
//!
//! How it stays safe and fast:
//!
//! * **Never blocks the runtime.** Every statement runs on `tokio::task::spawn_blocking`.
//! * **Small pool.** One writer connection (behind a mutex) carries every write of this process;
//!   a few read-only connections serve reads. WAL journal mode lets readers and the writer work
//!   at the same time.
//! * **Writes are transactions.** Every write runs in one `BEGIN IMMEDIATE` transaction, which
//!   takes SQLite's write lock up front, so read-then-write sequences (job claims, upserts,
//!   version bumps) serialise correctly across processes; `busy_timeout` makes a second process
//!   wait for the lock instead of failing. A failed call rolls back and writes nothing.
//! * **Limits are counted under the lock.** A job claim counts the running runs and jobs, picks
//!   the jobs that fit the claim's limits (and a schedule's stricter ones) and leases them in
//!   that one transaction, so executors in any number of processes never exceed the limits
//!   together.
//!
//! Storage conventions (see `migrations/0001_schema.sql`):
//!
//! * **Times** are TEXT, RFC 3339 UTC with exactly six fractional digits and a `Z`
//!   (`2025-01-31T08:15:00.123456Z`). The fixed width makes text order equal time order, so SQL
//!   compares and sorts times as strings. Times are truncated to the microsecond on the way in
//!   (the same precision Postgres keeps), and values read back are what was stored.
//! * **JSON** (configs, snapshots, results, tags) is TEXT holding valid JSON.
//! * **Ids** never repeat: tables use `AUTOINCREMENT`.

mod codec;
mod config;
mod error;
mod migrate;
mod store;
mod vector_index;

pub use config::SqliteConfig;
pub use store::SqliteStore;
