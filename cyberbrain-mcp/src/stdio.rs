//! MCP over standard input and output, for desktop clients that launch `cyberbrain mcp --stdio`.
//!
//! stdout carries the protocol, so nothing else may write to it while this runs: hosts send
//! their logs to stderr.

use cyberbrain_core::{Cyberbrain, Error, Result};
use rmcp::ServiceExt;
use rmcp::service::QuitReason;
use rmcp::transport::IntoTransport;

use crate::tools::CyberbrainMcp;

/// Serves MCP on stdin/stdout until the client closes the connection.
pub async fn serve_stdio(cb: Cyberbrain) -> Result<()> {
    serve_transport(cb, rmcp::transport::stdio()).await
}

/// Serves one MCP connection over any transport until the peer closes it.
pub(crate) async fn serve_transport<T, E, A>(cb: Cyberbrain, transport: T) -> Result<()>
where
    T: IntoTransport<rmcp::RoleServer, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    let running = CyberbrainMcp::new(cb)
        .serve(transport)
        .await
        .map_err(|error| {
            Error::backend_with("the MCP client did not complete initialization", error)
        })?;
    match running.waiting().await {
        Ok(QuitReason::Closed | QuitReason::Cancelled) => Ok(()),
        Ok(QuitReason::JoinError(error)) | Err(error) => Err(Error::backend_with(
            "the MCP stdio service stopped unexpectedly",
            error,
        )),
        Ok(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cyberbrain_core::Config;
    use cyberbrain_store_sqlite::SqliteStore;
    use serde_json::{Value, json};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    use super::*;

    /// A full session over an in-memory pipe: the same line-delimited JSON-RPC a desktop client
    /// writes to `cyberbrain mcp --stdio`.
    #[tokio::test]
    async fn a_client_lists_and_calls_tools_over_a_pipe() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("cb.db").display());
        let store = SqliteStore::connect(&url).await.expect("connect");
        cyberbrain_core::store::StoreAdmin::migrate(&store)
            .await
            .expect("migrate");
        let cb = Cyberbrain::new(Arc::new(store), Config::default());

        let (client, server) = tokio::io::duplex(1 << 16);
        let server = tokio::spawn(serve_transport(cb, tokio::io::split(server)));
        let (client_read, mut client_write) = tokio::io::split(client);
        let mut lines = BufReader::new(client_read).lines();

        send(
            &mut client_write,
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "pipe-test", "version": "0"}}}),
        )
        .await;
        let initialized = next_message(&mut lines).await;
        assert_eq!(initialized["result"]["serverInfo"]["name"], "cyberbrain");
        assert!(
            initialized["result"]["instructions"]
                .as_str()
                .is_some_and(|text| text.contains("local")),
            "{initialized}"
        );

        send(
            &mut client_write,
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        )
        .await;
        send(
            &mut client_write,
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "list_directives", "arguments": {"page_size": 2}}}),
        )
        .await;
        let listed = next_message(&mut lines).await;
        let page = &listed["result"]["structuredContent"];
        assert_eq!(page["items"].as_array().map(Vec::len), Some(2), "{listed}");
        assert_eq!(
            page["next_page"], 2,
            "five seeded directives do not fit in a page of two"
        );

        send(
            &mut client_write,
            json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
            "name": "get_directive", "arguments": {"id": -3}}}),
        )
        .await;
        let refused = next_message(&mut lines).await;
        assert_eq!(refused["result"]["isError"], true, "{refused}");

        drop(client_write);
        drop(lines);
        let outcome = tokio::time::timeout(std::time::Duration::from_secs(10), server)
            .await
            .expect("the server stops when the client closes the pipe")
            .expect("the server task does not panic");
        assert!(outcome.is_ok(), "{outcome:?}");
    }

    async fn send<W: tokio::io::AsyncWrite + Unpin>(writer: &mut W, message: Value) {
        let mut line = message.to_string();
        line.push('\n');
        writer.write_all(line.as_bytes()).await.expect("write");
    }

    async fn next_message<R: tokio::io::AsyncBufRead + Unpin>(
        lines: &mut tokio::io::Lines<R>,
    ) -> Value {
        let line = tokio::time::timeout(std::time::Duration::from_secs(10), lines.next_line())
            .await
            .expect("a reply within 10 s")
            .expect("read")
            .expect("the server keeps the pipe open");
        serde_json::from_str(&line).expect("each line is one JSON-RPC message")
    }
}
