//! Executors in separate OS processes (SPEC §3.1), on SQLite and on Postgres: a worker killed
//! with SIGKILL while holding a lease has its job run again exactly once after the lease
//! expires, and several worker processes never run a job twice nor exceed the concurrency
//! limits (sampled from the store while they run).
//!
//! Workers are this test binary started again with `executor_child_process` selected and its
//! role in the environment. The Postgres tests need `CYBERBRAIN_TEST_PG_URL` and fail without it
//! (`scripts/pg.sh up`; `export CYBERBRAIN_TEST_PG_URL=$(scripts/pg.sh url)`).

mod executor_support;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cyberbrain_core::domain::{JobStatus, RunStatus};
use cyberbrain_core::engine::{Executor, JobContext, TaskRunner};
use cyberbrain_core::{Cyberbrain, Result};
use executor_support::*;
use serde_json::Value;
use tempfile::TempDir;

/// Set in a worker process: its role (`hold` or `work`), database, shared directory and name.
const CHILD_ROLE: &str = "CYBERBRAIN_EXECUTOR_CHILD_ROLE";
const CHILD_DB: &str = "CYBERBRAIN_EXECUTOR_CHILD_DB";
const CHILD_DIR: &str = "CYBERBRAIN_EXECUTOR_CHILD_DIR";
const CHILD_NAME: &str = "CYBERBRAIN_EXECUTOR_CHILD_NAME";

/// The lease of the worker that gets killed: short, so recovery comes quickly.
const HOLD_LEASE: Duration = Duration::from_secs(2);
/// A worker gives up on its own after this, should its parent die without stopping it.
const CHILD_LIFETIME: Duration = Duration::from_secs(120);

/// Worker processes in the limits test, their slots, and the limits they share.
const WORKERS: usize = 3;
const WORKER_SLOTS: u32 = 2;
const MAX_RUNS: u32 = 4;
const MAX_PER_TASK: u32 = 3;
const RUNS: usize = 40;
const TASKS: [&str; 2] = ["alpha", "beta"];

/// Records its job id, then holds the job (and its lease) until the process is killed.
#[derive(Debug)]
struct HoldingRunner {
    file: PathBuf,
}

#[async_trait]
impl TaskRunner for HoldingRunner {
    async fn run(&self, ctx: &JobContext) -> Result<Value> {
        append_line(&self.file, &ctx.job().id.to_string());
        std::future::pending::<()>().await;
        Ok(Value::Null)
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set for worker processes"))
}

/// The worker side; does nothing in a normal test run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_child_process() {
    let Ok(role) = std::env::var(CHILD_ROLE) else {
        return;
    };
    let dir = PathBuf::from(env(CHILD_DIR));
    let name = env(CHILD_NAME);
    let cb = Cyberbrain::new(open_store(&env(CHILD_DB)).await, config_in(&dir));
    match role.as_str() {
        "hold" => {
            let executor = Executor::new(cb)
                .with_options(quick_options().with_lease(HOLD_LEASE))
                .with_runner(
                    "hold",
                    Arc::new(HoldingRunner {
                        file: dir.join(format!("{name}.started")),
                    }),
                );
            // Until SIGKILL (or the lifetime, should the parent be gone).
            executor
                .run(tokio::time::sleep(CHILD_LIFETIME))
                .await
                .expect("executor");
        }
        "work" => {
            let runner: Arc<dyn TaskRunner> = Arc::new(RecordingRunner {
                file: dir.join(format!("{name}.jobs")),
                delay: Duration::from_millis(40),
            });
            let mut executor = Executor::new(cb).with_options(
                quick_options()
                    .with_slots(WORKER_SLOTS)
                    .with_limits(MAX_RUNS, MAX_PER_TASK),
            );
            for task in TASKS {
                executor = executor.with_runner(task, Arc::clone(&runner));
            }
            std::fs::write(dir.join(format!("{name}.ready")), b"").unwrap();
            let go = dir.join("go");
            let stop = dir.join("stop");
            let deadline = tokio::time::Instant::now() + CHILD_LIFETIME;
            while !go.exists() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            executor
                .run(async move {
                    while !stop.exists() && tokio::time::Instant::now() < deadline {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                })
                .await
                .expect("executor");
        }
        other => panic!("unknown worker role {other:?}"),
    }
}

/// A worker process, killed when dropped so a failing test leaves none behind.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_worker(role: &str, db_url: &str, dir: &Path, name: &str) -> Worker {
    let exe = std::env::current_exe().expect("test binary path");
    let child = Command::new(exe)
        .args(["executor_child_process", "--exact", "--test-threads", "1"])
        .env(CHILD_ROLE, role)
        .env(CHILD_DB, db_url)
        .env(CHILD_DIR, dir)
        .env(CHILD_NAME, name)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn worker process");
    Worker(child)
}

/// Waits until the worker exits on its own and checks it succeeded.
async fn wait_success(worker: Worker) {
    let status = tokio::task::spawn_blocking(move || {
        let mut worker = worker;
        worker.0.wait()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(status.success(), "worker failed: {status}");
}

/// The database a test runs on: a handle, its URL for the workers, and what keeps it alive.
struct Database {
    cb: Cyberbrain,
    url: String,
    dir: TempDir,
    _schema: Option<cyberbrain_store_pg::testing::TestSchema>,
}

async fn sqlite_database() -> Database {
    let f = sqlite_fixture().await;
    Database {
        cb: f.cb,
        url: f.db_url,
        dir: f.dir,
        _schema: None,
    }
}

async fn postgres_database() -> Database {
    let (store, schema) = cyberbrain_store_pg::testing::fresh_store().await;
    let dir = tempfile::tempdir().expect("temp dir");
    Database {
        cb: Cyberbrain::new(Arc::new(store), config_in(dir.path())),
        url: schema.url(),
        dir,
        _schema: Some(schema),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_killed_lease_holder_has_its_job_run_again_once() {
    killed_lease_holder(sqlite_database().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_killed_lease_holder_has_its_job_run_again_once() {
    killed_lease_holder(postgres_database().await).await;
}

async fn killed_lease_holder(db: Database) {
    let (cb, dir) = (&db.cb, db.dir.path());
    create_task(cb, "hold").await;
    let run = launch(cb, &["hold"]).await;
    let mut victim = spawn_worker("hold", &db.url, dir, "victim");
    let victim_pid = victim.0.id();
    let started = dir.join("victim.started");
    eventually("the worker starts the job", || {
        !recorded(&started).is_empty()
    })
    .await;

    // Two executors in this process, whose runner records what it runs.
    let rescuer_files: Vec<PathBuf> = (0..2)
        .map(|i| dir.join(format!("rescuer-{i}.jobs")))
        .collect();
    let rescuers: Vec<_> = rescuer_files
        .iter()
        .map(|file| {
            Executor::new(cb.clone())
                .with_options(quick_options())
                .with_runner(
                    "hold",
                    Arc::new(RecordingRunner {
                        file: file.clone(),
                        delay: Duration::ZERO,
                    }),
                )
                .spawn()
        })
        .collect();
    // Longer than the lease: the live worker keeps renewing, so nobody else takes the job.
    tokio::time::sleep(HOLD_LEASE + Duration::from_millis(500)).await;
    let job = cb.run_jobs(run.id).await.unwrap().remove(0);
    assert_eq!((job.status, job.attempts), (JobStatus::Running, 1));
    let owner = job.lease_owner.clone().expect("leased");
    assert!(
        owner.contains(&format!("/{victim_pid}/")),
        "the worker process holds the lease: {owner}"
    );
    assert!(rescuer_files.iter().all(|f| recorded(f).is_empty()));

    // kill -9
    victim.0.kill().expect("SIGKILL the worker");
    let status = victim.0.wait().expect("reap the worker");
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status}");

    let ended = wait_ended(cb, run.id).await;
    for rescuer in rescuers {
        rescuer.shutdown().await.expect("shutdown");
    }
    assert_eq!(ended.status, RunStatus::Completed);
    let job = cb.run_jobs(run.id).await.unwrap().remove(0);
    assert_eq!((job.status, job.attempts), (JobStatus::Completed, 2));
    assert_eq!(
        recorded(&started),
        [job.id],
        "the killed worker ran it once"
    );
    let reruns: Vec<i64> = rescuer_files.iter().flat_map(|f| recorded(f)).collect();
    assert_eq!(
        reruns,
        [job.id],
        "re-run exactly once after the lease expired"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_worker_processes_run_each_job_once_within_the_limits() {
    processes_share_the_work(sqlite_database().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_worker_processes_run_each_job_once_within_the_limits() {
    processes_share_the_work(postgres_database().await).await;
}

async fn processes_share_the_work(db: Database) {
    let (cb, dir) = (&db.cb, db.dir.path());
    for task in TASKS {
        create_task(cb, task).await;
    }
    let mut runs = Vec::new();
    for i in 0..RUNS {
        runs.push(launch(cb, &[mixed_task(i)]).await.id);
    }
    let names: Vec<String> = (0..WORKERS).map(|i| format!("worker-{i}")).collect();
    let workers: Vec<Worker> = names
        .iter()
        .map(|name| spawn_worker("work", &db.url, dir, name))
        .collect();
    for name in &names {
        let ready = dir.join(format!("{name}.ready"));
        eventually("a worker starts", || ready.exists()).await;
    }
    std::fs::write(dir.join("go"), b"").unwrap();

    let peaks = sample_until_done(cb, RUNS, &TASKS).await;
    std::fs::write(dir.join("stop"), b"").unwrap();
    for worker in workers {
        wait_success(worker).await;
    }

    let mut per_worker = BTreeMap::new();
    let mut executed = Vec::new();
    for name in &names {
        let ids = recorded(&dir.join(format!("{name}.jobs")));
        per_worker.insert(name.clone(), ids.len());
        executed.extend(ids);
    }
    eprintln!("jobs per worker process: {per_worker:?}; store samples: {peaks:?}");
    let mut all_jobs = BTreeSet::new();
    for id in &runs {
        for job in cb.run_jobs(*id).await.unwrap() {
            assert_eq!(
                (job.status, job.attempts),
                (JobStatus::Completed, 1),
                "{job:?}"
            );
            all_jobs.insert(job.id);
        }
    }
    let unique: BTreeSet<i64> = executed.iter().copied().collect();
    assert_eq!(
        unique.len(),
        executed.len(),
        "a job ran twice: {per_worker:?}"
    );
    assert_eq!(unique, all_jobs, "every job ran: {per_worker:?}");
    assert!(
        per_worker.values().filter(|n| **n > 0).count() >= 2,
        "the processes shared the work: {per_worker:?}"
    );
    peaks.assert_within(MAX_RUNS, MAX_PER_TASK);
}
