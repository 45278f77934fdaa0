//! Cyberbrain's MCP server (SPEC §5): tools over the [`Cyberbrain`] engine, served with rmcp
//! over Streamable HTTP (a tower service the HTTP host mounts at `/mcp`) or over stdio.
//!
//! ```no_run
//! # async fn mount(cb: cyberbrain_core::Cyberbrain) {
//! use cyberbrain_mcp::{McpOptions, streamable_http_service};
//! let options = McpOptions { allowed_hosts: vec!["cyberbrain.lan".into()] };
//! let service = streamable_http_service(cb, options);
//! // axum::Router::new().nest_service("/mcp", service)
//! # let _ = service;
//! # }
//! ```
//!
//! Tools validate their input: an argument of the wrong type, a missing or unknown field, or a
//! value the engine refuses is a tool error result naming the field, never a protocol failure.

mod error;
mod http;
mod inputs;
mod params;
mod server;
mod stdio;
mod tools;

use cyberbrain_core::Cyberbrain;

pub use http::{McpBody, McpHttpService};
pub use stdio::serve_stdio;

/// How the HTTP endpoint is exposed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct McpOptions {
    /// `Host` header values accepted besides the loopback names (`localhost`, `127.0.0.1`,
    /// `::1`, any port), e.g. the server's LAN name. An entry with a port (`box.lan:9595`)
    /// accepts only that port. Any other `Host` gets 403, which keeps web pages that rebind
    /// their DNS name to this machine away from the tools.
    pub allowed_hosts: Vec<String>,
}

/// MCP over Streamable HTTP as a tower service, ready for `Router::nest_service("/mcp", …)`.
pub fn streamable_http_service(cb: Cyberbrain, options: McpOptions) -> McpHttpService {
    McpHttpService::new(cb, options)
}

/// `[{name, description}]` for every tool, from the same definitions `tools/list` serves.
pub fn tool_catalog() -> serde_json::Value {
    tools::CyberbrainMcp::all_tools()
        .list_all()
        .into_iter()
        .map(|tool| {
            serde_json::json!({
                "name": tool.name,
                "description": tool.description.unwrap_or_default(),
            })
        })
        .collect()
}
