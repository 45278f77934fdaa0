//! The run tools in-process (SPEC §5): launch_run, list_runs, get_run, get_run_report,
//! cancel_run, token_stats and the approval tools, through rmcp's Streamable HTTP transport
//! over a real SQLite store. Every refusal is a tool error naming the field, and writes nothing.

mod common;

use std::time::Duration;

use common::{Session, engine, engine_with};
use cyberbrain_core::Cyberbrain;
use cyberbrain_core::domain::{LlmOutcome, NewLlmCall};
use cyberbrain_core::engine::Executor;
use cyberbrain_mcp::{McpOptions, streamable_http_service};
use serde_json::{Value, json};

/// A session over a fresh engine, and the engine itself (for what no tool does, like recording
/// an LLM call).
async fn open() -> (tempfile::TempDir, Cyberbrain, Session) {
    let (dir, cb) = engine().await;
    let session = Session::open(streamable_http_service(cb.clone(), McpOptions::default())).await;
    (dir, cb, session)
}

/// The id of the built-in directive of `directive_type`.
async fn directive_id(session: &mut Session, directive_type: &str) -> i64 {
    let page = session
        .call_ok("list_directives", json!({"page_size": 200}))
        .await;
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|d| d["directive_type"] == directive_type && d["is_builtin"] == true)
        .and_then(|d| d["id"].as_i64())
        .unwrap_or_else(|| panic!("no built-in {directive_type} directive: {page}"))
}

fn id_of(value: &Value) -> i64 {
    value["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no id: {value}"))
}

#[tokio::test]
async fn launch_run_creates_an_mcp_run_seen_by_get_run_and_list_runs() {
    let (_dir, _cb, mut session) = open().await;

    let run = session
        .call_ok("launch_run", json!({"tasks": ["task2", "service_map"]}))
        .await;
    assert_eq!(run["status"], "pending");
    assert_eq!(run["trigger"], "mcp", "launches over MCP say so");
    assert_eq!(run["approval_status"], "none");
    assert_eq!(run["task3_scope"], "allowlist");
    assert_eq!(run["use_rag"], false);
    assert_eq!(run["directive_snapshot"]["name"], "default");
    assert_eq!(run["snapshot_sha256"].as_str().map(str::len), Some(64));
    let id = id_of(&run);

    let detail = session.call_ok("get_run", json!({"id": id})).await;
    assert_eq!(detail["id"], id);
    let jobs: Vec<&str> = detail["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|job| job["task_key"].as_str())
        .collect();
    assert_eq!(jobs, ["gpu_report", "service_map"], "aliases resolve");
    assert_eq!(detail["llm_calls"], json!([]));

    // No tasks: every active task, under custom text (a read-only D1 snapshot).
    let all = session
        .call_ok(
            "launch_run",
            json!({"custom_directive_text": "Look for disk trouble.", "use_rag": true}),
        )
        .await;
    assert_eq!(all["directive_snapshot"]["name"], "custom");
    assert_eq!(all["directive_snapshot"]["directive_type"], "D1");
    assert_eq!(all["use_rag"], true);
    let jobs = session.call_ok("get_run", json!({"id": all["id"]})).await["jobs"]
        .as_array()
        .map(Vec::len);
    assert_eq!(jobs, Some(3));

    // By task id, under a directive chosen by id.
    let tasks = session.call_ok("list_tasks", json!({})).await;
    let log_triage = id_of(&tasks["items"][0]);
    let d2 = directive_id(&mut session, "D2").await;
    let by_id = session
        .call_ok(
            "launch_run",
            json!({"task_ids": [log_triage], "directive_id": d2}),
        )
        .await;
    assert_eq!(by_id["directive_snapshot"]["directive_type"], "D2");

    // Newest first, with the total count; limit cuts the list, not the count.
    let listed = session.call_ok("list_runs", json!({})).await;
    assert_eq!(listed["count"], 3);
    assert_eq!(listed["limit"], 20);
    let ids: Vec<i64> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids, [id_of(&by_id), id_of(&all), id]);

    let limited = session.call_ok("list_runs", json!({"limit": 1})).await;
    assert_eq!(limited["count"], 3);
    assert_eq!(limited["items"].as_array().map(Vec::len), Some(1));

    let pending = session
        .call_ok("list_runs", json!({"status": "pending", "task": "task3"}))
        .await;
    assert_eq!(pending["count"], 2, "two runs have a service_map job");
    let completed = session
        .call_ok("list_runs", json!({"status": "completed"}))
        .await;
    assert_eq!(completed["count"], 0);
}

/// Polls get_run until the run ended, as an agent would.
async fn until_ended(session: &mut Session, id: i64) -> Value {
    for _ in 0..300 {
        let run = session.call_ok("get_run", json!({"id": id})).await;
        if ["completed", "failed", "cancelled"].contains(&run["status"].as_str().unwrap_or("")) {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("run {id} did not end within 30 s");
}

#[tokio::test]
async fn a_launched_run_executes_and_its_report_is_readable() {
    // gpu_report without nvidia-smi completes with `no_gpus_available`: a real run, no GPU.
    let (_dir, cb) = engine_with(|config| {
        config.gpu.nvidia_smi = "/nonexistent/cyberbrain-mcp-test/nvidia-smi".into();
    })
    .await;
    let executor = Executor::new(cb.clone()).spawn();
    let mut session = Session::open(streamable_http_service(cb, McpOptions::default())).await;

    let run = session
        .call_ok("launch_run", json!({"tasks": ["gpu_report"]}))
        .await;
    let run = until_ended(&mut session, id_of(&run)).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["jobs"][0]["status"], "completed");
    assert_eq!(run["jobs"][0]["attempts"], 1);

    let report = session
        .call_ok("get_run_report", json!({"id": run["id"]}))
        .await;
    assert_eq!(report["status"], "completed");
    assert!(report["completed_at"].is_string(), "{report}");
    let markdown = report["markdown"].as_str().expect("report.md");
    assert!(markdown.contains("no_gpus_available"), "{markdown}");
    assert!(report["summary"].is_object(), "{report}");
    assert_eq!(report["total_tokens"], 0, "no LLM call for a D1 GPU report");

    let completed = session
        .call_ok("list_runs", json!({"status": "completed"}))
        .await;
    assert_eq!(completed["count"], 1);
    executor
        .shutdown()
        .await
        .expect("the executor stops cleanly");
}

#[tokio::test]
async fn launch_run_refusals_name_the_field_and_create_nothing() {
    let (_dir, _cb, mut session) = open().await;
    let d1 = directive_id(&mut session, "D1").await;

    let cases: Vec<(Value, &[&str], &str)> = vec![
        (
            json!({"tasks": ["log_triage"], "task_ids": [1]}),
            &["tasks", "task_ids"],
            "not both",
        ),
        (
            json!({"tasks": ["no_such_task"]}),
            &["tasks"],
            "\"no_such_task\" does not exist",
        ),
        (
            json!({"task_ids": [9999]}),
            &["task_ids"],
            "task 9999 does not exist",
        ),
        (
            json!({"directive_id": 9999}),
            &["directive_id"],
            "directive 9999 does not exist",
        ),
        (
            json!({"directive_id": d1, "custom_directive_text": "x"}),
            &["directive_id", "custom_directive_text"],
            "not both",
        ),
        (
            json!({"custom_directive_text": "   "}),
            &["custom_directive_text"],
            "must not be blank",
        ),
        (
            json!({"task3_scope": "everything"}),
            &["task3_scope"],
            "\"everything\" is not one of",
        ),
        (
            json!({"task3_scope": "all", "directive_id": d1}),
            &["task3_scope"],
            "needs a D4 directive",
        ),
    ];
    for (arguments, fields, fragment) in cases {
        let (message, details) = session.call_err("launch_run", arguments.clone()).await;
        assert_eq!(details["kind"], "invalid_input", "{arguments}: {details}");
        for field in fields {
            assert!(
                details["fields"][field].is_array(),
                "{arguments} must name {field}: {details}"
            );
        }
        assert!(message.contains(fragment), "{arguments}: {message}");
    }

    // Wrong JSON types are refused before the engine sees them, naming the field.
    let type_cases = [
        (json!({"tasks": "log_triage"}), "tasks: invalid type"),
        (
            json!({"tasks": ["log_triage", 7]}),
            "tasks[1]: invalid type",
        ),
        (json!({"task_ids": ["1"]}), "task_ids[0]: invalid type"),
        (json!({"directive_id": "3"}), "directive_id: invalid type"),
        (json!({"use_rag": "yes"}), "use_rag: invalid type"),
        (json!({"task3_scope": 4}), "task3_scope: invalid type"),
        (json!({"trigger": "schedule"}), "trigger: unknown field"),
    ];
    for (arguments, prefix) in type_cases {
        let (message, details) = session.call_err("launch_run", arguments.clone()).await;
        assert!(message.starts_with(prefix), "{arguments}: {message}");
        assert_eq!(details["kind"], "invalid_input");
    }

    let listed = session.call_ok("list_runs", json!({})).await;
    assert_eq!(listed["count"], 0, "no refused launch wrote a run");
}

#[tokio::test]
async fn list_runs_and_get_run_refuse_bad_arguments() {
    let (_dir, _cb, mut session) = open().await;

    let (message, details) = session
        .call_err("list_runs", json!({"status": "finished", "limit": 0}))
        .await;
    assert!(
        details["fields"]["status"][0]
            .as_str()
            .is_some_and(|m| m.contains("\"finished\" is not one of \"pending\"")),
        "{details}"
    );
    assert!(
        message.contains("limit: must be between 1 and 200"),
        "{message}"
    );

    let (message, _) = session.call_err("list_runs", json!({"limit": 201})).await;
    assert_eq!(message, "limit: must be between 1 and 200");
    let (message, _) = session.call_err("list_runs", json!({"limit": "5"})).await;
    assert!(message.starts_with("limit: invalid type"), "{message}");
    let (message, _) = session
        .call_err("list_runs", json!({"task": "no_such_task"}))
        .await;
    assert!(message.starts_with("task: unknown task"), "{message}");

    for tool in [
        "get_run",
        "get_run_report",
        "cancel_run",
        "approve_run",
        "deny_run",
    ] {
        let (message, details) = session.call_err(tool, json!({"id": 4242})).await;
        assert_eq!(details["kind"], "not_found", "{tool}: {details}");
        assert!(message.contains("4242"), "{tool}: {message}");

        let (message, _) = session.call_err(tool, json!({"id": "1"})).await;
        assert!(message.starts_with("id: invalid type"), "{tool}: {message}");
        let (message, _) = session.call_err(tool, json!({"id": 0})).await;
        assert!(
            message.starts_with("id: 0 is not a valid id"),
            "{tool}: {message}"
        );
        let (message, _) = session.call_err(tool, json!({})).await;
        assert_eq!(message, "id: is required", "{tool}");
    }
}

#[tokio::test]
async fn cancel_run_ends_a_pending_run_with_a_report() {
    let (_dir, _cb, mut session) = open().await;
    let run = session
        .call_ok("launch_run", json!({"tasks": ["gpu_report"]}))
        .await;
    let id = id_of(&run);

    // Before it ends there is no Markdown yet, only the (empty) stored summary.
    let before = session.call_ok("get_run_report", json!({"id": id})).await;
    assert_eq!(before["status"], "pending");
    assert_eq!(before["markdown"], Value::Null);

    let cancelled = session.call_ok("cancel_run", json!({"id": id})).await;
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["ended_at"].is_string(), "{cancelled}");

    let detail = session.call_ok("get_run", json!({"id": id})).await;
    assert_eq!(detail["jobs"][0]["status"], "cancelled");

    let report = session.call_ok("get_run_report", json!({"id": id})).await;
    assert_eq!(report["id"], id);
    assert_eq!(report["status"], "cancelled");
    let markdown = report["markdown"].as_str().expect("report.md once ended");
    assert!(markdown.contains("gpu_report"), "{markdown}");
    assert!(report["summary"].is_object(), "{report}");
    for field in ["prompt_tokens", "completion_tokens", "total_tokens"] {
        assert_eq!(report[field], 0, "{field}: {report}");
    }
    assert!(
        report.get("json").is_none(),
        "the summary is called summary: {report}"
    );

    let (message, details) = session.call_err("cancel_run", json!({"id": id})).await;
    assert_eq!(details["kind"], "conflict", "{message}");
}

#[tokio::test]
async fn approvals_hold_runs_until_approved_or_denied() {
    let (_dir, _cb, mut session) = open().await;
    let d3 = directive_id(&mut session, "D3").await;

    let held = session
        .call_ok(
            "launch_run",
            json!({"tasks": ["gpu_report"], "directive_id": d3}),
        )
        .await;
    assert_eq!(held["approval_status"], "pending");
    let to_deny = session
        .call_ok(
            "launch_run",
            json!({"tasks": ["gpu_report"], "directive_id": d3}),
        )
        .await;
    let free = session
        .call_ok("launch_run", json!({"tasks": ["gpu_report"]}))
        .await;

    let pending = session.call_ok("list_pending_approvals", json!({})).await;
    assert_eq!(pending["count"], 2);
    let ids: Vec<i64> = pending["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids, [id_of(&to_deny), id_of(&held)], "newest first");
    let first = session
        .call_ok("list_pending_approvals", json!({"page_size": 1}))
        .await;
    assert_eq!(first["next_page"], 2);

    let approved = session
        .call_ok("approve_run", json!({"id": id_of(&held)}))
        .await;
    assert_eq!(approved["approval_status"], "approved");
    assert_eq!(approved["approved_by"], "anonymous");
    assert!(approved["approved_at"].is_string(), "{approved}");
    assert_eq!(
        approved["approved_snapshot_sha256"],
        held["snapshot_sha256"]
    );
    assert_eq!(
        approved["status"], "pending",
        "approved runs wait for an executor"
    );

    let denied = session
        .call_ok("deny_run", json!({"id": id_of(&to_deny)}))
        .await;
    assert_eq!(denied["approval_status"], "denied");
    assert_eq!(denied["status"], "cancelled");
    assert_eq!(denied["approved_by"], "anonymous");

    let pending = session.call_ok("list_pending_approvals", json!({})).await;
    assert_eq!(pending["count"], 0);

    // Only a run awaiting approval can be approved or denied.
    for (tool, id) in [
        ("approve_run", id_of(&held)),
        ("deny_run", id_of(&held)),
        ("approve_run", id_of(&to_deny)),
        ("approve_run", id_of(&free)),
        ("deny_run", id_of(&free)),
    ] {
        let (message, details) = session.call_err(tool, json!({"id": id})).await;
        assert_eq!(details["kind"], "conflict", "{tool} {id}: {message}");
    }

    let (message, _) = session
        .call_err(
            "approve_run",
            json!({"id": id_of(&held), "approver": "mallory"}),
        )
        .await;
    assert!(
        message.starts_with("approver: unknown field"),
        "the approver is not the caller's to claim: {message}"
    );
    let (message, _) = session
        .call_err("list_pending_approvals", json!({"page_size": 0}))
        .await;
    assert_eq!(message, "page_size: must be between 1 and 200");
}

#[tokio::test]
async fn token_stats_sums_the_recorded_calls() {
    let (_dir, cb, mut session) = open().await;
    let zero = session.call_ok("token_stats", json!({})).await;
    assert_eq!(
        zero,
        json!({"total_tokens": 0, "total_prompt_tokens": 0, "total_completion_tokens": 0,
               "call_count": 0})
    );

    let run = session
        .call_ok("launch_run", json!({"tasks": ["log_triage"]}))
        .await;
    let id = id_of(&run);
    for (prompt, completion) in [(120, 30), (80, 20)] {
        cb.store()
            .record_llm_call(NewLlmCall {
                run_id: id,
                run_job_id: None,
                model: "smollm2".into(),
                endpoint_host: "127.0.0.1".into(),
                prompt_tokens: prompt,
                completion_tokens: completion,
                total_tokens: prompt + completion,
                duration_ms: 5,
                outcome: LlmOutcome::Ok,
                created_at: cb.clock().now(),
            })
            .await
            .expect("record an LLM call");
    }

    let stats = session.call_ok("token_stats", json!({})).await;
    assert_eq!(
        stats,
        json!({"total_tokens": 250, "total_prompt_tokens": 200, "total_completion_tokens": 50,
               "call_count": 2})
    );
    let detail = session.call_ok("get_run", json!({"id": id})).await;
    assert_eq!(detail["total_tokens"], 250);
    assert_eq!(detail["llm_calls"].as_array().map(Vec::len), Some(2));
    let call = &detail["llm_calls"][0];
    assert_eq!(call["model"], "smollm2");
    let report = session.call_ok("get_run_report", json!({"id": id})).await;
    assert_eq!(
        (
            report["prompt_tokens"].clone(),
            report["completion_tokens"].clone()
        ),
        (json!(200), json!(50))
    );

    let (message, _) = session
        .call_err("token_stats", json!({"model": "smollm2"}))
        .await;
    assert!(message.starts_with("model: unknown field"), "{message}");
}
