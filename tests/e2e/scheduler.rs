//! Multi-instance scheduling with the real binary: many `cyberbrain scheduler` processes against
//! one database and a crowd of schedules due together, one of them killed with SIGKILL and
//! restarted mid-way. The `(schedule_id, scheduled_for)` ledger must show every due slot fired
//! exactly once: no duplicate, no miss. On Postgres and on SQLite.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cyberbrain::domain::{MisfirePolicy, NewSchedule, PageRequest, ScheduleType, Task3Scope};

use crate::components;

/// The SDK over the same database the processes use (the facade's `open` only knows the
/// backends its features enable; the test links both stores).
async fn open(database_url: &str) -> cyberbrain::Cyberbrain {
    let config = cyberbrain::Config::from_toml(CONFIG).expect("config");
    let store: std::sync::Arc<dyn cyberbrain::Store> =
        if cyberbrain_store_pg::handles_url(database_url) {
            std::sync::Arc::new(
                cyberbrain_store_pg::PgStore::connect(database_url)
                    .await
                    .expect("connect to Postgres"),
            )
        } else {
            std::sync::Arc::new(
                cyberbrain::store_sqlite::SqliteStore::connect(database_url)
                    .await
                    .expect("open SQLite"),
            )
        };
    store.migrate().await.expect("migrate");
    cyberbrain::Cyberbrain::new(store, config)
}

/// Limits high enough that no slot is deferred: this test is about exactly-once firing.
const CONFIG: &str = "[scheduler]\nmax_global = 100000\nmax_per_task = 100000\n";

pub(crate) fn scheduler_process(work_dir: &Path, database_url: &str, name: &str) -> Child {
    let mut command = Command::new(components::cyberbrain_bin());
    command
        .env_clear()
        .current_dir(work_dir)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", work_dir)
        .env("DATABASE_URL", database_url)
        .env("CYBERBRAIN_DATA_DIR", work_dir.join("data"))
        // No GPU here: the runs complete at once with `no_gpus_available`.
        .env("NVIDIA_SMI", "/nonexistent/nvidia-smi")
        .args(["scheduler", "--poll-interval", "1", "--name", name])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::create(work_dir.join(format!("{name}.log")))
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null()),
        );
    command
        .spawn()
        .unwrap_or_else(|e| panic!("could not start cyberbrain scheduler: {e}"))
}

async fn fire_together(database_url: &str, work_dir: &Path, instances: usize, schedules: usize) {
    std::fs::write(work_dir.join("cyberbrain.toml"), CONFIG).expect("write cyberbrain.toml");
    let cb = open(database_url).await;
    // Every schedule due at the same instant (a grid slot just passed), created through the
    // store so the slot is exactly `due`.
    let due = cyberbrain::Clock::now(&cyberbrain::SystemClock) - Duration::from_secs(1);
    let mut ids = Vec::with_capacity(schedules);
    for i in 0..schedules {
        let schedule = cb
            .store()
            .create_schedule(NewSchedule {
                name: format!("crowd-{i}"),
                task_key: "gpu_report".into(),
                directive_id: None,
                custom_directive_text: None,
                enabled: true,
                schedule_type: ScheduleType::Interval,
                interval_minutes: Some(600),
                cron_expr: None,
                run_at: None,
                timezone: "UTC".into(),
                task3_scope: Task3Scope::Allowlist,
                use_rag: false,
                max_global: None,
                max_per_job: None,
                misfire_policy: MisfirePolicy::RunOnce,
                next_run_at: Some(due),
                now: due,
            })
            .await
            .expect("create schedule");
        ids.push(schedule.id);
    }

    let mut children: Vec<Child> = (0..instances)
        .map(|i| scheduler_process(work_dir, database_url, &format!("e2e-{i}")))
        .collect();
    // One instance dies hard shortly after start and comes back.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let _ = children[0].kill();
    let _ = children[0].wait();
    children[0] = scheduler_process(work_dir, database_url, "e2e-0-restarted");

    let deadline = Instant::now() + Duration::from_secs(120);
    let fired = loop {
        let mut fired = 0usize;
        for id in &ids {
            let history = cb
                .schedule_history(*id, PageRequest::first(10))
                .await
                .expect("history");
            assert!(
                history.count <= 1,
                "schedule {id} fired {} times",
                history.count
            );
            fired += history.count as usize;
        }
        if fired == ids.len() || Instant::now() > deadline {
            break fired;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
    if fired != ids.len() {
        let log = std::fs::read_to_string(work_dir.join("e2e-1.log")).unwrap_or_default();
        panic!(
            "{fired} of {} due slots fired; a scheduler's log:\n{}",
            ids.len(),
            log.lines().rev().take(30).collect::<Vec<_>>().join("\n")
        );
    }
}

#[tokio::test]
async fn eight_scheduler_processes_fire_a_thousand_slots_once_on_postgres() {
    let schema = cyberbrain_store_pg::testing::TestSchema::create().await;
    let work = tempfile::tempdir().expect("work dir");
    fire_together(&schema.url(), work.path(), 8, 1000).await;
}

#[tokio::test]
async fn several_scheduler_processes_fire_each_slot_once_on_sqlite() {
    let work = tempfile::tempdir().expect("work dir");
    let url = format!("sqlite://{}", work.path().join("shared.db").display());
    fire_together(&url, work.path(), 4, 200).await;
}

/// Recurring slots over half a minute (cron with seconds, every 5 s) while 4 scheduler
/// processes run and one is killed with SIGKILL and restarted: each schedule's ledger is the
/// unbroken 5-second grid from its first slot to its last — no duplicate, no gap.
async fn recurring_slots_without_gaps(url: &str, work: &Path) {
    std::fs::write(work.join("cyberbrain.toml"), CONFIG).expect("write cyberbrain.toml");
    let cb = open(url).await;
    let mut ids = Vec::new();
    for i in 0..10 {
        let schedule = cb
            .create_schedule(cyberbrain::engine::ScheduleInput {
                name: Some(format!("every-5s-{i}")),
                task_key: Some("gpu_report".into()),
                schedule_type: Some("cron".into()),
                cron_expr: Some(Some("*/5 * * * * *".into())),
                ..cyberbrain::engine::ScheduleInput::default()
            })
            .await
            .expect("create schedule");
        ids.push(schedule.id);
    }
    let mut children: Vec<Child> = (0..4)
        .map(|i| scheduler_process(work, url, &format!("grid-{i}")))
        .collect();
    tokio::time::sleep(Duration::from_secs(11)).await;
    let _ = children[0].kill();
    let _ = children[0].wait();
    tokio::time::sleep(Duration::from_secs(4)).await;
    children[0] = scheduler_process(work, url, "grid-0-restarted");
    tokio::time::sleep(Duration::from_secs(17)).await;
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }

    for id in ids {
        let history = cb
            .schedule_history(id, PageRequest::first(200))
            .await
            .expect("history");
        let mut slots: Vec<_> = history.items.iter().map(|s| s.scheduled_for).collect();
        slots.sort();
        assert!(
            slots.len() >= 5,
            "schedule {id} fired only {} slots",
            slots.len()
        );
        for pair in slots.windows(2) {
            assert_eq!(
                (pair[1] - pair[0]).num_milliseconds(),
                5_000,
                "schedule {id}: a duplicate or a missed slot between {} and {}",
                pair[0],
                pair[1]
            );
        }
    }
}

#[tokio::test]
async fn recurring_slots_survive_a_killed_scheduler_without_gaps_on_postgres() {
    let schema = cyberbrain_store_pg::testing::TestSchema::create().await;
    let work = tempfile::tempdir().expect("work dir");
    recurring_slots_without_gaps(&schema.url(), work.path()).await;
}

#[tokio::test]
async fn recurring_slots_survive_a_killed_scheduler_without_gaps_on_sqlite() {
    let work = tempfile::tempdir().expect("work dir");
    let url = format!("sqlite://{}", work.path().join("shared.db").display());
    recurring_slots_without_gaps(&url, work.path()).await;
}
