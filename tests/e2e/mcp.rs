//! `/mcp` through the official Python MCP SDK (Streamable HTTP), checked through REST.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::components::{e2e_script, json_report, python, run_script};
use crate::http::{Api, field, results};
use crate::server::Server;

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
    for name in FOUNDATION_TOOLS {
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
