//! The MCP endpoint end to end in-process: rmcp's Streamable HTTP transport, our tools, the
//! engine and a real SQLite store.

mod common;

use bytes::Bytes;
use common::{HOST, Session, body_text, post, send, service};
use cyberbrain_mcp::{McpOptions, streamable_http_service, tool_catalog};
use http::{Request, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};

/// Every tool, in the (name) order `tools/list` serves them.
const TOOLS: [&str; 22] = [
    "approve_run",
    "cancel_run",
    "create_schedule",
    "deny_run",
    "get_allowlist",
    "get_directive",
    "get_run",
    "get_run_report",
    "get_schedule_history",
    "launch_run",
    "list_directives",
    "list_pending_approvals",
    "list_runs",
    "list_schedules",
    "list_tasks",
    "rag_list_documents",
    "rag_search",
    "rag_upload_status",
    "run_schedule_now",
    "set_allowlist",
    "set_schedule_enabled",
    "token_stats",
];

fn get(host: &str, accept: &str) -> Request<Full<Bytes>> {
    Request::get("/")
        .header(http::header::HOST, host)
        .header(http::header::ACCEPT, accept)
        .body(Full::new(Bytes::new()))
        .expect("valid request")
}

#[tokio::test]
async fn initialize_announces_cyberbrain_with_tools_and_instructions() {
    let (_dir, service) = service().await;
    let session = Session::open(service).await;
    let info = &session.initialize_result;
    assert_eq!(info["serverInfo"]["name"], "cyberbrain");
    assert_eq!(info["serverInfo"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(info["capabilities"]["tools"].is_object(), "{info}");
    let instructions = info["instructions"].as_str().expect("instructions");
    assert!(instructions.contains("allowlist"), "{instructions}");
    assert!(
        instructions.contains("no prompt text or raw LLM response"),
        "{instructions}"
    );
}

#[tokio::test]
async fn tools_list_has_every_tool_with_an_object_schema() {
    let (_dir, service) = service().await;
    let mut session = Session::open(service).await;
    let reply = session.request("tools/list", json!({})).await;
    let tools = reply["result"]["tools"].as_array().expect("tools");
    let names: Vec<&str> = tools
        .iter()
        .filter_map(|tool| tool["name"].as_str())
        .collect();
    assert_eq!(names, TOOLS);
    for tool in tools {
        assert_eq!(tool["inputSchema"]["type"], "object", "{tool}");
        assert!(
            tool["description"]
                .as_str()
                .is_some_and(|text| text.len() > 40),
            "{tool}"
        );
    }
    let set = tools
        .iter()
        .find(|tool| tool["name"] == "set_allowlist")
        .expect("set_allowlist");
    assert_eq!(set["inputSchema"]["required"], json!(["container_id"]));
    assert_eq!(set["inputSchema"]["additionalProperties"], false);
}

#[tokio::test]
async fn set_allowlist_then_get_allowlist_shows_the_entry() {
    let (_dir, service) = service().await;
    let mut session = Session::open(service).await;

    let before = session.call_ok("get_allowlist", json!({})).await;
    assert_eq!(before["count"], 0);

    let stored = session
        .call_ok(
            "set_allowlist",
            json!({"container_id": "plex", "name": "Plex", "description": "media server",
                   "tags": ["media", "media", "gpu"]}),
        )
        .await;
    assert_eq!(stored["container_id"], "plex");
    assert_eq!(stored["enabled"], true, "enabled defaults to true");
    assert_eq!(
        stored["tags"],
        json!(["media", "gpu"]),
        "duplicate tags are dropped"
    );
    let id = stored["id"].as_i64().expect("an id");

    // Setting the same container again replaces it in place (upsert).
    let replaced = session
        .call_ok(
            "set_allowlist",
            json!({"container_id": "plex", "enabled": false}),
        )
        .await;
    assert_eq!(replaced["id"], id);
    assert_eq!(replaced["enabled"], false);
    assert_eq!(replaced["name"], "", "omitted fields take their defaults");

    let after = session
        .call_ok("get_allowlist", json!({"page": 1, "page_size": 10}))
        .await;
    assert_eq!(after["count"], 1);
    assert_eq!(after["next_page"], Value::Null);
    assert_eq!(after["items"][0]["container_id"], "plex");
    assert_eq!(after["items"][0]["enabled"], false);
}

#[tokio::test]
async fn directives_and_tasks_come_from_the_store() {
    let (_dir, service) = service().await;
    let mut session = Session::open(service).await;

    let first = session
        .call_ok("list_directives", json!({"page_size": 2}))
        .await;
    assert_eq!(first["count"], 5, "four built-in directives plus `default`");
    assert_eq!(first["page"], 1);
    assert_eq!(first["next_page"], 2);
    let directive = &first["items"][0];
    assert_eq!(directive["name"], "Read-only Diagnostics");

    let fetched = session
        .call_ok("get_directive", json!({"id": directive["id"]}))
        .await;
    assert_eq!(&fetched, directive);

    let tasks = session.call_ok("list_tasks", json!({})).await;
    let keys: Vec<&str> = tasks["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|t| t["task_key"].as_str())
        .collect();
    assert_eq!(keys, ["log_triage", "gpu_report", "service_map"]);
}

#[tokio::test]
async fn bad_input_is_a_tool_error_naming_the_field() {
    let (_dir, service) = service().await;
    let mut session = Session::open(service).await;

    let (message, details) = session
        .call_err("set_allowlist", json!({"container_id": 42}))
        .await;
    assert!(
        message.starts_with("container_id: invalid type: integer `42`"),
        "{message}"
    );
    assert_eq!(details["kind"], "invalid_input");
    assert!(details["fields"]["container_id"].is_array(), "{details}");

    let (message, _) = session.call_err("set_allowlist", json!({})).await;
    assert_eq!(message, "container_id: is required");

    let (message, _) = session
        .call_err("set_allowlist", json!({"container_id": "../etc"}))
        .await;
    assert!(
        message.starts_with("container_id: \"../etc\" is not a container id"),
        "{message}"
    );

    let (message, _) = session
        .call_err(
            "set_allowlist",
            json!({"container_id": "web", "colour": "red"}),
        )
        .await;
    assert!(
        message.starts_with("colour: unknown field `colour`"),
        "{message}"
    );

    let (message, _) = session.call_err("get_directive", json!({"id": "x"})).await;
    assert!(
        message.starts_with("id: invalid type: string \"x\""),
        "{message}"
    );

    let (message, _) = session.call_err("get_directive", json!({"id": -1})).await;
    assert_eq!(
        message,
        "id: -1 is not a valid id: ids are whole numbers from 1"
    );

    let (message, details) = session.call_err("get_directive", json!({"id": 9999})).await;
    assert_eq!(message, "directive 9999 not found");
    assert_eq!(details["kind"], "not_found");

    let (message, _) = session
        .call_err("list_tasks", json!({"page": 0, "page_size": 201}))
        .await;
    assert!(message.contains("page: must be 1 or more"), "{message}");
    assert!(
        message.contains("page_size: must be between 1 and 200"),
        "{message}"
    );

    let (message, _) = session
        .call_err("list_directives", json!({"page": -2}))
        .await;
    assert!(
        message.starts_with("page: invalid value: integer `-2`"),
        "{message}"
    );

    // Nothing was written by any of the refused calls.
    let allowlist = session.call_ok("get_allowlist", json!({})).await;
    assert_eq!(allowlist["count"], 0);

    // An unknown tool is the client's protocol mistake, reported as such.
    let reply = session
        .request(
            "tools/call",
            json!({"name": "drop_tables", "arguments": {}}),
        )
        .await;
    assert!(reply["error"].is_object(), "{reply}");
}

#[tokio::test]
async fn get_with_accept_json_returns_the_catalogue() {
    let (_dir, service) = service().await;
    let response = send(&service, get(HOST, "application/json")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[http::header::CONTENT_TYPE],
        "application/json"
    );
    let catalogue: Value = serde_json::from_str(&body_text(response).await).expect("JSON");
    assert_eq!(catalogue["transport"], "streamable-http");
    assert_eq!(catalogue["endpoint"], "/mcp");
    assert_eq!(catalogue["tools"], tool_catalog());
    let names: Vec<&str> = catalogue["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, TOOLS);
    assert!(catalogue["tools"][0]["description"].is_string());

    // Asking for an event stream is rmcp's business, not the catalogue's.
    let response = send(&service, get(HOST, "text/event-stream")).await;
    assert_ne!(
        response.status(),
        StatusCode::OK,
        "no session, so no stream"
    );
}

#[tokio::test]
async fn a_foreign_host_is_refused() {
    let (_dir, service) = service().await;
    let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": common::PROTOCOL_VERSION, "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"}}});

    let response = send(&service, post("evil.example:9595", None, &initialize)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = send(&service, get("evil.example", "application/json")).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // Loopback names pass with any port.
    for host in ["127.0.0.1:1234", "[::1]:9595", "localhost"] {
        let response = send(&service, get(host, "application/json")).await;
        assert_eq!(response.status(), StatusCode::OK, "{host}");
    }

    // A host the operator lists is accepted for both the catalogue and the protocol.
    let (_dir2, cb) = common::engine().await;
    let listed = streamable_http_service(
        cb,
        McpOptions {
            allowed_hosts: vec!["cyberbrain.lan".into()],
        },
    );
    let response = send(&listed, get("cyberbrain.lan:9595", "application/json")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = send(&listed, post("cyberbrain.lan:9595", None, &initialize)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = send(&listed, post("evil.example", None, &initialize)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_service_works_nested_in_an_axum_router() {
    use tower::ServiceExt;

    let (_dir, service) = service().await;
    let app = axum::Router::new().nest_service("/mcp", service);

    let catalogue = Request::get("/mcp")
        .header(http::header::HOST, HOST)
        .header(http::header::ACCEPT, "application/json")
        .body(axum::body::Body::empty())
        .expect("valid request");
    let response = app.clone().oneshot(catalogue).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);

    let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": common::PROTOCOL_VERSION, "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"}}});
    let request = Request::post("/mcp")
        .header(http::header::HOST, HOST)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json, text/event-stream")
        .body(axum::body::Body::from(initialize.to_string()))
        .expect("valid request");
    let response = app.oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(common::session_id(response.headers()).is_some());
}

#[tokio::test]
async fn deleting_a_session_ends_it() {
    let (_dir, service) = service().await;
    let mut session = Session::open(service.clone()).await;
    session.call_ok("list_tasks", json!({})).await;

    let delete = Request::delete("/")
        .header(http::header::HOST, HOST)
        .header("mcp-session-id", &session.id)
        .header("mcp-protocol-version", common::PROTOCOL_VERSION)
        .body(Full::new(Bytes::new()))
        .expect("valid request");
    let response = send(&service, delete).await;
    assert_eq!(
        response.status(),
        StatusCode::NO_CONTENT,
        "what the official Python client expects"
    );

    let list = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": {}});
    let response = send(&service, post(HOST, Some(&session.id), &list)).await;
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "clients re-initialize on 404"
    );
}
