//! What the benchmarks share: which backends to measure, and a fresh, migrated store for one
//! measurement (a temporary SQLite file, or a throwaway Postgres schema).

// Each benchmark compiles this module on its own and uses a part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use cyberbrain::store_sqlite::SqliteStore;
use cyberbrain::{Store, StoreAdmin};
use cyberbrain_store_pg::testing::{TEST_URL_VAR, TestSchema};

/// SQLite always; Postgres when its test URL is set (`scripts/pg.sh up` prints it).
pub fn backends() -> Vec<&'static str> {
    let mut backends = vec!["sqlite"];
    if std::env::var(TEST_URL_VAR).is_ok_and(|v| !v.trim().is_empty()) {
        backends.push("postgres");
    } else {
        eprintln!("{TEST_URL_VAR} is not set: Postgres is skipped (scripts/pg.sh up)");
    }
    backends
}

/// A measurement's scratch space, and what keeps its database alive.
pub struct Scratch {
    pub dir: tempfile::TempDir,
    _schema: Option<TestSchema>,
}

/// A fresh, migrated store on `backend` ("sqlite" or "postgres"). Postgres gets a pool of 16,
/// enough for several executors' or claimers' concurrent statements.
pub async fn fresh_store(backend: &str) -> (Arc<dyn Store>, Scratch) {
    let dir = tempfile::tempdir().expect("temp dir");
    if backend == "sqlite" {
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let store = SqliteStore::connect(&url).await.expect("open SQLite");
        store.migrate().await.expect("migrate");
        return (Arc::new(store), Scratch { dir, _schema: None });
    }
    let schema = TestSchema::create().await;
    let store = cyberbrain_store_pg::PgStore::connect(&schema.url_with(&[("pool_size", "16")]))
        .await
        .expect("open Postgres");
    store.migrate().await.expect("migrate");
    let scratch = Scratch {
        dir,
        _schema: Some(schema),
    };
    (Arc::new(store), scratch)
}

/// Where scripts/models.sh put the model files: `$CYBERBRAIN_MODELS_DIR`, default
/// ./cyberbrain-data/models.
pub fn models_dir() -> PathBuf {
    std::env::var_os("CYBERBRAIN_MODELS_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("cyberbrain-data/models"))
}
