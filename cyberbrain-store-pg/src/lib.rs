//! Cyberbrain's [`Store`](cyberbrain_core::Store) on PostgreSQL + pgvector: the same logical
//! schema, seed data and contract as the SQLite store, for deployments that want a server
//! database. A user switches backends by giving a `postgres://` database URL and nothing else.
//!
//! ```no_run
//! # async fn demo() -> cyberbrain_core::Result<()> {
//! use cyberbrain_core::store::StoreAdmin;
//! let store = cyberbrain_store_pg::PgStore::connect("postgres://cyberbrain@localhost/cyberbrain").await?;
//! store.migrate().await?;
//! # Ok(()) }
//! ```
//!
//! How it stays correct under concurrency:
//!
//! * **Claims** check the concurrency limits and lease jobs in one transaction that first takes a
//!   transaction-scoped advisory lock keyed on the schema: claimers in every process take turns,
//!   each counting what the previous one committed, so together they never exceed the limits or
//!   take a job twice. Finishing, reaping and cancelling only lower the counts and do not wait
//!   for that lock.
//! * **Run changes** (finish and roll-up, reap, cancel, approve, deny, LLM call sums) are each one
//!   transaction that locks the run row and then its jobs, the order claims use too: concurrent
//!   finishes of a run's last jobs serialise on the run, so exactly one of them ends it.
//! * **Read-modify-write** updates (version bumps, partial updates) lock the row with
//!   `SELECT … FOR UPDATE` first; the allowlist upsert is one `INSERT … ON CONFLICT`.
//! * **Lists** read a page and its total from one REPEATABLE READ snapshot, so they agree.
//! * **Migrations** run in one transaction under an advisory lock keyed on the schema; several
//!   processes may migrate at once.
//!
//! Storage conventions (see `migrations/0001_schema.sql`): BIGINT identity ids (never reused),
//! TIMESTAMPTZ times at microsecond precision, JSONB for JSON (JSON for the directive snapshot,
//! whose exact text is hashed), TEXT[] for tags, TEXT enums checked against their wire names, and
//! `vector(384)` embeddings with an HNSW index for cosine distance. `updated_at` moves forward on
//! every update, even within one microsecond.
//!
//! Errors are mapped to [`cyberbrain_core::Error`] at this crate's boundary: a unique violation is
//! `Conflict` naming the value, a lost or refused connection is `Unavailable`, and a server
//! without pgvector fails `migrate` with the fix (`scripts/pg.sh` installs PostgreSQL 15 and
//! builds pgvector 0.8 for a local throwaway cluster).

mod config;
mod error;
mod migrate;
mod store;
pub mod testing;

pub use config::PgConfig;
pub use store::PgStore;

/// Whether `url` selects this backend (`postgres://` or `postgresql://`).
pub fn handles_url(url: &str) -> bool {
    let url = url.trim_start();
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

#[cfg(test)]
mod test_support {
    pub(crate) use crate::testing::fresh_store;
}

#[cfg(test)]
mod tests {
    #[test]
    fn postgres_urls_are_recognised() {
        assert!(super::handles_url("postgres://u@h/db"));
        assert!(super::handles_url("postgresql://u@h/db"));
        assert!(!super::handles_url("sqlite:///tmp/cb.db"));
        assert!(!super::handles_url("/tmp/cb.db"));
    }
}
