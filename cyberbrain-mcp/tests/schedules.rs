//! The schedule tools in-process (SPEC §5): list_schedules, create_schedule, run_schedule_now,
//! set_schedule_enabled and get_schedule_history over a real SQLite store. Refusals are tool
//! errors naming the field, and save nothing.

mod common;

use common::{Session, engine};
use cyberbrain_mcp::{McpOptions, streamable_http_service};
use serde_json::{Value, json};

async fn open() -> (tempfile::TempDir, Session) {
    let (dir, cb) = engine().await;
    let session = Session::open(streamable_http_service(cb, McpOptions::default())).await;
    (dir, session)
}

fn id_of(value: &Value) -> i64 {
    value["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no id: {value}"))
}

#[tokio::test]
async fn a_schedule_is_created_listed_run_now_disabled_and_has_history() {
    let (_dir, mut session) = open().await;

    let interval = session
        .call_ok(
            "create_schedule",
            json!({
                "name": "hourly gpu",
                "job_key": "task2",
                "schedule_type": "interval",
                "interval_minutes": 60,
                "use_rag": true,
            }),
        )
        .await;
    assert_eq!(
        interval["task_key"], "gpu_report",
        "job_key and aliases resolve"
    );
    assert_eq!(interval["enabled"], true);
    assert_eq!(interval["interval_minutes"], 60);
    assert_eq!(interval["timezone"], "UTC");
    assert_eq!(interval["misfire_policy"], "run_once");
    assert!(interval["next_run_at"].is_string(), "{interval}");
    let id = id_of(&interval);

    let cron = session
        .call_ok(
            "create_schedule",
            json!({
                "name": "nightly logs",
                "task_key": "log_triage",
                "schedule_type": "cron",
                "cron_expr": "0 3 * * *",
                "timezone": "Europe/Berlin",
                "custom_directive_text": "Look for disk trouble.",
                "misfire_policy": "skip",
                "max_per_job": 1,
            }),
        )
        .await;
    assert_eq!(cron["cron_expr"], "0 3 * * *");
    assert_eq!(cron["timezone"], "Europe/Berlin");
    assert_eq!(cron["custom_directive_text"], "Look for disk trouble.");
    assert_eq!(cron["max_per_job"], 1);

    let listed = session.call_ok("list_schedules", json!({})).await;
    assert_eq!(listed["count"], 2);
    assert_eq!(listed["limit"], 20);
    let ids: Vec<i64> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids, [id, id_of(&cron)]);
    let limited = session.call_ok("list_schedules", json!({"limit": 1})).await;
    assert_eq!(limited["count"], 2);
    assert_eq!(limited["items"].as_array().map(Vec::len), Some(1));

    // Run-now launches through the one launch path, with the schedule's settings.
    let fired = session
        .call_ok("run_schedule_now", json!({"schedule_id": id}))
        .await;
    let run_id = fired["run_id"].as_i64().expect("run_id");
    let scheduled_run_id = fired["scheduled_run_id"]
        .as_i64()
        .expect("scheduled_run_id");
    let run = session.call_ok("get_run", json!({"id": run_id})).await;
    assert_eq!(run["trigger"], "schedule");
    assert_eq!(run["schedule_id"], id);
    assert_eq!(run["use_rag"], true);
    assert_eq!(run["jobs"][0]["task_key"], "gpu_report");

    let history = session
        .call_ok("get_schedule_history", json!({"schedule_id": id}))
        .await;
    assert_eq!(history["count"], 1);
    assert_eq!(history["limit"], 20);
    assert_eq!(history["items"][0]["id"], scheduled_run_id);
    assert_eq!(history["items"][0]["run_id"], run_id);
    assert_eq!(history["items"][0]["schedule_id"], id);

    // Disabling stops firing; run-now still works on a disabled schedule.
    let disabled = session
        .call_ok(
            "set_schedule_enabled",
            json!({"schedule_id": id, "enabled": false}),
        )
        .await;
    assert_eq!(disabled["enabled"], false);
    assert_eq!(disabled["next_run_at"], Value::Null);
    session
        .call_ok("run_schedule_now", json!({"schedule_id": id}))
        .await;
    let history = session
        .call_ok(
            "get_schedule_history",
            json!({"schedule_id": id, "limit": 1}),
        )
        .await;
    assert_eq!(history["count"], 2);
    assert_eq!(history["items"].as_array().map(Vec::len), Some(1));

    let enabled = session
        .call_ok(
            "set_schedule_enabled",
            json!({"schedule_id": id, "enabled": true}),
        )
        .await;
    assert_eq!(enabled["enabled"], true);
    assert!(enabled["next_run_at"].is_string(), "{enabled}");
}

#[tokio::test]
async fn create_schedule_refusals_name_the_field_and_save_nothing() {
    let (_dir, mut session) = open().await;
    let base = json!({"name": "s", "task_key": "log_triage", "schedule_type": "interval",
                      "interval_minutes": 5});
    let with = |extra: Value| {
        let mut arguments = base.clone();
        for (key, value) in extra.as_object().expect("object") {
            arguments[key] = value.clone();
        }
        arguments
    };

    let cases: Vec<(Value, &[&str])> = vec![
        (json!({}), &["name", "task_key", "schedule_type"]),
        (with(json!({"interval_minutes": 0})), &["interval_minutes"]),
        (
            with(json!({"schedule_type": "cron", "cron_expr": "not cron"})),
            &["cron_expr"],
        ),
        (with(json!({"timezone": "Mars/Olympus"})), &["timezone"]),
        (with(json!({"schedule_type": "weekly"})), &["schedule_type"]),
        (with(json!({"task_key": "no_such_task"})), &["task_key"]),
        (with(json!({"job_id": 9999})), &["task_key", "job_id"]),
        (with(json!({"directive_id": 9999})), &["directive_id"]),
        (
            with(json!({"directive_id": 1, "custom_directive_text": "x"})),
            &["directive_id", "custom_directive_text"],
        ),
        (
            with(json!({"misfire_policy": "later"})),
            &["misfire_policy"],
        ),
        (with(json!({"max_global": 0})), &["max_global"]),
        (with(json!({"task3_scope": "all"})), &["task3_scope"]),
    ];
    for (arguments, fields) in cases {
        let (message, details) = session.call_err("create_schedule", arguments.clone()).await;
        assert_eq!(details["kind"], "invalid_input", "{arguments}: {details}");
        for field in fields {
            assert!(
                details["fields"][field].is_array() || message.contains(field),
                "{arguments} must name {field}: {message} {details}"
            );
        }
    }

    // Wrong JSON types and unknown fields are refused by name before the engine sees them.
    let type_cases = [
        (
            with(json!({"interval_minutes": "5"})),
            "interval_minutes: invalid type",
        ),
        (with(json!({"enabled": "yes"})), "enabled: invalid type"),
        (with(json!({"name": 7})), "name: invalid type"),
        (with(json!({"run_at": "tomorrow"})), "run_at: "),
        (with(json!({"every": 5})), "every: unknown field"),
    ];
    for (arguments, prefix) in type_cases {
        let (message, details) = session.call_err("create_schedule", arguments.clone()).await;
        assert!(message.starts_with(prefix), "{arguments}: {message}");
        assert_eq!(details["kind"], "invalid_input");
    }

    let listed = session.call_ok("list_schedules", json!({})).await;
    assert_eq!(listed["count"], 0, "no refused create saved a schedule");
}

#[tokio::test]
async fn schedule_tools_refuse_bad_ids_and_limits() {
    let (_dir, mut session) = open().await;

    for (tool, extra) in [
        ("run_schedule_now", json!({})),
        ("set_schedule_enabled", json!({"enabled": true})),
        ("get_schedule_history", json!({})),
    ] {
        let mut arguments = extra.clone();
        arguments["schedule_id"] = json!(4242);
        let (message, details) = session.call_err(tool, arguments.clone()).await;
        assert_eq!(details["kind"], "not_found", "{tool}: {details}");
        assert!(message.contains("4242"), "{tool}: {message}");

        arguments["schedule_id"] = json!(0);
        let (message, _) = session.call_err(tool, arguments.clone()).await;
        assert!(
            message.contains("schedule_id: 0 is not a valid id"),
            "{tool}: {message}"
        );
        arguments["schedule_id"] = json!("1");
        let (message, _) = session.call_err(tool, arguments).await;
        assert!(
            message.starts_with("schedule_id: invalid type"),
            "{tool}: {message}"
        );
        let (message, _) = session.call_err(tool, extra).await;
        assert!(
            message.starts_with("schedule_id: is required"),
            "{tool}: {message}"
        );
    }

    let (message, _) = session
        .call_err(
            "set_schedule_enabled",
            json!({"schedule_id": 1, "enabled": "on"}),
        )
        .await;
    assert!(message.starts_with("enabled: invalid type"), "{message}");
    let (message, _) = session
        .call_err("list_schedules", json!({"limit": 201}))
        .await;
    assert_eq!(message, "limit: must be between 1 and 200");
    let (message, _) = session
        .call_err("list_schedules", json!({"limit": "5"}))
        .await;
    assert!(message.starts_with("limit: invalid type"), "{message}");
    let (message, details) = session
        .call_err(
            "get_schedule_history",
            json!({"schedule_id": 0, "limit": 0}),
        )
        .await;
    assert!(details["fields"]["schedule_id"].is_array(), "{details}");
    assert!(details["fields"]["limit"].is_array(), "{message}");
}
