//! An in-process MCP client for the tests: real HTTP requests through the real
//! `McpHttpService` (rmcp's Streamable HTTP transport) over a SQLite-backed engine in a temp dir.

#![allow(dead_code)] // each test binary uses part of this module

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cyberbrain_core::store::StoreAdmin;
use cyberbrain_core::{Config, Cyberbrain};
use cyberbrain_mcp::{McpBody, McpHttpService, McpOptions, streamable_http_service};
use cyberbrain_store_sqlite::SqliteStore;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::ServiceExt;

pub const PROTOCOL_VERSION: &str = "2025-06-18";
pub const HOST: &str = "localhost:9595";

/// A migrated, seeded SQLite engine in a fresh temp dir (kept alive by the returned guard).
pub async fn engine() -> (tempfile::TempDir, Cyberbrain) {
    engine_with(|_| {}).await
}

/// [`engine`] with the configuration adjusted by `configure` (data under the temp dir already).
pub async fn engine_with(configure: impl FnOnce(&mut Config)) -> (tempfile::TempDir, Cyberbrain) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("cyberbrain.db").display());
    let store = SqliteStore::connect(&url).await.expect("connect to SQLite");
    store.migrate().await.expect("migrate");
    let mut config = Config::default();
    // Reports and artifacts land in the temp dir, never in the working directory.
    config.paths.data_dir = dir.path().to_path_buf();
    configure(&mut config);
    (dir, Cyberbrain::new(Arc::new(store), config))
}

pub async fn service() -> (tempfile::TempDir, McpHttpService) {
    let (dir, cb) = engine().await;
    (dir, streamable_http_service(cb, McpOptions::default()))
}

/// Sends one request through a clone of the service, as a server would per connection.
pub async fn send(service: &McpHttpService, request: Request<Full<Bytes>>) -> Response<McpBody> {
    match service.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

pub async fn body_text(response: Response<McpBody>) -> String {
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("infallible body")
        .to_bytes();
    String::from_utf8(bytes.to_vec()).expect("UTF-8 body")
}

/// A POST of one JSON-RPC message with the headers a Streamable HTTP client sends.
pub fn post(host: &str, session: Option<&str>, message: &Value) -> Request<Full<Bytes>> {
    let mut builder = Request::post("/")
        .header(http::header::HOST, host)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json, text/event-stream");
    if let Some(session) = session {
        builder = builder
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", PROTOCOL_VERSION);
    }
    builder
        .body(Full::new(Bytes::from(message.to_string())))
        .expect("valid request")
}

/// The JSON-RPC message answering request `id`, from a JSON or an SSE response. SSE streams are
/// read event by event (not to their end) because a stream may stay open for keep-alives.
pub async fn rpc_reply(response: Response<McpBody>, id: i64) -> Value {
    let is_sse = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/event-stream"));
    let mut body = response.into_body();
    if !is_sse {
        let bytes = body.collect().await.expect("infallible body").to_bytes();
        return serde_json::from_slice(&bytes).expect("a JSON-RPC message");
    }
    let mut buffer = String::new();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("an SSE event within 10 s")
            .expect("the stream carries the reply before it ends")
            .expect("infallible body");
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buffer.push_str(std::str::from_utf8(&data).expect("UTF-8 event"));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let data: String = event
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(str::trim_start)
                .collect::<Vec<_>>()
                .join("\n");
            if let Ok(message) = serde_json::from_str::<Value>(&data)
                && message["id"] == id
            {
                return message;
            }
        }
    }
}

/// A client with an initialized session.
pub struct Session {
    pub service: McpHttpService,
    pub id: String,
    pub initialize_result: Value,
    next_request_id: i64,
}

impl Session {
    /// `initialize`, then `notifications/initialized`, as every MCP client starts.
    pub async fn open(service: McpHttpService) -> Self {
        let initialize = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "cyberbrain-mcp-tests", "version": "0"},
            },
        });
        let response = send(&service, post(HOST, None, &initialize)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let id = session_id(response.headers()).expect("initialize returns mcp-session-id");
        let reply = rpc_reply(response, 0).await;
        let initialize_result = reply["result"].clone();
        assert!(initialize_result.is_object(), "initialize failed: {reply}");

        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let response = send(&service, post(HOST, Some(&id), &initialized)).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);

        Self {
            service,
            id,
            initialize_result,
            next_request_id: 1,
        }
    }

    /// One request; returns the whole JSON-RPC reply (`result` or `error`).
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_request_id;
        self.next_request_id += 1;
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let response = send(&self.service, post(HOST, Some(&self.id), &message)).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{method} was not accepted"
        );
        rpc_reply(response, id).await
    }

    /// `tools/call`; returns the `CallToolResult`, failing on a protocol-level error.
    pub async fn call_tool(&mut self, name: &str, arguments: Value) -> Value {
        let reply = self
            .request("tools/call", json!({"name": name, "arguments": arguments}))
            .await;
        assert!(
            reply.get("error").is_none(),
            "tools/call {name} is a protocol error: {reply}"
        );
        reply["result"].clone()
    }

    /// A successful tool call's structured content, checked against its JSON text content.
    pub async fn call_ok(&mut self, name: &str, arguments: Value) -> Value {
        let result = self.call_tool(name, arguments).await;
        assert_eq!(result["isError"], false, "{name} failed: {result}");
        let text = result["content"][0]["text"].as_str().expect("text content");
        let from_text: Value = serde_json::from_str(text).expect("the text content is JSON");
        assert_eq!(from_text, result["structuredContent"]);
        from_text
    }

    /// A failed tool call's message (the text content).
    pub async fn call_err(&mut self, name: &str, arguments: Value) -> (String, Value) {
        let result = self.call_tool(name, arguments).await;
        assert_eq!(
            result["isError"], true,
            "{name} should have failed: {result}"
        );
        let message = result["content"][0]["text"]
            .as_str()
            .expect("text content")
            .to_string();
        (message, result["structuredContent"]["error"].clone())
    }
}

pub fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("mcp-session-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
}
