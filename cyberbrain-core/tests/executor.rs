//! The executor in one process over the real SQLite store: roll-up and reports, failures,
//! panics, cancel, approvals and the snapshot check (G4), lease recovery, limits shared by
//! several executors, shutdown, and a database that refuses writes for a while.

mod executor_support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use cyberbrain_core::domain::{
    ArtifactQuery, ClaimJobs, FinishJob, JobStatus, PageRequest, Run, RunJob, RunStatus,
};
use cyberbrain_core::engine::{Executor, ExecutorHandle, LaunchRequest};
use cyberbrain_core::testing::ManualClock;
use cyberbrain_core::{Cyberbrain, Error};
use cyberbrain_store_sqlite::SqliteStore;
use executor_support::*;
use sha2::{Digest, Sha256};

/// A fresh SQLite fixture with an active task for each of `runners`, and an executor over it
/// running them.
async fn start(
    runners: &[(&str, Arc<dyn cyberbrain_core::engine::TaskRunner>)],
) -> (Fixture, ExecutorHandle) {
    let f = sqlite_fixture().await;
    for (key, _) in runners {
        create_task(&f.cb, key).await;
    }
    let handle = executor(&f.cb, runners).spawn();
    (f, handle)
}

/// A `noop` run whose job an executor that then died claimed with a 60-second lease, on a
/// manual clock standing at the claim.
struct Abandoned {
    f: Fixture,
    /// `f.cb` on the manual clock.
    cb: Cyberbrain,
    clock: Arc<ManualClock>,
    run: Run,
    job: RunJob,
}

async fn abandoned() -> Abandoned {
    let f = sqlite_fixture().await;
    let start = Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let cb = f.cb.clone().with_clock(clock.clone());
    create_task(&cb, "noop").await;
    let run = launch(&cb, &["noop"]).await;
    let mut claimed = cb
        .store()
        .claim_jobs(ClaimJobs::new(
            "dead-executor",
            start,
            chrono::Duration::seconds(60),
        ))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    Abandoned {
        f,
        cb,
        clock,
        run,
        job: claimed.remove(0),
    }
}

/// An executor over `cb` with quick options and `runners`.
fn executor(
    cb: &Cyberbrain,
    runners: &[(&str, Arc<dyn cyberbrain_core::engine::TaskRunner>)],
) -> Executor {
    let mut executor = Executor::new(cb.clone()).with_options(quick_options());
    for (key, runner) in runners {
        executor = executor.with_runner(key, Arc::clone(runner));
    }
    executor
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_run_rolls_up_and_writes_its_registered_report() {
    let counting = Arc::new(CountingRunner::default());
    let (f, handle) = start(&[("noop", counting.clone()), ("notes", Arc::new(NotesRunner))]).await;

    let run = launch(&f.cb, &["noop", "notes"]).await;
    let ended = wait_ended(&f.cb, run.id).await;
    handle.shutdown().await.expect("shutdown");

    assert_eq!(ended.status, RunStatus::Completed);
    assert!(ended.started_at.is_some() && ended.ended_at.is_some());
    assert_eq!(ended.error_summary, None);
    assert_eq!(counting.runs.load(Ordering::SeqCst), 1);
    let jobs = f.cb.run_jobs(run.id).await.unwrap();
    for job in &jobs {
        assert_eq!(job.status, JobStatus::Completed, "{job:?}");
        assert_eq!(job.attempts, 1);
        assert_eq!(job.lease_owner, None, "the lease is cleared");
    }
    assert_eq!(jobs[0].result["job_id"], jobs[0].id);
    assert_eq!(jobs[1].result["notes"], 1);

    // report.md and summary.json are on disk, registered with their real size and hash.
    let artifacts =
        f.cb.list_artifacts(ArtifactQuery {
            run_id: Some(run.id),
            page: PageRequest::first(50),
        })
        .await
        .unwrap()
        .items;
    let paths: BTreeSet<&str> = artifacts.iter().map(|a| a.relative_path.as_str()).collect();
    let expected = [
        format!("run_{}/report.md", run.id),
        format!("run_{}/summary.json", run.id),
        format!("run_{}/notes.md", run.id),
    ];
    for path in &expected {
        assert!(
            paths.contains(path.as_str()),
            "{path} registered: {paths:?}"
        );
    }
    for artifact in &artifacts {
        let bytes = std::fs::read(f.artifacts_dir().join(&artifact.relative_path)).unwrap();
        assert_eq!(artifact.size_bytes, bytes.len() as i64);
        assert_eq!(artifact.sha256, hex::encode(Sha256::digest(&bytes)));
    }
    let report = f.cb.run_report(run.id).await.unwrap();
    let markdown = report.markdown.expect("report.md");
    assert!(markdown.contains("completed"), "{markdown}");
    assert!(
        markdown.contains("all quiet on job"),
        "the task's own report is nested: {markdown}"
    );
    assert_eq!(report.json["job_counts"]["completed"], 2);
    let stored = f.cb.get_run(run.id).await.unwrap().report_summary;
    assert_eq!(stored["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_task_fails_its_job_with_its_message_cut_to_1000_characters() {
    let f = sqlite_fixture().await;
    create_task(&f.cb, "flaky").await;
    create_task(&f.cb, "orphan").await;
    let message = format!("model server said no {}", "x".repeat(1500));
    let handle = executor(
        &f.cb,
        &[(
            "flaky",
            Arc::new(FailingRunner {
                message: message.clone(),
            }),
        )],
    )
    .spawn();

    let run = launch(&f.cb, &["flaky"]).await;
    let ended = wait_ended(&f.cb, run.id).await;
    assert_eq!(ended.status, RunStatus::Failed);
    let job = &f.cb.run_jobs(run.id).await.unwrap()[0];
    assert_eq!(job.status, JobStatus::Failed);
    let error = job.error_summary.as_deref().expect("error recorded");
    assert!(
        error.starts_with("llm unavailable: model server said no"),
        "{error}"
    );
    assert_eq!(error.chars().count(), 1000);
    assert!(ended.error_summary.as_deref().unwrap().contains("flaky"));
    let report = f.cb.run_report(run.id).await.unwrap();
    assert!(
        report
            .markdown
            .expect("report written")
            .contains("model server said no")
    );

    // A task without a runner in this executor fails with the fix.
    let run = launch(&f.cb, &["orphan"]).await;
    assert_eq!(wait_ended(&f.cb, run.id).await.status, RunStatus::Failed);
    let job = &f.cb.run_jobs(run.id).await.unwrap()[0];
    let error = job.error_summary.as_deref().unwrap();
    assert!(error.contains("no runner for task \"orphan\""), "{error}");
    assert!(error.contains("with_runner"), "{error}");
    handle.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_task_fails_its_job_and_the_executor_carries_on() {
    let counting = Arc::new(CountingRunner::default());
    let (f, handle) = start(&[
        ("buggy", Arc::new(PanickingRunner)),
        ("noop", counting.clone()),
    ])
    .await;

    let run = launch(&f.cb, &["buggy"]).await;
    assert_eq!(wait_ended(&f.cb, run.id).await.status, RunStatus::Failed);
    let job = &f.cb.run_jobs(run.id).await.unwrap()[0];
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.error_summary.as_deref(), Some("task panicked"));

    let next = launch(&f.cb, &["noop"]).await;
    assert_eq!(
        wait_ended(&f.cb, next.id).await.status,
        RunStatus::Completed
    );
    assert!(!handle.is_finished());
    handle.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_running_run_stops_its_job() {
    let blocking = Arc::new(BlockingRunner::default());
    let (f, handle) = start(&[("endless", blocking.clone())]).await;

    let run = launch(&f.cb, &["endless"]).await;
    eventually("the job starts", || {
        blocking.started.load(Ordering::SeqCst) == 1
    })
    .await;
    let requested = f.cb.cancel_run(run.id).await.expect("cancel");
    assert_eq!(
        requested.status,
        RunStatus::Running,
        "a running run ends at the next check"
    );
    assert!(requested.cancel_requested_at.is_some());

    let ended = wait_ended(&f.cb, run.id).await;
    assert_eq!(ended.status, RunStatus::Cancelled);
    let job = &f.cb.run_jobs(run.id).await.unwrap()[0];
    assert_eq!(job.status, JobStatus::Cancelled);
    assert_eq!(job.attempts, 1);
    assert!(
        blocking.dropped.load(Ordering::SeqCst),
        "the runner's future was dropped"
    );
    assert!(
        f.cb.run_report(run.id).await.unwrap().markdown.is_some(),
        "report written"
    );
    handle.shutdown().await.expect("shutdown");
}

async fn approval_run(cb: &Cyberbrain, task: &str) -> cyberbrain_core::domain::Run {
    let directive = cb
        .store()
        .get_directive_by_name("Change Planning")
        .await
        .expect("D3 built-in");
    assert!(directive.approval_required);
    let run = cb
        .launch(
            LaunchRequest::new()
                .with_tasks([task])
                .with_directive(directive.id),
        )
        .await
        .expect("launch");
    assert_eq!(
        run.approval_status,
        cyberbrain_core::domain::ApprovalStatus::Pending
    );
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_awaiting_approval_executes_only_once_approved() {
    let counting = Arc::new(CountingRunner::default());
    let (f, handle) = start(&[("noop", counting.clone())]).await;

    let run = approval_run(&f.cb, "noop").await;
    let denied = approval_run(&f.cb, "noop").await;
    // A later run without approval overtakes both, which proves the executor polled meanwhile.
    let free = launch(&f.cb, &["noop"]).await;
    assert_eq!(
        wait_ended(&f.cb, free.id).await.status,
        RunStatus::Completed
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    for id in [run.id, denied.id] {
        let job = &f.cb.run_jobs(id).await.unwrap()[0];
        assert_eq!(
            (job.status, job.attempts),
            (JobStatus::Pending, 0),
            "run {id} not executed"
        );
    }
    assert_eq!(counting.runs.load(Ordering::SeqCst), 1);

    f.cb.deny_run(denied.id, "alice").await.expect("deny");
    f.cb.approve_run(run.id, "alice").await.expect("approve");
    let ended = wait_ended(&f.cb, run.id).await;
    assert_eq!(ended.status, RunStatus::Completed);
    assert_eq!(
        ended.approved_snapshot_sha256.as_deref(),
        Some(run.snapshot_sha256.as_str())
    );
    assert_eq!(counting.runs.load(Ordering::SeqCst), 2);
    let denied = f.cb.get_run(denied.id).await.unwrap();
    assert_eq!(denied.status, RunStatus::Cancelled);
    assert_eq!(
        f.cb.run_jobs(denied.id).await.unwrap()[0].attempts,
        0,
        "a denied run never executes"
    );
    handle.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_of_another_snapshot_is_refused() {
    let f = sqlite_fixture().await;
    create_task(&f.cb, "noop").await;
    let run = approval_run(&f.cb, "noop").await;
    f.cb.approve_run(run.id, "alice").await.expect("approve");
    // The approval now names a snapshot the run does not have (as if either were rewritten).
    let path = f.dir.path().join("executor.db");
    let conn = rusqlite::Connection::open(&path).expect("open the database file");
    let changed = conn
        .execute(
            "UPDATE runs SET approved_snapshot_sha256 = ?1 WHERE id = ?2",
            rusqlite::params!["0".repeat(64), run.id],
        )
        .expect("rewrite the approved hash");
    assert_eq!(changed, 1);
    drop(conn);

    let counting = Arc::new(CountingRunner::default());
    let handle = executor(&f.cb, &[("noop", counting.clone())]).spawn();
    let ended = wait_ended(&f.cb, run.id).await;
    handle.shutdown().await.expect("shutdown");
    assert_eq!(ended.status, RunStatus::Failed);
    assert_eq!(
        counting.runs.load(Ordering::SeqCst),
        0,
        "the runner never ran"
    );
    let job = &f.cb.run_jobs(run.id).await.unwrap()[0];
    let error = job.error_summary.as_deref().unwrap();
    assert!(
        error.contains("G4") && error.contains(&run.snapshot_sha256),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_is_recovered_and_the_job_runs_again() {
    // `_f` keeps the temporary directory (and the database in it) alive.
    let Abandoned {
        f: _f,
        cb,
        clock,
        run,
        job,
    } = abandoned().await;

    let counting = Arc::new(CountingRunner::default());
    let handle = executor(&cb, &[("noop", counting.clone())]).spawn();
    // Several polls while the lease still holds: nobody touches the job.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let job = cb.store().get_run_job(job.id).await.unwrap();
    assert_eq!(job.status, JobStatus::Running);
    assert_eq!(job.lease_owner.as_deref(), Some("dead-executor"));
    assert_eq!(counting.runs.load(Ordering::SeqCst), 0);

    clock.advance(chrono::Duration::seconds(61));
    let ended = wait_ended(&cb, run.id).await;
    handle.shutdown().await.expect("shutdown");
    assert_eq!(ended.status, RunStatus::Completed);
    let job = cb.store().get_run_job(job.id).await.unwrap();
    assert_eq!((job.status, job.attempts), (JobStatus::Completed, 2));
    assert_eq!(counting.runs.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_out_of_attempts_fails_with_lease_expired_and_its_run_gets_a_report() {
    let Abandoned {
        f, cb, clock, run, ..
    } = abandoned().await;
    clock.advance(chrono::Duration::seconds(61));

    let counting = Arc::new(CountingRunner::default());
    let handle = Executor::new(cb.clone())
        .with_options(quick_options().with_max_attempts(1))
        .with_runner("noop", counting.clone())
        .spawn();
    let ended = wait_ended(&cb, run.id).await;
    assert_eq!(ended.status, RunStatus::Failed);
    let job = &cb.run_jobs(run.id).await.unwrap()[0];
    assert!(
        job.error_summary
            .as_deref()
            .unwrap()
            .contains("lease expired"),
        "{job:?}"
    );
    assert_eq!(counting.runs.load(Ordering::SeqCst), 0);
    // The reaping executor wrote the report of the run it ended.
    let report = f.cb.run_report(run.id).await.unwrap().markdown;
    assert!(report.expect("report.md written").contains("lease expired"));
    handle.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_run_whose_executor_died_before_writing_the_report_is_reported_when_read() {
    let Abandoned {
        f, cb, run, job, ..
    } = abandoned().await;
    // The job finished and ended the run, then the process died before `finalize_run`.
    let finished = cb
        .store()
        .finish_job(FinishJob {
            job_id: job.id,
            owner: "dead-executor".into(),
            status: JobStatus::Completed,
            result: serde_json::json!({"findings": 0}),
            error_summary: None,
            now: cb.clock().now(),
        })
        .await
        .unwrap();
    assert!(finished.run_ended);
    assert!(
        f.cb.get_run(run.id)
            .await
            .unwrap()
            .report_summary
            .as_object()
            .unwrap()
            .is_empty()
    );

    let report = f.cb.run_report(run.id).await.unwrap();
    assert_eq!(report.status, RunStatus::Completed);
    let markdown = report.markdown.expect("report.md written on read");
    assert!(markdown.contains("completed"), "{markdown}");
    assert_eq!(report.json["job_counts"]["completed"], 1, "{}", report.json);
    let stored = f.cb.get_run(run.id).await.unwrap().report_summary;
    assert_eq!(stored, report.json, "the summary is stored once written");
    // Reading again neither rewrites nor changes it.
    assert_eq!(
        f.cb.run_report(run.id).await.unwrap().markdown.as_deref(),
        Some(markdown.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_executors_in_one_process_share_the_limits() {
    let f = sqlite_fixture().await;
    create_task(&f.cb, "alpha").await;
    create_task(&f.cb, "beta").await;
    let (max_runs, max_per_task) = (3u32, 2u32);
    let records = f.dir.path().join("records.txt");
    let runner: Arc<dyn cyberbrain_core::engine::TaskRunner> = Arc::new(RecordingRunner {
        file: records.clone(),
        delay: Duration::from_millis(40),
    });
    let mut runs = Vec::new();
    for i in 0..24 {
        runs.push(launch(&f.cb, &[mixed_task(i)]).await.id);
    }
    let handles: Vec<_> = (0..3)
        .map(|_| {
            Executor::new(f.cb.clone())
                .with_options(
                    quick_options()
                        .with_slots(4)
                        .with_limits(max_runs, max_per_task),
                )
                .with_runner("alpha", Arc::clone(&runner))
                .with_runner("beta", Arc::clone(&runner))
                .spawn()
        })
        .collect();

    let peaks = sample_until_done(&f.cb, runs.len(), &["alpha", "beta"]).await;
    for handle in handles {
        handle.shutdown().await.expect("shutdown");
    }
    peaks.assert_within(max_runs, max_per_task);

    let ids = recorded(&records);
    let unique: BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "a job ran twice");
    assert_eq!(ids.len(), runs.len());
    for id in &runs {
        for job in f.cb.run_jobs(*id).await.unwrap() {
            assert_eq!(
                (job.status, job.attempts),
                (JobStatus::Completed, 1),
                "{job:?}"
            );
            assert_eq!(job.lease_owner, None, "lease cleared");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_running_jobs_within_its_grace() {
    let f = sqlite_fixture().await;
    create_task(&f.cb, "slow").await;
    create_task(&f.cb, "endless").await;
    let records = f.dir.path().join("records.txt");
    let handle = executor(
        &f.cb,
        &[(
            "slow",
            Arc::new(RecordingRunner {
                file: records.clone(),
                delay: Duration::from_millis(300),
            }),
        )],
    )
    .spawn();
    let run = launch(&f.cb, &["slow"]).await;
    eventually("the job starts", || !recorded(&records).is_empty()).await;
    handle.shutdown().await.expect("shutdown");
    let job = &f.cb.run_jobs(run.id).await.unwrap()[0];
    assert_eq!(
        job.status,
        JobStatus::Completed,
        "shutdown waited for the job"
    );

    // Past the grace, a running job is left with its lease for another executor to recover.
    let blocking = Arc::new(BlockingRunner::default());
    let options = quick_options().with_shutdown_grace(Duration::from_millis(100));
    let executor = Executor::new(f.cb.clone())
        .with_options(options)
        .with_runner("endless", blocking.clone());
    let owner = executor.owner().to_string();
    let handle = executor.spawn();
    let run = launch(&f.cb, &["endless"]).await;
    eventually("the job starts", || {
        blocking.started.load(Ordering::SeqCst) == 1
    })
    .await;
    handle.shutdown().await.expect("shutdown");
    assert!(
        blocking.dropped.load(Ordering::SeqCst),
        "the runner was stopped"
    );
    let job = &f.cb.run_jobs(run.id).await.unwrap()[0];
    assert_eq!(job.status, JobStatus::Running);
    assert_eq!(job.lease_owner.as_deref(), Some(owner.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_outlasts_a_database_that_refuses_writes() {
    let f = sqlite_fixture().await;
    create_task(&f.cb, "noop").await;
    // A handle whose writes give up quickly while another connection holds the write lock.
    let store = SqliteStore::connect(&format!("{}?busy_timeout_ms=20", f.db_url))
        .await
        .unwrap();
    let cb = Cyberbrain::new(Arc::new(store), config_in(f.dir.path()));
    let run = launch(&cb, &["noop"]).await;

    let lock = rusqlite::Connection::open(f.dir.path().join("executor.db")).unwrap();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let counting = Arc::new(CountingRunner::default());
    let handle = executor(&cb, &[("noop", counting.clone())]).spawn();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !handle.is_finished(),
        "store errors do not stop the executor"
    );
    assert_eq!(
        counting.runs.load(Ordering::SeqCst),
        0,
        "nothing could be claimed"
    );
    lock.execute_batch("COMMIT").unwrap();
    drop(lock);

    assert_eq!(wait_ended(&cb, run.id).await.status, RunStatus::Completed);
    assert_eq!(counting.runs.load(Ordering::SeqCst), 1);
    handle.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn invalid_options_are_refused_naming_the_option() {
    let f = sqlite_fixture().await;
    let result = Executor::new(f.cb.clone())
        .with_options(quick_options().with_slots(0))
        .run(std::future::pending())
        .await;
    match result {
        Err(Error::InvalidInput(errors)) => {
            assert!(errors.to_string().contains("executor.slots"), "{errors}");
        }
        other => panic!("expected a field error, got {other:?}"),
    }
}
