//! Every store conformance check against PostgreSQL: each check gets a fresh schema on the
//! server named by `CYBERBRAIN_TEST_PG_URL` (from `scripts/pg.sh up`), migrated, and dropped
//! when the check ends. Without the variable every check fails, naming the fix.

use std::sync::Arc;

use cyberbrain_core::Store;
use cyberbrain_store_pg::testing::{TestSchema, fresh_store};

async fn fresh() -> (Arc<dyn Store>, TestSchema) {
    let (store, schema) = fresh_store().await;
    (Arc::new(store) as Arc<dyn Store>, schema)
}

cyberbrain_core::conformance_suite!(fresh());
