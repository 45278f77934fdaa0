//! # Cyberbrain
//!
//! A local-first operations assistant as an embeddable SDK: diagnostic tasks over logs, GPUs and
//! containers, explained by a **local** LLM, with reports, schedules, a private RAG knowledge base
//! and privacy guardrails.
//!
//! This facade re-exports [`cyberbrain_core`] and, behind features, the stores (`sqlite`, the
//! default; `postgres`) and the hosts (`http`, `mcp`).
//!
//! ```no_run
//! # async fn demo() -> cyberbrain::Result<()> {
//! let cb = cyberbrain::open("sqlite://cyberbrain-data/cyberbrain.db", cyberbrain::Config::default()).await?;
//! for directive in cb.list_directives(Default::default()).await?.items {
//!     println!("{} ({})", directive.name, directive.directive_type);
//! }
//! # Ok(()) }
//! ```

pub use cyberbrain_core::*;

#[cfg(feature = "http")]
pub use cyberbrain_http as http;
#[cfg(feature = "mcp")]
pub use cyberbrain_mcp as mcp;
#[cfg(feature = "postgres")]
pub use cyberbrain_store_pg as store_pg;
#[cfg(feature = "sqlite")]
pub use cyberbrain_store_sqlite as store_sqlite;

/// Opens the store a database URL names, applies migrations, and returns an SDK handle.
///
/// `sqlite://…` (and plain paths) select the embedded SQLite store; `postgres://…` selects
/// PostgreSQL when the `postgres` feature is on.
pub async fn open(database_url: &str, config: Config) -> Result<Cyberbrain> {
    #[cfg(feature = "postgres")]
    if cyberbrain_store_pg::handles_url(database_url) {
        let store = cyberbrain_store_pg::PgStore::connect(database_url).await?;
        store.migrate().await?;
        return Ok(Cyberbrain::new(std::sync::Arc::new(store), config));
    }
    #[cfg(feature = "sqlite")]
    {
        let store = cyberbrain_store_sqlite::SqliteStore::connect(database_url).await?;
        store.migrate().await?;
        return Ok(Cyberbrain::new(std::sync::Arc::new(store), config));
    }
    #[allow(unreachable_code)]
    Err(Error::invalid(
        "database_url",
        format!(
            "no enabled backend handles {database_url:?}; enable the sqlite or postgres feature"
        ),
    ))
}
