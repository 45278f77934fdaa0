//! # Cyberbrain
//!
//! A local-first operations assistant as an embeddable SDK: diagnostic tasks over logs, GPUs and
//! containers, explained by a **local** LLM, with reports, schedules, a private RAG knowledge base
//! and privacy guardrails.
//!
//! This facade re-exports [`cyberbrain_core`] and, behind features, the stores (`sqlite`, the
//! default; `postgres`), the hosts (`http`, `mcp`) and the clients [`open`] attaches from the
//! configuration (`llm`: the OpenAI-compatible LLM client; `docker`: the Docker Engine API
//! client).
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

/// Opens the store a database URL names, applies migrations, and returns an SDK handle with
/// the LLM and container engine the configuration names attached (where the `llm` and `docker`
/// features built their clients; see [`Cyberbrain::with_configured_plugins`]).
///
/// `sqlite://…` (and plain paths) select the embedded SQLite store; `postgres://…` selects
/// PostgreSQL when the `postgres` feature is on. A public LLM endpoint is refused
/// ([`Error::Forbidden`], G1) before any migration runs.
pub async fn open(database_url: &str, config: Config) -> Result<Cyberbrain> {
    #[cfg(feature = "postgres")]
    if cyberbrain_store_pg::handles_url(database_url) {
        let store = cyberbrain_store_pg::PgStore::connect(database_url).await?;
        return attach_and_migrate(std::sync::Arc::new(store), config).await;
    }
    #[cfg(feature = "sqlite")]
    {
        let store = cyberbrain_store_sqlite::SqliteStore::connect(database_url).await?;
        return attach_and_migrate(std::sync::Arc::new(store), config).await;
    }
    #[allow(unreachable_code)]
    Err(Error::invalid(
        "database_url",
        format!(
            "no enabled backend handles {database_url:?}; enable the sqlite or postgres feature"
        ),
    ))
}

/// Attaches the configured plug-ins (refusing a public LLM endpoint) before migrating.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
async fn attach_and_migrate(
    store: std::sync::Arc<dyn Store>,
    config: Config,
) -> Result<Cyberbrain> {
    let cb = Cyberbrain::new(store, config).with_configured_plugins()?;
    cb.store().migrate().await?;
    Ok(cb)
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::*;

    // Test builds always have core's `openai` client: the benchmark's `cyberbrain-http`
    // dev-dependency turns it on, whatever this crate's own `llm` feature says.
    #[tokio::test]
    async fn open_attaches_the_configured_llm_and_refuses_a_public_one() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("cb.db").display());
        let cb = open(&url, Config::default()).await.unwrap();
        assert_eq!(
            cb.llm().map(|llm| llm.endpoint_host()),
            Some("127.0.0.1:11434"),
            "the configured endpoint's client is attached"
        );

        let mut config = Config::default();
        config.llm.endpoint = "http://8.8.8.8/v1".into();
        match open(&url, config).await {
            Err(Error::Forbidden(message)) => assert!(message.contains("8.8.8.8"), "{message}"),
            other => panic!("a public LLM endpoint must be refused (G1): {other:?}"),
        }
    }
}
