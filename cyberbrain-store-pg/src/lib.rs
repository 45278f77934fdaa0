//! Cyberbrain `Store` on PostgreSQL + pgvector.
//!
//! This crate is filled by the Postgres issue: sqlx with embedded migrations producing the same
//! logical schema as the SQLite store, `SELECT … FOR UPDATE SKIP LOCKED` claims, and an HNSW
//! index over `vector(384)` embeddings. Until then it exposes only the URL check the hosts use to
//! tell an operator that the Postgres backend is not available in this build.

use cyberbrain_core::Error;

/// Whether `url` selects this backend (`postgres://` or `postgresql://`).
pub fn handles_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The error a host returns when a Postgres URL is given to a build without the backend.
pub fn not_available(url_scheme: &str) -> Error {
    Error::Unavailable {
        component: "postgres".into(),
        message: format!(
            "the {url_scheme}:// backend is not implemented in this version; \
             use a sqlite:// URL or leave DATABASE_URL unset for the embedded default"
        ),
    }
}
