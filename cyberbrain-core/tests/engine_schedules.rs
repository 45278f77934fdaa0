//! Schedule validation and run-now through the engine over the real SQLite store, with the
//! manual clock: every bad field is named at once and nothing is saved; a PATCH that does not
//! touch timing keeps `next_run_at`; run-now launches through the one launch path.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use cyberbrain_core::domain::{ApprovalStatus, PageRequest, ScheduleType, Trigger};
use cyberbrain_core::engine::ScheduleInput;
use cyberbrain_core::testing::ManualClock;
use cyberbrain_core::{Config, Cyberbrain, Error, StoreAdmin};
use cyberbrain_store_sqlite::SqliteStore;
use tempfile::TempDir;

struct Fixture {
    cb: Cyberbrain,
    clock: Arc<ManualClock>,
    _dir: TempDir,
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 8, 0, 0).unwrap()
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::connect(dir.path().join("s.db").to_str().expect("utf-8"))
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    let clock = Arc::new(ManualClock::new(t0()));
    let cb = Cyberbrain::new(Arc::new(store), Config::default()).with_clock(clock.clone());
    Fixture {
        cb,
        clock,
        _dir: dir,
    }
}

fn every_five(name: &str) -> ScheduleInput {
    ScheduleInput {
        name: Some(name.into()),
        job_key: Some("task1".into()),
        schedule_type: Some("interval".into()),
        interval_minutes: Some(Some(5)),
        ..ScheduleInput::default()
    }
}

/// The fields an `InvalidInput` names.
fn fields(result: Result<impl std::fmt::Debug, Error>) -> Vec<String> {
    match result {
        Err(Error::InvalidInput(errors)) => {
            let mut names: Vec<String> = errors.fields().map(|(f, _)| f.to_string()).collect();
            names.sort();
            names
        }
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

async fn schedule_count(cb: &Cyberbrain) -> u64 {
    cb.list_schedules(PageRequest::first(200))
        .await
        .expect("list")
        .count
}

#[tokio::test]
async fn create_resolves_aliases_and_computes_the_first_slot() {
    let f = fixture().await;
    let s =
        f.cb.create_schedule(every_five("triage-every-5"))
            .await
            .unwrap();
    assert_eq!(s.task_key, "log_triage", "job_key task1 is log_triage");
    assert_eq!(s.schedule_type, ScheduleType::Interval);
    assert_eq!(s.interval_minutes, Some(5));
    assert!(s.enabled);
    let next = s.next_run_at.expect("next_run_at");
    assert!(
        next >= t0() && next <= t0() + Duration::minutes(5),
        "{next}"
    );

    let gpu = f.cb.store().get_task_by_key("gpu_report").await.unwrap();
    let by_id =
        f.cb.create_schedule(ScheduleInput {
            job_key: None,
            task_id: Some(gpu.id),
            ..every_five("by-id")
        })
        .await
        .unwrap();
    assert_eq!(by_id.task_key, "gpu_report");
}

#[tokio::test]
async fn every_bad_field_is_named_and_nothing_is_saved() {
    let f = fixture().await;
    assert_eq!(
        fields(f.cb.create_schedule(ScheduleInput::default()).await),
        ["name", "schedule_type", "task_key"]
    );
    let cases: Vec<(ScheduleInput, Vec<&str>)> = vec![
        (
            ScheduleInput {
                schedule_type: Some("cron".into()),
                interval_minutes: None,
                cron_expr: Some(Some("61 * * * *".into())),
                ..every_five("bad-cron")
            },
            vec!["cron_expr"],
        ),
        (
            ScheduleInput {
                timezone: Some("Mars/Olympus".into()),
                ..every_five("bad-zone")
            },
            vec!["timezone"],
        ),
        (
            ScheduleInput {
                interval_minutes: Some(Some(0)),
                ..every_five("zero")
            },
            vec!["interval_minutes"],
        ),
        (
            ScheduleInput {
                directive_id: Some(Some(1)),
                custom_directive_text: Some(Some("look".into())),
                ..every_five("both")
            },
            vec!["custom_directive_text", "directive_id"],
        ),
        (
            ScheduleInput {
                directive_id: Some(Some(987_654)),
                ..every_five("ghost")
            },
            vec!["directive_id"],
        ),
        (
            ScheduleInput {
                job_key: Some("nope".into()),
                ..every_five("unknown-task")
            },
            vec!["job_key"],
        ),
        (
            ScheduleInput {
                task_key: Some("gpu_report".into()),
                ..every_five("two-tasks")
            },
            vec!["job_key", "task_key"],
        ),
        (
            ScheduleInput {
                task3_scope: Some("all".into()),
                ..every_five("wide")
            },
            vec!["task3_scope"],
        ),
        (
            ScheduleInput {
                schedule_type: Some("weekly".into()),
                ..every_five("bad-type")
            },
            vec!["schedule_type"],
        ),
    ];
    for (input, expected) in cases {
        let name = input.name.clone();
        assert_eq!(
            fields(f.cb.create_schedule(input).await),
            expected,
            "{name:?}"
        );
    }
    assert_eq!(schedule_count(&f.cb).await, 0, "nothing was saved");
}

#[tokio::test]
async fn a_patch_that_leaves_timing_alone_keeps_next_run_at() {
    let f = fixture().await;
    let s = f.cb.create_schedule(every_five("keep")).await.unwrap();
    f.clock.set(t0() + Duration::minutes(2));
    let renamed =
        f.cb.update_schedule(
            s.id,
            ScheduleInput {
                name: Some("kept".into()),
                use_rag: Some(true),
                ..ScheduleInput::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "kept");
    assert_eq!(renamed.next_run_at, s.next_run_at);

    let retimed =
        f.cb.update_schedule(
            s.id,
            ScheduleInput {
                interval_minutes: Some(Some(60)),
                ..ScheduleInput::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(retimed.interval_minutes, Some(60));
    assert_ne!(retimed.next_run_at, s.next_run_at, "timing changed");

    let disabled = f.cb.set_schedule_enabled(s.id, false).await.unwrap();
    assert!(!disabled.enabled);
    assert_eq!(disabled.next_run_at, None);
    f.clock.set(t0() + Duration::hours(5));
    let enabled = f.cb.set_schedule_enabled(s.id, true).await.unwrap();
    let next = enabled.next_run_at.expect("next_run_at after enabling");
    assert!(
        next >= t0() + Duration::hours(5),
        "starts after now: {next}"
    );
}

#[tokio::test]
async fn run_now_launches_through_the_one_path_and_records_history() {
    let f = fixture().await;
    let s = f.cb.create_schedule(every_five("now")).await.unwrap();
    let s = f.cb.set_schedule_enabled(s.id, false).await.unwrap();
    let (run, scheduled) = f.cb.run_schedule_now(s.id).await.unwrap();
    assert_eq!(run.trigger, Trigger::Schedule);
    assert_eq!(run.schedule_id, Some(s.id));
    assert_eq!(scheduled.run_id, Some(run.id));
    assert_eq!(
        f.cb.get_schedule(s.id).await.unwrap().next_run_at,
        s.next_run_at,
        "run-now leaves the timing alone"
    );
    let history =
        f.cb.schedule_history(s.id, PageRequest::first(10))
            .await
            .unwrap();
    assert_eq!(history.count, 1);

    // Approval is respected: a D3 directive's run waits.
    let d3 =
        f.cb.store()
            .get_directive_by_name("Change Planning")
            .await
            .unwrap();
    let planned =
        f.cb.create_schedule(ScheduleInput {
            directive_id: Some(Some(d3.id)),
            ..every_five("planned")
        })
        .await
        .unwrap();
    f.clock.set(t0() + Duration::seconds(1));
    let (run, _) = f.cb.run_schedule_now(planned.id).await.unwrap();
    assert_eq!(run.approval_status, ApprovalStatus::Pending);

    assert!(matches!(
        f.cb.run_schedule_now(987_654).await,
        Err(Error::NotFound { .. })
    ));
}
