//! What the executor tests share: a store in a temporary directory, custom tasks and the
//! runners they run, and waiting for runs.

#![allow(dead_code)] // each test binary uses part of it

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use cyberbrain_core::domain::{NewTaskDefinition, PageRequest, Run, RunQuery, RunStatus};
use cyberbrain_core::engine::{ExecutorOptions, JobContext, LaunchRequest, TaskRunner};
use cyberbrain_core::{Config, Cyberbrain, Error, Result, Store, StoreAdmin};
use cyberbrain_store_sqlite::SqliteStore;
use serde_json::{Value, json};
use tempfile::TempDir;

/// The longest any test waits for a run; only reached when something is broken.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// A handle over a fresh SQLite database; artifacts go under the same temporary directory.
pub struct Fixture {
    pub cb: Cyberbrain,
    pub db_url: String,
    pub dir: TempDir,
}

impl Fixture {
    pub fn artifacts_dir(&self) -> PathBuf {
        self.dir.path().join("artifacts")
    }
}

pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("executor.db").display())
}

/// The configuration every test process uses: artifacts under `dir`.
pub fn config_in(dir: &Path) -> Config {
    let mut config = Config::default();
    config.paths.artifacts_dir = Some(dir.join("artifacts"));
    config
}

pub async fn sqlite_fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = sqlite_url(dir.path());
    let store = SqliteStore::connect(&db_url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let cb = Cyberbrain::new(Arc::new(store), config_in(dir.path()));
    Fixture { cb, db_url, dir }
}

/// Opens a migrated database by URL: Postgres for `postgres://`, else SQLite.
pub async fn open_store(url: &str) -> Arc<dyn Store> {
    if cyberbrain_store_pg::handles_url(url) {
        Arc::new(
            cyberbrain_store_pg::PgStore::connect(url)
                .await
                .expect("connect to Postgres"),
        )
    } else {
        Arc::new(SqliteStore::connect(url).await.expect("connect to SQLite"))
    }
}

/// The task of the `i`th run in the limits tests: three in four are `alpha`, so the per-task
/// limit binds (claims go in id order) while `beta` runs still fit beside them.
pub fn mixed_task(i: usize) -> &'static str {
    if i % 4 == 3 { "beta" } else { "alpha" }
}

/// Creates an active task definition with this key.
pub async fn create_task(cb: &Cyberbrain, key: &str) {
    cb.create_task(NewTaskDefinition::new(key, format!("test task {key}")))
        .await
        .expect("create task");
}

/// Launches one run of `tasks` under the default directive.
pub async fn launch(cb: &Cyberbrain, tasks: &[&str]) -> Run {
    cb.launch(LaunchRequest::new().with_tasks(tasks.iter().copied()))
        .await
        .expect("launch")
}

/// Waits until the run ended and its report was written (the executor writes `report.md`,
/// `summary.json` and the stored summary just after the job that ended the run finished).
pub async fn wait_ended(cb: &Cyberbrain, run_id: i64) -> Run {
    let run = cb
        .wait_for_run(run_id, RUN_TIMEOUT)
        .await
        .expect("run ends");
    assert!(run.status.is_terminal(), "run {run_id} ended: {run:?}");
    let deadline = tokio::time::Instant::now() + RUN_TIMEOUT;
    loop {
        let run = cb.get_run(run_id).await.expect("run");
        if run.report_summary.get("status").is_some() {
            return run;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {run_id} ended but its report was never written"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Quick polling and a short renewal, so cancels and recoveries are seen within moments.
pub fn quick_options() -> ExecutorOptions {
    ExecutorOptions::default()
        .with_poll_interval(Duration::from_millis(50))
        .with_lease(Duration::from_secs(10))
        .with_renew_interval(Duration::from_millis(100))
        .with_shutdown_grace(Duration::from_secs(10))
}

/// Polls `check` every 10 ms until it holds; panics after `RUN_TIMEOUT` naming `what`.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + RUN_TIMEOUT;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Completes at once, counting its runs.
#[derive(Debug, Default)]
pub struct CountingRunner {
    pub runs: AtomicUsize,
}

#[async_trait]
impl TaskRunner for CountingRunner {
    async fn run(&self, ctx: &JobContext) -> Result<Value> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(json!({ "job_id": ctx.job().id, "findings": 0 }))
    }
}

/// Writes a Markdown file of its own, like the built-in tasks do.
#[derive(Debug)]
pub struct NotesRunner;

#[async_trait]
impl TaskRunner for NotesRunner {
    async fn run(&self, ctx: &JobContext) -> Result<Value> {
        ctx.artifacts()
            .write(
                "notes.md",
                cyberbrain_core::domain::ArtifactKind::Markdown,
                "# Notes\n\nall quiet on job\n",
            )
            .await?;
        Ok(json!({ "notes": 1 }))
    }
}

/// Fails with `message`.
#[derive(Debug)]
pub struct FailingRunner {
    pub message: String,
}

#[async_trait]
impl TaskRunner for FailingRunner {
    async fn run(&self, _ctx: &JobContext) -> Result<Value> {
        Err(Error::unavailable("llm", self.message.clone()))
    }
}

#[derive(Debug)]
pub struct PanickingRunner;

#[async_trait]
impl TaskRunner for PanickingRunner {
    async fn run(&self, _ctx: &JobContext) -> Result<Value> {
        panic!("a runner bug");
    }
}

/// Never finishes on its own; records that it started and that its future was dropped.
#[derive(Debug, Default)]
pub struct BlockingRunner {
    pub started: AtomicUsize,
    pub dropped: Arc<AtomicBool>,
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[async_trait]
impl TaskRunner for BlockingRunner {
    async fn run(&self, _ctx: &JobContext) -> Result<Value> {
        let _guard = SetOnDrop(Arc::clone(&self.dropped));
        self.started.fetch_add(1, Ordering::SeqCst);
        std::future::pending::<()>().await;
        Ok(json!({}))
    }
}

/// Appends its job id to a file (one line per execution) and takes `delay`; what the
/// exactly-once checks read, across processes.
#[derive(Debug)]
pub struct RecordingRunner {
    pub file: PathBuf,
    pub delay: Duration,
}

#[async_trait]
impl TaskRunner for RecordingRunner {
    async fn run(&self, ctx: &JobContext) -> Result<Value> {
        append_line(&self.file, &ctx.job().id.to_string());
        tokio::time::sleep(self.delay).await;
        Ok(json!({ "job_id": ctx.job().id }))
    }
}

/// Appends one line and flushes it, so a process killed later has it on disk.
pub fn append_line(file: &Path, line: &str) {
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .expect("open record file");
    out.write_all(format!("{line}\n").as_bytes())
        .expect("append record");
    out.sync_data().expect("flush record");
}

/// The job ids recorded in `file` (none when it does not exist).
pub fn recorded(file: &Path) -> Vec<i64> {
    match std::fs::read_to_string(file) {
        Ok(text) => text
            .lines()
            .map(|line| line.parse().expect("a job id per line"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The most running runs and running jobs per task seen while sampling.
#[derive(Debug, Default)]
pub struct Peaks {
    pub runs: i64,
    pub per_task: BTreeMap<String, i64>,
    pub samples: usize,
}

impl Peaks {
    /// No sample exceeded the limits, and both were reached (so they were really tested).
    pub fn assert_within(&self, max_runs: u32, max_per_task: u32) {
        assert!(
            self.runs <= i64::from(max_runs),
            "global limit exceeded: {self:?}"
        );
        for (task, peak) in &self.per_task {
            assert!(
                *peak <= i64::from(max_per_task),
                "limit of {task} exceeded: {self:?}"
            );
        }
        assert_eq!(
            self.runs,
            i64::from(max_runs),
            "the global limit was reached: {self:?}"
        );
        assert!(
            self.per_task
                .values()
                .any(|peak| *peak == i64::from(max_per_task)),
            "a per-task limit was reached: {self:?}"
        );
    }
}

/// Samples the store until `total` runs completed (each count from one query).
pub async fn sample_until_done(cb: &Cyberbrain, total: usize, tasks: &[&str]) -> Peaks {
    let mut peaks = Peaks::default();
    let deadline = tokio::time::Instant::now() + RUN_TIMEOUT;
    loop {
        let metrics = cb.store().metrics().await.unwrap();
        peaks.runs = peaks.runs.max(metrics.runs_by_status["running"]);
        for task in tasks {
            // One-job runs: a running run of a task is one running job of it.
            let running = cb
                .store()
                .list_runs(
                    RunQuery::new(PageRequest::first(1))
                        .with_status(RunStatus::Running)
                        .with_task_key(*task),
                )
                .await
                .unwrap()
                .count;
            let peak = peaks.per_task.entry(task.to_string()).or_default();
            *peak = (*peak).max(running as i64);
        }
        peaks.samples += 1;
        if metrics.runs_by_status["completed"] as usize == total {
            return peaks;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "runs did not finish: {metrics:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
