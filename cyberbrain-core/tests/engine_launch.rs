//! `Cyberbrain::launch` over the real SQLite store: task and directive resolution, every
//! validation rule (with nothing written on error), approval, snapshots (G4) and scope (G5).

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use cyberbrain_core::domain::{
    ApprovalStatus, DEFAULT_DIRECTIVE_NAME, DirectivePatch, DirectiveType, NewDirective, RunQuery,
    RunStatus, Task3Scope, TaskDefinitionPatch, Trigger,
};
use cyberbrain_core::engine::{CUSTOM_DIRECTIVE_NAME, LaunchRequest};
use cyberbrain_core::testing::ManualClock;
use cyberbrain_core::{Config, Cyberbrain, Error, FieldErrors, StoreAdmin};
use cyberbrain_store_sqlite::SqliteStore;
use tempfile::TempDir;

const ALL_TASKS: [&str; 3] = ["log_triage", "gpu_report", "service_map"];

struct Fixture {
    cb: Cyberbrain,
    now: DateTime<Utc>,
    _dir: TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("launch.db");
    let store = SqliteStore::connect(path.to_str().expect("utf-8 path"))
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    let now = Utc.with_ymd_and_hms(2025, 3, 14, 9, 26, 53).unwrap();
    let cb = Cyberbrain::new(Arc::new(store), Config::default())
        .with_clock(Arc::new(ManualClock::new(now)));
    Fixture { cb, now, _dir: dir }
}

async fn directive_id(cb: &Cyberbrain, name: &str) -> i64 {
    cb.store()
        .get_directive_by_name(name)
        .await
        .expect("seeded directive")
        .id
}

async fn job_keys(cb: &Cyberbrain, run_id: i64) -> Vec<String> {
    cb.store()
        .list_run_jobs(run_id)
        .await
        .expect("jobs")
        .into_iter()
        .map(|job| job.task_key)
        .collect()
}

async fn run_count(cb: &Cyberbrain) -> u64 {
    cb.store()
        .list_runs(RunQuery::default())
        .await
        .expect("runs")
        .count
}

/// Launches `request`, expects a field error, checks nothing was written and returns the errors.
async fn rejected(cb: &Cyberbrain, request: LaunchRequest) -> FieldErrors {
    let before = run_count(cb).await;
    let errors = match cb.launch(request.clone()).await {
        Err(Error::InvalidInput(errors)) => errors,
        other => panic!("{request:?} should be a field error, got {other:?}"),
    };
    assert_eq!(run_count(cb).await, before, "{request:?} wrote a run");
    errors
}

fn messages<'a>(errors: &'a FieldErrors, field: &str) -> &'a [String] {
    errors
        .0
        .get(field)
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("no error on {field}: {errors}"))
}

#[tokio::test]
async fn empty_or_absent_task_list_runs_every_active_task() {
    let f = fixture().await;
    let run = f.cb.launch(LaunchRequest::new()).await.expect("launch");
    assert_eq!(job_keys(&f.cb, run.id).await, ALL_TASKS);
    assert_eq!(run.status, RunStatus::Pending);
    assert_eq!(run.trigger, Trigger::Api);
    assert_eq!(run.task3_scope, Task3Scope::Allowlist);
    assert_eq!(run.approval_status, ApprovalStatus::None);
    assert!(!run.use_rag);
    assert_eq!(run.created_at, f.now);

    let run =
        f.cb.launch(LaunchRequest::new().with_tasks(Vec::<String>::new()))
            .await
            .expect("launch with empty tasks");
    assert_eq!(job_keys(&f.cb, run.id).await, ALL_TASKS);
}

#[tokio::test]
async fn aliases_keys_and_ids_resolve_in_order_without_duplicates() {
    let f = fixture().await;
    let run = f
        .cb
        .launch(LaunchRequest::new().with_tasks(["task3", "log_triage", "service_map", "task1"]))
        .await
        .expect("launch by alias");
    assert_eq!(job_keys(&f.cb, run.id).await, ["service_map", "log_triage"]);

    let gpu = f.cb.get_task_by_key("task2").await.expect("gpu task");
    let triage = f.cb.get_task_by_key("log_triage").await.expect("triage");
    let run =
        f.cb.launch(LaunchRequest::new().with_task_ids([gpu.id, triage.id, gpu.id]))
            .await
            .expect("launch by id");
    assert_eq!(job_keys(&f.cb, run.id).await, ["gpu_report", "log_triage"]);
}

#[tokio::test]
async fn inactive_tasks_are_left_out_of_all_and_refused_by_name() {
    let f = fixture().await;
    let gpu = f.cb.get_task_by_key("gpu_report").await.expect("gpu task");
    f.cb.update_task(gpu.id, TaskDefinitionPatch::default().with_active(false))
        .await
        .expect("deactivate");

    let run = f.cb.launch(LaunchRequest::new()).await.expect("launch all");
    assert_eq!(job_keys(&f.cb, run.id).await, ["log_triage", "service_map"]);

    let errors = rejected(&f.cb, LaunchRequest::new().with_tasks(["task2"])).await;
    let tasks = messages(&errors, "tasks");
    assert!(
        tasks[0].contains("task2") && tasks[0].contains("inactive"),
        "{tasks:?}"
    );

    let errors = rejected(&f.cb, LaunchRequest::new().with_task_ids([gpu.id])).await;
    let ids = messages(&errors, "task_ids");
    assert!(
        ids[0].contains(&gpu.id.to_string()) && ids[0].contains("inactive"),
        "{ids:?}"
    );
}

#[tokio::test]
async fn no_active_task_at_all_is_an_error() {
    let f = fixture().await;
    for key in ALL_TASKS {
        let task = f.cb.get_task_by_key(key).await.expect("task");
        f.cb.update_task(task.id, TaskDefinitionPatch::default().with_active(false))
            .await
            .expect("deactivate");
    }
    let errors = rejected(&f.cb, LaunchRequest::new()).await;
    assert!(messages(&errors, "tasks")[0].contains("no task is active"));
}

#[tokio::test]
async fn every_validation_error_is_collected_and_nothing_is_written() {
    let f = fixture().await;

    // Both task selectors.
    let errors = rejected(
        &f.cb,
        LaunchRequest::new()
            .with_tasks(["task1"])
            .with_task_ids([1]),
    )
    .await;
    assert!(messages(&errors, "tasks")[0].contains("not both"));
    assert!(messages(&errors, "task_ids")[0].contains("not both"));

    // Unknown keys and ids are named; every one is reported.
    let errors = rejected(
        &f.cb,
        LaunchRequest::new().with_tasks(["nope", "task1", "task9"]),
    )
    .await;
    let tasks = messages(&errors, "tasks");
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    assert!(tasks[0].contains("\"nope\" does not exist"));
    assert!(tasks[1].contains("\"task9\" does not exist"));
    let errors = rejected(&f.cb, LaunchRequest::new().with_task_ids([4242])).await;
    assert!(messages(&errors, "task_ids")[0].contains("task 4242 does not exist"));

    // Both directive selectors.
    let errors = rejected(
        &f.cb,
        LaunchRequest::new()
            .with_directive(1)
            .with_custom_directive_text("look around"),
    )
    .await;
    assert!(messages(&errors, "directive_id")[0].contains("not both"));
    assert!(messages(&errors, "custom_directive_text")[0].contains("not both"));

    // Unknown and inactive directives.
    let errors = rejected(&f.cb, LaunchRequest::new().with_directive(9999)).await;
    assert!(messages(&errors, "directive_id")[0].contains("directive 9999 does not exist"));
    let changes = directive_id(&f.cb, "Conservative Recommendations").await;
    f.cb.update_directive(changes, DirectivePatch::default().with_active(false))
        .await
        .expect("deactivate directive");
    let errors = rejected(&f.cb, LaunchRequest::new().with_directive(changes)).await;
    let directive = messages(&errors, "directive_id");
    assert!(
        directive[0].contains("Conservative Recommendations") && directive[0].contains("inactive"),
        "{directive:?}"
    );

    // Blank custom text.
    let errors = rejected(
        &f.cb,
        LaunchRequest::new().with_custom_directive_text("  \n "),
    )
    .await;
    assert!(messages(&errors, "custom_directive_text")[0].contains("must not be blank"));

    // Scope values and the D4 rule.
    let mut bad_scope = LaunchRequest::new();
    bad_scope.task3_scope = Some("everything".into());
    let errors = rejected(&f.cb, bad_scope).await;
    assert_eq!(
        messages(&errors, "task3_scope"),
        [r#""everything" is not one of "allowlist", "all""#]
    );
    let errors = rejected(
        &f.cb,
        LaunchRequest::new().with_task3_scope(Task3Scope::All),
    )
    .await;
    assert!(messages(&errors, "task3_scope")[0].contains("needs a D4 directive"));

    // Several fields wrong at once: all reported together.
    let mut many = LaunchRequest::new()
        .with_tasks(["nope"])
        .with_directive(9999);
    many.task3_scope = Some("wide".into());
    let errors = rejected(&f.cb, many).await;
    let fields: Vec<&str> = errors.fields().map(|(field, _)| field).collect();
    assert_eq!(fields, ["directive_id", "task3_scope", "tasks"]);

    assert_eq!(run_count(&f.cb).await, 0);
}

#[tokio::test]
async fn approval_is_pending_for_change_planning_and_admin_override() {
    let f = fixture().await;
    for (name, directive_type) in [
        ("Change Planning", DirectiveType::D3),
        ("Admin Override", DirectiveType::D4),
    ] {
        let id = directive_id(&f.cb, name).await;
        let run =
            f.cb.launch(
                LaunchRequest::new()
                    .with_directive(id)
                    .with_tasks(["task1"]),
            )
            .await
            .expect("launch");
        assert_eq!(run.approval_status, ApprovalStatus::Pending, "{name}");
        assert_eq!(run.directive_snapshot.directive_type, directive_type);
        assert!(run.directive_snapshot.approval_required);
    }
    let read_only = directive_id(&f.cb, "Read-only Diagnostics").await;
    let run =
        f.cb.launch(LaunchRequest::new().with_directive(read_only))
            .await
            .expect("launch D1");
    assert_eq!(run.approval_status, ApprovalStatus::None);
}

#[tokio::test]
async fn the_default_directive_is_used_when_none_is_given() {
    let f = fixture().await;
    let default =
        f.cb.store()
            .get_directive_by_name(DEFAULT_DIRECTIVE_NAME)
            .await
            .expect("default directive");
    let run = f.cb.launch(LaunchRequest::new()).await.expect("launch");
    assert_eq!(run.directive_snapshot, default.snapshot());
    assert_eq!(run.directive_snapshot.id, Some(default.id));
    assert_eq!(run.directive_snapshot.name, DEFAULT_DIRECTIVE_NAME);
}

#[tokio::test]
async fn custom_text_runs_as_a_read_only_snapshot_without_an_id() {
    let f = fixture().await;
    let run =
        f.cb.launch(
            LaunchRequest::new()
                .with_custom_directive_text("Only look at the web tier.")
                .with_use_rag(true)
                .with_tasks(["task1"]),
        )
        .await
        .expect("launch");
    let snapshot = &run.directive_snapshot;
    assert_eq!(snapshot.id, None);
    assert_eq!(snapshot.name, CUSTOM_DIRECTIVE_NAME);
    assert_eq!(snapshot.directive_type, DirectiveType::D1);
    assert_eq!(snapshot.version, 1);
    assert_eq!(snapshot.directive_text, "Only look at the web tier.");
    assert!(snapshot.task_config.is_empty());
    assert!(!snapshot.approval_required);
    assert_eq!(run.approval_status, ApprovalStatus::None);
    assert!(run.use_rag);
    assert_eq!(run.snapshot_sha256, snapshot.sha256());

    // Custom text is D1, so it can never widen the scope.
    let errors = rejected(
        &f.cb,
        LaunchRequest::new()
            .with_custom_directive_text("look everywhere")
            .with_task3_scope(Task3Scope::All),
    )
    .await;
    assert!(messages(&errors, "task3_scope")[0].contains("D1"));
}

#[tokio::test]
async fn scope_all_needs_a_d4_directive() {
    let f = fixture().await;
    let admin = directive_id(&f.cb, "Admin Override").await;
    let run =
        f.cb.launch(
            LaunchRequest::new()
                .with_directive(admin)
                .with_task3_scope(Task3Scope::All),
        )
        .await
        .expect("D4 with all");
    assert_eq!(run.task3_scope, Task3Scope::All);

    let read_only = directive_id(&f.cb, "Read-only Diagnostics").await;
    let errors = rejected(
        &f.cb,
        LaunchRequest::new()
            .with_directive(read_only)
            .with_task3_scope(Task3Scope::All),
    )
    .await;
    assert_eq!(errors.fields().count(), 1);
    assert!(messages(&errors, "task3_scope")[0].contains("needs a D4 directive (this one is D1)"));

    let run =
        f.cb.launch(
            LaunchRequest::new()
                .with_directive(read_only)
                .with_task3_scope(Task3Scope::Allowlist),
        )
        .await
        .expect("D1 with allowlist");
    assert_eq!(run.task3_scope, Task3Scope::Allowlist);
}

#[tokio::test]
async fn the_snapshot_is_hashed_and_immune_to_later_edits() {
    let f = fixture().await;
    let id =
        f.cb.create_directive(
            NewDirective::new("Edited later", DirectiveType::D2).with_text("Version one text."),
        )
        .await
        .expect("create directive")
        .id;
    let launched =
        f.cb.launch(
            LaunchRequest::new()
                .with_directive(id)
                .with_trigger(Trigger::Schedule),
        )
        .await
        .expect("launch");
    assert_eq!(
        launched.snapshot_sha256,
        launched.directive_snapshot.sha256()
    );
    assert_eq!(launched.trigger, Trigger::Schedule);
    assert_eq!(launched.created_at, f.now);

    let edited =
        f.cb.update_directive(
            id,
            DirectivePatch::default()
                .with_text("Version two text.")
                .with_type(DirectiveType::D3),
        )
        .await
        .expect("edit directive");
    assert_eq!(edited.version, 2);

    let stored = f.cb.store().get_run(launched.id).await.expect("get run");
    assert_eq!(stored.directive_snapshot, launched.directive_snapshot);
    assert_eq!(
        stored.directive_snapshot.directive_text,
        "Version one text."
    );
    assert_eq!(stored.directive_snapshot.version, 1);
    assert_eq!(stored.snapshot_sha256, launched.snapshot_sha256);
    assert_eq!(stored.created_at, f.now);
}

#[tokio::test]
async fn the_request_body_parses_strictly_and_never_sets_host_fields() {
    let request: LaunchRequest = serde_json::from_str(
        r#"{"tasks": ["task1"], "directive_id": 3, "use_rag": true, "task3_scope": "all"}"#,
    )
    .expect("parse");
    assert_eq!(
        request,
        LaunchRequest::new()
            .with_tasks(["task1"])
            .with_directive(3)
            .with_use_rag(true)
            .with_task3_scope(Task3Scope::All)
    );
    assert_eq!(request.trigger, Trigger::Api);
    let empty: LaunchRequest = serde_json::from_str("{}").expect("empty body");
    assert_eq!(empty, LaunchRequest::new());
    for body in [
        r#"{"trigger": "schedule"}"#,
        r#"{"schedule_id": 1}"#,
        r#"{"task": ["task1"]}"#,
    ] {
        assert!(
            serde_json::from_str::<LaunchRequest>(body).is_err(),
            "{body} accepted"
        );
    }
}
