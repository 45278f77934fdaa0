//! Every store conformance check against a fresh, migrated SQLite file in a temp dir.

use std::sync::Arc;

use cyberbrain_core::Store;
use cyberbrain_core::store::StoreAdmin;
use cyberbrain_store_sqlite::SqliteStore;

async fn fresh_store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("cyberbrain.db").display());
    let store = SqliteStore::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    (Arc::new(store) as Arc<dyn Store>, dir)
}

cyberbrain_core::conformance_suite!(fresh_store());
