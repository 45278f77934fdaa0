//! The store conformance suite: one async check per contract bullet of the [`Store`] traits.
//!
//! A backend runs every check with its own fresh-store setup:
//!
//! ```text
//! cyberbrain_core::conformance_suite!(async {
//!     let dir = tempfile::tempdir().unwrap();
//!     let store = MyStore::open(dir.path()).await.unwrap();
//!     store.migrate().await.unwrap();
//!     (std::sync::Arc::new(store) as std::sync::Arc<dyn Store>, dir)
//! });
//! ```
//!
//! The setup expression is an async block yielding `(Arc<dyn Store>, guard)`; the guard (a temp
//! dir, a schema dropper) lives until the check ends. Checks start from a freshly migrated store
//! with only the seed data, and run on a multi-thread runtime so concurrent checks really race.
//!
//! Times a check passes in (run creation, claims) are whole microseconds, the precision every
//! backend keeps, so they compare equal after a round trip.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use chrono::TimeZone;
use serde_json::{Map, Value, json};

use crate::domain::{
    AllowlistPatch, ApprovalStatus, ClaimJobs, DEFAULT_DIRECTIVE_NAME, DirectivePatch,
    DirectiveSnapshot, DirectiveType, JobStatus, NewAllowlistEntry, NewDirective, NewRun,
    NewTaskDefinition, Page, PageRequest, RunStatus, Task3Scope, TaskDefinitionPatch, Timestamp,
    Trigger,
};
use crate::{Error, Result, Store};

/// Expands every conformance check into a named `#[tokio::test]` using `$setup`.
#[macro_export]
macro_rules! conformance_suite {
    ($setup:expr) => {
        $crate::conformance_suite!(@checks $setup;
            seed_directives_exist,
            seed_tasks_exist,
            migrate_twice_is_a_no_op,
            admin_ping_and_info_answer,
            directive_create_then_get_by_id_and_name,
            directive_approval_defaults_from_type,
            directive_duplicate_name_is_conflict,
            directive_unknown_id_or_name_is_not_found,
            directive_list_pages_in_id_order,
            directive_update_applies_only_present_fields,
            directive_version_bumps_only_on_text_type_or_config_change,
            directive_rename_to_taken_name_is_conflict,
            directive_builtin_delete_is_conflict,
            directive_builtin_can_be_edited_and_deactivated,
            directive_delete_then_get_is_not_found,
            directive_delete_keeps_run_snapshots,
            task_create_then_get_by_id_and_key,
            task_duplicate_key_is_conflict,
            task_unknown_default_directive_is_not_found,
            task_update_applies_only_present_fields,
            task_unknown_id_or_key_is_not_found,
            task_delete_then_get_is_not_found,
            task_list_pages_in_id_order,
            allowlist_create_then_get_and_list,
            allowlist_duplicate_container_id_is_conflict,
            allowlist_update_to_taken_container_id_is_conflict,
            allowlist_update_applies_only_present_fields,
            allowlist_upsert_inserts_then_replaces_keeping_id,
            allowlist_concurrent_upserts_leave_one_entry,
            allowlist_enabled_lists_only_enabled_in_id_order,
            allowlist_unknown_id_is_not_found,
            allowlist_delete_then_get_is_not_found,
            allowlist_list_pages_in_id_order,
            run_create_writes_pending_run_and_jobs,
            run_snapshot_round_trips_with_its_hash,
            run_unknown_id_is_not_found,
            run_list_pages_in_id_order,
            claim_never_takes_runs_pending_approval_or_denied,
            claim_takes_approved_runs,
            claim_sets_lease_attempts_and_marks_run_running,
            claim_returns_jobs_in_id_order_up_to_limit,
            claim_concurrent_claimers_get_each_job_once,
        );
    };
    (@checks $setup:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let (store, _guard) = $setup.await;
                $crate::testing::conformance::$check(store).await;
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// A time at whole microseconds, `offset_s` seconds after a fixed instant.
fn at(offset_s: i64) -> Timestamp {
    chrono::Utc
        .timestamp_opt(1_750_000_000 + offset_s, 123_456_000)
        .single()
        .expect("valid time")
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("test data must be a JSON object, got {other}"),
    }
}

#[track_caller]
fn expect_conflict<T: Debug>(result: Result<T>, context: &str) -> String {
    match result {
        Err(Error::Conflict(message)) => message,
        other => panic!("{context}: expected Conflict, got {other:?}"),
    }
}

#[track_caller]
fn expect_not_found<T: Debug>(result: Result<T>, context: &str) {
    match result {
        Err(Error::NotFound { .. }) => {}
        other => panic!("{context}: expected NotFound, got {other:?}"),
    }
}

fn snapshot(name: &str, approval_required: bool) -> DirectiveSnapshot {
    DirectiveSnapshot {
        id: None,
        name: name.to_string(),
        directive_type: if approval_required {
            DirectiveType::D3
        } else {
            DirectiveType::D1
        },
        version: 1,
        directive_text: format!("Diagnose under {name}."),
        task_config: Map::new(),
        approval_required,
    }
}

fn new_run(task_keys: &[&str], approval_status: ApprovalStatus, created_at: Timestamp) -> NewRun {
    let mut new = NewRun::new(
        snapshot("conformance", approval_status != ApprovalStatus::None),
        task_keys.iter().map(|k| k.to_string()).collect(),
        created_at,
    );
    new.approval_status = approval_status;
    new
}

async fn total<T, Fut>(fetch: impl Fn(PageRequest) -> Fut) -> u64
where
    Fut: Future<Output = Result<Page<T>>>,
{
    fetch(PageRequest::first(1)).await.expect("listing").count
}

/// How many rows to add so a collection of `before` rows ends on a partial page of 3.
fn rows_to_add(before: u64) -> usize {
    if (before + 7).is_multiple_of(3) { 8 } else { 7 }
}

/// Walks a collection in pages of 3 and checks the page contract: the same total on every page,
/// ids ascending across pages, full pages then one partial page, an empty page past the end,
/// and the same ids as one big page.
async fn assert_paged_in_id_order<Fut>(what: &str, fetch: impl Fn(PageRequest) -> Fut)
where
    Fut: Future<Output = Result<Page<i64>>>,
{
    let all = fetch(PageRequest::first(200))
        .await
        .expect("listing everything");
    let count = all.count;
    assert_eq!(
        all.items.len() as u64,
        count,
        "{what}: one big page holds every row"
    );
    assert!(
        count % 3 != 0,
        "{what}: the check needs a partial last page"
    );
    let pages = count.div_ceil(3) as u32;
    let mut seen = Vec::new();
    for number in 1..=pages {
        let page = fetch(PageRequest::new(number, 3).unwrap())
            .await
            .expect("listing a page");
        assert_eq!(page.count, count, "{what}: page {number} reports the total");
        let expected = if number == pages {
            (count % 3) as usize
        } else {
            3
        };
        assert_eq!(page.items.len(), expected, "{what}: page {number} size");
        seen.extend(page.items);
    }
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "{what}: ids ascend across pages: {seen:?}"
    );
    assert_eq!(
        seen, all.items,
        "{what}: pages cover the collection exactly"
    );
    let beyond = fetch(PageRequest::new(pages + 1, 3).unwrap())
        .await
        .expect("past the end");
    assert!(
        beyond.items.is_empty(),
        "{what}: a page past the end is empty"
    );
    assert_eq!(
        beyond.count, count,
        "{what}: a page past the end still reports the total"
    );
}

// ---------------------------------------------------------------------------------------------
// Seeds and administration

/// - Migration seeds the four built-in directives and `default`, all built-in and active.
pub async fn seed_directives_exist(store: Arc<dyn Store>) {
    let page = store
        .list_directives(PageRequest::first(200))
        .await
        .unwrap();
    let names: Vec<&str> = page.items.iter().map(|d| d.name.as_str()).collect();
    for (name, directive_type, approval) in [
        ("Read-only Diagnostics", DirectiveType::D1, false),
        ("Conservative Recommendations", DirectiveType::D2, false),
        ("Change Planning", DirectiveType::D3, true),
        ("Admin Override", DirectiveType::D4, true),
        (DEFAULT_DIRECTIVE_NAME, DirectiveType::D1, false),
    ] {
        let directive = store
            .get_directive_by_name(name)
            .await
            .unwrap_or_else(|e| panic!("seed directive {name:?} missing ({e}); have {names:?}"));
        assert_eq!(directive.directive_type, directive_type, "{name}");
        assert_eq!(directive.approval_required, approval, "{name}");
        assert!(directive.is_builtin && directive.is_active, "{name}");
        assert_eq!(directive.version, 1, "{name}");
        assert!(
            !directive.directive_text.is_empty(),
            "{name} has directive text"
        );
        assert!(
            !directive.description.is_empty(),
            "{name} has a description"
        );
        assert_eq!(directive.created_at, directive.updated_at, "{name}");
    }
}

/// - Migration seeds `log_triage`, `gpu_report` and `service_map`, active, with their default
///   configuration and no default directive.
pub async fn seed_tasks_exist(store: Arc<dyn Store>) {
    for (key, name, config) in [
        (
            "log_triage",
            "Log triage",
            json!({"globs": ["**/*.log", "**/*.txt"], "tail_lines": 1000}),
        ),
        (
            "gpu_report",
            "GPU report",
            json!({"util_threshold_pct": 80, "mem_threshold_pct": 90}),
        ),
        ("service_map", "Service map", json!({})),
    ] {
        let task = store
            .get_task_by_key(key)
            .await
            .unwrap_or_else(|e| panic!("seed task {key:?} missing ({e})"));
        assert_eq!(task.name, name, "{key}");
        assert!(task.is_active, "{key}");
        assert_eq!(task.default_directive_id, None, "{key}");
        assert_eq!(Value::Object(task.config), config, "{key}");
        assert!(!task.description.is_empty(), "{key} has a description");
        assert_eq!(store.get_task(task.id).await.unwrap().task_key, key);
    }
}

/// - `migrate` twice changes nothing: same rows, same schema version.
pub async fn migrate_twice_is_a_no_op(store: Arc<dyn Store>) {
    let directives = store
        .list_directives(PageRequest::first(200))
        .await
        .unwrap();
    let tasks = store.list_tasks(PageRequest::first(200)).await.unwrap();
    let version = store.info().await.unwrap().schema_version;
    store.migrate().await.expect("second migrate");
    store.migrate().await.expect("third migrate");
    assert_eq!(
        store
            .list_directives(PageRequest::first(200))
            .await
            .unwrap(),
        directives
    );
    assert_eq!(
        store.list_tasks(PageRequest::first(200)).await.unwrap(),
        tasks
    );
    assert_eq!(store.info().await.unwrap().schema_version, version);
}

/// - `ping` succeeds; `info` names the backend, its version, its location and a schema version.
pub async fn admin_ping_and_info_answer(store: Arc<dyn Store>) {
    store.ping().await.expect("ping");
    let info = store.info().await.unwrap();
    assert!(["sqlite", "postgres"].contains(&info.backend), "{info:?}");
    assert!(!info.version.is_empty(), "{info:?}");
    assert!(!info.location.is_empty(), "{info:?}");
    assert!(info.schema_version >= 1, "{info:?}");
}

// ---------------------------------------------------------------------------------------------
// Directives

/// - Create inserts with version 1, not built-in, `created_at == updated_at`; get by id and by
///   name return the same row.
pub async fn directive_create_then_get_by_id_and_name(store: Arc<dyn Store>) {
    let config = object(json!({"log_triage": {"tail_lines": 50}, "note": "ünïcödé"}));
    let created = store
        .create_directive(
            NewDirective::new("Nightly checks", DirectiveType::D2)
                .with_description("what runs at night")
                .with_text("Look for disk and GPU trouble.")
                .with_task_config(config.clone()),
        )
        .await
        .unwrap();
    assert!(created.id > 0);
    assert_eq!(created.name, "Nightly checks");
    assert_eq!(created.directive_type, DirectiveType::D2);
    assert_eq!(created.description, "what runs at night");
    assert_eq!(created.directive_text, "Look for disk and GPU trouble.");
    assert_eq!(created.task_config, config);
    assert!(!created.is_builtin && created.is_active && !created.approval_required);
    assert_eq!(created.version, 1);
    assert_eq!(created.created_at, created.updated_at);
    assert_eq!(store.get_directive(created.id).await.unwrap(), created);
    assert_eq!(
        store.get_directive_by_name("Nightly checks").await.unwrap(),
        created
    );
}

/// - `approval_required` defaults from the type (D3/D4 true) and an explicit value wins.
pub async fn directive_approval_defaults_from_type(store: Arc<dyn Store>) {
    for (name, directive_type, explicit, expected) in [
        ("d1-default", DirectiveType::D1, None, false),
        ("d3-default", DirectiveType::D3, None, true),
        ("d4-default", DirectiveType::D4, None, true),
        ("d4-no-approval", DirectiveType::D4, Some(false), false),
        ("d2-approval", DirectiveType::D2, Some(true), true),
    ] {
        let mut new = NewDirective::new(name, directive_type);
        new.approval_required = explicit;
        let created = store.create_directive(new).await.unwrap();
        assert_eq!(created.approval_required, expected, "{name}");
    }
}

/// - A name already taken is `Conflict` naming it, and nothing is written.
pub async fn directive_duplicate_name_is_conflict(store: Arc<dyn Store>) {
    let first = store
        .create_directive(NewDirective::new("Twice", DirectiveType::D1))
        .await
        .unwrap();
    let before = store
        .list_directives(PageRequest::first(200))
        .await
        .unwrap();
    let message = expect_conflict(
        store
            .create_directive(NewDirective::new("Twice", DirectiveType::D2))
            .await,
        "second directive named Twice",
    );
    assert!(
        message.contains("Twice"),
        "the conflict names the value: {message}"
    );
    expect_conflict(
        store
            .create_directive(NewDirective::new(DEFAULT_DIRECTIVE_NAME, DirectiveType::D1))
            .await,
        "a directive named like a seed",
    );
    assert_eq!(
        store
            .list_directives(PageRequest::first(200))
            .await
            .unwrap(),
        before
    );
    assert_eq!(store.get_directive_by_name("Twice").await.unwrap(), first);
}

/// - Unknown ids and names are `NotFound` for get, get by name, update and delete.
pub async fn directive_unknown_id_or_name_is_not_found(store: Arc<dyn Store>) {
    expect_not_found(store.get_directive(987_654).await, "get");
    expect_not_found(
        store.get_directive_by_name("no such directive").await,
        "get by name",
    );
    expect_not_found(
        store
            .update_directive(987_654, DirectivePatch::default().with_text("x"))
            .await,
        "update",
    );
    expect_not_found(store.delete_directive(987_654).await, "delete");
}

/// - Directives page by id with the total count.
pub async fn directive_list_pages_in_id_order(store: Arc<dyn Store>) {
    let list = |page| {
        let store = store.clone();
        async move { store.list_directives(page).await.map(|p| p.map(|d| d.id)) }
    };
    let before = total(&list).await;
    let added = rows_to_add(before);
    for i in 0..added {
        store
            .create_directive(NewDirective::new(format!("paged-{i}"), DirectiveType::D1))
            .await
            .unwrap();
    }
    assert_eq!(total(&list).await, before + added as u64);
    assert_paged_in_id_order("directives", list).await;
}

/// - Update applies only the fields present; `updated_at` moves forward; `created_at` stays.
pub async fn directive_update_applies_only_present_fields(store: Arc<dyn Store>) {
    let created = store
        .create_directive(
            NewDirective::new("Partial", DirectiveType::D2)
                .with_description("before")
                .with_text("keep this text")
                .with_task_config(object(json!({"keep": true}))),
        )
        .await
        .unwrap();
    let patch = DirectivePatch {
        description: Some("after".into()),
        ..Default::default()
    };
    let updated = store.update_directive(created.id, patch).await.unwrap();
    assert_eq!(updated.description, "after");
    assert_eq!(updated.name, created.name);
    assert_eq!(updated.directive_type, created.directive_type);
    assert_eq!(updated.directive_text, created.directive_text);
    assert_eq!(updated.task_config, created.task_config);
    assert_eq!(updated.is_active, created.is_active);
    assert_eq!(updated.approval_required, created.approval_required);
    assert_eq!(updated.is_builtin, created.is_builtin);
    assert_eq!(updated.created_at, created.created_at);
    assert!(
        updated.updated_at > created.updated_at,
        "updated_at moves forward"
    );
    assert_eq!(store.get_directive(created.id).await.unwrap(), updated);

    let flags = DirectivePatch {
        is_active: Some(false),
        approval_required: Some(true),
        ..Default::default()
    };
    let updated = store.update_directive(created.id, flags).await.unwrap();
    assert!(!updated.is_active && updated.approval_required);
    assert_eq!(updated.description, "after");
}

/// - `version` increments exactly when text, type or task config change value.
pub async fn directive_version_bumps_only_on_text_type_or_config_change(store: Arc<dyn Store>) {
    let d = store
        .create_directive(NewDirective::new("Versioned", DirectiveType::D1).with_text("one"))
        .await
        .unwrap();
    let id = d.id;
    let steps: Vec<(&str, DirectivePatch, i32)> = vec![
        (
            "rename",
            DirectivePatch::default().with_name("Versioned 2"),
            1,
        ),
        (
            "description, active and approval",
            DirectivePatch {
                description: Some("changed".into()),
                is_active: Some(false),
                approval_required: Some(true),
                ..Default::default()
            },
            1,
        ),
        ("empty patch", DirectivePatch::default(), 1),
        ("new text", DirectivePatch::default().with_text("two"), 2),
        (
            "same text again",
            DirectivePatch::default().with_text("two"),
            2,
        ),
        (
            "new type",
            DirectivePatch::default().with_type(DirectiveType::D2),
            3,
        ),
        (
            "same type again",
            DirectivePatch::default().with_type(DirectiveType::D2),
            3,
        ),
        (
            "new task config",
            DirectivePatch {
                task_config: Some(object(json!({"a": 1}))),
                ..Default::default()
            },
            4,
        ),
        (
            "same task config again",
            DirectivePatch {
                task_config: Some(object(json!({"a": 1}))),
                ..Default::default()
            },
            4,
        ),
        (
            "text, type and config at once",
            DirectivePatch {
                directive_text: Some("three".into()),
                directive_type: Some(DirectiveType::D3),
                task_config: Some(object(json!({"a": 2}))),
                ..Default::default()
            },
            5,
        ),
    ];
    for (step, patch, expected) in steps {
        let updated = store.update_directive(id, patch).await.unwrap();
        assert_eq!(updated.version, expected, "after {step}");
        assert_eq!(
            store.get_directive(id).await.unwrap().version,
            expected,
            "stored after {step}"
        );
    }
}

/// - Renaming to a name already taken is `Conflict` and the row is unchanged.
pub async fn directive_rename_to_taken_name_is_conflict(store: Arc<dyn Store>) {
    let d = store
        .create_directive(NewDirective::new("Mine", DirectiveType::D1))
        .await
        .unwrap();
    let message = expect_conflict(
        store
            .update_directive(
                d.id,
                DirectivePatch::default()
                    .with_name("Change Planning")
                    .with_text("new"),
            )
            .await,
        "rename to a seed's name",
    );
    assert!(message.contains("Change Planning"), "{message}");
    assert_eq!(
        store.get_directive(d.id).await.unwrap(),
        d,
        "nothing written"
    );
    let same = store
        .update_directive(d.id, DirectivePatch::default().with_name("Mine"))
        .await;
    assert_eq!(
        same.unwrap().name,
        "Mine",
        "keeping one's own name is no conflict"
    );
}

/// - Deleting a built-in directive is `Conflict` (it can be deactivated instead).
pub async fn directive_builtin_delete_is_conflict(store: Arc<dyn Store>) {
    for name in [
        "Read-only Diagnostics",
        "Admin Override",
        DEFAULT_DIRECTIVE_NAME,
    ] {
        let builtin = store.get_directive_by_name(name).await.unwrap();
        let message = expect_conflict(store.delete_directive(builtin.id).await, name);
        assert!(message.contains("built-in"), "{message}");
        assert!(
            message.contains("deactivate"),
            "the message says what to do: {message}"
        );
        assert_eq!(store.get_directive(builtin.id).await.unwrap(), builtin);
    }
}

/// - Built-in directives can be edited and deactivated; they stay built-in.
pub async fn directive_builtin_can_be_edited_and_deactivated(store: Arc<dyn Store>) {
    let builtin = store
        .get_directive_by_name("Change Planning")
        .await
        .unwrap();
    let updated = store
        .update_directive(
            builtin.id,
            DirectivePatch::default()
                .with_active(false)
                .with_text("Plan carefully."),
        )
        .await
        .unwrap();
    assert!(updated.is_builtin && !updated.is_active);
    assert_eq!(updated.version, builtin.version + 1);
}

/// - Deleting a non-built-in directive removes it: get, update and delete are then `NotFound`.
pub async fn directive_delete_then_get_is_not_found(store: Arc<dyn Store>) {
    let d = store
        .create_directive(NewDirective::new("Temporary", DirectiveType::D2))
        .await
        .unwrap();
    let before = store
        .list_directives(PageRequest::first(1))
        .await
        .unwrap()
        .count;
    store.delete_directive(d.id).await.unwrap();
    expect_not_found(store.get_directive(d.id).await, "get after delete");
    expect_not_found(
        store.get_directive_by_name("Temporary").await,
        "get by name after delete",
    );
    expect_not_found(store.delete_directive(d.id).await, "delete twice");
    assert_eq!(
        store
            .list_directives(PageRequest::first(1))
            .await
            .unwrap()
            .count,
        before - 1
    );
    let again = store
        .create_directive(NewDirective::new("Temporary", DirectiveType::D2))
        .await;
    assert!(
        again.unwrap().id != d.id,
        "the name is free again; ids are not reused"
    );
}

/// - Deleting or editing a directive never changes a run's snapshot (G4).
pub async fn directive_delete_keeps_run_snapshots(store: Arc<dyn Store>) {
    let d = store
        .create_directive(NewDirective::new("Snapshotted", DirectiveType::D2).with_text("before"))
        .await
        .unwrap();
    let run = store
        .create_run(NewRun::new(d.snapshot(), vec!["log_triage".into()], at(0)))
        .await
        .unwrap();
    store
        .update_directive(d.id, DirectivePatch::default().with_text("after"))
        .await
        .unwrap();
    store.delete_directive(d.id).await.unwrap();
    let kept = store.get_run(run.id).await.unwrap();
    assert_eq!(kept.directive_snapshot, d.snapshot());
    assert_eq!(kept.directive_snapshot.directive_text, "before");
    assert_eq!(kept.snapshot_sha256, d.snapshot().sha256());
    assert_eq!(store.list_run_jobs(run.id).await.unwrap().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Task definitions

/// - Create inserts; get by id and by key return the same row.
pub async fn task_create_then_get_by_id_and_key(store: Arc<dyn Store>) {
    let directive = store
        .get_directive_by_name("Conservative Recommendations")
        .await
        .unwrap();
    let mut new = NewTaskDefinition::new("disk_report", "Disk report")
        .with_description("free space per mount")
        .with_default_directive(directive.id);
    new.config = object(json!({"mounts": ["/", "/mnt/user"], "min_free_pct": 10}));
    let created = store.create_task(new.clone()).await.unwrap();
    assert!(created.id > 0);
    assert_eq!(created.task_key, "disk_report");
    assert_eq!(created.name, "Disk report");
    assert_eq!(created.description, "free space per mount");
    assert_eq!(created.default_directive_id, Some(directive.id));
    assert_eq!(created.config, new.config);
    assert!(created.is_active);
    assert_eq!(created.created_at, created.updated_at);
    assert_eq!(store.get_task(created.id).await.unwrap(), created);
    assert_eq!(store.get_task_by_key("disk_report").await.unwrap(), created);
}

/// - A key already taken is `Conflict` naming it, and nothing is written.
pub async fn task_duplicate_key_is_conflict(store: Arc<dyn Store>) {
    let before = store.list_tasks(PageRequest::first(200)).await.unwrap();
    let message = expect_conflict(
        store
            .create_task(NewTaskDefinition::new("log_triage", "Another triage"))
            .await,
        "a second log_triage",
    );
    assert!(message.contains("log_triage"), "{message}");
    assert_eq!(
        store.list_tasks(PageRequest::first(200)).await.unwrap(),
        before
    );
}

/// - An unknown default directive is `NotFound` on create and update, and nothing is written.
pub async fn task_unknown_default_directive_is_not_found(store: Arc<dyn Store>) {
    let before = store.list_tasks(PageRequest::first(200)).await.unwrap();
    expect_not_found(
        store
            .create_task(NewTaskDefinition::new("orphan", "Orphan").with_default_directive(987_654))
            .await,
        "create with an unknown default directive",
    );
    assert_eq!(
        store.list_tasks(PageRequest::first(200)).await.unwrap(),
        before
    );
    let task = store.get_task_by_key("gpu_report").await.unwrap();
    let patch = TaskDefinitionPatch {
        name: Some("renamed".into()),
        default_directive_id: Some(Some(987_654)),
        ..Default::default()
    };
    expect_not_found(
        store.update_task(task.id, patch).await,
        "update to an unknown directive",
    );
    assert_eq!(
        store.get_task(task.id).await.unwrap(),
        task,
        "nothing written"
    );
}

/// - Update applies only the fields present (setting and clearing the default directive);
///   `updated_at` moves forward.
pub async fn task_update_applies_only_present_fields(store: Arc<dyn Store>) {
    let task = store.get_task_by_key("service_map").await.unwrap();
    let directive = store.get_directive_by_name("Admin Override").await.unwrap();
    let patch = TaskDefinitionPatch {
        default_directive_id: Some(Some(directive.id)),
        ..Default::default()
    };
    let updated = store.update_task(task.id, patch).await.unwrap();
    assert_eq!(updated.default_directive_id, Some(directive.id));
    assert_eq!(updated.name, task.name);
    assert_eq!(updated.description, task.description);
    assert_eq!(updated.config, task.config);
    assert_eq!(updated.is_active, task.is_active);
    assert_eq!(updated.task_key, task.task_key);
    assert_eq!(updated.created_at, task.created_at);
    assert!(updated.updated_at > task.updated_at);

    let patch = TaskDefinitionPatch {
        description: Some("maps services".into()),
        config: Some(object(json!({"include_stopped": true}))),
        ..Default::default()
    }
    .with_active(false);
    let updated = store.update_task(task.id, patch).await.unwrap();
    assert_eq!(
        updated.default_directive_id,
        Some(directive.id),
        "absent leaves it alone"
    );
    assert_eq!(updated.description, "maps services");
    assert_eq!(
        Value::Object(updated.config.clone()),
        json!({"include_stopped": true})
    );
    assert!(!updated.is_active);

    let clear = TaskDefinitionPatch {
        default_directive_id: Some(None),
        ..Default::default()
    };
    let cleared = store.update_task(task.id, clear).await.unwrap();
    assert_eq!(cleared.default_directive_id, None, "Some(None) clears it");
    assert_eq!(store.get_task(task.id).await.unwrap(), cleared);
}

/// - Unknown ids and keys are `NotFound` for get, get by key, update and delete.
pub async fn task_unknown_id_or_key_is_not_found(store: Arc<dyn Store>) {
    expect_not_found(store.get_task(987_654).await, "get");
    expect_not_found(store.get_task_by_key("no_such_task").await, "get by key");
    expect_not_found(
        store
            .update_task(987_654, TaskDefinitionPatch::default().with_name("x"))
            .await,
        "update",
    );
    expect_not_found(store.delete_task(987_654).await, "delete");
}

/// - Deleting a task removes it: get and delete are then `NotFound`.
pub async fn task_delete_then_get_is_not_found(store: Arc<dyn Store>) {
    let task = store
        .create_task(NewTaskDefinition::new("short_lived", "Short lived"))
        .await
        .unwrap();
    store.delete_task(task.id).await.unwrap();
    expect_not_found(store.get_task(task.id).await, "get after delete");
    expect_not_found(
        store.get_task_by_key("short_lived").await,
        "get by key after delete",
    );
    expect_not_found(store.delete_task(task.id).await, "delete twice");
    let seeded = store.get_task_by_key("gpu_report").await.unwrap();
    store
        .delete_task(seeded.id)
        .await
        .expect("an unscheduled seed task can be deleted");
    expect_not_found(store.get_task(seeded.id).await, "seed task after delete");
}

/// - Task definitions page by id with the total count.
pub async fn task_list_pages_in_id_order(store: Arc<dyn Store>) {
    let list = |page| {
        let store = store.clone();
        async move { store.list_tasks(page).await.map(|p| p.map(|t| t.id)) }
    };
    let before = total(&list).await;
    let added = rows_to_add(before);
    for i in 0..added {
        store
            .create_task(NewTaskDefinition::new(
                format!("paged_{i}"),
                format!("Paged {i}"),
            ))
            .await
            .unwrap();
    }
    assert_eq!(total(&list).await, before + added as u64);
    assert_paged_in_id_order("tasks", list).await;
}

// ---------------------------------------------------------------------------------------------
// Container allowlist

/// - Create inserts; get and list return it.
pub async fn allowlist_create_then_get_and_list(store: Arc<dyn Store>) {
    let mut new = NewAllowlistEntry::new("plex")
        .with_name("Plex")
        .with_tags(["media", "gpu"]);
    new.description = "media server".into();
    let created = store.create_allowlist_entry(new).await.unwrap();
    assert!(created.id > 0);
    assert_eq!(created.container_id, "plex");
    assert_eq!(created.name, "Plex");
    assert_eq!(created.description, "media server");
    assert!(created.enabled);
    assert_eq!(
        created.tags,
        vec!["media".to_string(), "gpu".to_string()],
        "tag order kept"
    );
    assert_eq!(created.created_at, created.updated_at);
    assert_eq!(
        store.get_allowlist_entry(created.id).await.unwrap(),
        created
    );
    let page = store.list_allowlist(PageRequest::first(200)).await.unwrap();
    assert_eq!(page.count, 1);
    assert_eq!(page.items, vec![created]);
}

/// - A `container_id` already listed is `Conflict` naming it, and nothing is written.
pub async fn allowlist_duplicate_container_id_is_conflict(store: Arc<dyn Store>) {
    let first = store
        .create_allowlist_entry(NewAllowlistEntry::new("4f1c2a9be0d3"))
        .await
        .unwrap();
    let message = expect_conflict(
        store
            .create_allowlist_entry(NewAllowlistEntry::new("4f1c2a9be0d3").with_name("dup"))
            .await,
        "the same container twice",
    );
    assert!(message.contains("4f1c2a9be0d3"), "{message}");
    let page = store.list_allowlist(PageRequest::first(200)).await.unwrap();
    assert_eq!(page.items, vec![first]);
}

/// - Updating to a `container_id` another entry has is `Conflict`; the row is unchanged.
pub async fn allowlist_update_to_taken_container_id_is_conflict(store: Arc<dyn Store>) {
    store
        .create_allowlist_entry(NewAllowlistEntry::new("nginx"))
        .await
        .unwrap();
    let other = store
        .create_allowlist_entry(NewAllowlistEntry::new("redis"))
        .await
        .unwrap();
    let patch = AllowlistPatch {
        container_id: Some("nginx".into()),
        name: Some("renamed".into()),
        ..Default::default()
    };
    let message = expect_conflict(
        store.update_allowlist_entry(other.id, patch).await,
        "taking another entry's container id",
    );
    assert!(message.contains("nginx"), "{message}");
    assert_eq!(store.get_allowlist_entry(other.id).await.unwrap(), other);
}

/// - Update applies only the fields present; `updated_at` moves forward.
pub async fn allowlist_update_applies_only_present_fields(store: Arc<dyn Store>) {
    let created = store
        .create_allowlist_entry(
            NewAllowlistEntry::new("grafana")
                .with_name("Grafana")
                .with_tags(["ui"]),
        )
        .await
        .unwrap();
    let updated = store
        .update_allowlist_entry(created.id, AllowlistPatch::default().with_enabled(false))
        .await
        .unwrap();
    assert!(!updated.enabled);
    assert_eq!(updated.container_id, created.container_id);
    assert_eq!(updated.name, created.name);
    assert_eq!(updated.description, created.description);
    assert_eq!(updated.tags, created.tags);
    assert_eq!(updated.created_at, created.created_at);
    assert!(updated.updated_at > created.updated_at);
    let patch = AllowlistPatch {
        container_id: Some("grafana-2".into()),
        tags: Some(vec![]),
        description: Some("dashboards".into()),
        ..Default::default()
    };
    let updated = store
        .update_allowlist_entry(created.id, patch)
        .await
        .unwrap();
    assert_eq!(updated.container_id, "grafana-2");
    assert!(updated.tags.is_empty());
    assert_eq!(updated.description, "dashboards");
    assert!(!updated.enabled, "absent fields stay as they were");
    assert_eq!(
        store.get_allowlist_entry(created.id).await.unwrap(),
        updated
    );
}

/// - Upsert inserts a new container, then replaces name/description/enabled/tags of the entry
///   with the same `container_id`, keeping its id and `created_at`.
pub async fn allowlist_upsert_inserts_then_replaces_keeping_id(store: Arc<dyn Store>) {
    let inserted = store
        .upsert_allowlist_entry(
            NewAllowlistEntry::new("jellyfin")
                .with_name("Jellyfin")
                .with_tags(["media"]),
        )
        .await
        .unwrap();
    assert_eq!(inserted.name, "Jellyfin");
    let mut replacement = NewAllowlistEntry::new("jellyfin")
        .with_name("JF")
        .with_enabled(false);
    replacement.description = "replaced".into();
    replacement.tags = vec!["a".into(), "b".into()];
    let replaced = store.upsert_allowlist_entry(replacement).await.unwrap();
    assert_eq!(replaced.id, inserted.id);
    assert_eq!(replaced.created_at, inserted.created_at);
    assert!(replaced.updated_at > inserted.updated_at);
    assert_eq!(replaced.container_id, "jellyfin");
    assert_eq!(replaced.name, "JF");
    assert_eq!(replaced.description, "replaced");
    assert!(!replaced.enabled);
    assert_eq!(replaced.tags, vec!["a".to_string(), "b".to_string()]);
    let page = store.list_allowlist(PageRequest::first(200)).await.unwrap();
    assert_eq!(page.items, vec![replaced]);
}

/// - Concurrent upserts of one container leave exactly one entry (the upsert is atomic).
pub async fn allowlist_concurrent_upserts_leave_one_entry(store: Arc<dyn Store>) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let store = store.clone();
        tasks.spawn(async move {
            store
                .upsert_allowlist_entry(
                    NewAllowlistEntry::new("raced").with_name(format!("writer-{i}")),
                )
                .await
        });
    }
    let mut ids = BTreeSet::new();
    while let Some(result) = tasks.join_next().await {
        ids.insert(result.expect("upsert task").expect("upsert").id);
    }
    assert_eq!(ids.len(), 1, "every upsert hit the same row: {ids:?}");
    let page = store.list_allowlist(PageRequest::first(200)).await.unwrap();
    assert_eq!(page.count, 1);
    assert!(page.items[0].name.starts_with("writer-"));
}

/// - `enabled_allowlist` returns every enabled entry and only those, ordered by id.
pub async fn allowlist_enabled_lists_only_enabled_in_id_order(store: Arc<dyn Store>) {
    let mut enabled_ids = Vec::new();
    for i in 0..6 {
        let enabled = i % 3 != 1;
        let entry = store
            .create_allowlist_entry(NewAllowlistEntry::new(format!("c{i}")).with_enabled(enabled))
            .await
            .unwrap();
        if enabled {
            enabled_ids.push(entry.id);
        }
    }
    let enabled = store.enabled_allowlist().await.unwrap();
    assert_eq!(
        enabled.iter().map(|e| e.id).collect::<Vec<_>>(),
        enabled_ids
    );
    assert!(enabled.iter().all(|e| e.enabled));
    let first = enabled_ids[0];
    store
        .update_allowlist_entry(first, AllowlistPatch::default().with_enabled(false))
        .await
        .unwrap();
    let enabled = store.enabled_allowlist().await.unwrap();
    assert!(
        enabled.iter().all(|e| e.id != first),
        "a disabled entry leaves the enabled list"
    );
}

/// - Unknown ids are `NotFound` for get, update and delete.
pub async fn allowlist_unknown_id_is_not_found(store: Arc<dyn Store>) {
    expect_not_found(store.get_allowlist_entry(987_654).await, "get");
    expect_not_found(
        store
            .update_allowlist_entry(987_654, AllowlistPatch::default().with_enabled(true))
            .await,
        "update",
    );
    expect_not_found(store.delete_allowlist_entry(987_654).await, "delete");
}

/// - Deleting an entry removes it: get and delete are then `NotFound`.
pub async fn allowlist_delete_then_get_is_not_found(store: Arc<dyn Store>) {
    let keep = store
        .create_allowlist_entry(NewAllowlistEntry::new("keep"))
        .await
        .unwrap();
    let gone = store
        .create_allowlist_entry(NewAllowlistEntry::new("gone"))
        .await
        .unwrap();
    store.delete_allowlist_entry(gone.id).await.unwrap();
    expect_not_found(store.get_allowlist_entry(gone.id).await, "get after delete");
    expect_not_found(store.delete_allowlist_entry(gone.id).await, "delete twice");
    assert_eq!(store.enabled_allowlist().await.unwrap(), vec![keep]);
    store
        .create_allowlist_entry(NewAllowlistEntry::new("gone"))
        .await
        .expect("container id is free again");
}

/// - Allowlist entries page by id with the total count.
pub async fn allowlist_list_pages_in_id_order(store: Arc<dyn Store>) {
    let list = |page| {
        let store = store.clone();
        async move { store.list_allowlist(page).await.map(|p| p.map(|e| e.id)) }
    };
    let before = total(&list).await;
    let added = rows_to_add(before);
    for i in 0..added {
        store
            .create_allowlist_entry(NewAllowlistEntry::new(format!("paged-{i}")))
            .await
            .unwrap();
    }
    assert_eq!(total(&list).await, before + added as u64);
    assert_paged_in_id_order("allowlist", list).await;
}

// ---------------------------------------------------------------------------------------------
// Runs

/// - Create writes a pending run (no tokens, empty report summary) and one pending job per
///   task key in order, with no lease and an empty result.
pub async fn run_create_writes_pending_run_and_jobs(store: Arc<dyn Store>) {
    let new = new_run(
        &["log_triage", "gpu_report", "service_map"],
        ApprovalStatus::None,
        at(0),
    )
    .with_trigger(Trigger::Mcp)
    .with_use_rag(true)
    .with_task3_scope(Task3Scope::All);
    let run = store.create_run(new.clone()).await.unwrap();
    assert!(run.id > 0);
    assert_eq!(run.status, RunStatus::Pending);
    assert_eq!(run.trigger, Trigger::Mcp);
    assert!(run.use_rag);
    assert_eq!(run.task3_scope, Task3Scope::All);
    assert_eq!(run.schedule_id, None);
    assert_eq!(run.approval_status, ApprovalStatus::None);
    assert_eq!((run.approved_by.as_deref(), run.approved_at), (None, None));
    assert_eq!(run.created_at, at(0));
    assert_eq!((run.started_at, run.ended_at), (None, None));
    assert_eq!(
        (run.prompt_tokens, run.completion_tokens, run.total_tokens),
        (0, 0, 0)
    );
    assert_eq!(run.error_summary, None);
    assert_eq!(run.report_summary, json!({}));
    assert_eq!(store.get_run(run.id).await.unwrap(), run);

    let jobs = store.list_run_jobs(run.id).await.unwrap();
    let keys: Vec<&str> = jobs.iter().map(|j| j.task_key.as_str()).collect();
    assert_eq!(keys, ["log_triage", "gpu_report", "service_map"]);
    assert!(
        jobs.windows(2).all(|w| w[0].id < w[1].id),
        "jobs ordered by id"
    );
    for job in &jobs {
        assert_eq!(job.run_id, run.id);
        assert_eq!(job.status, JobStatus::Pending);
        assert_eq!(job.attempts, 0);
        assert_eq!((job.lease_owner.as_deref(), job.lease_until), (None, None));
        assert_eq!((job.started_at, job.ended_at), (None, None));
        assert_eq!(job.result, json!({}));
        assert_eq!(job.error_summary, None);
        assert_eq!(
            (job.prompt_tokens, job.completion_tokens, job.total_tokens),
            (0, 0, 0)
        );
    }

    let pending = store
        .create_run(new_run(&["log_triage"], ApprovalStatus::Pending, at(1)))
        .await
        .unwrap();
    assert_eq!(
        pending.approval_status,
        ApprovalStatus::Pending,
        "approval comes from NewRun"
    );
    assert_eq!(pending.status, RunStatus::Pending);
}

/// - The snapshot round-trips exactly (same value, same canonical JSON) and its SHA-256 is
///   stored beside it (G4).
pub async fn run_snapshot_round_trips_with_its_hash(store: Arc<dyn Store>) {
    let directive = store
        .get_directive_by_name(DEFAULT_DIRECTIVE_NAME)
        .await
        .unwrap();
    let custom = DirectiveSnapshot {
        id: None,
        name: "custom".into(),
        directive_type: DirectiveType::D4,
        version: 7,
        directive_text: "Ünïcödé — \"quoted\"\nsecond line\t\u{1F600}".into(),
        task_config: object(json!({
            "z": [1, 2.5, null, "x"],
            "a": {"nested": true, "deeper": {"n": -3}},
            "task3_scope": "all"
        })),
        approval_required: true,
    };
    for snapshot in [directive.snapshot(), custom] {
        let new = NewRun::new(snapshot.clone(), vec!["service_map".into()], at(5));
        let run = store.create_run(new).await.unwrap();
        let stored = store.get_run(run.id).await.unwrap();
        assert_eq!(stored.directive_snapshot, snapshot);
        assert_eq!(
            stored.directive_snapshot.canonical_json(),
            snapshot.canonical_json()
        );
        assert_eq!(stored.snapshot_sha256, snapshot.sha256());
        assert_eq!(stored.directive_snapshot.sha256(), stored.snapshot_sha256);
        assert_eq!(run.snapshot_sha256, snapshot.sha256());
    }
}

/// - Unknown run ids are `NotFound` for get and for listing jobs.
pub async fn run_unknown_id_is_not_found(store: Arc<dyn Store>) {
    expect_not_found(store.get_run(987_654).await, "get");
    expect_not_found(store.list_run_jobs(987_654).await, "list jobs");
    let run = store
        .create_run(new_run(&[], ApprovalStatus::None, at(0)))
        .await
        .unwrap();
    assert_eq!(
        store.list_run_jobs(run.id).await.unwrap(),
        vec![],
        "a known run without jobs"
    );
}

/// - Runs page by id with the total count.
pub async fn run_list_pages_in_id_order(store: Arc<dyn Store>) {
    let list = |page| {
        let store = store.clone();
        async move { store.list_runs(page).await.map(|p| p.map(|r| r.id)) }
    };
    let before = total(&list).await;
    let added = rows_to_add(before);
    for i in 0..added {
        store
            .create_run(new_run(&["log_triage"], ApprovalStatus::None, at(i as i64)))
            .await
            .unwrap();
    }
    assert_eq!(total(&list).await, before + added as u64);
    assert_paged_in_id_order("runs", list).await;
}

// ---------------------------------------------------------------------------------------------
// Claims

fn claim(owner: &str, now: Timestamp, limit: u32) -> ClaimJobs {
    ClaimJobs::new(owner, now, chrono::Duration::minutes(5)).with_limit(limit)
}

/// - Jobs of runs awaiting approval or denied are never claimed; their runs stay pending.
pub async fn claim_never_takes_runs_pending_approval_or_denied(store: Arc<dyn Store>) {
    let waiting = store
        .create_run(new_run(
            &["log_triage", "gpu_report"],
            ApprovalStatus::Pending,
            at(0),
        ))
        .await
        .unwrap();
    let denied = store
        .create_run(new_run(&["service_map"], ApprovalStatus::Denied, at(0)))
        .await
        .unwrap();
    assert_eq!(
        store.claim_jobs(claim("w", at(1), 10)).await.unwrap(),
        vec![]
    );

    let runnable = store
        .create_run(new_run(&["log_triage"], ApprovalStatus::None, at(2)))
        .await
        .unwrap();
    let claimed = store.claim_jobs(claim("w", at(3), 10)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].run_id, runnable.id);
    assert_eq!(
        store.claim_jobs(claim("w", at(4), 10)).await.unwrap(),
        vec![]
    );

    for run in [waiting, denied] {
        assert_eq!(
            store.get_run(run.id).await.unwrap().status,
            RunStatus::Pending
        );
        for job in store.list_run_jobs(run.id).await.unwrap() {
            assert_eq!(job.status, JobStatus::Pending);
            assert_eq!(job.attempts, 0);
        }
    }
}

/// - Jobs of approved runs are claimed.
pub async fn claim_takes_approved_runs(store: Arc<dyn Store>) {
    let approved = store
        .create_run(new_run(
            &["log_triage", "gpu_report"],
            ApprovalStatus::Approved,
            at(0),
        ))
        .await
        .unwrap();
    let claimed = store.claim_jobs(claim("w", at(1), 10)).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(
        claimed
            .iter()
            .all(|j| j.run_id == approved.id && j.status == JobStatus::Running)
    );
    assert_eq!(
        store.get_run(approved.id).await.unwrap().status,
        RunStatus::Running
    );
}

/// - A claimed job is `running` with the lease owner and expiry, `attempts` 1 and `started_at`
///   = now; its run becomes `running` with `started_at` set once; other jobs are untouched.
pub async fn claim_sets_lease_attempts_and_marks_run_running(store: Arc<dyn Store>) {
    let run = store
        .create_run(new_run(
            &["log_triage", "gpu_report"],
            ApprovalStatus::None,
            at(0),
        ))
        .await
        .unwrap();
    let jobs = store.list_run_jobs(run.id).await.unwrap();

    let request = claim("executor-a", at(10), 1);
    let claimed = store.claim_jobs(request.clone()).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let job = &claimed[0];
    assert_eq!(job.id, jobs[0].id, "the lowest id first");
    assert_eq!(job.status, JobStatus::Running);
    assert_eq!(job.lease_owner.as_deref(), Some("executor-a"));
    assert_eq!(job.lease_until, Some(request.lease_until));
    assert_eq!(job.attempts, 1);
    assert_eq!(job.started_at, Some(at(10)));
    assert_eq!(job.task_key, "log_triage");

    let stored = store.list_run_jobs(run.id).await.unwrap();
    assert_eq!(&stored[0], job, "the returned job is what was stored");
    assert_eq!(stored[1], jobs[1], "the other job is untouched");
    let started = store.get_run(run.id).await.unwrap();
    assert_eq!(started.status, RunStatus::Running);
    assert_eq!(started.started_at, Some(at(10)));

    let second = store
        .claim_jobs(claim("executor-b", at(20), 5))
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].id, jobs[1].id);
    assert_eq!(second[0].lease_owner.as_deref(), Some("executor-b"));
    assert_eq!(second[0].started_at, Some(at(20)));
    let still = store.get_run(run.id).await.unwrap();
    assert_eq!(still.status, RunStatus::Running);
    assert_eq!(
        still.started_at,
        Some(at(10)),
        "the run's start is not moved by later claims"
    );
    assert_eq!(
        store
            .claim_jobs(claim("executor-c", at(30), 5))
            .await
            .unwrap(),
        vec![]
    );
}

/// - Claims take runnable jobs in id order, at most `limit` (0 takes none).
pub async fn claim_returns_jobs_in_id_order_up_to_limit(store: Arc<dyn Store>) {
    let mut expected = Vec::new();
    for i in 0..3 {
        let run = store
            .create_run(new_run(
                &["log_triage", "service_map"],
                ApprovalStatus::None,
                at(i),
            ))
            .await
            .unwrap();
        expected.extend(
            store
                .list_run_jobs(run.id)
                .await
                .unwrap()
                .into_iter()
                .map(|j| j.id),
        );
    }
    assert_eq!(
        store.claim_jobs(claim("w", at(10), 0)).await.unwrap(),
        vec![],
        "limit 0"
    );
    let first: Vec<i64> = store
        .claim_jobs(claim("w", at(11), 4))
        .await
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(first, expected[..4]);
    let rest: Vec<i64> = store
        .claim_jobs(claim("w", at(12), 4))
        .await
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(rest, expected[4..]);
    assert_eq!(
        store.claim_jobs(claim("w", at(13), 4)).await.unwrap(),
        vec![]
    );
}

/// - Any number of concurrent claimers never get the same job: 16 claimers over 40 runs × 2
///   jobs claim every job exactly once.
pub async fn claim_concurrent_claimers_get_each_job_once(store: Arc<dyn Store>) {
    let mut all_jobs = BTreeSet::new();
    for i in 0..40 {
        let run = store
            .create_run(new_run(
                &["log_triage", "gpu_report"],
                ApprovalStatus::None,
                at(i),
            ))
            .await
            .unwrap();
        all_jobs.extend(
            store
                .list_run_jobs(run.id)
                .await
                .unwrap()
                .into_iter()
                .map(|j| j.id),
        );
    }
    assert_eq!(all_jobs.len(), 80);

    let owners = race_claimers(std::slice::from_ref(&store), 16, at(100), &all_jobs).await;
    let page = store.list_runs(PageRequest::first(200)).await.unwrap();
    for run in page.items {
        assert_eq!(run.status, RunStatus::Running, "run {}", run.id);
        for job in store.list_run_jobs(run.id).await.unwrap() {
            assert_eq!(job.attempts, 1, "job {} leased once", job.id);
            assert_eq!(
                job.lease_owner.as_ref(),
                owners.get(&job.id),
                "job {} owned by its claimer",
                job.id
            );
        }
    }
}

/// Races `claimers` tasks, spread round-robin over `stores` (one store, or several pools or
/// processes' worth of stores on one database), each claiming batches of 1–5 jobs until none is
/// left. Asserts that every batch respects its limit and id order, that no job was claimed twice
/// and that exactly `expected` was claimed; returns each job's owner.
pub async fn race_claimers(
    stores: &[Arc<dyn Store>],
    claimers: usize,
    now: Timestamp,
    expected: &BTreeSet<i64>,
) -> BTreeMap<i64, String> {
    assert!(!stores.is_empty(), "race_claimers needs at least one store");
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..claimers {
        let store = stores[worker % stores.len()].clone();
        let owner = format!("store-{}-claimer-{worker}", worker % stores.len());
        let limit = 1 + (worker as u32 % 5);
        tasks.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = store
                    .claim_jobs(
                        ClaimJobs::new(&owner, now, chrono::Duration::minutes(5)).with_limit(limit),
                    )
                    .await
                    .expect("claim");
                if batch.is_empty() {
                    break;
                }
                assert!(batch.len() <= limit as usize, "limit respected");
                assert!(
                    batch.windows(2).all(|w| w[0].id < w[1].id),
                    "a batch is in id order"
                );
                mine.extend(batch.into_iter().map(|j| (j.id, owner.clone())));
            }
            mine
        });
    }
    let mut claimed = Vec::new();
    while let Some(result) = tasks.join_next().await {
        claimed.extend(result.expect("claimer task"));
    }
    let unique: BTreeSet<i64> = claimed.iter().map(|(id, _)| *id).collect();
    assert_eq!(unique.len(), claimed.len(), "no job was claimed twice");
    assert_eq!(&unique, expected, "every job was claimed");
    claimed.into_iter().collect()
}
