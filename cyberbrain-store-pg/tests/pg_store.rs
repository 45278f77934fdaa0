//! Postgres-specific behaviour beyond the conformance suite, against the real server named by
//! `CYBERBRAIN_TEST_PG_URL` (from `scripts/pg.sh up`): claims and schedule firing across several
//! pools, concurrent
//! migrations, the pgvector schema, and the failures an operator meets (an unreachable server, a
//! missing database, a database without pgvector).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeZone;
use cyberbrain_core::domain::{
    ApprovalStatus, ClaimJobs, DirectiveSnapshot, DirectiveType, FinishJob, FireDecision, Fired,
    JobStatus, LeaseState, LlmOutcome, MisfirePolicy, NewDirective, NewLlmCall, NewRun,
    NewSchedule, PageRequest, ReapLeases, RenewLease, Run, RunJob, RunQuery, RunStatus,
    RunningCounts, Schedule, ScheduleType, Task3Scope, Timestamp, Trigger,
};
use cyberbrain_core::store::{
    AccountingStore, DirectiveStore, FirePlanner, RunStore, ScheduleStore, StoreAdmin, TaskStore,
};
use cyberbrain_core::testing::conformance::{race_claim_and_finish, race_claimers};
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

/// Creates a run of `task_keys` (no approval needed) at `at(offset_s)` through `store`.
async fn seed_run(store: &PgStore, task_keys: &[&str], offset_s: i64) -> Run {
    store
        .create_run(NewRun::new(
            snapshot(),
            task_keys.iter().map(|k| k.to_string()).collect(),
            at(offset_s),
        ))
        .await
        .unwrap()
}

/// `count` stores on the test schema, each with its own pool of `pool_size` connections (as
/// that many processes would have).
async fn pools(schema: &TestSchema, count: usize, pool_size: &str) -> Vec<Arc<dyn Store>> {
    let mut stores: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..count {
        stores.push(Arc::new(
            PgStore::connect(&schema.url_with(&[("pool_size", pool_size)]))
                .await
                .unwrap(),
        ));
    }
    stores
}

/// A `completed` finish of `job` by `owner` at `at(offset_s)`, with an empty result.
fn completed(job: &RunJob, owner: &str, offset_s: i64) -> FinishJob {
    FinishJob {
        job_id: job.id,
        owner: owner.into(),
        status: JobStatus::Completed,
        result: serde_json::json!({}),
        error_summary: None,
        now: at(offset_s),
    }
}

const ALL_TASKS: [&str; 3] = ["log_triage", "gpu_report", "service_map"];

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
        let run = seed_run(&seed_store, &ALL_TASKS, i).await;
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

    let stores = pools(&schema, 4, "3").await;
    let owners = race_claimers(&stores, 24, at(1000), &all_jobs).await;
    let distinct_owners: BTreeSet<&String> = owners.values().collect();
    assert!(
        distinct_owners.len() > 4,
        "the work was spread over claimers of several pools: {distinct_owners:?}"
    );

    let runs = seed_store
        .list_runs(RunQuery::new(PageRequest::first(200)))
        .await
        .unwrap();
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

/// What a sampler saw while claimers ran: how many samples, and the most running runs and
/// running jobs of one task in any one of them.
#[derive(Debug, Default)]
struct Peaks {
    samples: u32,
    runs: i64,
    per_task: i64,
}

/// Reads the running counts in one statement (one snapshot) on a connection of its own,
/// asserting them against `limits` on every sample, until `stop` is set.
async fn sample_running(
    url: String,
    limits: (i64, i64),
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Peaks {
    let config = PgConfig::from_url(&url).unwrap();
    let mut conn = PgConnection::connect_with(&config.connect).await.unwrap();
    let mut peaks = Peaks::default();
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let (runs, per_task): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM runs WHERE status = 'running'), \
                    COALESCE((SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM run_jobs \
                              WHERE status = 'running' GROUP BY task_key) AS t), 0)",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert!(
            runs <= limits.0,
            "{runs} runs running, over the limit of {}",
            limits.0
        );
        assert!(
            per_task <= limits.1,
            "{per_task} jobs of one task running, over the limit of {}",
            limits.1
        );
        peaks.samples += 1;
        peaks.runs = peaks.runs.max(runs);
        peaks.per_task = peaks.per_task.max(per_task);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let _ = conn.close().await;
    peaks
}

/// Four stores, each with its own pool (as four processes would have), claim under limits and
/// finish what they claimed, while a sampler on a fifth connection reads the tables: no sample
/// ever shows more running runs or running jobs of one task than the limits, the limits are
/// really reached, and every job runs exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn limits_hold_across_pools_while_a_sampler_watches() {
    let (seed_store, schema) = fresh_store().await;
    let shapes: [&[&str]; 3] = [
        &["log_triage", "gpu_report", "service_map"],
        &["log_triage", "service_map"],
        &["gpu_report"],
    ];
    let mut runs = Vec::new();
    let mut total = 0;
    for i in 0..45 {
        let keys = shapes[i % shapes.len()];
        let run = seed_run(&seed_store, keys, i as i64).await;
        total += keys.len();
        runs.push(run.id);
    }
    let stores = pools(&schema, 4, "3").await;
    let limits = (3, 2);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = tokio::spawn(sample_running(
        schema.url(),
        (i64::from(limits.0), i64::from(limits.1)),
        Arc::clone(&stop),
    ));
    let (held_runs, held_per_task) =
        race_claim_and_finish(&stores, 16, at(1000), limits, total).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let peaks = sampler
        .await
        .expect("the sampler never saw a limit exceeded");
    assert!(held_runs <= 3 && held_per_task <= 2);
    assert!(peaks.samples >= 10, "{peaks:?}");
    assert_eq!(
        (peaks.runs, peaks.per_task),
        (3, 2),
        "the race filled both limits while sampled: {peaks:?}"
    );
    for id in runs {
        let run = seed_store.get_run(id).await.unwrap();
        assert_eq!(run.status, RunStatus::Completed, "run {id}");
        for job in seed_store.list_run_jobs(id).await.unwrap() {
            assert_eq!(job.status, JobStatus::Completed, "job {}", job.id);
            assert_eq!(job.attempts, 1, "job {} ran once", job.id);
        }
    }
}

/// A schedule's own `max_global` / `max_per_job` apply to its runs when stricter than the
/// claim's limits, counting everything running; other runs keep the claim's limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedules_stricter_limits_apply_to_its_runs() {
    let (store, _schema) = fresh_store().await;
    let schedule: i64 = sqlx::query_scalar(
        "INSERT INTO schedules (name, task_key, schedule_type, interval_minutes, max_global, \
           max_per_job, created_at, updated_at) \
         VALUES ('nightly', 'log_triage', 'interval', 60, 1, 1, now(), now()) RETURNING id",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    let launch = |keys: &[&str], scheduled: bool, i: i64| {
        let mut new = NewRun::new(
            snapshot(),
            keys.iter().map(|k| k.to_string()).collect(),
            at(i),
        );
        if scheduled {
            new = new.with_schedule(schedule);
        }
        new
    };
    let first = store
        .create_run(launch(&["log_triage", "gpu_report"], true, 0))
        .await
        .unwrap();
    let second = store
        .create_run(launch(&["log_triage"], true, 1))
        .await
        .unwrap();
    let manual = store
        .create_run(launch(&["log_triage", "log_triage"], false, 2))
        .await
        .unwrap();
    let claim = |owner: &str| {
        ClaimJobs::new(owner, at(100), chrono::Duration::minutes(5))
            .with_limit(10)
            .with_limits(10, 10)
    };
    let claimed = store.claim_jobs(claim("a")).await.unwrap();
    let runs: Vec<(i64, &str)> = claimed
        .iter()
        .map(|j| (j.run_id, j.task_key.as_str()))
        .collect();
    // The first scheduled run starts (one run, one log_triage job: the schedule's limits are
    // now reached); the second waits for both, the manual run does not.
    assert_eq!(
        runs,
        vec![
            (first.id, "log_triage"),
            (first.id, "gpu_report"),
            (manual.id, "log_triage"),
            (manual.id, "log_triage"),
        ]
    );
    assert_eq!(
        store.get_run(second.id).await.unwrap().status,
        RunStatus::Pending
    );
    // With the first run ended the manual run still counts against the schedule's max_global
    // of 1 (and its log_triage jobs against max_per_job); once it ends, the second starts.
    for job in &claimed {
        if job.run_id == first.id {
            store.finish_job(completed(job, "a", 200)).await.unwrap();
        }
    }
    assert_eq!(store.claim_jobs(claim("b")).await.unwrap(), vec![]);
    for job in claimed.iter().filter(|j| j.run_id == manual.id) {
        store.finish_job(completed(job, "a", 300)).await.unwrap();
    }
    let last = store.claim_jobs(claim("c")).await.unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].run_id, second.id);
}

/// Every operation that changes runs and jobs at once, on three pools: workers claim, record
/// LLM calls, renew and finish; two of them "crash" now and then (abandon a job, or finish it
/// after its short lease expired), so the reaper requeues and fails jobs under them; a
/// canceller cancels every third run, running or not. The lock order (run, then its jobs)
/// means none of them deadlocks: the only errors are the contract's `Conflict`s. Afterwards
/// every run ended exactly once, consistently with its jobs, and every run's and job's token
/// totals are the sums of its calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_claims_finishes_reaps_and_cancels_never_deadlock() {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    let (seed_store, schema) = fresh_store().await;
    let mut run_ids = Vec::new();
    for i in 0..30 {
        let run = seed_run(&seed_store, &ALL_TASKS, i).await;
        run_ids.push(run.id);
    }
    let stores = pools(&schema, 3, "4").await;
    // One clock for everyone, following real time, so leases expire as they would.
    let started = Instant::now();
    let clock =
        move || at(1000) + chrono::Duration::microseconds(started.elapsed().as_micros() as i64);
    // Which call ended each run.
    let endings: Arc<Mutex<Vec<(i64, &'static str)>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..9usize {
        let store = stores[worker % stores.len()].clone();
        let endings = Arc::clone(&endings);
        let done = Arc::clone(&done);
        let crashy = worker < 2;
        let lease = chrono::Duration::milliseconds(if crashy { 20 } else { 30_000 });
        tasks.spawn(async move {
            let owner = format!("worker-{worker}");
            let mut turn = 0usize;
            while !done.load(Ordering::SeqCst) {
                let batch = store
                    .claim_jobs(
                        ClaimJobs::new(&owner, clock(), lease)
                            .with_limit(2)
                            .with_limits(6, 4),
                    )
                    .await
                    .expect("claim");
                if batch.is_empty() {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                for job in batch {
                    turn += 1;
                    store
                        .record_llm_call(NewLlmCall {
                            run_id: job.run_id,
                            run_job_id: Some(job.id),
                            model: "smollm2".into(),
                            endpoint_host: "127.0.0.1".into(),
                            prompt_tokens: 10,
                            completion_tokens: 5,
                            total_tokens: 15,
                            duration_ms: 3,
                            outcome: LlmOutcome::Ok,
                            created_at: clock(),
                        })
                        .await
                        .expect("record a call");
                    if crashy && turn.is_multiple_of(2) {
                        // Crashed holding the job: only the reaper gets it back.
                        continue;
                    }
                    if crashy {
                        // Stalled past the lease: the reaper may take it meanwhile.
                        tokio::time::sleep(Duration::from_millis(30)).await;
                    }
                    let state = store
                        .renew_lease(RenewLease {
                            job_id: job.id,
                            owner: owner.clone(),
                            now: clock(),
                            lease_until: clock() + lease,
                        })
                        .await
                        .expect("renew");
                    let status = match state {
                        LeaseState::Lost => continue,
                        LeaseState::CancelRequested => JobStatus::Cancelled,
                        LeaseState::Held if turn.is_multiple_of(5) => JobStatus::Failed,
                        LeaseState::Held => JobStatus::Completed,
                    };
                    match store
                        .finish_job(FinishJob {
                            job_id: job.id,
                            owner: owner.clone(),
                            status,
                            result: serde_json::json!({"worker": worker}),
                            error_summary: (status == JobStatus::Failed)
                                .then(|| format!("boom from {owner}")),
                            now: clock(),
                        })
                        .await
                    {
                        Ok(finished) if finished.run_ended => {
                            endings.lock().unwrap().push((finished.run.id, "finish"));
                        }
                        Ok(_) => {}
                        // The reaper took the job back between the renewal and the finish.
                        Err(Error::Conflict(_)) => {}
                        Err(err) => panic!("finish: {err:?}"),
                    }
                }
            }
        });
    }
    {
        let store = stores[0].clone();
        let endings = Arc::clone(&endings);
        let done = Arc::clone(&done);
        tasks.spawn(async move {
            while !done.load(Ordering::SeqCst) {
                let ended = store
                    .reap_expired_leases(ReapLeases {
                        now: clock(),
                        max_attempts: 2,
                    })
                    .await
                    .expect("reap");
                endings
                    .lock()
                    .unwrap()
                    .extend(ended.into_iter().map(|run| (run.id, "reap")));
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
    }
    {
        // Every third run: most once they run (a cancel request, or a cancel between jobs),
        // the newest at once, while still pending.
        let store = stores[1].clone();
        let endings = Arc::clone(&endings);
        let mut targets: Vec<(i64, bool)> = run_ids
            .iter()
            .skip(1)
            .step_by(3)
            .map(|id| (*id, true))
            .collect();
        if let Some(last) = targets.last_mut() {
            last.1 = false;
        }
        targets.rotate_right(1);
        tasks.spawn(async move {
            for (id, when_running) in targets {
                while when_running
                    && store.get_run(id).await.expect("get run").status == RunStatus::Pending
                {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                match store.cancel_run(id, clock()).await {
                    Ok(run) if run.status.is_terminal() => {
                        endings.lock().unwrap().push((run.id, "cancel"));
                    }
                    Ok(run) => assert!(run.cancel_requested_at.is_some(), "{run:?}"),
                    Err(Error::Conflict(_)) => {}
                    Err(err) => panic!("cancel: {err:?}"),
                }
            }
        });
    }
    loop {
        let mut open = 0;
        for status in [RunStatus::Pending, RunStatus::Running] {
            open += seed_store
                .list_runs(RunQuery::new(PageRequest::first(1)).with_status(status))
                .await
                .unwrap()
                .count;
        }
        if open == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{open} runs never ended"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done.store(true, Ordering::SeqCst);
    while let Some(result) = tasks.join_next().await {
        result.expect("no operation failed but with the contract's conflicts");
    }

    let endings = endings.lock().unwrap().clone();
    let mut statuses = BTreeSet::new();
    let mut retried = 0;
    for id in run_ids {
        let ended: Vec<_> = endings.iter().filter(|(run, _)| *run == id).collect();
        assert_eq!(ended.len(), 1, "run {id} ended exactly once: {ended:?}");
        let run = seed_store.get_run(id).await.unwrap();
        let jobs = seed_store.list_run_jobs(id).await.unwrap();
        assert!(jobs.iter().all(|j| j.status.is_terminal()), "{jobs:?}");
        let expected = if run.cancel_requested_at.is_some() || ended[0].1 == "cancel" {
            RunStatus::Cancelled
        } else if jobs.iter().all(|j| j.status == JobStatus::Completed) {
            RunStatus::Completed
        } else if jobs.iter().any(|j| j.status == JobStatus::Failed) {
            RunStatus::Failed
        } else {
            RunStatus::Cancelled
        };
        assert_eq!(run.status, expected, "run {id}: {run:?} {jobs:?}");
        statuses.insert((run.status.as_str(), ended[0].1));
        retried += jobs.iter().filter(|j| j.attempts > 1).count();
        let calls = seed_store.list_llm_calls(id).await.unwrap();
        let sum = |job: Option<i64>| {
            calls
                .iter()
                .filter(|c| job.is_none() || c.run_job_id == job)
                .map(|c| c.total_tokens)
                .sum::<i64>()
        };
        assert_eq!(run.total_tokens, sum(None), "run {id}");
        for job in &jobs {
            assert_eq!(job.total_tokens, sum(Some(job.id)), "job {}", job.id);
        }
    }
    eprintln!("run outcomes (status, ended by): {statuses:?}; {retried} jobs ran more than once");
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
    assert_eq!(info.schema_version, 4, "{info:?}");
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
    assert_eq!(info.schema_version, 4);
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

/// An enabled hourly schedule of `task_key` due at `next_run_at`.
fn due_schedule(name: &str, task_key: &str, next_run_at: Timestamp) -> NewSchedule {
    NewSchedule {
        name: name.into(),
        task_key: task_key.into(),
        directive_id: None,
        custom_directive_text: None,
        enabled: true,
        schedule_type: ScheduleType::Interval,
        interval_minutes: Some(60),
        cron_expr: None,
        run_at: None,
        timezone: "UTC".into(),
        task3_scope: Task3Scope::Allowlist,
        use_rag: false,
        max_global: None,
        max_per_job: None,
        misfire_policy: MisfirePolicy::RunOnce,
        next_run_at: Some(next_run_at),
        now: at(0),
    }
}

/// Several stores (as several scheduler processes would have), many firers each, race over 200
/// due schedules while claimers on the same pools take the runs' jobs as they appear: every
/// slot is fired exactly once (one ledger row, one run), nothing deadlocks, and every schedule
/// moves on to its next slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn schedulers_on_several_pools_fire_every_slot_exactly_once() {
    let (seed_store, schema) = fresh_store().await;
    let mut expected = BTreeSet::new();
    for i in 0..200 {
        let slot = at(i % 11);
        let schedule = seed_store
            .create_schedule(due_schedule(
                &format!("race-{i}"),
                ALL_TASKS[i as usize % 3],
                slot,
            ))
            .await
            .unwrap();
        expected.insert((schedule.id, slot));
    }
    let planner: FirePlanner = Arc::new(|schedule: &Schedule, _: &RunningCounts| {
        let slot = schedule.next_run_at.expect("a due schedule has a next run");
        FireDecision::Launch {
            run: NewRun::new(snapshot(), vec![schedule.task_key.clone()], slot)
                .with_trigger(Trigger::Schedule),
            scheduled_for: slot,
            next_run_at: Some(slot + chrono::Duration::hours(1)),
            enabled: true,
        }
    });

    let stores = pools(&schema, 4, "3").await;
    let firing_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut firers = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let store = stores[worker % stores.len()].clone();
        let planner = planner.clone();
        firers.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let fired = store
                    .fire_due_schedules(at(100), 1 + worker as u32 % 4, planner.clone())
                    .await
                    .expect("fire");
                if fired.is_empty() {
                    break mine;
                }
                for f in fired {
                    match f {
                        Fired::Launched { run, scheduled_run } => {
                            assert_eq!(run.schedule_id, Some(scheduled_run.schedule_id));
                            assert_eq!(scheduled_run.run_id, Some(run.id));
                            mine.push((scheduled_run.schedule_id, scheduled_run.scheduled_for));
                        }
                        other => panic!("only launches are planned: {other:?}"),
                    }
                }
            }
        });
    }
    let mut claimers = tokio::task::JoinSet::new();
    for (i, store) in stores.iter().enumerate() {
        let store = store.clone();
        let done = firing_done.clone();
        claimers.spawn(async move {
            let owner = format!("claimer-{i}");
            let mut claimed = 0usize;
            loop {
                let batch = store
                    .claim_jobs(
                        ClaimJobs::new(&owner, at(200), chrono::Duration::minutes(5)).with_limit(4),
                    )
                    .await
                    .expect("claim");
                claimed += batch.len();
                if batch.is_empty() {
                    if done.load(std::sync::atomic::Ordering::SeqCst) {
                        break claimed;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        });
    }
    let mut slots = Vec::new();
    while let Some(mine) = firers.join_next().await {
        slots.extend(mine.unwrap());
    }
    firing_done.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut claimed = 0;
    while let Some(n) = claimers.join_next().await {
        claimed += n.unwrap();
    }

    let unique: BTreeSet<_> = slots.iter().copied().collect();
    assert_eq!(unique.len(), slots.len(), "no slot fired twice");
    assert_eq!(unique, expected, "every slot fired");
    assert_eq!(claimed, 200, "every launched job was claimed once");
    let (ledger, distinct, runs): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM scheduled_runs), \
                (SELECT COUNT(DISTINCT (schedule_id, scheduled_for)) FROM scheduled_runs), \
                (SELECT COUNT(*) FROM runs WHERE schedule_id IS NOT NULL)",
    )
    .fetch_one(seed_store.pool())
    .await
    .unwrap();
    assert_eq!((ledger, distinct, runs), (200, 200, 200));
    for (id, slot) in expected {
        let schedule = seed_store.get_schedule(id).await.unwrap();
        assert_eq!(schedule.last_run_at, Some(slot), "schedule {id}");
        assert_eq!(
            schedule.next_run_at,
            Some(slot + chrono::Duration::hours(1)),
            "schedule {id}"
        );
    }
    assert!(
        seed_store
            .fire_due_schedules(at(100), 500, planner)
            .await
            .unwrap()
            .is_empty(),
        "nothing is due any more"
    );
}
