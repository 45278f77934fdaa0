//! Which store a database URL selects, opened and migrated.

use std::sync::Arc;

use cyberbrain_core::store::StoreAdmin;
use cyberbrain_core::{Config, Cyberbrain, Error, Result};
use cyberbrain_store_sqlite::SqliteStore;

/// An opened engine and the name of the backend under it (for `repr`).
#[derive(Debug)]
pub struct Opened {
    pub engine: Cyberbrain,
    pub backend: &'static str,
}

/// Connects the store `url` names, applies migrations (schema and seed data) and wraps it in an
/// engine. `sqlite:///abs.db`, `sqlite://rel.db` and bare paths select SQLite; `postgres://`
/// and `postgresql://` select PostgreSQL.
pub async fn open(url: &str, config: Config) -> Result<Opened> {
    if url.trim().is_empty() {
        return Err(Error::invalid(
            "url",
            "must not be empty; pass sqlite:///absolute/path.db, sqlite://relative/path.db or a file path",
        ));
    }
    if cyberbrain_store_pg::handles_url(url) {
        let store = cyberbrain_store_pg::PgStore::connect(url).await?;
        store.migrate().await?;
        return Ok(Opened {
            engine: Cyberbrain::new(Arc::new(store), config),
            backend: "postgres",
        });
    }
    match scheme(url) {
        None | Some("sqlite") => {}
        Some(other) => {
            return Err(Error::invalid(
                "url",
                format!(
                    "\"{other}://\" is not a supported database URL scheme; use \
                     sqlite:///absolute/path.db, sqlite://relative/path.db or a file path"
                ),
            ));
        }
    }
    let store = SqliteStore::connect(url).await?;
    store.migrate().await?;
    Ok(Opened {
        engine: Cyberbrain::new(Arc::new(store), config),
        backend: "sqlite",
    })
}

/// The URL scheme before `://`, if there is one.
fn scheme(url: &str) -> Option<&str> {
    url.split_once("://").map(|(scheme, _)| scheme)
}
