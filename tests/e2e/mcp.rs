//! `/mcp` through the official Python MCP SDK (Streamable HTTP), checked through REST: the
//! allowlist tools, and runs launched, executed by the server's executor, reported and approved
//! over MCP.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::components::{e2e_script, json_report, python, run_script};
use crate::http::{Api, field, results};
use crate::server::{Backend, Server};

const FOUNDATION_TOOLS: [&str; 5] = [
    "list_directives",
    "get_directive",
    "list_tasks",
    "get_allowlist",
    "set_allowlist",
];

#[tokio::test]
async fn official_python_client_sets_the_allowlist_seen_through_rest() {
    let server = Server::start().await;
    let container_id = "e2e-mcp-container";

    let output = run_script(
        {
            let mut command = Command::new(python());
            command
                .arg(e2e_script("mcp_client.py"))
                .arg(server.url("/mcp"))
                .arg(container_id);
            command
        },
        "the Python MCP client (tests/e2e/mcp_client.py)",
        Duration::from_secs(90),
    );
    let report = json_report(&output, "mcp_client.py");

    // tools/list: every foundation tool, each with an object input schema.
    let tools = report["tools"]
        .as_object()
        .unwrap_or_else(|| panic!("no tools in the report: {report}"));
    for name in FOUNDATION_TOOLS {
        let schema = tools
            .get(name)
            .unwrap_or_else(|| panic!("tools/list lacks {name}: {:?}", tools.keys()));
        assert_eq!(
            schema["type"], "object",
            "{name} must publish an object input schema: {schema}"
        );
    }
    assert!(
        !report["protocol_version"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{report}"
    );

    let directives = &report["list_directives"];
    assert_eq!(
        directives["is_error"], false,
        "list_directives failed: {directives}"
    );
    for name in ["Read-only Diagnostics", "default"] {
        assert!(
            directives["payload"].to_string().contains(name),
            "list_directives must include {name:?}: {directives}"
        );
    }

    let set = &report["set_allowlist"];
    assert_eq!(set["is_error"], false, "set_allowlist failed: {set}");
    let got = &report["get_allowlist"];
    assert_eq!(got["is_error"], false, "get_allowlist failed: {got}");
    assert!(
        got["payload"].to_string().contains(container_id),
        "get_allowlist must show the new entry: {got}"
    );

    // A wrong-typed argument is refused, and the session keeps working.
    let bad = &report["set_allowlist_wrong_type"];
    assert_eq!(
        bad["is_error"], true,
        "set_allowlist with container_id: 42 must fail: {bad}"
    );
    assert_eq!(
        report["tools_after_bad_call"].as_u64(),
        Some(tools.len() as u64),
        "{report}"
    );

    // The write is visible through REST, exactly once.
    let api = Api::new(&server);
    let page = api
        .get("/api/containers/")
        .await
        .expect(200, "GET /api/containers/");
    let entries = results(&page);
    assert_eq!(
        field(entries, "container_id"),
        vec![container_id],
        "only the MCP entry exists: {page}"
    );
    let entry = &entries[0];
    assert_eq!(entry["name"], "set through MCP");
    assert_eq!(entry["enabled"], true);
    assert_eq!(entry["tags"], json!(["mcp", "e2e"]));
}

const RUN_TOOLS: [&str; 9] = [
    "launch_run",
    "list_runs",
    "get_run",
    "get_run_report",
    "cancel_run",
    "token_stats",
    "list_pending_approvals",
    "approve_run",
    "deny_run",
];

/// A server whose `gpu_report` needs no GPU: `nvidia-smi` is missing, so the task completes with
/// `no_gpus_available` (whether or not the machine has one).
const NO_NVIDIA_SMI: &str = "[gpu]\nnvidia_smi = \"/nonexistent/cyberbrain-e2e/nvidia-smi\"\n";

/// The payload of a successful tool call in the client's report.
#[track_caller]
fn payload<'a>(report: &'a Value, key: &str) -> &'a Value {
    let call = &report[key];
    assert_eq!(call["is_error"], false, "{key} failed: {call}");
    &call["payload"]
}

/// The message of a failed tool call in the client's report (a tool error, not a protocol one).
#[track_caller]
fn tool_error(report: &Value, key: &str) -> String {
    let call = &report[key];
    assert_eq!(call["is_error"], true, "{key} should have failed: {call}");
    assert_eq!(call["kind"], "tool", "{key} must be a tool error: {call}");
    call["payload"]["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{key}: no error message: {call}"))
        .to_string()
}

#[tokio::test]
async fn official_python_client_launches_follows_and_approves_runs() {
    let server = Server::start_on(Backend::Sqlite, Some(NO_NVIDIA_SMI)).await;
    let output = run_script(
        {
            let mut command = Command::new(python());
            command
                .arg(e2e_script("mcp_client.py"))
                .arg("runs")
                .arg(server.url("/mcp"));
            command
        },
        "the Python MCP client (tests/e2e/mcp_client.py runs)",
        Duration::from_secs(150),
    );
    let report = json_report(&output, "mcp_client.py runs");

    let tools = report["tools"]
        .as_object()
        .unwrap_or_else(|| panic!("no tools in the report: {report}"));
    for name in RUN_TOOLS {
        let schema = tools
            .get(name)
            .unwrap_or_else(|| panic!("tools/list lacks {name}: {:?}", tools.keys()));
        assert_eq!(schema["type"], "object", "{name}: {schema}");
    }

    // launch_run → get_run (until the server's executor ended it) → get_run_report.
    let launched = payload(&report, "launch_run");
    assert_eq!(launched["trigger"], "mcp", "{launched}");
    let run_id = launched["id"].as_i64().expect("a run id");
    let run = payload(&report, "get_run");
    assert_eq!(run["status"], "completed", "the server ran it: {run}");
    assert_eq!(run["jobs"][0]["task_key"], "gpu_report");
    assert_eq!(run["jobs"][0]["status"], "completed", "{run}");
    let run_report = payload(&report, "get_run_report");
    assert_eq!(run_report["id"], run_id);
    assert_eq!(run_report["status"], "completed");
    let markdown = run_report["markdown"].as_str().unwrap_or_default();
    assert!(markdown.contains("no_gpus_available"), "{run_report}");
    assert!(run_report["summary"].is_object(), "{run_report}");
    assert_eq!(run_report["total_tokens"], 0, "{run_report}");
    let completed = payload(&report, "list_runs_completed");
    assert_eq!(completed["items"][0]["id"], run_id, "{completed}");
    assert_eq!(
        payload(&report, "token_stats"),
        &json!({"total_tokens": 0, "total_prompt_tokens": 0, "total_completion_tokens": 0,
                "call_count": 0})
    );

    // Refusals are tool errors naming the field; the session kept working after them.
    let message = tool_error(&report, "launch_run_refused");
    assert!(
        message.contains("tasks:") && message.contains("task_ids:"),
        "{message}"
    );
    let message = tool_error(&report, "launch_run_wrong_type");
    assert!(message.starts_with("tasks: invalid type"), "{message}");
    let message = tool_error(&report, "list_runs_bad_status");
    assert!(
        message.starts_with("status: \"done\" is not one of"),
        "{message}"
    );

    // Approvals: the held run waited, was approved by "anonymous" and then ran; the other was
    // denied, cancelled, and cannot be approved afterwards.
    let held = payload(&report, "held");
    assert_eq!(held["approval_status"], "pending", "{held}");
    let held_id = held["id"].as_i64().expect("an id");
    let denied_id = report["denied_id"].as_i64().expect("an id");
    let pending = payload(&report, "pending_before");
    assert_eq!(pending["count"], 2, "{pending}");
    let approved = payload(&report, "approve_run");
    assert_eq!(approved["approval_status"], "approved");
    assert_eq!(approved["approved_by"], "anonymous");
    assert_eq!(
        approved["approved_snapshot_sha256"],
        held["snapshot_sha256"]
    );
    assert_eq!(payload(&report, "approved_run")["status"], "completed");
    let denied = payload(&report, "deny_run");
    assert_eq!(
        (&denied["approval_status"], &denied["status"]),
        (&json!("denied"), &json!("cancelled"))
    );
    let message = tool_error(&report, "approve_denied");
    assert!(!message.is_empty());
    assert_eq!(
        report["approve_denied"]["payload"]["error"]["kind"],
        "conflict"
    );
    assert_eq!(payload(&report, "pending_after")["count"], 0);

    // REST sees what MCP did.
    let api = Api::new(&server);
    let rest_run = api
        .get(&format!("/api/runs/{run_id}/"))
        .await
        .expect(200, "GET /api/runs/{id}/");
    assert_eq!(rest_run["trigger"], "mcp");
    assert_eq!(rest_run["status"], "completed");
    let held_run = api
        .get(&format!("/api/runs/{held_id}/"))
        .await
        .expect(200, "GET /api/runs/{id}/");
    assert_eq!(held_run["approved_by"], "anonymous");
    assert_eq!(held_run["status"], "completed");
    let denied_run = api
        .get(&format!("/api/runs/{denied_id}/"))
        .await
        .expect(200, "GET /api/runs/{id}/");
    assert_eq!(denied_run["approval_status"], "denied");
    let approvals = api
        .get("/api/approvals/")
        .await
        .expect(200, "GET /api/approvals/");
    assert_eq!(approvals["count"], 0, "{approvals}");
    let rest_report = api
        .get(&format!("/api/runs/{run_id}/report/"))
        .await
        .expect(200, "GET /api/runs/{id}/report/");
    assert_eq!(rest_report["markdown"].as_str(), Some(markdown));
}

#[tokio::test]
async fn get_mcp_with_accept_json_describes_the_tools() {
    let server = Server::start().await;
    let response = crate::http::client()
        .get(server.url("/mcp"))
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .expect("GET /mcp");
    assert_eq!(
        response.status().as_u16(),
        200,
        "GET /mcp with Accept: application/json"
    );
    let body: Value = response.json().await.expect("GET /mcp returns JSON");
    assert!(
        body["transport"].is_string() && body["endpoint"].is_string(),
        "{body}"
    );
    let tools = body["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("tools must be a list: {body}"));
    for &name in FOUNDATION_TOOLS.iter().chain(&RUN_TOOLS) {
        let tool = tools
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("GET /mcp lacks {name}: {body}"));
        assert!(
            tool["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{name} needs a description: {tool}"
        );
    }
}
