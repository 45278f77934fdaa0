//! Postgres-specific behaviour beyond the conformance suite, against the real server named by
//! `CYBERBRAIN_TEST_PG_URL` (from `scripts/pg.sh up`): claims across several pools, concurrent
//! migrations, the pgvector schema, and the failures an operator meets (an unreachable server, a
//! missing database, a database without pgvector).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeZone;
use cyberbrain_core::domain::{
    ApprovalStatus, DirectiveSnapshot, DirectiveType, JobStatus, NewDirective, NewRun, PageRequest,
    RunStatus, Timestamp,
};
use cyberbrain_core::store::{DirectiveStore, RunStore, StoreAdmin, TaskStore};
use cyberbrain_core::testing::conformance::race_claimers;
use cyberbrain_core::{Error, Store};
use cyberbrain_store_pg::testing::{TestSchema, fresh_store, test_url};
use cyberbrain_store_pg::{PgConfig, PgStore};
use sqlx::{Connection, PgConnection};

fn at(offset_s: i64) -> Timestamp {
    chrono::Utc
        .timestamp_opt(1_750_000_000 + offset_s, 0)
        .single()
        .expect("valid time")
}

fn snapshot() -> DirectiveSnapshot {
    DirectiveSnapshot {
        id: None,
        name: "concurrency".into(),
        directive_type: DirectiveType::D1,
        version: 1,
        directive_text: "Diagnose.".into(),
        task_config: Default::default(),
        approval_required: false,
    }
}

async fn admin() -> PgConnection {
    let config = PgConfig::from_url(&test_url()).expect("a usable CYBERBRAIN_TEST_PG_URL");
    PgConnection::connect_with(&config.connect)
        .await
        .expect("admin connection to the test server")
}

/// Several stores, each with its own pool, and many claimer tasks per store all race for the
/// same jobs: every job is claimed exactly once, by the owner that got it, and every run is
/// marked running once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claimers_on_several_pools_get_every_job_exactly_once() {
    let (seed_store, schema) = fresh_store().await;
    let mut all_jobs = BTreeSet::new();
    for i in 0..120 {
        let run = seed_store
            .create_run(NewRun::new(
                snapshot(),
                vec![
                    "log_triage".into(),
                    "gpu_report".into(),
                    "service_map".into(),
                ],
                at(i),
            ))
            .await
            .unwrap();
        all_jobs.extend(
            seed_store
                .list_run_jobs(run.id)
                .await
                .unwrap()
                .into_iter()
                .map(|j| j.id),
        );
    }
    assert_eq!(all_jobs.len(), 360);

    let mut stores: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..4 {
        stores.push(Arc::new(
            PgStore::connect(&schema.url_with(&[("pool_size", "3")]))
                .await
                .unwrap(),
        ));
    }
    let owners = race_claimers(&stores, 24, at(1000), &all_jobs).await;
    let distinct_owners: BTreeSet<&String> = owners.values().collect();
    assert!(
        distinct_owners.len() > 4,
        "the work was spread over claimers of several pools: {distinct_owners:?}"
    );

    let runs = seed_store.list_runs(PageRequest::first(200)).await.unwrap();
    assert_eq!(runs.count, 120);
    for run in runs.items {
        assert_eq!(run.status, RunStatus::Running, "run {}", run.id);
        assert_eq!(run.started_at, Some(at(1000)));
        for job in seed_store.list_run_jobs(run.id).await.unwrap() {
            assert_eq!(job.status, JobStatus::Running);
            assert_eq!(job.attempts, 1, "job {} leased once", job.id);
            assert_eq!(job.lease_owner.as_ref(), owners.get(&job.id));
        }
    }
}

/// Four stores migrate one brand-new schema at once (the schema itself does not exist yet):
/// the advisory lock serialises them, the schema and seed data are created exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrations_of_one_schema_apply_once() {
    let schema = TestSchema::create().await;
    // Start from nothing: `migrate` must create the schema too.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA {} CASCADE",
        schema.name()
    )))
    .execute(&mut admin().await)
    .await
    .unwrap();
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(
            PgStore::connect(&schema.url_with(&[("pool_size", "2")]))
                .await
                .unwrap(),
        );
    }
    let mut migrations = tokio::task::JoinSet::new();
    for store in stores.clone() {
        migrations.spawn(async move { store.migrate().await });
    }
    while let Some(result) = migrations.join_next().await {
        result.expect("migration task").expect("migrate");
    }
    let store = &stores[0];
    let info = store.info().await.unwrap();
    assert_eq!(info.schema_version, 2, "{info:?}");
    let directives = store.list_directives(PageRequest::first(50)).await.unwrap();
    assert_eq!(directives.count, 5, "seeded once: {:?}", directives.items);
    assert_eq!(
        store
            .list_tasks(PageRequest::first(50))
            .await
            .unwrap()
            .count,
        3
    );

    let mut conn = admin().await;
    let (tables, migrations): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = $1), \
         (SELECT COUNT(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
          WHERE n.nspname = $1 AND c.relname = 'schema_migrations')",
    )
    .bind(schema.name())
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        migrations, 1,
        "the tracking table lives in the store's schema"
    );
    assert!(
        tables >= 20,
        "every table is in the store's schema: {tables}"
    );
    // And again, all at once: nothing changes.
    for store in &stores {
        store.migrate().await.unwrap();
    }
    assert_eq!(
        store.list_directives(PageRequest::first(50)).await.unwrap(),
        directives
    );
}

/// A schema written by a newer build is refused rather than half-understood.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused() {
    let (store, _schema) = fresh_store().await;
    sqlx::query("INSERT INTO schema_migrations (version, name) VALUES (999, 'future')")
        .execute(store.pool())
        .await
        .unwrap();
    let err = store.migrate().await.unwrap_err();
    assert!(
        matches!(&err, Error::Unavailable { message, .. } if message.contains("newer than this build")),
        "{err}"
    );
}

/// `info` reports what `doctor` shows: backend, server version, a location without the
/// password, the schema version and pgvector's state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_reports_server_schema_and_pgvector() {
    let (store, schema) = fresh_store().await;
    store.ping().await.unwrap();
    let info = store.info().await.unwrap();
    assert_eq!(info.backend, "postgres");
    assert!(
        info.version
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit()),
        "{info:?}"
    );
    assert_eq!(info.schema_version, 2);
    assert!(info.location.starts_with("postgres://"), "{info:?}");
    assert!(info.location.contains(schema.name()), "{info:?}");
    assert!(info.version.contains("with pgvector 0."), "{info:?}");
    assert!(
        info.notes.is_empty(),
        "a healthy store has nothing to warn about: {info:?}"
    );

    let with_password = PgStore::connect(&format!("{}&password=hunter2", schema.url())).await;
    // Trust authentication accepts any password; either way it must never be shown.
    if let Ok(store) = with_password {
        let info = store.info().await.unwrap();
        assert!(!format!("{info:?}").contains("hunter2"), "{info:?}");
        assert!(!format!("{store:?}").contains("hunter2"), "{store:?}");
    }
}

/// The schema's pgvector part: 384-dimension vectors store, and nearest-neighbour queries by
/// cosine distance use the HNSW index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_use_the_hnsw_cosine_index() {
    let (store, _schema) = fresh_store().await;
    let pool = store.pool();
    let upload: i64 = sqlx::query_scalar(
        "INSERT INTO uploads (filename, mime_type, size_bytes, sha256, stored_path, uploaded_at) \
         VALUES ('a.txt', 'text/plain', 1, repeat('a', 64), 'uploads/a.txt', now()) RETURNING id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let document: i64 = sqlx::query_scalar(
        "INSERT INTO documents (upload_id, title, created_at) VALUES ($1, 'a', now()) RETURNING id",
    )
    .bind(upload)
    .fetch_one(pool)
    .await
    .unwrap();
    // Unit vectors along different axes, plus one close to axis 0.
    let mut chunk_ids = Vec::new();
    for i in 0..8usize {
        let chunk: i64 = sqlx::query_scalar(
            "INSERT INTO chunks (document_id, chunk_index, text, word_count) \
             VALUES ($1, $2, $3, 1) RETURNING id",
        )
        .bind(document)
        .bind(i as i32)
        .bind(format!("chunk {i}"))
        .fetch_one(pool)
        .await
        .unwrap();
        let mut v = vec![0.0f32; 384];
        if i == 7 {
            v[0] = 0.9;
            v[1] = 0.1;
        } else {
            v[i] = 1.0;
        }
        sqlx::query(
            "INSERT INTO embeddings (chunk_id, model_id, vector) VALUES ($1, 'minilm', $2)",
        )
        .bind(chunk)
        .bind(pgvector::Vector::from(v))
        .execute(pool)
        .await
        .unwrap();
        chunk_ids.push(chunk);
    }
    let mut query = vec![0.0f32; 384];
    query[0] = 1.0;
    let query = pgvector::Vector::from(query);
    let nearest: Vec<(i64, f64)> = sqlx::query_as(
        "SELECT chunk_id, vector <=> $1 FROM embeddings ORDER BY vector <=> $1 LIMIT 2",
    )
    .bind(&query)
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(nearest[0].0, chunk_ids[0]);
    assert!(nearest[0].1.abs() < 1e-6, "{nearest:?}");
    assert_eq!(nearest[1].0, chunk_ids[7], "{nearest:?}");

    let stored: pgvector::Vector =
        sqlx::query_scalar("SELECT vector FROM embeddings WHERE chunk_id = $1")
            .bind(chunk_ids[7])
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(&stored.as_slice()[..2], &[0.9, 0.1]);

    let wrong_dimension =
        sqlx::query("INSERT INTO embeddings (chunk_id, model_id, vector) VALUES ($1, 'other', $2)")
            .bind(chunk_ids[1])
            .bind(pgvector::Vector::from(vec![1.0f32; 3]))
            .execute(pool)
            .await;
    assert!(wrong_dimension.is_err(), "vector(384) refuses 3 dimensions");

    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SET LOCAL enable_seqscan = off")
        .execute(&mut *tx)
        .await
        .unwrap();
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT chunk_id FROM embeddings ORDER BY vector <=> $1 LIMIT 2",
    )
    .bind(&query)
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    assert!(
        plan.iter()
            .any(|line| line.contains("embeddings_vector_hnsw")),
        "{plan:#?}"
    );
}

/// Text PostgreSQL cannot store (a NUL character) is bad input, not a server error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_characters_are_invalid_input() {
    let (store, _schema) = fresh_store().await;
    let err = store
        .create_directive(NewDirective::new("Nul", DirectiveType::D1).with_text("a\0b"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    assert!(err.to_string().contains("NUL"), "{err}");
    let err = store
        .create_run(NewRun::new(
            DirectiveSnapshot {
                directive_text: "x\0y".into(),
                ..snapshot()
            },
            vec![],
            at(0),
        ))
        .await;
    assert!(
        err.is_ok(),
        "a NUL inside JSON text is escaped, not rejected: {err:?}"
    );
}

/// Nothing listens on the port: `connect` fails fast with `Unavailable` naming the cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_is_unavailable_quickly() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let started = Instant::now();
    let err = PgStore::connect(&format!(
        "postgres://cyberbrain:secret-pw@127.0.0.1:{port}/cyberbrain?acquire_timeout_ms=3000"
    ))
    .await
    .unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(&err, Error::Unavailable { component, .. } if component == "database"),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("cannot reach"), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("secret-pw"), "the password leaked: {text}");
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
}

/// A store whose pool is gone answers `Unavailable`, not a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_pool_is_unavailable() {
    let (store, _schema) = fresh_store().await;
    store.close().await;
    let err = store.ping().await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    let err = store.get_task_by_key("log_triage").await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
}

/// The server ends a connection in the middle of a call (as a restart or an administrator
/// would): the call fails with `Unavailable`, writes nothing, and the pool replaces the dead
/// connection for the next call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_lost_mid_call_is_unavailable_and_the_store_recovers() {
    let (store, schema) = fresh_store().await;
    let directive = store.get_directive_by_name("default").await.unwrap();
    // Hold the row lock so the store's update waits inside the server.
    let mut blocker = admin().await;
    let blocker_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut blocker)
        .await
        .unwrap();
    let mut lock = blocker.begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT 1 FROM {}.directives WHERE id = $1 FOR UPDATE",
        schema.name()
    )))
    .bind(directive.id)
    .execute(&mut *lock)
    .await
    .unwrap();
    let update = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .update_directive(
                    directive.id,
                    cyberbrain_core::domain::DirectivePatch::default().with_text("never stored"),
                )
                .await
        }
    });
    let mut observer = admin().await;
    let started = Instant::now();
    let victim: i32 = loop {
        let waiting: Option<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))",
        )
        .bind(blocker_pid)
        .fetch_optional(&mut observer)
        .await
        .unwrap();
        if let Some(pid) = waiting {
            break pid;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the update never waited for the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(victim)
        .fetch_one(&mut observer)
        .await
        .unwrap();
    assert!(terminated);
    let err = update.await.unwrap().unwrap_err();
    assert!(
        matches!(&err, Error::Unavailable { .. }),
        "a lost connection is Unavailable: {err:?}"
    );
    assert!(
        err.to_string()
            .contains(&format!("directive {}", directive.id)),
        "{err}"
    );
    lock.rollback().await.unwrap();

    store.ping().await.expect("the pool reconnects");
    assert_eq!(
        store.get_directive(directive.id).await.unwrap(),
        directive,
        "the failed update wrote nothing"
    );
}

/// A database that does not exist is `Unavailable` with the fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_database_is_unavailable_with_the_fix() {
    let mut url = url::Url::parse(&test_url()).unwrap();
    url.set_path("/cb_no_such_database");
    let err = PgStore::connect(url.as_str()).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Unavailable { .. }), "{text}");
    assert!(
        text.contains("cb_no_such_database") && text.contains("CREATE DATABASE"),
        "{text}"
    );
}

/// A role and a database of its own, created on the test server for one test and dropped
/// afterwards.
struct ScratchDatabase {
    name: String,
}

impl ScratchDatabase {
    /// A database owned by a new non-superuser role, without the `vector` extension.
    async fn without_vector() -> (Self, String) {
        let name = format!(
            "cb_test_novector_{}_{}",
            std::process::id(),
            chrono::Utc::now().timestamp_subsec_nanos()
        );
        let mut conn = admin().await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE ROLE {name} LOGIN PASSWORD 'scratch-pw'"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE {name} OWNER {name}"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
        let mut url = url::Url::parse(&test_url()).unwrap();
        url.set_username(&name).unwrap();
        url.set_password(Some("scratch-pw")).unwrap();
        url.set_path(&format!("/{name}"));
        (Self { name }, url.to_string())
    }

    async fn drop_all(self) {
        let mut conn = admin().await;
        // Two statements: DROP DATABASE cannot run inside the implicit transaction of a batch.
        for sql in [
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            format!("DROP ROLE IF EXISTS {}", self.name),
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
}

/// A database where pgvector is not enabled and the role may not enable it: `migrate` fails
/// with a message naming the database and the fix, writes nothing, and `info` says the same.
/// (A server with no pgvector at all is covered by the unit test
/// `migrate::tests::a_server_without_the_extension_names_the_fix`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_without_pgvector_names_the_fix() {
    let (scratch, url) = ScratchDatabase::without_vector().await;
    let database = scratch.name.clone();
    let outcome = async move {
        let store = PgStore::connect(&url)
            .await
            .expect("connect as the scratch role");
        let err = store.migrate().await.unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(&err, Error::Unavailable { component, .. } if component == "pgvector"),
            "{text}"
        );
        assert!(text.contains("CREATE EXTENSION vector"), "{text}");
        assert!(text.contains(&database), "names the database: {text}");
        assert!(!text.contains("scratch-pw"), "{text}");
        let info = store.info().await.unwrap();
        assert_eq!(info.schema_version, 0, "nothing was migrated: {info:?}");
        assert!(!info.version.contains("pgvector"), "{info:?}");
        assert!(
            info.notes
                .iter()
                .any(|n| n.contains("not enabled") && n.contains("CREATE EXTENSION vector")),
            "{info:?}"
        );
        let err = store
            .list_directives(PageRequest::first(5))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("cyberbrain migrate"), "{err}");
        store.close().await;
    };
    // Drop the scratch database even when an assertion fails.
    let result = tokio::spawn(outcome).await;
    scratch.drop_all().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic.into_panic());
    }
}

/// The pool limit holds: more concurrent callers than connections wait their turn instead of
/// failing, within the acquire timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn more_callers_than_connections_share_the_pool() {
    let schema = TestSchema::create().await;
    let store = PgStore::connect(&schema.url_with(&[("pool_size", "2")]))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..32 {
        let store = store.clone();
        tasks.spawn(async move {
            store
                .create_directive(NewDirective::new(format!("shared-{i}"), DirectiveType::D2))
                .await
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    assert_eq!(
        store
            .list_directives(PageRequest::first(1))
            .await
            .unwrap()
            .count,
        5 + 32
    );
    let approval = store
        .create_run(
            NewRun::new(snapshot(), vec!["log_triage".into()], at(0))
                .with_trigger(cyberbrain_core::domain::Trigger::Api),
        )
        .await
        .unwrap();
    assert_eq!(approval.approval_status, ApprovalStatus::None);
}
