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
//!
//! Backends with more than one pool or process on a database reuse the races:
//! [`race_claimers`], [`race_claimers_with_limits`] (with [`fitting_in_id_order`] for what to
//! expect), [`race_claim_and_finish`] and [`race_firers`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use chrono::TimeZone;
use serde_json::{Map, Value, json};

use crate::domain::{
    AllowlistPatch, ApprovalStatus, ArtifactKind, ArtifactQuery, ClaimJobs, DEFAULT_DIRECTIVE_NAME,
    DirectivePatch, DirectiveSnapshot, DirectiveType, DirectiveUsage, FinishJob, FireDecision,
    Fired, InventoryQuery, InventorySnapshot, JobFinished, JobStatus, LeaseState, LlmOutcome,
    MisfirePolicy, ModelUsage, NewAllowlistEntry, NewArtifact, NewDirective, NewInventorySnapshot,
    NewLlmCall, NewNetworkPolicy, NewRun, NewSchedule, NewTaskDefinition, Page, PageRequest,
    ReapLeases, RenewLease, Run, RunJob, RunQuery, RunStatus, RunningCounts, Schedule,
    ScheduleType, ScheduledRun, ScheduledRunStatus, StoreMetrics, Task3Scope, TaskDefinitionPatch,
    Timestamp, TokenStats, Trigger,
};
use crate::store::FirePlanner;
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
            run_list_pages_newest_first,
            claim_never_takes_runs_pending_approval_or_denied,
            claim_takes_approved_runs,
            claim_sets_lease_attempts_and_marks_run_running,
            claim_returns_jobs_in_id_order_up_to_limit,
            claim_concurrent_claimers_get_each_job_once,
            run_list_filters_by_status_task_and_approval,
            run_job_get_by_id_or_not_found,
            claim_job_of_a_running_run_adds_no_running_run,
            claim_skips_jobs_over_a_limit_and_takes_later_ones,
            claim_limits_hold_under_concurrent_claimers,
            claim_limits_hold_while_jobs_finish_concurrently,
            renew_lease_held_extends_the_lease,
            renew_lease_reports_a_cancel_request,
            renew_lease_lost_writes_nothing,
            finish_job_all_completed_completes_the_run,
            finish_job_failures_fail_the_run_naming_each_failed_task,
            finish_job_rolls_up_every_mix_of_outcomes,
            finish_job_concurrent_finishes_end_the_run_once,
            finish_job_without_the_lease_is_conflict_and_writes_nothing,
            finish_job_non_terminal_status_is_invalid_input,
            reap_requeues_expired_leases_below_max_attempts,
            reap_fails_at_max_attempts_and_returns_ended_runs,
            cancel_run_without_running_jobs_ends_it,
            cancel_running_run_requests_cancel,
            cancel_ended_run_is_conflict,
            approve_makes_jobs_claimable_and_records_the_snapshot_hash,
            deny_cancels_the_run_and_its_jobs,
            approve_or_deny_outside_awaiting_approval_is_conflict,
            approve_or_deny_after_cancel_is_conflict,
            set_run_report_replaces_the_summary,
            last_success_is_the_latest_ended_completed_job_of_the_task,
            artifact_put_then_get_and_replace_keeps_the_id,
            artifact_unknown_run_or_id_is_not_found,
            artifact_list_pages_by_id_optionally_of_one_run,
            inventory_lists_one_run_or_the_latest_that_has_any,
            inventory_unknown_run_writes_nothing,
            network_policies_add_then_list_optionally_of_one_run,
            network_policies_unknown_run_writes_nothing,
            llm_call_sums_onto_its_job_and_run,
            llm_call_unknown_run_or_job_is_not_found_and_writes_nothing,
            llm_call_foreign_job_or_negative_count_is_invalid_input,
            token_stats_sum_every_call,
            usage_by_model_one_row_per_model,
            usage_by_directive_counts_runs_and_sums_their_tokens,
            metrics_count_every_status_and_runnable_jobs,
            schedule_create_then_get_and_list,
            schedule_taken_name_is_conflict,
            schedule_unknown_references_are_not_found,
            schedule_replace_keeps_created_and_last_run,
            schedule_delete_keeps_runs_with_schedule_cleared,
            task_referenced_by_a_schedule_cannot_be_deleted,
            fire_launches_enabled_due_schedules_in_order,
            fire_takes_at_most_limit_schedules,
            fire_postpones_and_disables_without_runs,
            fire_counts_active_runs_and_each_launch,
            fire_concurrent_callers_fire_each_slot_once,
            next_due_at_is_the_earliest_enabled_slot,
            record_run_now_launches_and_keeps_the_timing,
            schedule_history_follows_the_runs,
            claim_obeys_a_schedules_stricter_limits,
            rag_upload_create_then_get,
            rag_upload_same_sha_returns_existing_and_requeues_failed,
            rag_upload_list_newest_first_with_status_filter,
            rag_upload_unknown_id_is_not_found,
            rag_upload_retry_requeues_only_failed,
            rag_claim_takes_oldest_queued_first,
            rag_claim_reclaims_expired_lease,
            rag_claim_fails_expired_at_max_attempts,
            rag_claim_returns_none_when_nothing_claimable,
            rag_claim_concurrent_claimers_take_each_upload_once,
            rag_progress_held_only_while_owner,
            rag_complete_stores_document_chunks_and_vectors,
            rag_complete_without_the_lease_is_conflict_and_writes_nothing,
            rag_complete_after_delete_is_not_found,
            rag_complete_wrong_dimension_is_invalid_and_writes_nothing,
            rag_fail_cuts_message_and_needs_the_lease,
            rag_documents_list_with_chunk_counts,
            rag_search_orders_by_score_then_chunk_id,
            rag_search_min_score_drops_weak_hits,
            rag_search_filters_fill_top_k_among_many_nearer_chunks,
            rag_search_is_isolated_by_model,
            rag_search_empty_store_is_empty,
            rag_search_never_returns_deleted_chunks,
            rag_search_index_recall_against_exact_search,
            rag_retrievals_record_and_list_by_run,
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

// The knowledge-base checks live in their own file; re-exported so the macro finds them here.
#[path = "conformance_rag.rs"]
mod rag;
pub use rag::*;

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
    assert_paged_by_id(what, fetch, IdOrder::Ascending).await;
}

/// The order a collection's pages walk its ids in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdOrder {
    Ascending,
    /// Newest first (runs).
    Descending,
}

/// [`assert_paged_in_id_order`] for either id order.
async fn assert_paged_by_id<Fut>(what: &str, fetch: impl Fn(PageRequest) -> Fut, order: IdOrder)
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
        seen.windows(2).all(|w| match order {
            IdOrder::Ascending => w[0] < w[1],
            IdOrder::Descending => w[0] > w[1],
        }),
        "{what}: ids {order:?} across pages: {seen:?}"
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
    assert_eq!(run.approved_snapshot_sha256, None);
    assert_eq!(run.cancel_requested_at, None);
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

    let pending = create_run(&store, &["log_triage"], ApprovalStatus::Pending, 1).await;
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
    let run = create_run(&store, &[], ApprovalStatus::None, 0).await;
    assert_eq!(
        store.list_run_jobs(run.id).await.unwrap(),
        vec![],
        "a known run without jobs"
    );
}

/// - Runs page by id descending (newest first) with the total count.
pub async fn run_list_pages_newest_first(store: Arc<dyn Store>) {
    let list = |page| {
        let store = store.clone();
        async move {
            store
                .list_runs(RunQuery::new(page))
                .await
                .map(|p| p.map(|r| r.id))
        }
    };
    let before = total(&list).await;
    let added = rows_to_add(before);
    for i in 0..added {
        create_run(&store, &["log_triage"], ApprovalStatus::None, i as i64).await;
    }
    assert_eq!(total(&list).await, before + added as u64);
    assert_paged_by_id("runs", list, IdOrder::Descending).await;
}

// ---------------------------------------------------------------------------------------------
// Claims

/// A claim of up to `limit` jobs for `owner`, leased for [`lease`].
fn claim(owner: &str, now: Timestamp, limit: u32) -> ClaimJobs {
    ClaimJobs::new(owner, now, lease()).with_limit(limit)
}

/// Claims the first runnable job for `owner` at `at(now_s)`; there must be one.
async fn claim_one(store: &Arc<dyn Store>, owner: &str, now_s: i64) -> RunJob {
    store
        .claim_jobs(claim(owner, at(now_s), 1))
        .await
        .unwrap()
        .remove(0)
}

/// The ids of up to `limit` jobs claimed for `owner` at `at(now_s)`.
async fn claim_ids(store: &Arc<dyn Store>, owner: &str, now_s: i64, limit: u32) -> Vec<i64> {
    store
        .claim_jobs(claim(owner, at(now_s), limit))
        .await
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect()
}

/// - Jobs of runs awaiting approval or denied are never claimed; their runs stay pending.
pub async fn claim_never_takes_runs_pending_approval_or_denied(store: Arc<dyn Store>) {
    let waiting = create_run(
        &store,
        &["log_triage", "gpu_report"],
        ApprovalStatus::Pending,
        0,
    )
    .await;
    let denied = create_run(&store, &["service_map"], ApprovalStatus::Denied, 0).await;
    assert_eq!(
        store.claim_jobs(claim("w", at(1), 10)).await.unwrap(),
        vec![]
    );

    let runnable = create_run(&store, &["log_triage"], ApprovalStatus::None, 2).await;
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
    let approved = create_run(
        &store,
        &["log_triage", "gpu_report"],
        ApprovalStatus::Approved,
        0,
    )
    .await;
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
    let run = create_run(
        &store,
        &["log_triage", "gpu_report"],
        ApprovalStatus::None,
        0,
    )
    .await;
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
        let (_, jobs) = run_with_jobs(&store, &["log_triage", "service_map"], i).await;
        expected.extend(jobs.iter().map(|j| j.id));
    }
    assert_eq!(
        store.claim_jobs(claim("w", at(10), 0)).await.unwrap(),
        vec![],
        "limit 0"
    );
    let first = claim_ids(&store, "w", 11, 4).await;
    assert_eq!(first, expected[..4]);
    let rest = claim_ids(&store, "w", 12, 4).await;
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
        let (_, jobs) = run_with_jobs(&store, &["log_triage", "gpu_report"], i).await;
        all_jobs.extend(jobs.iter().map(|j| j.id));
    }
    assert_eq!(all_jobs.len(), 80);

    let owners = race_claimers(std::slice::from_ref(&store), 16, at(100), &all_jobs).await;
    let page = store
        .list_runs(RunQuery::new(PageRequest::first(200)))
        .await
        .unwrap();
    assert_eq!(page.count, 40);
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

// ---------------------------------------------------------------------------------------------
// Run listing and jobs

/// A lease of five minutes, what every check's claims ask for.
fn lease() -> chrono::Duration {
    chrono::Duration::minutes(5)
}

/// Creates a run of `task_keys` in approval state `approval`, created at `at(created_s)`.
async fn create_run(
    store: &Arc<dyn Store>,
    task_keys: &[&str],
    approval: ApprovalStatus,
    created_s: i64,
) -> Run {
    store
        .create_run(new_run(task_keys, approval, at(created_s)))
        .await
        .unwrap()
}

/// Creates a run needing no approval, created at `at(created_s)`; returns it with its jobs.
async fn run_with_jobs(
    store: &Arc<dyn Store>,
    task_keys: &[&str],
    created_s: i64,
) -> (Run, Vec<RunJob>) {
    let run = create_run(store, task_keys, ApprovalStatus::None, created_s).await;
    let jobs = store.list_run_jobs(run.id).await.unwrap();
    (run, jobs)
}

/// Claims every runnable job (no limits) for `owner` at `at(now_s)`.
async fn claim_all(store: &Arc<dyn Store>, owner: &str, now_s: i64) -> Vec<RunJob> {
    store
        .claim_jobs(claim(owner, at(now_s), 100))
        .await
        .unwrap()
}

/// Claims up to `limit` jobs at `at(now_s)` with `limits` (`max_running_runs`,
/// `max_running_per_task`); returns the claimed job ids.
async fn claim_limited(
    store: &Arc<dyn Store>,
    now_s: i64,
    limit: u32,
    limits: (u32, u32),
) -> Vec<i64> {
    store
        .claim_jobs(claim("limited", at(now_s), limit).with_limits(limits.0, limits.1))
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect()
}

/// [`finish`]es a claimed job by its lease holder at `at(now_s)`; the store must accept it.
async fn finish_held(
    store: &Arc<dyn Store>,
    job: &RunJob,
    status: JobStatus,
    now_s: i64,
) -> JobFinished {
    store
        .finish_job(finish(job, status, at(now_s)))
        .await
        .unwrap()
}

/// A renewal by `owner` at `at(now_s)` of `job_id`'s lease until `at(until_s)`.
fn renew(job_id: i64, owner: &str, now_s: i64, until_s: i64) -> RenewLease {
    RenewLease {
        job_id,
        owner: owner.into(),
        now: at(now_s),
        lease_until: at(until_s),
    }
}

/// The leases claimed at `at(10)` run out and are reaped (three attempts allowed); `owner`
/// then claims the first pending job at `at(400)` and gets it.
async fn expire_and_reclaim(store: &Arc<dyn Store>, owner: &str) -> RunJob {
    store
        .reap_expired_leases(ReapLeases {
            now: at(10) + lease() + chrono::Duration::seconds(1),
            max_attempts: 3,
        })
        .await
        .unwrap();
    claim_one(store, owner, 400).await
}

/// A finish of a claimed job by its owner: a result naming the job and, for `failed`, an error.
fn finish(job: &RunJob, status: JobStatus, now: Timestamp) -> FinishJob {
    FinishJob {
        job_id: job.id,
        owner: job
            .lease_owner
            .clone()
            .expect("a claimed job has a lease owner"),
        status,
        result: json!({"job": job.id, "findings": 2}),
        error_summary: (status == JobStatus::Failed).then(|| format!("{} broke", job.task_key)),
        now,
    }
}

#[track_caller]
fn expect_invalid<T: Debug>(result: Result<T>, field: &str, context: &str) {
    match result {
        Err(Error::InvalidInput(errors)) => assert!(
            errors.fields().any(|(name, _)| name == field),
            "{context}: the error names {field}: {errors:?}"
        ),
        other => panic!("{context}: expected InvalidInput naming {field}, got {other:?}"),
    }
}

/// The ids of the runs a query lists, and its total count.
async fn listed(store: &Arc<dyn Store>, query: RunQuery) -> (Vec<i64>, u64) {
    let page = store.list_runs(query).await.unwrap();
    (page.items.iter().map(|r| r.id).collect(), page.count)
}

/// - `list_runs` filters by status, by task (runs with a job of that task) and by approval
///   state, alone and together; the count is of the matching runs; pages stay newest first.
pub async fn run_list_filters_by_status_task_and_approval(store: Arc<dyn Store>) {
    let (a, _) = run_with_jobs(&store, &["log_triage"], 0).await;
    claim_all(&store, "w", 1).await;
    let (e, _) = run_with_jobs(&store, &["log_triage"], 2).await;
    let e_job = claim_all(&store, "w", 3).await.remove(0);
    finish_held(&store, &e_job, JobStatus::Completed, 4).await;
    let (b, _) = run_with_jobs(&store, &["gpu_report", "service_map"], 5).await;
    let c = create_run(
        &store,
        &["log_triage", "service_map"],
        ApprovalStatus::Pending,
        6,
    )
    .await;
    let d = create_run(&store, &["gpu_report"], ApprovalStatus::Approved, 7).await;
    let (a, b, c, d, e) = (a.id, b.id, c.id, d.id, e.id);
    let all = || RunQuery::new(PageRequest::first(200));

    let cases: Vec<(&str, RunQuery, Vec<i64>)> = vec![
        ("no filter", all(), vec![d, c, b, e, a]),
        ("running", all().with_status(RunStatus::Running), vec![a]),
        (
            "completed",
            all().with_status(RunStatus::Completed),
            vec![e],
        ),
        (
            "pending",
            all().with_status(RunStatus::Pending),
            vec![d, c, b],
        ),
        ("failed", all().with_status(RunStatus::Failed), vec![]),
        (
            "log_triage",
            all().with_task_key("log_triage"),
            vec![c, e, a],
        ),
        (
            "service_map",
            all().with_task_key("service_map"),
            vec![c, b],
        ),
        ("gpu_report", all().with_task_key("gpu_report"), vec![d, b]),
        ("unknown task", all().with_task_key("no_such_task"), vec![]),
        (
            "awaiting approval",
            all().with_approval_status(ApprovalStatus::Pending),
            vec![c],
        ),
        (
            "approved",
            all().with_approval_status(ApprovalStatus::Approved),
            vec![d],
        ),
        (
            "no approval needed",
            all().with_approval_status(ApprovalStatus::None),
            vec![b, e, a],
        ),
        (
            "pending with a log_triage job",
            all()
                .with_status(RunStatus::Pending)
                .with_task_key("log_triage"),
            vec![c],
        ),
        (
            "pending, service_map, no approval",
            all()
                .with_status(RunStatus::Pending)
                .with_task_key("service_map")
                .with_approval_status(ApprovalStatus::None),
            vec![b],
        ),
    ];
    for (what, query, expected) in cases {
        let count = expected.len() as u64;
        assert_eq!(listed(&store, query).await, (expected, count), "{what}");
    }

    let paged =
        |page| RunQuery::new(PageRequest::new(page, 2).unwrap()).with_task_key("log_triage");
    assert_eq!(listed(&store, paged(1)).await, (vec![c, e], 3));
    assert_eq!(listed(&store, paged(2)).await, (vec![a], 3));
    assert_eq!(listed(&store, paged(3)).await, (vec![], 3));
}

/// - `get_run_job` returns the job as stored (before and after a claim); unknown id `NotFound`.
pub async fn run_job_get_by_id_or_not_found(store: Arc<dyn Store>) {
    let (_, jobs) = run_with_jobs(&store, &["log_triage", "gpu_report"], 0).await;
    for job in &jobs {
        assert_eq!(&store.get_run_job(job.id).await.unwrap(), job);
    }
    let claimed = store.claim_jobs(claim("w", at(1), 1)).await.unwrap();
    assert_eq!(store.get_run_job(jobs[0].id).await.unwrap(), claimed[0]);
    assert_eq!(store.get_run_job(jobs[1].id).await.unwrap(), jobs[1]);
    expect_not_found(store.get_run_job(987_654).await, "unknown job");
}

// ---------------------------------------------------------------------------------------------
// Claim limits

/// - A job of a run that is already `running` (a job running, or between jobs) adds no running
///   run, also within one claim; a new run over `max_running_runs` stays pending.
pub async fn claim_job_of_a_running_run_adds_no_running_run(store: Arc<dyn Store>) {
    let (a, a_jobs) = run_with_jobs(&store, &["log_triage", "gpu_report", "service_map"], 0).await;
    let (b, b_jobs) = run_with_jobs(&store, &["service_map"], 1).await;
    let (_, c_jobs) = run_with_jobs(&store, &["log_triage"], 2).await;
    let one_run = (1, u32::MAX);

    assert_eq!(claim_limited(&store, 10, 1, one_run).await, [a_jobs[0].id]);
    let first = store.get_run_job(a_jobs[0].id).await.unwrap();
    finish_held(&store, &first, JobStatus::Completed, 11).await;
    let between = store.get_run(a.id).await.unwrap();
    assert_eq!(
        between.status,
        RunStatus::Running,
        "between jobs the run stays running"
    );

    assert_eq!(
        claim_limited(&store, 12, 10, one_run).await,
        [a_jobs[1].id, a_jobs[2].id],
        "both later jobs of the running run, in one claim; the other runs wait"
    );
    assert_eq!(
        claim_limited(&store, 13, 10, one_run).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        store.get_run(b.id).await.unwrap().status,
        RunStatus::Pending
    );
    for job in [&b_jobs[0], &c_jobs[0]] {
        assert_eq!(store.get_run_job(job.id).await.unwrap(), *job, "untouched");
    }

    for job in &a_jobs[1..] {
        let running = store.get_run_job(job.id).await.unwrap();
        finish_held(&store, &running, JobStatus::Completed, 14).await;
    }
    assert_eq!(
        claim_limited(&store, 15, 10, one_run).await,
        [b_jobs[0].id],
        "once the run ended one new run fits, and only one"
    );
    assert_eq!(
        claim_limited(&store, 16, 10, (2, u32::MAX)).await,
        [c_jobs[0].id]
    );
}

/// - A job over a limit (per task or running runs) stays pending with no attempt counted while
///   later jobs that fit are claimed.
pub async fn claim_skips_jobs_over_a_limit_and_takes_later_ones(store: Arc<dyn Store>) {
    let (_, r1) = run_with_jobs(&store, &["log_triage"], 0).await;
    let (_, r2) = run_with_jobs(&store, &["log_triage"], 1).await;
    let (_, r3) = run_with_jobs(&store, &["gpu_report"], 2).await;
    let (_, r4) = run_with_jobs(&store, &["log_triage", "service_map"], 3).await;

    assert_eq!(
        claim_limited(&store, 10, 10, (u32::MAX, 1)).await,
        [r1[0].id, r3[0].id, r4[1].id],
        "one log_triage job at a time; the other tasks still run"
    );
    for job in [&r2[0], &r4[0]] {
        let stored = store.get_run_job(job.id).await.unwrap();
        assert_eq!(stored.status, JobStatus::Pending, "job {}", job.id);
        assert_eq!(stored.attempts, 0, "a skipped job counts no attempt");
    }

    assert_eq!(
        claim_limited(&store, 11, 10, (3, u32::MAX)).await,
        [r4[0].id],
        "three runs are running: a fourth waits, a job of a running run does not"
    );
    assert_eq!(
        claim_limited(&store, 12, 10, (4, 2)).await,
        Vec::<i64>::new(),
        "two log_triage jobs are running"
    );
    assert_eq!(claim_limited(&store, 13, 10, (4, 3)).await, [r2[0].id]);
    assert_eq!(
        claim_limited(&store, 14, 10, (u32::MAX, u32::MAX)).await,
        Vec::<i64>::new()
    );
}

/// The jobs a sequence of limited claims takes when nothing finishes: in id order, every job
/// that fits (`jobs` are `(job id, run id, task key)` in id order).
pub fn fitting_in_id_order(jobs: &[(i64, i64, &str)], limits: (u32, u32)) -> BTreeSet<i64> {
    let mut runs = BTreeSet::new();
    let mut tasks: BTreeMap<&str, u32> = BTreeMap::new();
    let mut taken = BTreeSet::new();
    for &(job, run, task) in jobs {
        let new_run = !runs.contains(&run);
        let per_task = tasks.get(task).copied().unwrap_or(0);
        if (new_run && runs.len() as u32 >= limits.0) || per_task >= limits.1 {
            continue;
        }
        runs.insert(run);
        *tasks.entry(task).or_default() += 1;
        taken.insert(job);
    }
    taken
}

/// The runs of the limit races: one or two jobs over the three seeded tasks.
const RACE_RUN_SHAPES: [&[&str]; 4] = [
    &["log_triage", "gpu_report"],
    &["gpu_report"],
    &["service_map", "log_triage"],
    &["log_triage"],
];

/// - 16 concurrent claimers with limits never exceed them together: with nothing finishing,
///   they take exactly the jobs that fit in id order, and the store then holds no more running
///   runs, and no more running jobs per task, than the limits.
pub async fn claim_limits_hold_under_concurrent_claimers(store: Arc<dyn Store>) {
    let mut jobs = Vec::new();
    for i in 0..24 {
        let (run, run_jobs) = run_with_jobs(&store, RACE_RUN_SHAPES[i % 4], i as i64).await;
        jobs.extend(run_jobs.into_iter().map(|j| (j.id, run.id, j.task_key)));
    }
    let shaped: Vec<(i64, i64, &str)> = jobs.iter().map(|(j, r, t)| (*j, *r, t.as_str())).collect();
    let limits = (4, 3);
    let expected = fitting_in_id_order(&shaped, limits);
    assert!(expected.len() >= 6, "the limits leave room to race");

    race_claimers_with_limits(std::slice::from_ref(&store), 16, at(100), limits, &expected).await;

    let running = store
        .list_runs(RunQuery::new(PageRequest::first(200)).with_status(RunStatus::Running))
        .await
        .unwrap();
    assert!(running.count <= 4, "{} runs running", running.count);
    let mut per_task: BTreeMap<String, u32> = BTreeMap::new();
    for run in &running.items {
        for job in store.list_run_jobs(run.id).await.unwrap() {
            if job.status == JobStatus::Running {
                *per_task.entry(job.task_key).or_default() += 1;
            }
        }
    }
    assert!(per_task.values().all(|&n| n <= 3), "{per_task:?}");
    assert_eq!(
        per_task.values().sum::<u32>() as usize,
        expected.len(),
        "every claimed job is running"
    );
}

/// - Claimers that claim with limits while others finish jobs never exceed the limits at any
///   moment (counted at every claim), and every job still runs exactly once.
pub async fn claim_limits_hold_while_jobs_finish_concurrently(store: Arc<dyn Store>) {
    let mut runs = Vec::new();
    let mut total = 0;
    for i in 0..24 {
        let (run, jobs) = run_with_jobs(&store, RACE_RUN_SHAPES[i % 4], i as i64).await;
        total += jobs.len();
        runs.push(run.id);
    }
    let (peak_runs, peak_per_task) =
        race_claim_and_finish(std::slice::from_ref(&store), 16, at(100), (3, 2), total).await;
    assert!(peak_runs <= 3 && peak_per_task <= 2);
    for id in runs {
        assert_eq!(
            store.get_run(id).await.unwrap().status,
            RunStatus::Completed,
            "run {id}"
        );
        for job in store.list_run_jobs(id).await.unwrap() {
            assert_eq!(job.status, JobStatus::Completed, "job {}", job.id);
            assert_eq!(job.attempts, 1, "job {} ran once", job.id);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Leases

/// - Renewing a held lease extends `lease_until` and returns `Held` (also once the old lease
///   time passed, while no reap took the job); nothing else about the job changes.
pub async fn renew_lease_held_extends_the_lease(store: Arc<dyn Store>) {
    run_with_jobs(&store, &["log_triage"], 0).await;
    let job = claim_all(&store, "executor", 10).await.remove(0);
    for (now, until) in [(20, 620), (700, 1300)] {
        let state = store
            .renew_lease(renew(job.id, "executor", now, until))
            .await
            .unwrap();
        assert_eq!(state, LeaseState::Held);
        let renewed = store.get_run_job(job.id).await.unwrap();
        assert_eq!(renewed.lease_until, Some(at(until)));
        assert_eq!(
            RunJob {
                lease_until: job.lease_until,
                ..renewed
            },
            job,
            "only the lease moved"
        );
    }
}

/// - Renewing a lease of a run with a cancel request returns `CancelRequested` and still
///   extends the lease.
pub async fn renew_lease_reports_a_cancel_request(store: Arc<dyn Store>) {
    let (run, _) = run_with_jobs(&store, &["log_triage", "gpu_report"], 0).await;
    let job = claim_one(&store, "executor", 10).await;
    let cancelled = store.cancel_run(run.id, at(30)).await.unwrap();
    assert_eq!(cancelled.cancel_requested_at, Some(at(30)));
    let state = store
        .renew_lease(renew(job.id, "executor", 40, 640))
        .await
        .unwrap();
    assert_eq!(state, LeaseState::CancelRequested);
    assert_eq!(
        store.get_run_job(job.id).await.unwrap().lease_until,
        Some(at(640))
    );
}

/// - Renewing is `Lost` and writes nothing for another owner, a pending or finished job, a job
///   reaped and reclaimed by someone else, and an unknown job.
pub async fn renew_lease_lost_writes_nothing(store: Arc<dyn Store>) {
    let (_, jobs) = run_with_jobs(&store, &["log_triage", "gpu_report", "service_map"], 0).await;
    let renew = |job_id: i64, owner: &str| renew(job_id, owner, 50, 5000);
    let mine = store.claim_jobs(claim("a", at(10), 2)).await.unwrap();
    let pending = &jobs[2];

    assert_eq!(
        store.renew_lease(renew(mine[0].id, "b")).await.unwrap(),
        LeaseState::Lost,
        "another owner"
    );
    assert_eq!(
        store.renew_lease(renew(pending.id, "a")).await.unwrap(),
        LeaseState::Lost,
        "a pending job"
    );
    assert_eq!(
        store.renew_lease(renew(987_654, "a")).await.unwrap(),
        LeaseState::Lost,
        "an unknown job"
    );
    assert_eq!(store.get_run_job(mine[0].id).await.unwrap(), mine[0]);
    assert_eq!(store.get_run_job(pending.id).await.unwrap(), *pending);

    let done = finish_held(&store, &mine[1], JobStatus::Completed, 20)
        .await
        .job;
    assert_eq!(
        store.renew_lease(renew(done.id, "a")).await.unwrap(),
        LeaseState::Lost,
        "a finished job"
    );
    assert_eq!(store.get_run_job(done.id).await.unwrap(), done);

    // The first lease ran out and the job went to someone else.
    let taken = expire_and_reclaim(&store, "c").await;
    assert_eq!(taken.id, mine[0].id);
    assert_eq!(
        store.renew_lease(renew(taken.id, "a")).await.unwrap(),
        LeaseState::Lost,
        "the old owner after a reclaim"
    );
    assert_eq!(store.get_run_job(taken.id).await.unwrap(), taken);
    assert_eq!(
        store.renew_lease(renew(taken.id, "c")).await.unwrap(),
        LeaseState::Held,
        "the new owner"
    );
}

// ---------------------------------------------------------------------------------------------
// Finishing jobs and rolling runs up

/// - A finish by the lease holder stores status, result, error summary and `ended_at` and
///   clears the lease; the run keeps running while a job is left and completes, with
///   `ended_at`, when every job completed. `run_ended` is true only for the last finish.
pub async fn finish_job_all_completed_completes_the_run(store: Arc<dyn Store>) {
    let (run, _) = run_with_jobs(&store, &["log_triage", "gpu_report"], 0).await;
    let claimed = claim_all(&store, "executor", 10).await;

    let first = finish_held(&store, &claimed[0], JobStatus::Completed, 20).await;
    assert!(!first.run_ended);
    let job = &first.job;
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.result, json!({"job": job.id, "findings": 2}));
    assert_eq!(job.error_summary, None);
    assert_eq!(job.ended_at, Some(at(20)));
    assert_eq!((job.lease_owner.as_deref(), job.lease_until), (None, None));
    assert_eq!((job.attempts, job.started_at), (1, Some(at(10))));
    assert_eq!(store.get_run_job(job.id).await.unwrap(), *job);
    assert_eq!(first.run.status, RunStatus::Running);
    assert_eq!(first.run.ended_at, None);
    assert_eq!(store.get_run(run.id).await.unwrap(), first.run);

    let last = finish_held(&store, &claimed[1], JobStatus::Completed, 30).await;
    assert!(last.run_ended);
    assert_eq!(last.run.status, RunStatus::Completed);
    assert_eq!(last.run.ended_at, Some(at(30)));
    assert_eq!(last.run.error_summary, None);
    assert_eq!(store.get_run(run.id).await.unwrap(), last.run);
}

/// - When every job ended and any failed, the run fails; its error summary lists each failed
///   job as `task_key: error` (not the completed ones) and is at most 1000 characters.
pub async fn finish_job_failures_fail_the_run_naming_each_failed_task(store: Arc<dyn Store>) {
    let (run, _) = run_with_jobs(&store, &["log_triage", "gpu_report", "service_map"], 0).await;
    let claimed = claim_all(&store, "executor", 10).await;
    let errors = [Some("disk unreadable"), Some("nvidia-smi missing"), None];
    let mut ended = Vec::new();
    for (job, error) in claimed.iter().zip(errors) {
        let status = if error.is_some() {
            JobStatus::Failed
        } else {
            JobStatus::Completed
        };
        let finished = store
            .finish_job(FinishJob {
                error_summary: error.map(String::from),
                ..finish(job, status, at(20))
            })
            .await
            .unwrap();
        assert_eq!(finished.job.error_summary.as_deref(), error);
        ended.push(finished.run_ended);
    }
    assert_eq!(ended, [false, false, true]);
    let failed = store.get_run(run.id).await.unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.ended_at, Some(at(20)));
    let summary = failed
        .error_summary
        .expect("a failed run has an error summary");
    assert!(summary.contains("log_triage: disk unreadable"), "{summary}");
    assert!(
        summary.contains("gpu_report: nvidia-smi missing"),
        "{summary}"
    );
    assert!(!summary.contains("service_map"), "{summary}");

    let (long, _) = run_with_jobs(&store, &["log_triage"], 30).await;
    let job = claim_all(&store, "executor", 31).await.remove(0);
    store
        .finish_job(FinishJob {
            error_summary: Some("é".repeat(3000)),
            ..finish(&job, JobStatus::Failed, at(32))
        })
        .await
        .unwrap();
    let summary = store.get_run(long.id).await.unwrap().error_summary.unwrap();
    assert!(summary.starts_with("log_triage: é"), "{summary}");
    assert!(
        summary.chars().count() <= 1000,
        "{} characters",
        summary.chars().count()
    );
}

/// - Roll-up of two-job runs for every mix of outcomes: all completed → completed; any failed →
///   failed; otherwise a cancelled job makes the run cancelled.
pub async fn finish_job_rolls_up_every_mix_of_outcomes(store: Arc<dyn Store>) {
    use JobStatus::{Cancelled, Completed, Failed};
    let cases = [
        ([Completed, Completed], RunStatus::Completed),
        ([Completed, Failed], RunStatus::Failed),
        ([Failed, Completed], RunStatus::Failed),
        ([Failed, Failed], RunStatus::Failed),
        ([Completed, Cancelled], RunStatus::Cancelled),
        ([Cancelled, Completed], RunStatus::Cancelled),
        ([Failed, Cancelled], RunStatus::Failed),
        ([Cancelled, Cancelled], RunStatus::Cancelled),
    ];
    for (i, (outcomes, expected)) in cases.into_iter().enumerate() {
        let now = 100 * i as i64;
        let (run, _) = run_with_jobs(&store, &["log_triage", "gpu_report"], now).await;
        let claimed = claim_all(&store, "executor", now + 1).await;
        let first = finish_held(&store, &claimed[0], outcomes[0], now + 2).await;
        assert!(!first.run_ended, "{outcomes:?}");
        assert_eq!(first.run.status, RunStatus::Running, "{outcomes:?}");
        let last = finish_held(&store, &claimed[1], outcomes[1], now + 3).await;
        assert!(last.run_ended, "{outcomes:?}");
        assert_eq!(last.run.status, expected, "{outcomes:?}");
        assert_eq!(last.run.ended_at, Some(at(now + 3)), "{outcomes:?}");
        assert_eq!(
            last.run.error_summary.is_some(),
            outcomes.contains(&Failed),
            "{outcomes:?}: an error summary exactly when a job failed"
        );
        assert_eq!(store.get_run(run.id).await.unwrap(), last.run);
    }
}

/// - Finishing every job of a run at once, each by its own lease holder, ends the run exactly
///   once: one finish reports `run_ended`.
pub async fn finish_job_concurrent_finishes_end_the_run_once(store: Arc<dyn Store>) {
    for round in 0..4 {
        let keys = ["log_triage", "gpu_report", "service_map"];
        let task_keys: Vec<&str> = (0..8).map(|i| keys[i % 3]).collect();
        let base = 100 * round;
        let (run, _) = run_with_jobs(&store, &task_keys, base).await;
        let mut claimed = Vec::new();
        for worker in 0..8 {
            claimed.extend(
                store
                    .claim_jobs(claim(&format!("worker-{worker}"), at(base + 1), 1))
                    .await
                    .unwrap(),
            );
        }
        assert_eq!(claimed.len(), 8);
        let finishes = claimed.iter().map(|job| {
            let store = store.clone();
            let finish = finish(job, JobStatus::Completed, at(base + 2));
            async move { store.finish_job(finish).await.unwrap() }
        });
        let results = futures::future::join_all(finishes.map(tokio::spawn)).await;
        let ended = results
            .into_iter()
            .map(|r| r.expect("finish task"))
            .filter(|f| f.run_ended)
            .count();
        assert_eq!(ended, 1, "round {round}: the run ended exactly once");
        assert_eq!(
            store.get_run(run.id).await.unwrap().status,
            RunStatus::Completed
        );
    }
}

/// - A finish without the lease (another owner, a pending job, a job already finished, a job
///   reaped and reclaimed) is `Conflict` and writes nothing.
pub async fn finish_job_without_the_lease_is_conflict_and_writes_nothing(store: Arc<dyn Store>) {
    let (run, jobs) = run_with_jobs(&store, &["log_triage", "gpu_report", "service_map"], 0).await;
    let claimed = store.claim_jobs(claim("a", at(10), 2)).await.unwrap();
    let run_before = store.get_run(run.id).await.unwrap();

    let by_other = FinishJob {
        owner: "b".into(),
        ..finish(&claimed[0], JobStatus::Completed, at(20))
    };
    expect_conflict(store.finish_job(by_other).await, "another owner");
    let pending = FinishJob {
        job_id: jobs[2].id,
        ..finish(&claimed[0], JobStatus::Completed, at(20))
    };
    expect_conflict(store.finish_job(pending).await, "a pending job");
    assert_eq!(store.get_run_job(claimed[0].id).await.unwrap(), claimed[0]);
    assert_eq!(store.get_run_job(jobs[2].id).await.unwrap(), jobs[2]);
    assert_eq!(store.get_run(run.id).await.unwrap(), run_before);

    let done = finish_held(&store, &claimed[0], JobStatus::Completed, 30)
        .await
        .job;
    expect_conflict(
        store
            .finish_job(finish(&claimed[0], JobStatus::Failed, at(40)))
            .await,
        "finished twice",
    );
    assert_eq!(store.get_run_job(done.id).await.unwrap(), done);

    let taken = expire_and_reclaim(&store, "c").await;
    assert_eq!(taken.id, claimed[1].id);
    let run_before = store.get_run(run.id).await.unwrap();
    expect_conflict(
        store
            .finish_job(finish(&claimed[1], JobStatus::Completed, at(401)))
            .await,
        "the old owner after a reclaim",
    );
    assert_eq!(store.get_run_job(taken.id).await.unwrap(), taken);
    assert_eq!(store.get_run(run.id).await.unwrap(), run_before);
}

/// - Finishing with a non-terminal status (`pending`, `running`) is `InvalidInput` naming
///   `status` and writes nothing.
pub async fn finish_job_non_terminal_status_is_invalid_input(store: Arc<dyn Store>) {
    let (run, _) = run_with_jobs(&store, &["log_triage"], 0).await;
    let job = claim_all(&store, "executor", 10).await.remove(0);
    let run_before = store.get_run(run.id).await.unwrap();
    for status in [JobStatus::Pending, JobStatus::Running] {
        expect_invalid(
            store.finish_job(finish(&job, status, at(20))).await,
            "status",
            status.as_str(),
        );
    }
    assert_eq!(store.get_run_job(job.id).await.unwrap(), job);
    assert_eq!(store.get_run(run.id).await.unwrap(), run_before);
}

// ---------------------------------------------------------------------------------------------
// Expired leases

/// - A running job whose lease ended before `now` (not at `now`) with attempts below the
///   maximum goes back to pending with its lease cleared; its run keeps running; the next
///   claim counts a second attempt. Nothing ended, so no run is returned.
pub async fn reap_requeues_expired_leases_below_max_attempts(store: Arc<dyn Store>) {
    let (run, _) = run_with_jobs(&store, &["log_triage", "gpu_report"], 0).await;
    let claimed = claim_all(&store, "executor", 0).await;
    let lease_end = at(0) + lease();
    let renewed_until = at(1000);
    let state = store
        .renew_lease(RenewLease {
            job_id: claimed[1].id,
            owner: "executor".into(),
            now: at(1),
            lease_until: renewed_until,
        })
        .await
        .unwrap();
    assert_eq!(state, LeaseState::Held);

    let reap = |now| ReapLeases {
        now,
        max_attempts: 3,
    };
    assert_eq!(
        store.reap_expired_leases(reap(lease_end)).await.unwrap(),
        vec![],
        "a lease ending exactly now has not expired"
    );
    assert_eq!(store.get_run_job(claimed[0].id).await.unwrap(), claimed[0]);

    let later = lease_end + chrono::Duration::microseconds(1);
    assert_eq!(
        store.reap_expired_leases(reap(later)).await.unwrap(),
        vec![]
    );
    let requeued = store.get_run_job(claimed[0].id).await.unwrap();
    assert_eq!(requeued.status, JobStatus::Pending);
    assert_eq!(
        (requeued.lease_owner.as_deref(), requeued.lease_until),
        (None, None)
    );
    assert_eq!(requeued.attempts, 1);
    assert_eq!(requeued.ended_at, None);
    let untouched = store.get_run_job(claimed[1].id).await.unwrap();
    assert_eq!(
        untouched.status,
        JobStatus::Running,
        "its lease was renewed"
    );
    assert_eq!(untouched.lease_until, Some(renewed_until));
    assert_eq!(
        store.get_run(run.id).await.unwrap().status,
        RunStatus::Running
    );

    let again = claim_all(&store, "other", 400).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, claimed[0].id);
    assert_eq!(again[0].attempts, 2);
    assert_eq!(again[0].started_at, Some(at(400)));
    assert_eq!(again[0].lease_owner.as_deref(), Some("other"));
}

/// - An expired job that already had `max_attempts` attempts fails with an error summary
///   containing "lease expired" and `ended_at = now`; runs roll up, and the call returns the
///   runs it ended (in id order), not runs with work left.
pub async fn reap_fails_at_max_attempts_and_returns_ended_runs(store: Arc<dyn Store>) {
    let (a, a_jobs) = run_with_jobs(&store, &["log_triage"], 0).await;
    let (b, b_jobs) = run_with_jobs(&store, &["gpu_report", "service_map"], 0).await;
    let claimed = claim_all(&store, "executor", 0).await;
    assert_eq!(claimed.len(), 3);
    let b_second = store.get_run_job(b_jobs[1].id).await.unwrap();
    finish_held(&store, &b_second, JobStatus::Completed, 10).await;
    let reap = |now_s| ReapLeases {
        now: at(now_s),
        max_attempts: 2,
    };
    assert_eq!(store.reap_expired_leases(reap(301)).await.unwrap(), vec![]);

    let (c, c_jobs) = run_with_jobs(&store, &["service_map"], 302).await;
    let second = claim_all(&store, "executor", 302).await;
    let attempts: Vec<(i64, i32)> = second.iter().map(|j| (j.id, j.attempts)).collect();
    assert_eq!(
        attempts,
        [(a_jobs[0].id, 2), (b_jobs[0].id, 2), (c_jobs[0].id, 1)]
    );

    let ended = store.reap_expired_leases(reap(603)).await.unwrap();
    let ended_ids: Vec<i64> = ended.iter().map(|r| r.id).collect();
    assert_eq!(ended_ids, [a.id, b.id], "the runs this call ended, by id");
    for run in &ended {
        assert_eq!(run.status, RunStatus::Failed, "run {}", run.id);
        assert_eq!(run.ended_at, Some(at(603)));
        let summary = run.error_summary.clone().unwrap_or_default();
        assert!(summary.contains("lease expired"), "{summary}");
        assert_eq!(&store.get_run(run.id).await.unwrap(), run);
    }
    for job in [&a_jobs[0], &b_jobs[0]] {
        let failed = store.get_run_job(job.id).await.unwrap();
        assert_eq!(failed.status, JobStatus::Failed, "job {}", job.id);
        assert_eq!(failed.ended_at, Some(at(603)));
        let summary = failed.error_summary.unwrap_or_default();
        assert!(summary.contains("lease expired"), "{summary}");
    }
    assert_eq!(
        store.get_run_job(b_jobs[1].id).await.unwrap().status,
        JobStatus::Completed,
        "finished jobs are left alone"
    );
    let requeued = store.get_run_job(c_jobs[0].id).await.unwrap();
    assert_eq!(
        (requeued.status, requeued.attempts),
        (JobStatus::Pending, 1)
    );
    assert_eq!(
        store.get_run(c.id).await.unwrap().status,
        RunStatus::Running
    );
    assert_eq!(store.reap_expired_leases(reap(604)).await.unwrap(), vec![]);
}

// ---------------------------------------------------------------------------------------------
// Cancel

/// - Cancelling a run with no running job (pending, awaiting approval, between jobs) ends it:
///   `cancelled`, `ended_at = now`, its pending jobs `cancelled`, ended jobs kept.
pub async fn cancel_run_without_running_jobs_ends_it(store: Arc<dyn Store>) {
    let (between, between_jobs) = run_with_jobs(&store, &["log_triage", "gpu_report"], 0).await;
    let first = claim_one(&store, "executor", 1).await;
    let first = finish_held(&store, &first, JobStatus::Completed, 2)
        .await
        .job;
    let (pending, _) = run_with_jobs(&store, &["log_triage", "gpu_report"], 3).await;
    let waiting = create_run(&store, &["service_map"], ApprovalStatus::Pending, 4).await;

    for (i, run) in [&pending, &waiting, &between].into_iter().enumerate() {
        let now = at(50 + i as i64);
        let cancelled = store.cancel_run(run.id, now).await.unwrap();
        assert_eq!(cancelled.status, RunStatus::Cancelled, "run {}", run.id);
        assert_eq!(cancelled.ended_at, Some(now), "run {}", run.id);
        assert_eq!(store.get_run(run.id).await.unwrap(), cancelled);
    }
    for run in [&pending, &waiting] {
        for job in store.list_run_jobs(run.id).await.unwrap() {
            assert_eq!(job.status, JobStatus::Cancelled, "job {}", job.id);
        }
    }
    let jobs = store.list_run_jobs(between.id).await.unwrap();
    assert_eq!(jobs[0], first, "an ended job is kept");
    assert_eq!(jobs[1].status, JobStatus::Cancelled);
    assert_eq!(jobs[1].id, between_jobs[1].id);
    assert_eq!(claim_all(&store, "executor", 60).await, vec![]);
}

/// - Cancelling a run with running jobs records `cancel_requested_at`, cancels its pending jobs
///   and leaves it running: nothing more of it is claimed, its executors see `CancelRequested`,
///   and once its running jobs finish (whatever their outcome) the run is `cancelled`.
pub async fn cancel_running_run_requests_cancel(store: Arc<dyn Store>) {
    let (run, jobs) = run_with_jobs(&store, &["log_triage", "gpu_report", "service_map"], 0).await;
    let claimed = store
        .claim_jobs(claim("executor", at(10), 2))
        .await
        .unwrap();
    let requested = store.cancel_run(run.id, at(20)).await.unwrap();
    assert_eq!(requested.status, RunStatus::Running);
    assert_eq!(requested.cancel_requested_at, Some(at(20)));
    assert_eq!(requested.ended_at, None);
    assert_eq!(store.get_run(run.id).await.unwrap(), requested);
    let stored = store.list_run_jobs(run.id).await.unwrap();
    assert_eq!(&stored[..2], &claimed[..], "running jobs keep running");
    assert_eq!(stored[2].id, jobs[2].id);
    assert_eq!(stored[2].status, JobStatus::Cancelled);
    assert_eq!(claim_all(&store, "other", 21).await, vec![]);

    let state = store
        .renew_lease(renew(claimed[0].id, "executor", 22, 622))
        .await
        .unwrap();
    assert_eq!(state, LeaseState::CancelRequested);

    let first = finish_held(&store, &claimed[0], JobStatus::Cancelled, 30).await;
    assert!(!first.run_ended);
    assert_eq!(first.run.status, RunStatus::Running);
    let last = finish_held(&store, &claimed[1], JobStatus::Completed, 40).await;
    assert!(last.run_ended);
    assert_eq!(last.run.status, RunStatus::Cancelled);
    assert_eq!(last.run.ended_at, Some(at(40)));
    assert_eq!(last.run.cancel_requested_at, Some(at(20)));
}

/// - Cancelling an ended run (completed, failed, cancelled) is `Conflict` and changes nothing;
///   an unknown run is `NotFound`.
pub async fn cancel_ended_run_is_conflict(store: Arc<dyn Store>) {
    let mut ended = Vec::new();
    for (i, outcome) in [JobStatus::Completed, JobStatus::Failed]
        .into_iter()
        .enumerate()
    {
        let (run, _) = run_with_jobs(&store, &["log_triage"], i as i64).await;
        let job = claim_all(&store, "executor", 10).await.remove(0);
        finish_held(&store, &job, outcome, 20).await;
        ended.push(run.id);
    }
    let (cancelled, _) = run_with_jobs(&store, &["gpu_report"], 30).await;
    store.cancel_run(cancelled.id, at(31)).await.unwrap();
    ended.push(cancelled.id);
    for id in ended {
        let before = store.get_run(id).await.unwrap();
        let jobs = store.list_run_jobs(id).await.unwrap();
        expect_conflict(
            store.cancel_run(id, at(40)).await,
            &format!("cancelling {} run", before.status),
        );
        assert_eq!(store.get_run(id).await.unwrap(), before);
        assert_eq!(store.list_run_jobs(id).await.unwrap(), jobs);
    }
    expect_not_found(store.cancel_run(987_654, at(40)).await, "unknown run");
}

// ---------------------------------------------------------------------------------------------
// Approvals

/// - Approving a run awaiting approval records who, when and the snapshot hash approved; its
///   jobs, never claimed before, become claimable.
pub async fn approve_makes_jobs_claimable_and_records_the_snapshot_hash(store: Arc<dyn Store>) {
    let waiting = create_run(&store, &["log_triage"], ApprovalStatus::Pending, 0).await;
    assert_eq!(claim_all(&store, "executor", 10).await, vec![]);
    let approved = store
        .approve_run(waiting.id, "alice", at(20))
        .await
        .unwrap();
    assert_eq!(approved.approval_status, ApprovalStatus::Approved);
    assert_eq!(approved.approved_by.as_deref(), Some("alice"));
    assert_eq!(approved.approved_at, Some(at(20)));
    assert_eq!(
        approved.approved_snapshot_sha256.as_deref(),
        Some(waiting.snapshot_sha256.as_str())
    );
    assert_eq!(approved.status, RunStatus::Pending);
    assert_eq!(store.get_run(waiting.id).await.unwrap(), approved);
    let claimed = claim_all(&store, "executor", 30).await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].run_id, waiting.id);
}

/// - Denying a run awaiting approval records who and when, and cancels it: `cancelled`,
///   `ended_at = now`, every job `cancelled`, nothing claimable.
pub async fn deny_cancels_the_run_and_its_jobs(store: Arc<dyn Store>) {
    let waiting = create_run(
        &store,
        &["log_triage", "gpu_report"],
        ApprovalStatus::Pending,
        0,
    )
    .await;
    let denied = store.deny_run(waiting.id, "bob", at(30)).await.unwrap();
    assert_eq!(denied.approval_status, ApprovalStatus::Denied);
    assert_eq!(denied.approved_by.as_deref(), Some("bob"));
    assert_eq!(denied.approved_at, Some(at(30)));
    assert_eq!(denied.approved_snapshot_sha256, None);
    assert_eq!(denied.status, RunStatus::Cancelled);
    assert_eq!(denied.ended_at, Some(at(30)));
    assert_eq!(store.get_run(waiting.id).await.unwrap(), denied);
    for job in store.list_run_jobs(waiting.id).await.unwrap() {
        assert_eq!(job.status, JobStatus::Cancelled, "job {}", job.id);
    }
    assert_eq!(claim_all(&store, "executor", 40).await, vec![]);
}

/// - Approving or denying a run not awaiting approval (none, approved, denied) is `Conflict`
///   and changes nothing; an unknown run is `NotFound`.
pub async fn approve_or_deny_outside_awaiting_approval_is_conflict(store: Arc<dyn Store>) {
    let (plain, _) = run_with_jobs(&store, &["log_triage"], 0).await;
    let approved = create_run(&store, &["log_triage"], ApprovalStatus::Pending, 1).await;
    store
        .approve_run(approved.id, "alice", at(2))
        .await
        .unwrap();
    let denied = create_run(&store, &["log_triage"], ApprovalStatus::Pending, 3).await;
    store.deny_run(denied.id, "bob", at(4)).await.unwrap();
    for id in [plain.id, approved.id, denied.id] {
        let before = store.get_run(id).await.unwrap();
        let state = before.approval_status;
        expect_conflict(
            store.approve_run(id, "carol", at(10)).await,
            &format!("approving a run with approval {state}"),
        );
        expect_conflict(
            store.deny_run(id, "carol", at(10)).await,
            &format!("denying a run with approval {state}"),
        );
        assert_eq!(store.get_run(id).await.unwrap(), before);
    }
    expect_not_found(store.approve_run(987_654, "carol", at(10)).await, "approve");
    expect_not_found(store.deny_run(987_654, "carol", at(10)).await, "deny");
}

/// - A run cancelled while it awaited approval can no longer be approved or denied (it ended):
///   `Conflict`, and it stays cancelled with nothing claimable.
pub async fn approve_or_deny_after_cancel_is_conflict(store: Arc<dyn Store>) {
    let waiting = create_run(&store, &["log_triage"], ApprovalStatus::Pending, 0).await;
    let cancelled = store.cancel_run(waiting.id, at(5)).await.unwrap();
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    expect_conflict(
        store.approve_run(waiting.id, "carol", at(10)).await,
        "approving a cancelled run",
    );
    expect_conflict(
        store.deny_run(waiting.id, "carol", at(10)).await,
        "denying a cancelled run",
    );
    assert_eq!(store.get_run(waiting.id).await.unwrap(), cancelled);
    assert_eq!(claim_all(&store, "executor", 20).await, vec![]);
}

// ---------------------------------------------------------------------------------------------
// Reports and last success

/// - `set_run_report` stores the summary, replacing the previous one; unknown run `NotFound`.
pub async fn set_run_report_replaces_the_summary(store: Arc<dyn Store>) {
    let (run, _) = run_with_jobs(&store, &["log_triage"], 0).await;
    let first = json!({"tasks": {"log_triage": {"findings": 3}}, "paths": ["run_1/report.md"]});
    let stored = store.set_run_report(run.id, first.clone()).await.unwrap();
    assert_eq!(stored.report_summary, first);
    assert_eq!(
        Run {
            report_summary: run.report_summary.clone(),
            ..stored.clone()
        },
        run,
        "only the summary changed"
    );
    let second = json!({"status": "completed", "counts": [1, 2]});
    let replaced = store.set_run_report(run.id, second.clone()).await.unwrap();
    assert_eq!(replaced.report_summary, second);
    assert_eq!(store.get_run(run.id).await.unwrap(), replaced);
    expect_not_found(
        store.set_run_report(987_654, json!({})).await,
        "unknown run",
    );
}

/// - `last_success` is the completed job of that task that ended last — not the highest id,
///   not a failed or running job, not another task's job; `None` without one.
pub async fn last_success_is_the_latest_ended_completed_job_of_the_task(store: Arc<dyn Store>) {
    assert_eq!(store.last_success("log_triage").await.unwrap(), None);
    let plan = [
        ("log_triage", JobStatus::Completed, 100),
        ("log_triage", JobStatus::Completed, 300),
        ("log_triage", JobStatus::Completed, 200),
        ("log_triage", JobStatus::Failed, 400),
        ("gpu_report", JobStatus::Completed, 500),
    ];
    for (i, (task, _, _)) in plan.iter().enumerate() {
        run_with_jobs(&store, &[*task], i as i64).await;
    }
    let claimed = claim_all(&store, "executor", 10).await;
    let mut finished = Vec::new();
    for (job, (_, outcome, ended)) in claimed.iter().zip(plan) {
        finished.push(finish_held(&store, job, outcome, ended).await.job);
    }
    run_with_jobs(&store, &["log_triage"], 600).await;
    claim_all(&store, "executor", 601).await;

    assert_eq!(
        store.last_success("log_triage").await.unwrap(),
        Some(finished[1].clone())
    );
    assert_eq!(
        store.last_success("gpu_report").await.unwrap(),
        Some(finished[4].clone())
    );
    assert_eq!(store.last_success("service_map").await.unwrap(), None);
}

// ---------------------------------------------------------------------------------------------
// Artifacts, inventory and network policies

/// An artifact of `run_id` at `relative_path` whose hash is the byte `fill` repeated.
fn artifact(run_id: i64, relative_path: &str, kind: ArtifactKind, fill: char) -> NewArtifact {
    NewArtifact {
        run_id,
        run_job_id: None,
        kind,
        relative_path: relative_path.into(),
        size_bytes: 120,
        sha256: fill.to_string().repeat(64),
        mime_type: kind.mime_type().into(),
        created_at: at(10),
    }
}

/// - `put_artifact` registers a file (get returns it); a second put of the same run and path
///   replaces kind, job, size, hash, MIME type and time, keeping the id; the same path of
///   another run is another artifact.
pub async fn artifact_put_then_get_and_replace_keeps_the_id(store: Arc<dyn Store>) {
    let (run, jobs) = run_with_jobs(&store, &["log_triage", "gpu_report"], 0).await;
    let path = format!("run_{}/report.md", run.id);
    let new = NewArtifact {
        run_job_id: Some(jobs[0].id),
        ..artifact(run.id, &path, ArtifactKind::Markdown, 'a')
    };
    let first = store.put_artifact(new.clone()).await.unwrap();
    assert!(first.id > 0);
    assert_eq!(
        (first.run_id, first.run_job_id, first.kind),
        (run.id, Some(jobs[0].id), ArtifactKind::Markdown)
    );
    assert_eq!(first.relative_path, path);
    assert_eq!(
        (first.size_bytes, first.sha256.as_str()),
        (120, new.sha256.as_str())
    );
    assert_eq!(first.mime_type, "text/markdown; charset=utf-8");
    assert_eq!(first.created_at, at(10));
    assert_eq!(store.get_artifact(first.id).await.unwrap(), first);

    let replacement = NewArtifact {
        run_job_id: Some(jobs[1].id),
        size_bytes: 4096,
        created_at: at(20),
        ..artifact(run.id, &path, ArtifactKind::Text, 'b')
    };
    let replaced = store.put_artifact(replacement.clone()).await.unwrap();
    assert_eq!(replaced.id, first.id, "the same run and path keep their id");
    assert_eq!(replaced.run_job_id, Some(jobs[1].id));
    assert_eq!(replaced.kind, ArtifactKind::Text);
    assert_eq!(replaced.size_bytes, 4096);
    assert_eq!(replaced.sha256, replacement.sha256);
    assert_eq!(replaced.mime_type, "text/plain; charset=utf-8");
    assert_eq!(replaced.created_at, at(20));
    assert_eq!(store.get_artifact(first.id).await.unwrap(), replaced);

    let (other, _) = run_with_jobs(&store, &["log_triage"], 1).await;
    let elsewhere = store
        .put_artifact(artifact(other.id, &path, ArtifactKind::Markdown, 'c'))
        .await
        .unwrap();
    assert_ne!(elsewhere.id, first.id);
    let summary = store
        .put_artifact(artifact(
            run.id,
            &format!("run_{}/summary.json", run.id),
            ArtifactKind::Json,
            'd',
        ))
        .await
        .unwrap();
    assert!(summary.id > elsewhere.id);
    let of_run = store
        .list_artifacts(ArtifactQuery {
            run_id: Some(run.id),
            page: PageRequest::first(200),
        })
        .await
        .unwrap();
    assert_eq!(of_run.count, 2);
    assert_eq!(of_run.items, vec![replaced, summary]);
}

/// - Putting an artifact of an unknown run is `NotFound` and writes nothing; an unknown
///   artifact id is `NotFound`.
pub async fn artifact_unknown_run_or_id_is_not_found(store: Arc<dyn Store>) {
    expect_not_found(
        store
            .put_artifact(artifact(
                987_654,
                "run_987654/report.md",
                ArtifactKind::Markdown,
                'a',
            ))
            .await,
        "unknown run",
    );
    let all = store
        .list_artifacts(ArtifactQuery::default())
        .await
        .unwrap();
    assert_eq!(all.count, 0, "nothing written");
    expect_not_found(store.get_artifact(987_654).await, "unknown artifact");
}

/// - Artifacts page by id with the total count, all of them or those of one run.
pub async fn artifact_list_pages_by_id_optionally_of_one_run(store: Arc<dyn Store>) {
    let (a, _) = run_with_jobs(&store, &["log_triage"], 0).await;
    let (b, _) = run_with_jobs(&store, &["gpu_report"], 1).await;
    let mut of_a = Vec::new();
    for i in 0..7 {
        let run = if i % 2 == 0 { &a } else { &b };
        let put = store
            .put_artifact(artifact(
                run.id,
                &format!("run_{}/file-{i}.txt", run.id),
                ArtifactKind::Text,
                'e',
            ))
            .await
            .unwrap();
        if run.id == a.id {
            of_a.push(put.id);
        }
    }
    let list = |run_id: Option<i64>| {
        let store = store.clone();
        move |page| {
            let store = store.clone();
            async move {
                store
                    .list_artifacts(ArtifactQuery { run_id, page })
                    .await
                    .map(|p| p.map(|artifact| artifact.id))
            }
        }
    };
    assert_paged_in_id_order("artifacts", list(None)).await;
    let page = list(Some(a.id))(PageRequest::first(200)).await.unwrap();
    assert_eq!((page.items, page.count), (of_a.clone(), 4));
    let second = list(Some(a.id))(PageRequest::new(2, 3).unwrap())
        .await
        .unwrap();
    assert_eq!((second.items, second.count), (vec![of_a[3]], 4));
}

/// A container as `service_map` saw it for `run_id`.
fn container(run_id: i64, name: &str) -> NewInventorySnapshot {
    NewInventorySnapshot {
        run_id,
        container_id: format!("{name}-0123456789abcdef"),
        name: name.into(),
        image: format!("registry.local/{name}:1.2"),
        state: "running".into(),
        networks: vec!["backend".into(), "frontend".into()],
        ports: vec!["8080/tcp".into()],
        labels: [
            ("com.docker.compose.project".to_string(), "shop".to_string()),
            ("com.docker.compose.service".to_string(), name.to_string()),
        ]
        .into_iter()
        .collect(),
        created_at: at(42),
    }
}

async fn inventory(
    store: &Arc<dyn Store>,
    run_id: Option<i64>,
    page: PageRequest,
) -> Page<InventorySnapshot> {
    store
        .list_inventory(InventoryQuery { run_id, page })
        .await
        .unwrap()
}

/// - Inventory of one run pages by id; with no run, the inventory of the highest run id that
///   has any (an empty page when none has); a run without inventory lists empty.
pub async fn inventory_lists_one_run_or_the_latest_that_has_any(store: Arc<dyn Store>) {
    let all = PageRequest::first(200);
    let empty = inventory(&store, None, all).await;
    assert_eq!((empty.count, empty.items.len()), (0, 0));

    let (a, _) = run_with_jobs(&store, &["service_map"], 0).await;
    let (b, _) = run_with_jobs(&store, &["service_map"], 1).await;
    let (c, _) = run_with_jobs(&store, &["service_map"], 2).await;
    store
        .add_inventory(vec![
            container(b.id, "web"),
            container(b.id, "db"),
            container(b.id, "cache"),
        ])
        .await
        .unwrap();
    store
        .add_inventory(vec![container(a.id, "web"), container(a.id, "db")])
        .await
        .unwrap();

    let latest = inventory(&store, None, all).await;
    assert_eq!(
        latest.count, 3,
        "run {} has the highest id with inventory",
        b.id
    );
    let names: Vec<&str> = latest.items.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["web", "db", "cache"], "in id order");
    let web = &latest.items[0];
    let expected = container(b.id, "web");
    assert_eq!(web.run_id, b.id);
    assert_eq!(web.container_id, expected.container_id);
    assert_eq!(web.image, expected.image);
    assert_eq!(web.state, "running");
    assert_eq!(web.networks, expected.networks);
    assert_eq!(web.ports, expected.ports);
    assert_eq!(web.labels, expected.labels);
    assert_eq!(web.created_at, at(42));
    assert_eq!(inventory(&store, Some(b.id), all).await, latest);

    let of_a = inventory(&store, Some(a.id), all).await;
    assert_eq!(of_a.count, 2);
    assert!(of_a.items.iter().all(|s| s.run_id == a.id));
    let paged = inventory(&store, Some(b.id), PageRequest::new(2, 2).unwrap()).await;
    assert_eq!((paged.count, paged.items.len()), (3, 1));
    assert_eq!(paged.items[0].name, "cache");
    let none = inventory(&store, Some(c.id), all).await;
    assert_eq!((none.count, none.items.len()), (0, 0));
}

/// - `add_inventory` is all or nothing: an unknown run anywhere in the batch is `NotFound` and
///   nothing is written; an empty batch is fine.
pub async fn inventory_unknown_run_writes_nothing(store: Arc<dyn Store>) {
    let (run, _) = run_with_jobs(&store, &["service_map"], 0).await;
    expect_not_found(
        store
            .add_inventory(vec![container(run.id, "web"), container(987_654, "db")])
            .await,
        "a batch with an unknown run",
    );
    assert_eq!(
        inventory(&store, Some(run.id), PageRequest::first(200))
            .await
            .count,
        0
    );
    assert_eq!(
        inventory(&store, None, PageRequest::first(200)).await.count,
        0
    );
    store.add_inventory(vec![]).await.expect("an empty batch");
}

/// A recommendation of `run_id` for traffic from `source` to `target`.
fn policy(run_id: i64, source: &str, target: &str, port: i32) -> NewNetworkPolicy {
    NewNetworkPolicy {
        run_id,
        source_service: source.into(),
        target_service: target.into(),
        port,
        protocol: "TCP".into(),
        recommendation: format!("allow {source} to reach {target} on {port}"),
        policy_yaml: format!("kind: NetworkPolicy\nmetadata:\n  name: {target}-from-{source}\n"),
        created_at: at(7),
    }
}

/// - Network-policy recommendations page by id, all or those of one run, with every field
///   stored.
pub async fn network_policies_add_then_list_optionally_of_one_run(store: Arc<dyn Store>) {
    let (a, _) = run_with_jobs(&store, &["service_map"], 0).await;
    let (b, _) = run_with_jobs(&store, &["service_map"], 1).await;
    store
        .add_network_policies(vec![
            policy(a.id, "web", "db", 5432),
            policy(a.id, "web", "cache", 6379),
        ])
        .await
        .unwrap();
    store
        .add_network_policies(vec![policy(b.id, "api", "db", 5432)])
        .await
        .unwrap();
    let all = store
        .list_network_policies(None, PageRequest::first(200))
        .await
        .unwrap();
    assert_eq!(all.count, 3);
    assert!(all.items.windows(2).all(|w| w[0].id < w[1].id));
    let first = &all.items[0];
    let expected = policy(a.id, "web", "db", 5432);
    assert_eq!(first.run_id, a.id);
    assert_eq!(
        (first.source_service.as_str(), first.target_service.as_str()),
        ("web", "db")
    );
    assert_eq!((first.port, first.protocol.as_str()), (5432, "TCP"));
    assert_eq!(first.recommendation, expected.recommendation);
    assert_eq!(first.policy_yaml, expected.policy_yaml);
    assert_eq!(first.created_at, at(7));

    let of_a = store
        .list_network_policies(Some(a.id), PageRequest::first(200))
        .await
        .unwrap();
    assert_eq!(of_a.count, 2);
    assert_eq!(of_a.items, all.items[..2]);
    let paged = store
        .list_network_policies(None, PageRequest::new(2, 2).unwrap())
        .await
        .unwrap();
    assert_eq!(paged.count, 3);
    assert_eq!(paged.items, all.items[2..]);
}

/// - `add_network_policies` with an unknown run is `NotFound` and writes nothing.
pub async fn network_policies_unknown_run_writes_nothing(store: Arc<dyn Store>) {
    let (run, _) = run_with_jobs(&store, &["service_map"], 0).await;
    expect_not_found(
        store
            .add_network_policies(vec![
                policy(run.id, "web", "db", 5432),
                policy(987_654, "a", "b", 80),
            ])
            .await,
        "a batch with an unknown run",
    );
    let all = store
        .list_network_policies(None, PageRequest::first(200))
        .await
        .unwrap();
    assert_eq!(all.count, 0);
}

// ---------------------------------------------------------------------------------------------
// LLM call accounting and metrics

/// An `ok` call of `run_id` (and `job`) with these counts, taking `duration_ms`.
fn llm_call(run_id: i64, job: Option<i64>, model: &str, tokens: (i64, i64, i64)) -> NewLlmCall {
    NewLlmCall {
        run_id,
        run_job_id: job,
        model: model.into(),
        endpoint_host: "127.0.0.1:8080".into(),
        prompt_tokens: tokens.0,
        completion_tokens: tokens.1,
        total_tokens: tokens.2,
        duration_ms: 250,
        outcome: LlmOutcome::Ok,
        created_at: at(60),
    }
}

/// `(prompt, completion, total)` of a run.
fn run_tokens(run: &Run) -> (i64, i64, i64) {
    (run.prompt_tokens, run.completion_tokens, run.total_tokens)
}

/// `(prompt, completion, total)` of a job.
fn job_tokens(job: &RunJob) -> (i64, i64, i64) {
    (job.prompt_tokens, job.completion_tokens, job.total_tokens)
}

/// - Each call is stored as given and its counts are added to its job (when given) and its run,
///   so their totals are the sums of their calls (counts are summed as reported, never
///   recomputed); `list_llm_calls` returns a run's calls in id order.
pub async fn llm_call_sums_onto_its_job_and_run(store: Arc<dyn Store>) {
    let (run, jobs) = run_with_jobs(&store, &["log_triage", "gpu_report"], 0).await;
    let (other, _) = run_with_jobs(&store, &["log_triage"], 1).await;
    let calls = [
        llm_call(run.id, Some(jobs[0].id), "smollm2", (10, 5, 15)),
        NewLlmCall {
            outcome: LlmOutcome::Error,
            duration_ms: 30_000,
            ..llm_call(run.id, Some(jobs[0].id), "smollm2", (7, 3, 10))
        },
        llm_call(run.id, Some(jobs[1].id), "smollm2", (1, 2, 4)),
        llm_call(run.id, None, "llama3", (100, 50, 150)),
    ];
    let mut recorded = Vec::new();
    for new in calls.clone() {
        let call = store.record_llm_call(new.clone()).await.unwrap();
        assert!(call.id > 0);
        assert_eq!(
            (call.run_id, call.run_job_id, call.model.as_str()),
            (new.run_id, new.run_job_id, new.model.as_str())
        );
        assert_eq!(call.endpoint_host, new.endpoint_host);
        assert_eq!(
            (
                call.prompt_tokens,
                call.completion_tokens,
                call.total_tokens
            ),
            (new.prompt_tokens, new.completion_tokens, new.total_tokens)
        );
        assert_eq!(
            (call.duration_ms, call.outcome, call.created_at),
            (new.duration_ms, new.outcome, new.created_at)
        );
        recorded.push(call);
    }
    assert!(recorded.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(store.list_llm_calls(run.id).await.unwrap(), recorded);
    assert_eq!(store.list_llm_calls(other.id).await.unwrap(), vec![]);

    let jobs = store.list_run_jobs(run.id).await.unwrap();
    assert_eq!(job_tokens(&jobs[0]), (17, 8, 25));
    assert_eq!(job_tokens(&jobs[1]), (1, 2, 4));
    assert_eq!(
        run_tokens(&store.get_run(run.id).await.unwrap()),
        (118, 60, 179)
    );
    assert_eq!(
        run_tokens(&store.get_run(other.id).await.unwrap()),
        (0, 0, 0)
    );
}

/// - A call of an unknown run or job is `NotFound` and writes nothing; listing the calls of an
///   unknown run is `NotFound`.
pub async fn llm_call_unknown_run_or_job_is_not_found_and_writes_nothing(store: Arc<dyn Store>) {
    let (run, _) = run_with_jobs(&store, &["log_triage"], 0).await;
    expect_not_found(
        store
            .record_llm_call(llm_call(987_654, None, "smollm2", (1, 1, 2)))
            .await,
        "unknown run",
    );
    expect_not_found(
        store
            .record_llm_call(llm_call(run.id, Some(987_654), "smollm2", (1, 1, 2)))
            .await,
        "unknown job",
    );
    assert_eq!(store.list_llm_calls(run.id).await.unwrap(), vec![]);
    assert_eq!(run_tokens(&store.get_run(run.id).await.unwrap()), (0, 0, 0));
    assert_eq!(store.token_stats().await.unwrap(), TokenStats::default());
    expect_not_found(
        store.list_llm_calls(987_654).await,
        "list of an unknown run",
    );
}

/// - A call naming a job of another run is `InvalidInput` naming `run_job_id`; a negative count
///   is `InvalidInput`; neither writes anything.
pub async fn llm_call_foreign_job_or_negative_count_is_invalid_input(store: Arc<dyn Store>) {
    let (run, _) = run_with_jobs(&store, &["log_triage"], 0).await;
    let (_, other_jobs) = run_with_jobs(&store, &["gpu_report"], 1).await;
    expect_invalid(
        store
            .record_llm_call(llm_call(
                run.id,
                Some(other_jobs[0].id),
                "smollm2",
                (1, 1, 2),
            ))
            .await,
        "run_job_id",
        "a job of another run",
    );
    for (field, tokens) in [
        ("prompt_tokens", (-1, 1, 0)),
        ("completion_tokens", (1, -1, 0)),
        ("total_tokens", (1, 1, -2)),
    ] {
        match store
            .record_llm_call(llm_call(run.id, None, "smollm2", tokens))
            .await
        {
            Err(Error::InvalidInput(_)) => {}
            other => panic!("negative {field}: expected InvalidInput, got {other:?}"),
        }
    }
    assert_eq!(store.list_llm_calls(run.id).await.unwrap(), vec![]);
    assert_eq!(run_tokens(&store.get_run(run.id).await.unwrap()), (0, 0, 0));
    assert_eq!(
        job_tokens(&store.get_run_job(other_jobs[0].id).await.unwrap()),
        (0, 0, 0)
    );
}

/// - `token_stats` sums every call (zeros when there are none).
pub async fn token_stats_sum_every_call(store: Arc<dyn Store>) {
    assert_eq!(store.token_stats().await.unwrap(), TokenStats::default());
    let (a, a_jobs) = run_with_jobs(&store, &["log_triage"], 0).await;
    let (b, _) = run_with_jobs(&store, &["gpu_report"], 1).await;
    for call in [
        llm_call(a.id, Some(a_jobs[0].id), "smollm2", (10, 5, 15)),
        llm_call(a.id, None, "smollm2", (20, 10, 30)),
        NewLlmCall {
            outcome: LlmOutcome::Error,
            ..llm_call(b.id, None, "llama3", (3, 0, 3))
        },
    ] {
        store.record_llm_call(call).await.unwrap();
    }
    assert_eq!(
        store.token_stats().await.unwrap(),
        TokenStats {
            total_tokens: 48,
            total_prompt_tokens: 33,
            total_completion_tokens: 15,
            call_count: 3,
        }
    );
}

/// - `usage_by_model`: one row per model that has calls, ordered by model name.
pub async fn usage_by_model_one_row_per_model(store: Arc<dyn Store>) {
    assert_eq!(store.usage_by_model().await.unwrap(), vec![]);
    let (run, _) = run_with_jobs(&store, &["log_triage"], 0).await;
    for (model, tokens) in [
        ("smollm2", (10, 5, 15)),
        ("llama3", (1, 1, 2)),
        ("smollm2", (4, 4, 8)),
        ("alpha-model", (7, 0, 7)),
    ] {
        store
            .record_llm_call(llm_call(run.id, None, model, tokens))
            .await
            .unwrap();
    }
    let usage = |model: &str, p, c, t, calls| ModelUsage {
        model: model.into(),
        prompt_tokens: p,
        completion_tokens: c,
        total_tokens: t,
        calls,
    };
    assert_eq!(
        store.usage_by_model().await.unwrap(),
        vec![
            usage("alpha-model", 7, 0, 7, 1),
            usage("llama3", 1, 1, 2, 1),
            usage("smollm2", 14, 9, 23, 2),
        ]
    );
}

/// - `usage_by_directive`: one row per snapshot (name, type) that has runs, ordered by name
///   then type, counting runs with or without calls and summing the runs' token totals.
pub async fn usage_by_directive_counts_runs_and_sums_their_tokens(store: Arc<dyn Store>) {
    assert_eq!(store.usage_by_directive().await.unwrap(), vec![]);
    let launch = |name: &str, directive_type: DirectiveType| {
        let store = store.clone();
        let snapshot = DirectiveSnapshot {
            directive_type,
            ..snapshot(name, false)
        };
        async move {
            store
                .create_run(NewRun::new(snapshot, vec!["log_triage".into()], at(0)))
                .await
                .unwrap()
        }
    };
    launch("beta", DirectiveType::D1).await;
    let alpha_d2 = launch("alpha", DirectiveType::D2).await;
    let alpha_1 = launch("alpha", DirectiveType::D1).await;
    let alpha_2 = launch("alpha", DirectiveType::D1).await;
    for (run, tokens) in [
        (&alpha_1, (10, 5, 15)),
        (&alpha_1, (1, 1, 2)),
        (&alpha_2, (100, 0, 100)),
        (&alpha_d2, (3, 3, 6)),
    ] {
        store
            .record_llm_call(llm_call(run.id, None, "smollm2", tokens))
            .await
            .unwrap();
    }
    let row = |name: &str, directive_type: &str, runs, p, c, t| DirectiveUsage {
        directive_name: name.into(),
        directive_type: directive_type.into(),
        runs,
        prompt_tokens: p,
        completion_tokens: c,
        total_tokens: t,
    };
    assert_eq!(
        store.usage_by_directive().await.unwrap(),
        vec![
            row("alpha", "D1", 2, 111, 6, 117),
            row("alpha", "D2", 1, 3, 3, 6),
            row("beta", "D1", 1, 0, 0, 0),
        ]
    );
}

/// - `metrics` counts runs and jobs per status with every status present (zero included),
///   runnable jobs (pending, of a run that needs no approval or was approved and has not
///   ended — not awaiting approval, not cancelled), and LLM call sums.
pub async fn metrics_count_every_status_and_runnable_jobs(store: Arc<dyn Store>) {
    let zeros = |statuses: &[&str]| -> BTreeMap<String, i64> {
        statuses.iter().map(|s| (s.to_string(), 0)).collect()
    };
    let run_statuses: Vec<&str> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
    let job_statuses: Vec<&str> = JobStatus::ALL.iter().map(|s| s.as_str()).collect();
    let empty = store.metrics().await.unwrap();
    assert_eq!(
        empty,
        StoreMetrics {
            runs_by_status: zeros(&run_statuses),
            jobs_by_status: zeros(&job_statuses),
            ..StoreMetrics::default()
        }
    );

    // completed run f, failed run g, running run a (one job running, one pending), cancelled
    // run d, denied run h, awaiting-approval run b, approved run c.
    let (f, _) = run_with_jobs(&store, &["gpu_report"], 0).await;
    let job = claim_all(&store, "executor", 1).await.remove(0);
    finish_held(&store, &job, JobStatus::Completed, 2).await;
    run_with_jobs(&store, &["service_map"], 3).await;
    let job = claim_all(&store, "executor", 4).await.remove(0);
    finish_held(&store, &job, JobStatus::Failed, 5).await;
    let (a, _) = run_with_jobs(&store, &["log_triage", "gpu_report"], 6).await;
    store.claim_jobs(claim("executor", at(7), 1)).await.unwrap();
    let (d, _) = run_with_jobs(&store, &["gpu_report"], 8).await;
    store.cancel_run(d.id, at(9)).await.unwrap();
    let h = create_run(&store, &["log_triage"], ApprovalStatus::Pending, 10).await;
    store.deny_run(h.id, "bob", at(11)).await.unwrap();
    create_run(&store, &["log_triage"], ApprovalStatus::Pending, 12).await;
    let c = create_run(&store, &["service_map"], ApprovalStatus::Pending, 13).await;
    store.approve_run(c.id, "alice", at(14)).await.unwrap();
    for call in [
        llm_call(f.id, None, "smollm2", (10, 5, 15)),
        llm_call(a.id, None, "smollm2", (20, 10, 30)),
        NewLlmCall {
            outcome: LlmOutcome::Error,
            duration_ms: 1000,
            ..llm_call(a.id, None, "smollm2", (0, 0, 0))
        },
    ] {
        store.record_llm_call(call).await.unwrap();
    }

    let counts = |pairs: &[(&str, i64)]| -> BTreeMap<String, i64> {
        pairs.iter().map(|(s, n)| (s.to_string(), *n)).collect()
    };
    assert_eq!(
        store.metrics().await.unwrap(),
        StoreMetrics {
            runs_by_status: counts(&[
                ("pending", 2),
                ("running", 1),
                ("completed", 1),
                ("failed", 1),
                ("cancelled", 2),
            ]),
            jobs_by_status: counts(&[
                ("pending", 3),
                ("running", 1),
                ("completed", 1),
                ("failed", 1),
                ("cancelled", 2),
            ]),
            runnable_jobs: 2,
            llm_calls_ok: 2,
            llm_calls_error: 1,
            llm_prompt_tokens: 30,
            llm_completion_tokens: 15,
            llm_duration_ms_sum: 1500,
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Claim races (shared with backend-specific multi-pool tests)

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
    race_claimers_with_limits(stores, claimers, now, (u32::MAX, u32::MAX), expected).await
}

/// [`race_claimers`] with every claim carrying `limits` (`max_running_runs`,
/// `max_running_per_task`). Nothing finishes during the race, so the claimed set is exactly the
/// jobs that fit in id order, whatever the interleaving: `expected`.
pub async fn race_claimers_with_limits(
    stores: &[Arc<dyn Store>],
    claimers: usize,
    now: Timestamp,
    limits: (u32, u32),
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
                    .claim_jobs(claim(&owner, now, limit).with_limits(limits.0, limits.1))
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
    assert_eq!(&unique, expected, "exactly the expected jobs were claimed");
    claimed.into_iter().collect()
}

/// What claimers in [`race_claim_and_finish`] hold at one moment, by run and by task.
#[derive(Debug, Default)]
struct Held {
    runs: BTreeMap<i64, u32>,
    tasks: BTreeMap<String, u32>,
    peak_runs: usize,
    peak_per_task: u32,
}

/// Races `claimers` tasks over `stores`, each claiming batches of 1–3 jobs with `limits`
/// (`max_running_runs`, `max_running_per_task`), holding them across a few scheduler turns and
/// finishing them `completed`, until `total_jobs` jobs finished. What the claimers hold is
/// counted in this process (added after a claim returns, removed before the finish is sent), so
/// it never exceeds what the store has running; it is asserted against the limits after every
/// claim. Returns the peak (running runs, running jobs of one task) observed.
pub async fn race_claim_and_finish(
    stores: &[Arc<dyn Store>],
    claimers: usize,
    now: Timestamp,
    limits: (u32, u32),
    total_jobs: usize,
) -> (usize, u32) {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    assert!(!stores.is_empty(), "the race needs at least one store");
    let held = Arc::new(Mutex::new(Held::default()));
    let finished = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..claimers {
        let store = stores[worker % stores.len()].clone();
        let owner = format!("store-{}-worker-{worker}", worker % stores.len());
        let limit = 1 + (worker as u32 % 3);
        let held = Arc::clone(&held);
        let finished = Arc::clone(&finished);
        tasks.spawn(async move {
            while finished.load(Ordering::SeqCst) < total_jobs {
                let batch = store
                    .claim_jobs(claim(&owner, now, limit).with_limits(limits.0, limits.1))
                    .await
                    .expect("claim");
                if batch.is_empty() {
                    tokio::task::yield_now().await;
                    continue;
                }
                assert!(batch.len() <= limit as usize, "limit respected");
                {
                    let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
                    for job in &batch {
                        *held.runs.entry(job.run_id).or_default() += 1;
                        *held.tasks.entry(job.task_key.clone()).or_default() += 1;
                    }
                    let runs = held.runs.len();
                    let per_task = held.tasks.values().copied().max().unwrap_or(0);
                    assert!(
                        runs <= limits.0 as usize,
                        "{runs} runs running at once, over the limit of {}: {:?}",
                        limits.0,
                        held.runs
                    );
                    assert!(
                        per_task <= limits.1,
                        "{per_task} jobs of one task running at once, over the limit of {}: {:?}",
                        limits.1,
                        held.tasks
                    );
                    held.peak_runs = held.peak_runs.max(runs);
                    held.peak_per_task = held.peak_per_task.max(per_task);
                }
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                }
                for job in batch {
                    {
                        let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
                        release(&mut held.runs, job.run_id);
                        release(&mut held.tasks, job.task_key.clone());
                    }
                    store
                        .finish_job(FinishJob {
                            job_id: job.id,
                            owner: owner.clone(),
                            status: JobStatus::Completed,
                            result: json!({}),
                            error_summary: None,
                            now,
                        })
                        .await
                        .expect("finish a held job");
                    finished.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("claimer task");
    }
    let held = held.lock().unwrap_or_else(|e| e.into_inner());
    (held.peak_runs, held.peak_per_task)
}

/// One fewer held; an entry that reaches zero goes away.
fn release<K: Ord>(counts: &mut BTreeMap<K, u32>, key: K) {
    if let Some(count) = counts.get_mut(&key) {
        *count -= 1;
        if *count == 0 {
            counts.remove(&key);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Schedules

/// An enabled hourly interval schedule of `task_key` due at `next_run_at`, written at `at(0)`
/// (also for backend tests that need a schedule).
pub fn new_schedule(name: &str, task_key: &str, next_run_at: Option<Timestamp>) -> NewSchedule {
    NewSchedule {
        name: name.to_string(),
        task_key: task_key.to_string(),
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
        next_run_at,
        now: at(0),
    }
}

async fn create_schedule(
    store: &Arc<dyn Store>,
    name: &str,
    task_key: &str,
    next_run_at: Option<Timestamp>,
) -> Schedule {
    store
        .create_schedule(new_schedule(name, task_key, next_run_at))
        .await
        .unwrap()
}

/// The run a planner launches for a schedule: its task, no approval, triggered by the schedule
/// (the store sets `schedule_id`), created at its slot.
fn scheduled_run(schedule: &Schedule, slot: Timestamp) -> NewRun {
    new_run(&[&schedule.task_key], ApprovalStatus::None, slot).with_trigger(Trigger::Schedule)
}

/// Launches every due schedule for its slot (`next_run_at`) and moves it an hour on.
fn launch_planner() -> FirePlanner {
    Arc::new(|schedule: &Schedule, _: &RunningCounts| {
        let slot = schedule.next_run_at.expect("a due schedule has a next run");
        FireDecision::Launch {
            run: scheduled_run(schedule, slot),
            scheduled_for: slot,
            next_run_at: Some(slot + chrono::Duration::hours(1)),
            enabled: true,
        }
    })
}

/// The launched runs of what a firing did, in order.
fn launched(fired: &[Fired]) -> Vec<(&Run, &ScheduledRun)> {
    fired
        .iter()
        .filter_map(|f| match f {
            Fired::Launched { run, scheduled_run } => Some((run, scheduled_run)),
            _ => None,
        })
        .collect()
}

async fn history(store: &Arc<dyn Store>, schedule_id: i64) -> Vec<ScheduledRun> {
    store
        .schedule_history(schedule_id, PageRequest::first(100))
        .await
        .unwrap()
        .items
}

async fn run_count(store: &Arc<dyn Store>) -> u64 {
    total(|page| store.list_runs(RunQuery::new(page))).await
}

/// - Create inserts (`created_at = updated_at = now`, no `last_run_at`); get returns it;
///   schedules page by id with the total count.
pub async fn schedule_create_then_get_and_list(store: Arc<dyn Store>) {
    let directive = store
        .create_directive(NewDirective::new("Scheduled", DirectiveType::D2))
        .await
        .unwrap();
    let mut new = new_schedule("nightly", "log_triage", Some(at(3600)));
    new.directive_id = Some(directive.id);
    new.schedule_type = ScheduleType::Cron;
    new.interval_minutes = None;
    new.cron_expr = Some("0 3 * * *".into());
    new.timezone = "Europe/Berlin".into();
    new.task3_scope = Task3Scope::All;
    new.use_rag = true;
    new.max_global = Some(2);
    new.max_per_job = Some(1);
    new.misfire_policy = MisfirePolicy::Skip;
    new.enabled = false;
    let schedule = store.create_schedule(new.clone()).await.unwrap();
    assert!(schedule.id > 0);
    let expected = Schedule {
        id: schedule.id,
        name: new.name,
        task_key: new.task_key,
        directive_id: Some(directive.id),
        custom_directive_text: None,
        enabled: false,
        schedule_type: ScheduleType::Cron,
        interval_minutes: None,
        cron_expr: new.cron_expr,
        run_at: None,
        timezone: new.timezone,
        task3_scope: Task3Scope::All,
        use_rag: true,
        max_global: Some(2),
        max_per_job: Some(1),
        misfire_policy: MisfirePolicy::Skip,
        last_run_at: None,
        next_run_at: Some(at(3600)),
        created_at: at(0),
        updated_at: at(0),
    };
    assert_eq!(schedule, expected);
    assert_eq!(store.get_schedule(schedule.id).await.unwrap(), schedule);

    let mut one_shot = new_schedule("once", "gpu_report", Some(at(60)));
    one_shot.schedule_type = ScheduleType::OneShot;
    one_shot.interval_minutes = None;
    one_shot.run_at = Some(at(60));
    one_shot.custom_directive_text = Some("Only the GPUs.".into());
    let once = store.create_schedule(one_shot).await.unwrap();
    assert_eq!(once.run_at, Some(at(60)));
    assert_eq!(
        once.custom_directive_text.as_deref(),
        Some("Only the GPUs.")
    );

    let list = |page| {
        let store = store.clone();
        async move { store.list_schedules(page).await.map(|p| p.map(|s| s.id)) }
    };
    let before = total(&list).await;
    let added = rows_to_add(before);
    for i in 0..added {
        create_schedule(&store, &format!("paged-{i}"), "service_map", None).await;
    }
    assert_eq!(total(&list).await, before + added as u64);
    assert_paged_in_id_order("schedules", list).await;
}

/// - A name already taken is `Conflict` on create and replace, and nothing is written.
pub async fn schedule_taken_name_is_conflict(store: Arc<dyn Store>) {
    let first = create_schedule(&store, "hourly", "log_triage", Some(at(60))).await;
    let second = create_schedule(&store, "daily", "gpu_report", Some(at(60))).await;
    let message = expect_conflict(
        store
            .create_schedule(new_schedule("hourly", "service_map", None))
            .await,
        "create with a taken name",
    );
    assert!(message.contains("hourly"), "names the name: {message}");
    let mut rename = new_schedule("hourly", "gpu_report", Some(at(90)));
    rename.now = at(5);
    expect_conflict(
        store.replace_schedule(second.id, rename).await,
        "rename to a taken name",
    );
    let all = store.list_schedules(PageRequest::first(10)).await.unwrap();
    assert_eq!(all.items, [first, second], "nothing written");
}

/// - An unknown task key or directive is `NotFound` on create and replace, and nothing is
///   written; unknown schedule ids are `NotFound` for get, replace, delete, run-now and history.
pub async fn schedule_unknown_references_are_not_found(store: Arc<dyn Store>) {
    expect_not_found(
        store
            .create_schedule(new_schedule("ghost", "no_such_task", None))
            .await,
        "create with an unknown task key",
    );
    let mut unknown_directive = new_schedule("ghost", "log_triage", None);
    unknown_directive.directive_id = Some(987_654);
    expect_not_found(
        store.create_schedule(unknown_directive.clone()).await,
        "create with an unknown directive",
    );
    assert_eq!(
        total(|page| store.list_schedules(page)).await,
        0,
        "nothing written"
    );

    let schedule = create_schedule(&store, "real", "log_triage", Some(at(60))).await;
    expect_not_found(
        store
            .replace_schedule(schedule.id, new_schedule("real", "no_such_task", None))
            .await,
        "replace with an unknown task key",
    );
    expect_not_found(
        store.replace_schedule(schedule.id, unknown_directive).await,
        "replace with an unknown directive",
    );
    assert_eq!(store.get_schedule(schedule.id).await.unwrap(), schedule);

    let missing = schedule.id + 1000;
    expect_not_found(store.get_schedule(missing).await, "get");
    expect_not_found(
        store
            .replace_schedule(missing, new_schedule("other", "log_triage", None))
            .await,
        "replace",
    );
    expect_not_found(store.delete_schedule(missing).await, "delete");
    let before = run_count(&store).await;
    expect_not_found(
        store
            .record_run_now(missing, scheduled_run(&schedule, at(5)), at(5))
            .await,
        "run-now",
    );
    assert_eq!(run_count(&store).await, before, "run-now wrote no run");
    expect_not_found(
        store
            .schedule_history(missing, PageRequest::first(10))
            .await,
        "history",
    );
}

/// - Replace writes every field given (`updated_at = now`), keeping `created_at` and
///   `last_run_at`.
pub async fn schedule_replace_keeps_created_and_last_run(store: Arc<dyn Store>) {
    let schedule = create_schedule(&store, "hourly", "log_triage", Some(at(60))).await;
    store
        .fire_due_schedules(at(60), 10, launch_planner())
        .await
        .unwrap();
    let fired = store.get_schedule(schedule.id).await.unwrap();
    assert_eq!(fired.last_run_at, Some(at(60)));

    let mut new = new_schedule("renamed", "service_map", Some(at(7200)));
    new.interval_minutes = Some(15);
    new.timezone = "Asia/Kolkata".into();
    new.enabled = false;
    new.max_per_job = Some(3);
    new.custom_directive_text = Some("Look at the mesh.".into());
    new.now = at(100);
    let replaced = store.replace_schedule(schedule.id, new).await.unwrap();
    assert_eq!(replaced.id, schedule.id);
    assert_eq!(replaced.name, "renamed");
    assert_eq!(replaced.task_key, "service_map");
    assert_eq!(replaced.interval_minutes, Some(15));
    assert_eq!(replaced.timezone, "Asia/Kolkata");
    assert!(!replaced.enabled);
    assert_eq!(replaced.max_per_job, Some(3));
    assert_eq!(
        replaced.custom_directive_text.as_deref(),
        Some("Look at the mesh.")
    );
    assert_eq!(replaced.next_run_at, Some(at(7200)));
    assert_eq!(replaced.created_at, at(0), "created_at stays");
    assert_eq!(replaced.updated_at, at(100));
    assert_eq!(replaced.last_run_at, Some(at(60)), "last_run_at stays");
    assert_eq!(store.get_schedule(schedule.id).await.unwrap(), replaced);
}

/// - Delete removes the schedule and its ledger; its runs stay with `schedule_id` cleared.
pub async fn schedule_delete_keeps_runs_with_schedule_cleared(store: Arc<dyn Store>) {
    let schedule = create_schedule(&store, "hourly", "log_triage", Some(at(60))).await;
    let fired = store
        .fire_due_schedules(at(60), 10, launch_planner())
        .await
        .unwrap();
    let run_id = launched(&fired)[0].0.id;
    let (now_run, _) = store
        .record_run_now(schedule.id, scheduled_run(&schedule, at(90)), at(90))
        .await
        .unwrap();
    store.delete_schedule(schedule.id).await.unwrap();
    expect_not_found(store.get_schedule(schedule.id).await, "get after delete");
    expect_not_found(
        store
            .schedule_history(schedule.id, PageRequest::first(10))
            .await,
        "history after delete",
    );
    expect_not_found(store.delete_schedule(schedule.id).await, "delete twice");
    for id in [run_id, now_run.id] {
        let run = store.get_run(id).await.unwrap();
        assert_eq!(run.schedule_id, None, "run {id} stays, unscheduled");
        assert_eq!(store.list_run_jobs(id).await.unwrap().len(), 1);
    }
}

/// - A task referenced by a schedule cannot be deleted (`Conflict`, nothing changes); once the
///   schedule is gone it can.
pub async fn task_referenced_by_a_schedule_cannot_be_deleted(store: Arc<dyn Store>) {
    let task = store
        .create_task(NewTaskDefinition::new("scheduled_task", "Scheduled"))
        .await
        .unwrap();
    let schedule = create_schedule(&store, "uses it", "scheduled_task", None).await;
    let message = expect_conflict(store.delete_task(task.id).await, "delete a scheduled task");
    assert!(message.contains("schedule"), "says why: {message}");
    assert_eq!(store.get_task(task.id).await.unwrap(), task);
    store.delete_schedule(schedule.id).await.unwrap();
    store.delete_task(task.id).await.unwrap();
}

/// - Firing takes only enabled schedules whose `next_run_at <= now`, in (`next_run_at`, id)
///   order; `Launch` writes the run (with `schedule_id`) and its jobs, the pending ledger row,
///   `last_run_at = scheduled_for`, `next_run_at` and `enabled`.
pub async fn fire_launches_enabled_due_schedules_in_order(store: Arc<dyn Store>) {
    let later = create_schedule(&store, "later", "log_triage", Some(at(10))).await;
    let earlier = create_schedule(&store, "earlier", "gpu_report", Some(at(5))).await;
    let tied = create_schedule(&store, "tied", "service_map", Some(at(10))).await;
    let mut off = new_schedule("off", "log_triage", Some(at(1)));
    off.enabled = false;
    let off = store.create_schedule(off).await.unwrap();
    let future = create_schedule(&store, "future", "log_triage", Some(at(21))).await;
    let unset = create_schedule(&store, "unset", "log_triage", None).await;

    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let planner: FirePlanner = {
        let seen = seen.clone();
        let launch = launch_planner();
        Arc::new(move |schedule: &Schedule, counts: &RunningCounts| {
            seen.lock().unwrap().push(schedule.id);
            launch(schedule, counts)
        })
    };
    let fired = store.fire_due_schedules(at(20), 10, planner).await.unwrap();
    let order = [earlier.id, later.id, tied.id];
    assert_eq!(
        *seen.lock().unwrap(),
        order,
        "the planner sees due schedules in order"
    );
    let runs = launched(&fired);
    assert_eq!(runs.len(), 3, "{fired:?}");
    for ((run, ledger), (id, slot)) in
        runs.iter()
            .zip([(earlier.id, at(5)), (later.id, at(10)), (tied.id, at(10))])
    {
        assert_eq!(run.schedule_id, Some(id));
        assert_eq!(run.trigger, Trigger::Schedule);
        assert_eq!(run.status, RunStatus::Pending);
        assert_eq!(run.created_at, slot);
        assert_eq!(**run, store.get_run(run.id).await.unwrap());
        let schedule = store.get_schedule(id).await.unwrap();
        let jobs = store.list_run_jobs(run.id).await.unwrap();
        let keys: Vec<&str> = jobs.iter().map(|j| j.task_key.as_str()).collect();
        assert_eq!(keys, [schedule.task_key.as_str()]);
        assert_eq!(ledger.schedule_id, id);
        assert_eq!(ledger.run_id, Some(run.id));
        assert_eq!(ledger.scheduled_for, slot);
        assert_eq!(ledger.status, ScheduledRunStatus::Pending);
        assert_eq!((ledger.started_at, ledger.finished_at), (None, None));
        assert_eq!(ledger.error_summary, None);
        assert_eq!(history(&store, id).await, [(*ledger).clone()]);
        assert_eq!(schedule.last_run_at, Some(slot));
        assert_eq!(
            schedule.next_run_at,
            Some(slot + chrono::Duration::hours(1))
        );
        assert!(schedule.enabled);
    }
    for untouched in [off, future, unset] {
        assert_eq!(store.get_schedule(untouched.id).await.unwrap(), untouched);
        assert!(history(&store, untouched.id).await.is_empty());
    }
    assert!(
        store
            .fire_due_schedules(at(20), 10, launch_planner())
            .await
            .unwrap()
            .is_empty(),
        "fired slots are not due again"
    );
}

/// - At most `limit` schedules fire per call, the earliest first; the rest wait for the next.
pub async fn fire_takes_at_most_limit_schedules(store: Arc<dyn Store>) {
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            create_schedule(&store, &format!("s{i}"), "log_triage", Some(at(10 - i)))
                .await
                .id,
        );
    }
    ids.reverse();
    let fired_ids = |fired: Vec<Fired>| -> Vec<i64> {
        launched(&fired)
            .iter()
            .map(|(run, _)| run.schedule_id.unwrap())
            .collect()
    };
    assert!(
        store
            .fire_due_schedules(at(20), 0, launch_planner())
            .await
            .unwrap()
            .is_empty()
    );
    let first = store
        .fire_due_schedules(at(20), 2, launch_planner())
        .await
        .unwrap();
    assert_eq!(fired_ids(first), ids[..2]);
    let rest = store
        .fire_due_schedules(at(20), 10, launch_planner())
        .await
        .unwrap();
    assert_eq!(fired_ids(rest), ids[2..]);
}

/// - `Postpone` moves only `next_run_at`; `Disable` sets `enabled = false` and clears
///   `next_run_at`; a `Launch` with `enabled = false` and no next run ends a one-shot. Neither
///   `Postpone` nor `Disable` writes a run or a ledger row.
pub async fn fire_postpones_and_disables_without_runs(store: Arc<dyn Store>) {
    let deferred = create_schedule(&store, "deferred", "log_triage", Some(at(5))).await;
    let dead = create_schedule(&store, "dead", "gpu_report", Some(at(6))).await;
    let mut once = new_schedule("once", "service_map", Some(at(7)));
    once.schedule_type = ScheduleType::OneShot;
    once.interval_minutes = None;
    once.run_at = Some(at(7));
    let once = store.create_schedule(once).await.unwrap();
    let (deferred_id, dead_id) = (deferred.id, dead.id);
    let planner: FirePlanner = Arc::new(move |schedule: &Schedule, _: &RunningCounts| {
        if schedule.id == deferred_id {
            FireDecision::Postpone {
                next_run_at: at(65),
            }
        } else if schedule.id == dead_id {
            FireDecision::Disable {
                reason: "task gpu_report is inactive".into(),
            }
        } else {
            FireDecision::Launch {
                run: scheduled_run(schedule, at(7)),
                scheduled_for: at(7),
                next_run_at: None,
                enabled: false,
            }
        }
    });
    let before = run_count(&store).await;
    let fired = store.fire_due_schedules(at(30), 10, planner).await.unwrap();
    assert_eq!(fired.len(), 3, "{fired:?}");
    assert_eq!(
        fired[0],
        Fired::Postponed {
            schedule_id: deferred.id,
            next_run_at: at(65)
        }
    );
    assert_eq!(
        fired[1],
        Fired::Disabled {
            schedule_id: dead.id,
            reason: "task gpu_report is inactive".into()
        }
    );
    assert_eq!(launched(&fired).len(), 1);
    assert_eq!(
        run_count(&store).await,
        before + 1,
        "only the launch wrote a run"
    );

    let deferred_now = store.get_schedule(deferred.id).await.unwrap();
    assert_eq!(deferred_now.next_run_at, Some(at(65)));
    assert_eq!(deferred_now.last_run_at, None);
    assert!(deferred_now.enabled);
    assert!(history(&store, deferred.id).await.is_empty());

    let dead_now = store.get_schedule(dead.id).await.unwrap();
    assert!(!dead_now.enabled);
    assert_eq!(dead_now.next_run_at, None);
    assert_eq!(dead_now.last_run_at, None);
    assert!(history(&store, dead.id).await.is_empty());

    let once_now = store.get_schedule(once.id).await.unwrap();
    assert!(!once_now.enabled);
    assert_eq!(once_now.next_run_at, None);
    assert_eq!(once_now.last_run_at, Some(at(7)));
    assert_eq!(history(&store, once.id).await.len(), 1);

    assert!(
        store
            .fire_due_schedules(at(64), 10, launch_planner())
            .await
            .unwrap()
            .is_empty(),
        "nothing is due before the postponed time"
    );
    let again = store
        .fire_due_schedules(at(65), 10, launch_planner())
        .await
        .unwrap();
    assert_eq!(launched(&again).len(), 1, "the postponed schedule fires");
}

/// - The planner sees the runs `running` or `pending` with approval none/approved and their
///   pending or running jobs per task, and each `Launch` adds its run and jobs to the counts the
///   next call sees within the same firing.
pub async fn fire_counts_active_runs_and_each_launch(store: Arc<dyn Store>) {
    // Not counted: an ended run and a run awaiting approval.
    let (_, done) = run_with_jobs(&store, &["gpu_report"], 0).await;
    let job = claim_one(&store, "executor", 1).await;
    assert_eq!(job.id, done[0].id);
    finish_held(&store, &job, JobStatus::Completed, 2).await;
    // Counted: a running run (one job running, one pending) and a pending one.
    let (_, running) = run_with_jobs(&store, &["log_triage", "gpu_report"], 3).await;
    assert_eq!(claim_one(&store, "executor", 4).await.id, running[0].id);
    run_with_jobs(&store, &["service_map"], 5).await;
    create_run(&store, &["log_triage"], ApprovalStatus::Pending, 6).await;

    create_schedule(&store, "first", "log_triage", Some(at(10))).await;
    create_schedule(&store, "second", "service_map", Some(at(11))).await;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let planner: FirePlanner = {
        let seen = seen.clone();
        let launch = launch_planner();
        Arc::new(move |schedule: &Schedule, counts: &RunningCounts| {
            seen.lock().unwrap().push(counts.clone());
            launch(schedule, counts)
        })
    };
    store.fire_due_schedules(at(20), 10, planner).await.unwrap();
    let counts = |runs: i64, jobs: &[(&str, i64)]| RunningCounts {
        active_runs: runs,
        active_jobs_per_task: jobs.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
    };
    assert_eq!(
        *seen.lock().unwrap(),
        [
            counts(
                2,
                &[("gpu_report", 1), ("log_triage", 1), ("service_map", 1)]
            ),
            counts(
                3,
                &[("gpu_report", 1), ("log_triage", 2), ("service_map", 1)]
            ),
        ]
    );
}

/// - 16 concurrent firers over 50 due schedules fire every slot exactly once.
pub async fn fire_concurrent_callers_fire_each_slot_once(store: Arc<dyn Store>) {
    race_firers(&[store], 16, 50).await;
}

/// Creates `schedules` schedules due at a few different slots, then races `firers` tasks,
/// spread round-robin over `stores` (one store, or several pools or processes' worth of stores
/// on one database), each firing batches of 3 until nothing is due. Asserts that no slot was
/// fired twice and every slot was fired: one ledger row and one run each.
pub async fn race_firers(stores: &[Arc<dyn Store>], firers: usize, schedules: usize) {
    assert!(!stores.is_empty(), "race_firers needs at least one store");
    let store = &stores[0];
    let runs_before = run_count(store).await;
    let mut expected = BTreeSet::new();
    for i in 0..schedules {
        let slot = at(i as i64 % 7);
        let schedule = create_schedule(store, &format!("race-{i}"), "log_triage", Some(slot)).await;
        expected.insert((schedule.id, slot));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..firers {
        let store = stores[worker % stores.len()].clone();
        tasks.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let fired = store
                    .fire_due_schedules(at(30), 3, launch_planner())
                    .await
                    .expect("firing due schedules");
                if fired.is_empty() {
                    break mine;
                }
                mine.extend(
                    launched(&fired)
                        .iter()
                        .map(|(_, l)| (l.schedule_id, l.scheduled_for)),
                );
            }
        });
    }
    let mut slots = Vec::new();
    while let Some(result) = tasks.join_next().await {
        slots.extend(result.expect("firer task"));
    }
    assert!(
        store
            .fire_due_schedules(at(30), 1000, launch_planner())
            .await
            .unwrap()
            .is_empty(),
        "every due schedule was fired by the race"
    );
    let unique: BTreeSet<_> = slots.iter().copied().collect();
    assert_eq!(unique.len(), slots.len(), "no slot fired twice");
    assert_eq!(unique, expected, "every slot fired");
    for (id, _) in expected {
        assert_eq!(
            history(store, id).await.len(),
            1,
            "schedule {id}: one ledger row"
        );
    }
    assert_eq!(
        run_count(store).await,
        runs_before + schedules as u64,
        "one run per slot"
    );
}

/// - `next_due_at` is the earliest `next_run_at` among enabled schedules; `None` without any.
pub async fn next_due_at_is_the_earliest_enabled_slot(store: Arc<dyn Store>) {
    assert_eq!(store.next_due_at().await.unwrap(), None);
    let later = new_schedule("later", "log_triage", Some(at(300)));
    store.create_schedule(later).await.unwrap();
    let mut off = new_schedule("off", "log_triage", Some(at(100)));
    off.enabled = false;
    store.create_schedule(off).await.unwrap();
    store
        .create_schedule(new_schedule("sooner", "gpu_report", Some(at(200))))
        .await
        .unwrap();
    assert_eq!(store.next_due_at().await.unwrap(), Some(at(200)));
}

/// - Run-now writes the run (with `schedule_id`) and its ledger row, enabled or not, leaving
///   `next_run_at`/`last_run_at`; a slot already in the ledger is `Conflict` and writes nothing,
///   and firing never launches a slot run-now already took.
pub async fn record_run_now_launches_and_keeps_the_timing(store: Arc<dyn Store>) {
    let mut off = new_schedule("off", "gpu_report", Some(at(100)));
    off.enabled = false;
    let off = store.create_schedule(off).await.unwrap();
    let (run, ledger) = store
        .record_run_now(off.id, scheduled_run(&off, at(5)), at(5))
        .await
        .unwrap();
    assert_eq!(run.schedule_id, Some(off.id));
    assert_eq!(run.trigger, Trigger::Schedule);
    assert_eq!(run, store.get_run(run.id).await.unwrap());
    let jobs = store.list_run_jobs(run.id).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].task_key, "gpu_report");
    assert_eq!(ledger.schedule_id, off.id);
    assert_eq!(ledger.run_id, Some(run.id));
    assert_eq!(ledger.scheduled_for, at(5));
    assert_eq!(ledger.status, ScheduledRunStatus::Pending);
    assert_eq!(history(&store, off.id).await, [ledger]);
    assert_eq!(
        store.get_schedule(off.id).await.unwrap(),
        off,
        "timing untouched"
    );

    let before = run_count(&store).await;
    expect_conflict(
        store
            .record_run_now(off.id, scheduled_run(&off, at(5)), at(5))
            .await,
        "the same slot twice",
    );
    assert_eq!(run_count(&store).await, before, "nothing written");
    assert_eq!(history(&store, off.id).await.len(), 1);

    // A slot taken by run-now is not launched again when it comes due.
    let on = create_schedule(&store, "on", "log_triage", Some(at(50))).await;
    store
        .record_run_now(on.id, scheduled_run(&on, at(50)), at(50))
        .await
        .unwrap();
    let before = run_count(&store).await;
    let fired = store
        .fire_due_schedules(at(60), 10, launch_planner())
        .await
        .unwrap();
    assert!(launched(&fired).is_empty(), "{fired:?}");
    assert_eq!(run_count(&store).await, before);
    assert_eq!(history(&store, on.id).await.len(), 1);
}

/// - History pages the ledger newest `scheduled_for` first; each row's status follows its run:
///   pending, started (with `started_at`) once a job is claimed, then finished or failed (failed
///   or cancelled) with `finished_at` and the run's error summary.
pub async fn schedule_history_follows_the_runs(store: Arc<dyn Store>) {
    let schedule = create_schedule(&store, "hourly", "log_triage", None).await;
    let mut runs = Vec::new();
    for slot in [10, 30, 20] {
        let (run, _) = store
            .record_run_now(schedule.id, scheduled_run(&schedule, at(slot)), at(slot))
            .await
            .unwrap();
        runs.push(run.id);
    }
    let rows = history(&store, schedule.id).await;
    let slots: Vec<Timestamp> = rows.iter().map(|r| r.scheduled_for).collect();
    assert_eq!(slots, [at(30), at(20), at(10)], "newest slot first");
    assert!(rows.iter().all(|r| r.status == ScheduledRunStatus::Pending));
    let page = store
        .schedule_history(schedule.id, PageRequest::new(2, 2).unwrap())
        .await
        .unwrap();
    assert_eq!(page.count, 3);
    assert_eq!(page.items, rows[2..]);

    // Runs in id order: slot 10, slot 30, slot 20. Claims take jobs in id order.
    let first = claim_one(&store, "executor", 40).await;
    let second = claim_one(&store, "executor", 41).await;
    let by_slot = |rows: &[ScheduledRun], slot: i64| {
        rows.iter()
            .find(|r| r.scheduled_for == at(slot))
            .cloned()
            .expect("slot in history")
    };
    let rows = history(&store, schedule.id).await;
    let started = by_slot(&rows, 10);
    assert_eq!(started.status, ScheduledRunStatus::Started);
    assert_eq!(started.started_at, Some(at(40)));
    assert_eq!(started.finished_at, None);
    assert_eq!(by_slot(&rows, 30).status, ScheduledRunStatus::Started);
    assert_eq!(by_slot(&rows, 20).status, ScheduledRunStatus::Pending);

    finish_held(&store, &first, JobStatus::Completed, 50).await;
    finish_held(&store, &second, JobStatus::Failed, 51).await;
    store.cancel_run(runs[2], at(52)).await.unwrap();
    let rows = history(&store, schedule.id).await;
    let finished = by_slot(&rows, 10);
    assert_eq!(finished.status, ScheduledRunStatus::Finished);
    assert_eq!(finished.started_at, Some(at(40)));
    assert_eq!(finished.finished_at, Some(at(50)));
    assert_eq!(finished.error_summary, None);
    let failed = by_slot(&rows, 30);
    assert_eq!(failed.status, ScheduledRunStatus::Failed);
    assert_eq!(failed.finished_at, Some(at(51)));
    let error = failed.error_summary.expect("a failed run's error summary");
    assert!(error.contains("log_triage"), "{error}");
    let cancelled = by_slot(&rows, 20);
    assert_eq!(cancelled.status, ScheduledRunStatus::Failed);
    assert_eq!(cancelled.finished_at, Some(at(52)));
}

/// - A scheduled run obeys its schedule's `max_global` / `max_per_job` when they are stricter
///   than the claim's limits; runs of other schedules and unscheduled runs do not.
pub async fn claim_obeys_a_schedules_stricter_limits(store: Arc<dyn Store>) {
    let mut strict_global = new_schedule("strict-global", "log_triage", None);
    strict_global.max_global = Some(1);
    let strict_global = store.create_schedule(strict_global).await.unwrap();
    let mut loose = new_schedule("loose", "service_map", None);
    loose.max_global = Some(50);
    loose.max_per_job = Some(50);
    let loose = store.create_schedule(loose).await.unwrap();
    let mut strict_task = new_schedule("strict-task", "log_triage", None);
    strict_task.max_per_job = Some(1);
    let strict_task = store.create_schedule(strict_task).await.unwrap();

    let run_of = |schedule: &Schedule, keys: &[&str], slot: i64| {
        let store = store.clone();
        let new = new_run(keys, ApprovalStatus::None, at(slot)).with_trigger(Trigger::Schedule);
        let id = schedule.id;
        async move {
            let (run, _) = store.record_run_now(id, new, at(slot)).await.unwrap();
            store.list_run_jobs(run.id).await.unwrap()
        }
    };
    let (_, plain) = run_with_jobs(&store, &["gpu_report"], 0).await;
    let global = run_of(&strict_global, &["log_triage"], 1).await;
    let loose_jobs = run_of(&loose, &["service_map"], 2).await;
    assert_eq!(
        claim_limited(&store, 10, 100, (10, 10)).await,
        [plain[0].id, loose_jobs[0].id],
        "a run is already running: the strict schedule's run waits"
    );
    assert_eq!(store.get_run_job(global[0].id).await.unwrap().attempts, 0);

    let (_, plain_triage) = run_with_jobs(&store, &["log_triage"], 3).await;
    let per_task = run_of(&strict_task, &["log_triage"], 4).await;
    let (_, other) = run_with_jobs(&store, &["log_triage"], 5).await;
    assert_eq!(
        claim_limited(&store, 11, 100, (10, 3)).await,
        [plain_triage[0].id, other[0].id],
        "one log_triage job runs: the strict schedule's job waits, a later plain one fits"
    );
    assert_eq!(store.get_run_job(per_task[0].id).await.unwrap().attempts, 0);
}
