//! SQLite-specific behaviour beyond the conformance suite: several stores and several OS
//! processes on one file, reopening, file creation, the on-disk formats.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cyberbrain_core::domain::{
    ApprovalStatus, ClaimJobs, DEFAULT_DIRECTIVE_NAME, DirectiveType, FinishJob, FireDecision,
    Fired, JobStatus, NewAllowlistEntry, NewDirective, NewRun, PageRequest, ReapLeases, RunStatus,
    RunningCounts, Schedule, Trigger,
};
use cyberbrain_core::store::{
    AccountingStore, AllowlistStore, DirectiveStore, FirePlanner, RunStore, ScheduleStore,
    StoreAdmin, TaskStore,
};
use cyberbrain_core::testing::conformance::new_schedule;
use cyberbrain_core::{Error, Store};
use cyberbrain_store_sqlite::{SqliteConfig, SqliteStore};

fn url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

async fn open(path: &Path) -> SqliteStore {
    let store = SqliteStore::connect(&url(path)).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
}

/// Creates `runs` runnable runs of two jobs each; returns every job id.
async fn seed_runs(store: &SqliteStore, runs: usize) -> BTreeSet<i64> {
    seed_shaped_runs(store, runs, &[&["log_triage", "gpu_report"]]).await
}

/// Creates `runs` runs, the `i`th with the tasks of `shapes[i % shapes.len()]`; returns the
/// ids of all their jobs.
async fn seed_shaped_runs(store: &SqliteStore, runs: usize, shapes: &[&[&str]]) -> BTreeSet<i64> {
    let directive = store
        .get_directive_by_name(DEFAULT_DIRECTIVE_NAME)
        .await
        .unwrap();
    let mut jobs = BTreeSet::new();
    for i in 0..runs {
        let keys = shapes[i % shapes.len()]
            .iter()
            .map(|k| k.to_string())
            .collect();
        let new = NewRun::new(directive.snapshot(), keys, chrono::Utc::now());
        let run = store.create_run(new).await.unwrap();
        jobs.extend(
            store
                .list_run_jobs(run.id)
                .await
                .unwrap()
                .into_iter()
                .map(|j| j.id),
        );
    }
    jobs
}

/// Claims one job at a time until none is left; returns the ids this claimer got.
async fn claim_until_empty(store: SqliteStore, owner: String) -> Vec<i64> {
    let mut mine = Vec::new();
    loop {
        let claim = ClaimJobs::new(&owner, chrono::Utc::now(), chrono::Duration::minutes(5));
        let batch = store.claim_jobs(claim.with_limit(2)).await.expect("claim");
        if batch.is_empty() {
            return mine;
        }
        mine.extend(batch.into_iter().map(|j| j.id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_claim_each_job_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let first = open(&path).await;
    let second = open(&path).await;
    let all = seed_runs(&first, 60).await;

    let mut claimers = tokio::task::JoinSet::new();
    for i in 0..12 {
        let store = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        claimers.spawn(claim_until_empty(
            store,
            format!("store-{}-task-{i}", i % 2),
        ));
    }
    let mut claimed = Vec::new();
    while let Some(result) = claimers.join_next().await {
        claimed.extend(result.unwrap());
    }
    let unique: BTreeSet<i64> = claimed.iter().copied().collect();
    assert_eq!(unique.len(), claimed.len(), "a job was claimed twice");
    assert_eq!(unique, all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_fire_each_slot_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let stores: Vec<Arc<dyn Store>> =
        vec![Arc::new(open(&path).await), Arc::new(open(&path).await)];
    cyberbrain_core::testing::conformance::race_firers(&stores, 12, 60).await;
}

/// Set in a child process: the database to claim from and where to write what it got.
const CHILD_DB: &str = "CYBERBRAIN_TEST_CHILD_DB";
const CHILD_OUT: &str = "CYBERBRAIN_TEST_CHILD_OUT";
/// Set in a child process that claims with limits (`max_running_runs,max_running_per_task`)
/// and finishes what it claims.
const CHILD_LIMITS: &str = "CYBERBRAIN_TEST_CHILD_LIMITS";
/// Set in a child process that fires due schedules instead of claiming.
const CHILD_FIRE: &str = "CYBERBRAIN_TEST_CHILD_FIRE";

/// What a child process does.
#[derive(Debug, Clone, Copy)]
enum ChildWork {
    Claim,
    /// Claim with (`max_running_runs`, `max_running_per_task`) and finish what it claims.
    ClaimWithLimits(u32, u32),
    /// Fire due schedules at [`fire_time`]; report the schedule of every launch.
    Fire,
}

/// The instant schedule-firing processes fire at: every test schedule is due by then, and the
/// next slot of each (an hour on) is not.
fn fire_time() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_750_000_030, 0).unwrap()
}

/// The child side of the separate-process tests; a no-op in a normal test run. Waits for the
/// parent's go, claims with four tasks, and writes the ids it got to its out file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_claimer_process() {
    let (Ok(db), Ok(out)) = (std::env::var(CHILD_DB), std::env::var(CHILD_OUT)) else {
        return;
    };
    let limits = std::env::var(CHILD_LIMITS).ok().map(|text| {
        let (runs, per_task) = text.split_once(',').expect("limits are runs,per_task");
        (runs.parse().unwrap(), per_task.parse().unwrap())
    });
    let store = SqliteStore::connect(&db).await.expect("child connect");
    let go = PathBuf::from(format!("{out}.go"));
    std::fs::write(format!("{out}.ready"), b"").unwrap();
    while !go.exists() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let fire = std::env::var(CHILD_FIRE).is_ok();
    let mut claimers = tokio::task::JoinSet::new();
    for i in 0..4 {
        let owner = format!("{out}-{i}");
        match limits {
            _ if fire => claimers.spawn(fire_until_nothing_is_due(store.clone())),
            Some(limits) => claimers.spawn(claim_and_finish(store.clone(), owner, limits)),
            None => claimers.spawn(claim_until_empty(store.clone(), owner)),
        };
    }
    let mut claimed = Vec::new();
    while let Some(result) = claimers.join_next().await {
        claimed.extend(result.unwrap());
    }
    let text: Vec<String> = claimed.iter().map(i64::to_string).collect();
    std::fs::write(&out, text.join("\n")).unwrap();
}

/// Fires due schedules at [`fire_time`] in batches of 3 until none is due; returns the schedule
/// id of every launch.
async fn fire_until_nothing_is_due(store: SqliteStore) -> Vec<i64> {
    let directive = store
        .get_directive_by_name(DEFAULT_DIRECTIVE_NAME)
        .await
        .unwrap()
        .snapshot();
    let planner: FirePlanner = Arc::new(move |schedule: &Schedule, _: &RunningCounts| {
        let slot = schedule.next_run_at.expect("a due schedule has a next run");
        FireDecision::Launch {
            run: NewRun::new(directive.clone(), vec![schedule.task_key.clone()], slot)
                .with_trigger(Trigger::Schedule),
            scheduled_for: slot,
            next_run_at: Some(slot + chrono::Duration::hours(1)),
            enabled: true,
        }
    });
    let mut mine = Vec::new();
    loop {
        let fired = store
            .fire_due_schedules(fire_time(), 3, planner.clone())
            .await
            .expect("fire");
        if fired.is_empty() {
            return mine;
        }
        for outcome in fired {
            match outcome {
                Fired::Launched { scheduled_run, .. } => mine.push(scheduled_run.schedule_id),
                other => panic!("every due schedule launches: {other:?}"),
            }
        }
    }
}

/// Claims with `limits`, works a moment on what it got and finishes it, until no job is left
/// pending or running; returns the ids this claimer finished.
async fn claim_and_finish(store: SqliteStore, owner: String, limits: (u32, u32)) -> Vec<i64> {
    let mut mine = Vec::new();
    loop {
        let claim = ClaimJobs::new(&owner, chrono::Utc::now(), chrono::Duration::minutes(5))
            .with_limit(2)
            .with_limits(limits.0, limits.1);
        let batch = store.claim_jobs(claim).await.expect("claim");
        if batch.is_empty() {
            let jobs = store.metrics().await.expect("metrics").jobs_by_status;
            if jobs["pending"] + jobs["running"] == 0 {
                return mine;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        for job in batch {
            store
                .finish_job(FinishJob {
                    job_id: job.id,
                    owner: owner.clone(),
                    status: JobStatus::Completed,
                    result: serde_json::json!({}),
                    error_summary: None,
                    now: chrono::Utc::now(),
                })
                .await
                .expect("finish a claimed job");
            mine.push(job.id);
        }
    }
}

/// Starts `count` child claimer processes on the database at `path` (with `limits`, when
/// given), waits until each is ready and lets them all go at once so they really race.
/// Returns the children and their out files.
async fn start_children(
    dir: &Path,
    path: &Path,
    count: usize,
    work: ChildWork,
) -> (Vec<std::process::Child>, Vec<PathBuf>) {
    let exe = std::env::current_exe().unwrap();
    let outs: Vec<PathBuf> = (0..count)
        .map(|i| dir.join(format!("child-{i}.txt")))
        .collect();
    let mut children = Vec::new();
    for out in &outs {
        let mut command = std::process::Command::new(&exe);
        command
            .args(["child_claimer_process", "--exact", "--test-threads", "1"])
            .env(CHILD_DB, url(path))
            .env(CHILD_OUT, out)
            .stdout(std::process::Stdio::null());
        match work {
            ChildWork::Claim => {}
            ChildWork::ClaimWithLimits(runs, per_task) => {
                command.env(CHILD_LIMITS, format!("{runs},{per_task}"));
            }
            ChildWork::Fire => {
                command.env(CHILD_FIRE, "1");
            }
        }
        children.push(command.spawn().expect("spawn child"));
    }
    for out in &outs {
        let ready = PathBuf::from(format!("{}.ready", out.display()));
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !ready.exists() {
            assert!(std::time::Instant::now() < deadline, "child did not start");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    for out in &outs {
        std::fs::write(format!("{}.go", out.display()), b"").unwrap();
    }
    (children, outs)
}

/// Waits for every child to succeed and adds what each claimed to `claimed` and `per_process`.
async fn collect_children(
    children: Vec<std::process::Child>,
    outs: &[PathBuf],
    claimed: &mut Vec<i64>,
    per_process: &mut BTreeMap<String, usize>,
) {
    for mut child in children {
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "child failed: {status}");
    }
    for out in outs {
        let text = std::fs::read_to_string(out).unwrap();
        let ids: Vec<i64> = text.lines().map(|l| l.parse().unwrap()).collect();
        per_process.insert(out.display().to_string(), ids.len());
        claimed.extend(ids);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn separate_processes_claim_each_job_once() {
    if std::env::var(CHILD_DB).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("processes.db");
    let store = open(&path).await;
    let all = seed_runs(&store, 150).await;

    let (children, outs) = start_children(dir.path(), &path, 3, ChildWork::Claim).await;
    let mut claimed = claim_until_empty(store.clone(), "parent".into()).await;
    let mut per_process = BTreeMap::new();
    per_process.insert("parent".to_string(), claimed.len());
    collect_children(children, &outs, &mut claimed, &mut per_process).await;
    eprintln!("jobs claimed per process: {per_process:?}");
    let unique: BTreeSet<i64> = claimed.iter().copied().collect();
    assert_eq!(
        unique.len(),
        claimed.len(),
        "a job was claimed twice: {per_process:?}"
    );
    assert_eq!(unique, all, "every job was claimed: {per_process:?}");
}

/// Four OS processes (four firing tasks each) and this one race over 120 due schedules: each
/// slot is fired exactly once — one launch, one ledger row, one run.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn separate_processes_fire_each_slot_once() {
    if std::env::var(CHILD_DB).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("firing.db");
    let store = open(&path).await;
    let mut all = BTreeSet::new();
    for i in 0..120 {
        let due = fire_time() - chrono::Duration::seconds(i % 7);
        let new = new_schedule(&format!("race-{i}"), "log_triage", Some(due));
        all.insert(store.create_schedule(new).await.unwrap().id);
    }

    let (children, outs) = start_children(dir.path(), &path, 4, ChildWork::Fire).await;
    let mut fired = fire_until_nothing_is_due(store.clone()).await;
    let mut per_process = BTreeMap::new();
    per_process.insert("parent".to_string(), fired.len());
    collect_children(children, &outs, &mut fired, &mut per_process).await;
    eprintln!("slots fired per process: {per_process:?}");
    let unique: BTreeSet<i64> = fired.iter().copied().collect();
    assert_eq!(
        unique.len(),
        fired.len(),
        "a slot fired twice: {per_process:?}"
    );
    assert_eq!(unique, all, "every slot fired: {per_process:?}");
    for id in all {
        let history = store
            .schedule_history(id, PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(history.count, 1, "schedule {id}: one ledger row");
    }
    assert_eq!(
        store.metrics().await.unwrap().runs_by_status["pending"],
        120
    );
}

/// What runs at one committed moment: running runs, and the most running jobs of one task.
fn running_now(conn: &mut rusqlite::Connection) -> (i64, i64) {
    // One read transaction: both counts come from the same commit.
    let tx = conn.transaction().unwrap();
    let runs: i64 = tx
        .query_row(
            "SELECT COUNT(*) FROM runs WHERE status = 'running'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let per_task: i64 = tx
        .query_row(
            "SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) AS n FROM run_jobs \
             WHERE status = 'running' GROUP BY task_key)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    tx.commit().unwrap();
    (runs, per_task)
}

/// Several OS processes claiming with limits while finishing jobs never exceed the limits
/// together (sampled from the database while they work), and every job runs exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn separate_processes_claiming_with_limits_never_exceed_them() {
    if std::env::var(CHILD_DB).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("limits.db");
    let store = open(&path).await;
    let shapes: [&[&str]; 4] = [
        &["log_triage", "gpu_report"],
        &["gpu_report"],
        &["service_map", "log_triage"],
        &["log_triage"],
    ];
    let all = seed_shaped_runs(&store, 60, &shapes).await;
    let limits = (3, 2);

    let (children, outs) = start_children(
        dir.path(),
        &path,
        3,
        ChildWork::ClaimWithLimits(limits.0, limits.1),
    )
    .await;
    let sampler_path = path.clone();
    let sampler = tokio::task::spawn_blocking(move || {
        let mut conn = rusqlite::Connection::open(&sampler_path).unwrap();
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        let mut samples = 0;
        let mut peak = (0, 0);
        loop {
            let (runs, per_task) = running_now(&mut conn);
            assert!(runs <= 3, "{runs} runs running at once (limit 3)");
            assert!(
                per_task <= 2,
                "{per_task} jobs of one task running at once (limit 2)"
            );
            peak = (peak.0.max(runs), peak.1.max(per_task));
            samples += 1;
            let left: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM run_jobs WHERE status IN ('pending', 'running')",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            if left == 0 {
                return (samples, peak);
            }
        }
    });
    let mut claimed = Vec::new();
    let mut per_process = BTreeMap::new();
    collect_children(children, &outs, &mut claimed, &mut per_process).await;
    let (samples, peak) = sampler.await.unwrap();
    eprintln!(
        "jobs finished per process: {per_process:?}; {samples} samples, peak (runs, per task) \
         {peak:?}"
    );
    let unique: BTreeSet<i64> = claimed.iter().copied().collect();
    assert_eq!(
        unique.len(),
        claimed.len(),
        "a job ran twice: {per_process:?}"
    );
    assert_eq!(unique, all, "every job ran: {per_process:?}");
    for id in all {
        let job = store.get_run_job(id).await.unwrap();
        assert_eq!(
            (job.status, job.attempts),
            (JobStatus::Completed, 1),
            "job {id}"
        );
    }
    let runs = store.metrics().await.unwrap().runs_by_status;
    assert_eq!(runs["completed"], 60, "{runs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrations_of_a_new_file_apply_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.db");
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(SqliteStore::connect(&url(&path)).await.unwrap());
    }
    let mut migrations = tokio::task::JoinSet::new();
    for store in stores.clone() {
        migrations.spawn(async move { store.migrate().await });
    }
    while let Some(result) = migrations.join_next().await {
        result.unwrap().expect("migrate");
    }
    let directives = stores[0]
        .list_directives(PageRequest::first(200))
        .await
        .unwrap();
    assert_eq!(directives.count, 5, "seeds applied once");
    assert_eq!(stores[0].info().await.unwrap().schema_version, 4);
}

#[tokio::test]
async fn a_reopened_file_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kept.db");
    let (directive, entry) = {
        let store = open(&path).await;
        let directive = store
            .create_directive(NewDirective::new("Kept", DirectiveType::D2).with_text("persist me"))
            .await
            .unwrap();
        let entry = store
            .create_allowlist_entry(NewAllowlistEntry::new("web").with_tags(["a"]))
            .await
            .unwrap();
        (directive, entry)
    };
    let store = open(&path).await;
    assert_eq!(store.get_directive(directive.id).await.unwrap(), directive);
    assert_eq!(store.get_allowlist_entry(entry.id).await.unwrap(), entry);
    assert_eq!(
        store
            .list_tasks(PageRequest::first(200))
            .await
            .unwrap()
            .count,
        3
    );
}

#[tokio::test]
async fn connect_creates_missing_directories_and_reports_itself() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/c/cyberbrain.db");
    let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert!(path.exists());
    assert_eq!(store.path(), path);
    let before = store.info().await.unwrap();
    assert_eq!(before.schema_version, 0);
    assert!(
        before.notes.iter().any(|n| n.contains("pending")),
        "{before:?}"
    );
    store.migrate().await.unwrap();
    let info = store.info().await.unwrap();
    assert_eq!(info.backend, "sqlite");
    assert_eq!(info.version, rusqlite::version());
    assert_eq!(info.location, path.display().to_string());
    assert_eq!(info.schema_version, 4);
    assert!(info.notes.is_empty(), "{info:?}");
    store.ping().await.unwrap();

    let bare = SqliteStore::connect(path.to_str().unwrap()).await.unwrap();
    assert_eq!(
        bare.list_directives(PageRequest::first(1))
            .await
            .unwrap()
            .count,
        5
    );
    let configured = SqliteStore::connect_with(SqliteConfig::new(&path).with_readers(1))
        .await
        .unwrap();
    assert_eq!(configured.config().readers, 1);
    configured.ping().await.unwrap();
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_unavailable_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    std::fs::write(
        &path,
        "this is a text file, not SQLite; it is long enough to have a header",
    )
    .unwrap();
    let err = SqliteStore::connect(&url(&path)).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    assert!(err.to_string().contains("notes.db"), "{err}");
}

#[tokio::test]
async fn a_bad_url_is_invalid_input() {
    let err = SqliteStore::connect("sqlite::memory:").await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
}

/// The documented on-disk conventions: WAL, fixed-width UTC times, JSON text, the snapshot
/// stored as its canonical JSON.
#[tokio::test]
async fn on_disk_formats_follow_the_documented_conventions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("formats.db");
    let store = open(&path).await;
    let directive = store
        .get_directive_by_name(DEFAULT_DIRECTIVE_NAME)
        .await
        .unwrap();
    let mut new = NewRun::new(
        directive.snapshot(),
        vec!["log_triage".into()],
        chrono::Utc::now(),
    );
    new.approval_status = ApprovalStatus::None;
    let run = store.create_run(new.clone()).await.unwrap();
    store
        .create_allowlist_entry(NewAllowlistEntry::new("db").with_tags(["x", "y"]))
        .await
        .unwrap();

    let path_for_check = path.clone();
    let expected_snapshot = new.directive_snapshot.canonical_json();
    tokio::task::spawn_blocking(move || {
        let conn = rusqlite::Connection::open(&path_for_check).unwrap();
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        let mut times = conn
            .prepare(
                "SELECT created_at FROM directives UNION ALL SELECT updated_at FROM directives \
                 UNION ALL SELECT created_at FROM task_definitions \
                 UNION ALL SELECT created_at FROM container_allowlist \
                 UNION ALL SELECT created_at FROM runs UNION ALL SELECT applied_at FROM schema_migrations",
            )
            .unwrap();
        let times: Vec<String> =
            times.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
        assert!(times.len() > 10);
        for time in times {
            let bytes = time.as_bytes();
            assert_eq!(bytes.len(), 27, "{time}");
            assert_eq!((bytes[4], bytes[10], bytes[19], bytes[26]), (b'-', b'T', b'.', b'Z'), "{time}");
        }
        let (snapshot, sha): (String, String) = conn
            .query_row("SELECT directive_snapshot, snapshot_sha256 FROM runs WHERE id = ?1", [run.id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(snapshot, expected_snapshot);
        assert_eq!(sha, run.snapshot_sha256);
        let tags: String =
            conn.query_row("SELECT tags FROM container_allowlist", [], |r| r.get(0)).unwrap();
        assert_eq!(tags, r#"["x","y"]"#);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn runs_survive_their_directive_and_task_being_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir.path().join("g4.db")).await);
    let directive = store
        .create_directive(NewDirective::new("Gone soon", DirectiveType::D1))
        .await
        .unwrap();
    let run = store
        .create_run(NewRun::new(
            directive.snapshot(),
            vec!["service_map".into()],
            chrono::Utc::now(),
        ))
        .await
        .unwrap();
    store.delete_directive(directive.id).await.unwrap();
    let task = store.get_task_by_key("service_map").await.unwrap();
    store.delete_task(task.id).await.unwrap();
    let kept = store.get_run(run.id).await.unwrap();
    assert_eq!(kept, run);
    assert_eq!(
        store.list_run_jobs(run.id).await.unwrap()[0].task_key,
        "service_map"
    );
}

/// A job whose executor died after its run was cancelled could never be claimed again, so the
/// reap cancels it instead of requeueing it, and the run ends `cancelled`.
#[tokio::test]
async fn an_expired_job_of_a_cancelled_run_is_cancelled_not_requeued() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("reap.db")).await;
    let directive = store
        .get_directive_by_name(DEFAULT_DIRECTIVE_NAME)
        .await
        .unwrap();
    let start = chrono::DateTime::from_timestamp(1_750_000_000, 0).unwrap();
    let run = store
        .create_run(NewRun::new(
            directive.snapshot(),
            vec!["log_triage".into(), "gpu_report".into()],
            start,
        ))
        .await
        .unwrap();
    let claim = ClaimJobs::new("crashed", start, chrono::Duration::minutes(5));
    let job = store.claim_jobs(claim).await.unwrap().remove(0);
    store.cancel_run(run.id, start).await.unwrap();
    let later = start + chrono::Duration::minutes(6);
    let ended = store
        .reap_expired_leases(ReapLeases {
            now: later,
            max_attempts: 3,
        })
        .await
        .unwrap();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].status, RunStatus::Cancelled);
    assert_eq!(ended[0].ended_at, Some(later));
    let reaped = store.get_run_job(job.id).await.unwrap();
    assert_eq!(reaped.status, JobStatus::Cancelled);
    assert!(
        reaped
            .error_summary
            .as_deref()
            .is_some_and(|e| e.contains("lease expired")),
        "{reaped:?}"
    );
}
