//! Test support for code that runs against a real PostgreSQL: a fresh schema per test, dropped
//! when the test ends, so tests run in parallel on one database without seeing each other.
//!
//! The server comes from `CYBERBRAIN_TEST_PG_URL` (an admin URL, e.g. what `scripts/pg.sh up`
//! prints). Postgres tests are mandatory: when the variable is unset these helpers panic with
//! the fix instead of letting a test pass without a database.
//!
//! ```no_run
//! # async fn demo() {
//! use cyberbrain_core::store::DirectiveStore;
//! let (store, _schema) = cyberbrain_store_pg::testing::fresh_store().await;
//! let page = store.list_directives(Default::default()).await.unwrap();
//! # }
//! ```
//! These helpers panic on failure: they are meant for tests only.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use cyberbrain_core::store::StoreAdmin;
use sqlx::{Connection, PgConnection};
use url::Url;

use crate::{PgConfig, PgStore};

/// The environment variable naming the test server's admin URL.
pub const TEST_URL_VAR: &str = "CYBERBRAIN_TEST_PG_URL";

/// Pool size of the stores [`fresh_store`] opens: small, so many tests can run at once within
/// the server's connection limit.
pub const TEST_POOL_SIZE: u32 = 4;

/// The admin URL from `CYBERBRAIN_TEST_PG_URL`; panics with the fix when it is unset.
pub fn test_url() -> String {
    match std::env::var(TEST_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => url.trim().to_string(),
        _ => panic!(
            "{TEST_URL_VAR} is not set: the Postgres store's tests need a PostgreSQL server with \
             pgvector. Set {TEST_URL_VAR}, e.g. from `scripts/pg.sh up`: run `scripts/pg.sh up`, \
             then `export {TEST_URL_VAR}=$(scripts/pg.sh url)`"
        ),
    }
}

/// A schema named `cb_test_<unique>` on the test server, dropped (CASCADE) when this value is
/// dropped.
#[derive(Debug)]
pub struct TestSchema {
    admin_url: String,
    name: String,
}

impl TestSchema {
    /// Creates a fresh, empty schema on the `CYBERBRAIN_TEST_PG_URL` server.
    pub async fn create() -> Self {
        Self::create_on(&test_url()).await
    }

    /// Creates a fresh, empty schema on the server `admin_url` names.
    pub async fn create_on(admin_url: &str) -> Self {
        let name = unique_schema_name();
        let mut conn = admin_connection(admin_url).await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("creating test schema {name}: {e}"));
        let _ = conn.close().await;
        Self {
            admin_url: admin_url.to_string(),
            name,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL of a store whose tables live in this schema, with a small pool.
    pub fn url(&self) -> String {
        self.url_with(&[("pool_size", &TEST_POOL_SIZE.to_string())])
    }

    /// [`TestSchema::url`] with other store parameters (`pool_size`, `acquire_timeout_ms`).
    pub fn url_with(&self, params: &[(&str, &str)]) -> String {
        let mut url = Url::parse(&self.admin_url)
            .unwrap_or_else(|e| panic!("{TEST_URL_VAR} is not a URL: {e}"));
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "schema" && !params.iter().any(|(p, _)| k == p))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        {
            let mut query = url.query_pairs_mut();
            query.clear().extend_pairs(kept);
            query.append_pair("schema", &self.name);
            for (key, value) in params {
                query.append_pair(key, value);
            }
        }
        url.to_string()
    }
}

impl Drop for TestSchema {
    /// Drops the schema on a thread of its own with its own runtime: `Drop` may run inside an
    /// async test's runtime, which cannot be blocked on, and the cleanup must really finish
    /// before the test process exits.
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let options = PgConfig::from_url(&admin_url)
                    .map_err(|e| e.to_string())?
                    .connect;
                let mut conn = PgConnection::connect_with(&options)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "SET client_min_messages = warning; DROP SCHEMA IF EXISTS {name} CASCADE"
                )))
                .execute(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
                let _ = conn.close().await;
                Ok::<(), String>(())
            })
        });
        match cleanup.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: dropping test schema {}: {e}", self.name),
            Err(_) => eprintln!("warning: dropping test schema {} panicked", self.name),
        }
    }
}

/// A migrated store in a fresh schema, and the schema's guard (keep it alive for the test).
pub async fn fresh_store() -> (PgStore, TestSchema) {
    let schema = TestSchema::create().await;
    let store = PgStore::connect(&schema.url())
        .await
        .unwrap_or_else(|e| panic!("connecting a test store: {e}"));
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrating test schema {}: {e}", schema.name()));
    (store, schema)
}

async fn admin_connection(admin_url: &str) -> PgConnection {
    let config = PgConfig::from_url(admin_url)
        .unwrap_or_else(|e| panic!("{TEST_URL_VAR} is not usable: {e}"));
    PgConnection::connect_with(&config.connect)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot connect to the test server {} ({e}); is it running? Start one with \
                 `scripts/pg.sh up`",
                config.location()
            )
        })
}

/// `cb_test_<pid>_<counter>_<nanos>`: unique across parallel tests and test processes.
fn unique_schema_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "cb_test_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
