//! The scheduler tick over the real SQLite store, time driven by the manual clock (no sleeps):
//! a due schedule creates exactly one run, a disabled one none, saturated limits defer, missed
//! slots follow the misfire policy, an inactive task disables its schedule, and interval and
//! cron schedules stay on their grid.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use cyberbrain_core::domain::{
    Fired, MisfirePolicy, NewSchedule, PageRequest, RunQuery, Schedule, ScheduleType,
    TaskDefinitionPatch, Trigger,
};
use cyberbrain_core::engine::LaunchRequest;
use cyberbrain_core::testing::ManualClock;
use cyberbrain_core::testing::conformance::new_schedule;
use cyberbrain_core::{Config, Cyberbrain, StoreAdmin};
use cyberbrain_store_sqlite::SqliteStore;
use tempfile::TempDir;

struct Fixture {
    cb: Cyberbrain,
    clock: Arc<ManualClock>,
    _dir: TempDir,
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).unwrap()
}

async fn fixture(config: Config) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("scheduler.db");
    let store = SqliteStore::connect(path.to_str().expect("utf-8 path"))
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    let clock = Arc::new(ManualClock::new(t0()));
    let cb = Cyberbrain::new(Arc::new(store), config).with_clock(clock.clone());
    Fixture {
        cb,
        clock,
        _dir: dir,
    }
}

/// An interval schedule of `minutes` for `gpu_report` whose first slot is `first`.
fn every(name: &str, minutes: i32, first: DateTime<Utc>) -> NewSchedule {
    NewSchedule {
        interval_minutes: Some(minutes),
        now: t0(),
        ..new_schedule(name, "gpu_report", Some(first))
    }
}

async fn create(cb: &Cyberbrain, new: NewSchedule) -> Schedule {
    cb.store()
        .create_schedule(new)
        .await
        .expect("create schedule")
}

async fn schedule(cb: &Cyberbrain, id: i64) -> Schedule {
    cb.store().get_schedule(id).await.expect("schedule")
}

async fn runs_of(cb: &Cyberbrain, schedule_id: i64) -> Vec<cyberbrain_core::domain::Run> {
    cb.store()
        .list_runs(RunQuery::new(PageRequest::first(200)))
        .await
        .expect("runs")
        .items
        .into_iter()
        .filter(|run| run.schedule_id == Some(schedule_id))
        .collect()
}

fn launched(fired: &[Fired]) -> usize {
    fired
        .iter()
        .filter(|f| matches!(f, Fired::Launched { .. }))
        .count()
}

#[tokio::test]
async fn a_due_schedule_creates_exactly_one_run_and_moves_on_the_grid() {
    let f = fixture(Config::default()).await;
    let s = create(&f.cb, every("every-5", 5, t0())).await;

    f.clock.set(t0() + Duration::seconds(3));
    let fired = f.cb.run_scheduler_tick(100).await.unwrap();
    assert_eq!(launched(&fired), 1, "{fired:?}");
    // The same instant again fires nothing: the slot is taken.
    assert_eq!(launched(&f.cb.run_scheduler_tick(100).await.unwrap()), 0);

    let runs = runs_of(&f.cb, s.id).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].trigger, Trigger::Schedule);
    let after = schedule(&f.cb, s.id).await;
    assert_eq!(after.last_run_at, Some(t0()));
    assert_eq!(
        after.next_run_at,
        Some(t0() + Duration::minutes(5)),
        "on the grid"
    );
    let history =
        f.cb.store()
            .schedule_history(s.id, PageRequest::first(10))
            .await
            .unwrap();
    assert_eq!(history.count, 1);
    assert_eq!(history.items[0].scheduled_for, t0());
    assert_eq!(history.items[0].run_id, Some(runs[0].id));

    // A late tick (2 minutes into the next slot) still fires that slot, and the grid holds.
    f.clock.set(t0() + Duration::minutes(7));
    assert_eq!(launched(&f.cb.run_scheduler_tick(100).await.unwrap()), 1);
    let after = schedule(&f.cb, s.id).await;
    assert_eq!(after.last_run_at, Some(t0() + Duration::minutes(5)));
    assert_eq!(after.next_run_at, Some(t0() + Duration::minutes(10)));
}

#[tokio::test]
async fn a_schedule_with_use_rag_launches_runs_that_use_the_knowledge_base() {
    let f = fixture(Config::default()).await;
    let with_rag = create(
        &f.cb,
        NewSchedule {
            use_rag: true,
            ..every("with-rag", 5, t0())
        },
    )
    .await;
    let without = create(&f.cb, every("without-rag", 5, t0())).await;

    f.clock.set(t0() + Duration::seconds(1));
    assert_eq!(launched(&f.cb.run_scheduler_tick(100).await.unwrap()), 2);
    let runs = runs_of(&f.cb, with_rag.id).await;
    assert_eq!(runs.len(), 1);
    assert!(runs[0].use_rag, "the schedule's use_rag reaches its run");
    let runs = runs_of(&f.cb, without.id).await;
    assert_eq!(runs.len(), 1);
    assert!(!runs[0].use_rag);
}

#[tokio::test]
async fn a_disabled_schedule_does_not_run() {
    let f = fixture(Config::default()).await;
    let mut new = every("off", 1, t0());
    new.enabled = false;
    let s = create(&f.cb, new).await;
    f.clock.set(t0() + Duration::minutes(3));
    assert!(f.cb.run_scheduler_tick(100).await.unwrap().is_empty());
    assert!(runs_of(&f.cb, s.id).await.is_empty());
}

#[tokio::test]
async fn saturated_limits_defer_without_a_run() {
    let mut config = Config::default();
    config.scheduler.max_global = 1;
    config.scheduler.defer_s = 60;
    let f = fixture(config).await;
    // One manual run is waiting to execute: the global limit of 1 is taken.
    f.cb.launch(LaunchRequest::new().with_tasks(["log_triage"]))
        .await
        .unwrap();
    let s = create(&f.cb, every("busy", 5, t0())).await;
    f.clock.set(t0() + Duration::seconds(1));
    let fired = f.cb.run_scheduler_tick(100).await.unwrap();
    assert_eq!(launched(&fired), 0, "{fired:?}");
    assert!(runs_of(&f.cb, s.id).await.is_empty());
    assert_eq!(
        schedule(&f.cb, s.id).await.next_run_at,
        Some(t0() + Duration::seconds(61)),
        "deferred by defer_s"
    );

    // A schedule's own stricter per-task limit defers it too.
    let mut strict = every("strict", 5, t0());
    strict.task_key = "log_triage".into();
    strict.max_per_job = Some(1);
    let mut config = Config::default();
    config.scheduler.max_global = 10;
    let g = fixture(config).await;
    g.cb.launch(LaunchRequest::new().with_tasks(["log_triage"]))
        .await
        .unwrap();
    let s = create(&g.cb, strict).await;
    g.clock.set(t0() + Duration::seconds(1));
    assert_eq!(launched(&g.cb.run_scheduler_tick(100).await.unwrap()), 0);
    assert!(runs_of(&g.cb, s.id).await.is_empty());
}

#[tokio::test]
async fn after_downtime_run_once_fires_one_catch_up_and_skip_none() {
    let f = fixture(Config::default()).await;
    let once = create(&f.cb, every("once", 10, t0())).await;
    let mut skip = every("skip", 10, t0());
    skip.misfire_policy = MisfirePolicy::Skip;
    let skip = create(&f.cb, skip).await;

    // Down for 95 minutes: slots 12:00 … 13:30 were missed.
    f.clock.set(t0() + Duration::minutes(95));
    f.cb.run_scheduler_tick(100).await.unwrap();
    let once_runs = runs_of(&f.cb, once.id).await;
    assert_eq!(once_runs.len(), 1, "exactly one catch-up run");
    let history =
        f.cb.store()
            .schedule_history(once.id, PageRequest::first(10))
            .await
            .unwrap();
    assert_eq!(history.items[0].scheduled_for, t0() + Duration::minutes(90));
    assert!(runs_of(&f.cb, skip.id).await.is_empty(), "skip fires none");
    for id in [once.id, skip.id] {
        assert_eq!(
            schedule(&f.cb, id).await.next_run_at,
            Some(t0() + Duration::minutes(100)),
            "both continue on the grid"
        );
    }
}

#[tokio::test]
async fn a_schedule_of_an_inactive_task_is_disabled_without_a_run() {
    let f = fixture(Config::default()).await;
    let s = create(&f.cb, every("inactive", 5, t0())).await;
    let task = f.cb.store().get_task_by_key("gpu_report").await.unwrap();
    f.cb.update_task(task.id, TaskDefinitionPatch::default().with_active(false))
        .await
        .unwrap();
    f.clock.set(t0() + Duration::seconds(1));
    let fired = f.cb.run_scheduler_tick(100).await.unwrap();
    assert!(
        matches!(fired.as_slice(), [Fired::Disabled { .. }]),
        "{fired:?}"
    );
    assert!(runs_of(&f.cb, s.id).await.is_empty());
    assert!(!schedule(&f.cb, s.id).await.enabled);
}

#[tokio::test]
async fn cron_and_one_shot_schedules_fire_at_their_times() {
    let f = fixture(Config::default()).await;
    // 02:30 every day in New York; 2026-03-08 is the spring-forward day (02:30 does not exist).
    let first = Utc.with_ymd_and_hms(2026, 3, 7, 7, 30, 0).unwrap(); // 02:30 EST
    let mut cron = every("nightly", 1, first);
    cron.schedule_type = ScheduleType::Cron;
    cron.interval_minutes = None;
    cron.cron_expr = Some("30 2 * * *".into());
    cron.timezone = "America/New_York".into();
    let cron = create(&f.cb, cron).await;
    f.clock.set(first);
    assert_eq!(launched(&f.cb.run_scheduler_tick(10).await.unwrap()), 1);
    // The gap: 02:30 on 2026-03-08 fires once at the first instant after it, 03:00 EDT.
    let after_gap = Utc.with_ymd_and_hms(2026, 3, 8, 7, 0, 0).unwrap();
    assert_eq!(schedule(&f.cb, cron.id).await.next_run_at, Some(after_gap));

    let run_at = t0() + Duration::hours(1);
    let mut shot = every("once-only", 1, run_at);
    shot.schedule_type = ScheduleType::OneShot;
    shot.interval_minutes = None;
    shot.run_at = Some(run_at);
    let shot = create(&f.cb, shot).await;
    f.clock.set(run_at);
    f.cb.run_scheduler_tick(10).await.unwrap();
    assert_eq!(runs_of(&f.cb, shot.id).await.len(), 1);
    let after = schedule(&f.cb, shot.id).await;
    assert!(!after.enabled, "a one-shot disables itself");
    f.clock.set(run_at + Duration::days(1));
    f.cb.run_scheduler_tick(10).await.unwrap();
    assert_eq!(runs_of(&f.cb, shot.id).await.len(), 1, "never again");
}

#[tokio::test]
async fn the_scheduler_loop_fires_due_schedules_until_shut_down() {
    let f = fixture(Config::default()).await;
    let s = create(&f.cb, every("looped", 5, t0())).await;
    f.clock.set(t0() + Duration::seconds(1));
    let handle = cyberbrain_core::engine::Scheduler::new(f.cb.clone())
        .with_batch(1)
        .unwrap()
        .with_name("test-scheduler")
        .spawn();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while runs_of(&f.cb, s.id).await.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the loop never fired the due schedule"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    handle.shutdown().await;
    assert_eq!(runs_of(&f.cb, s.id).await.len(), 1, "one slot, one run");
}

#[test]
fn scheduler_options_are_bounded() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let f = rt.block_on(fixture(Config::default()));
    let scheduler = cyberbrain_core::engine::Scheduler::new(f.cb.clone());
    assert!(scheduler.clone().with_poll_interval(0).is_err());
    assert!(scheduler.clone().with_poll_interval(31).is_err());
    assert!(scheduler.clone().with_batch(0).is_err());
    assert!(scheduler.with_poll_interval(30).is_ok());
}

#[tokio::test]
async fn the_loop_wakes_at_the_earliest_due_time_not_the_next_poll() {
    let f = fixture(Config::default()).await;
    let due = t0() + Duration::seconds(1);
    let s = create(&f.cb, every("soon", 5, due)).await;
    let handle = cyberbrain_core::engine::Scheduler::new(f.cb.clone())
        .with_poll_interval(30)
        .unwrap()
        .spawn();
    // The first tick finds nothing due and sleeps until `due` (1 s), not for the 30 s poll.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    f.clock.set(due);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while runs_of(&f.cb, s.id).await.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the loop slept past the due time"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    handle.shutdown().await;
}
