//! Cyberbrain's HTTP host: the REST API (SPEC §4), the web UI, the OpenAPI document and
//! interactive docs, and the MCP endpoint, as one axum [`Router`] — plus the `cyberbrain`
//! binary's commands in [`cli`].
//!
//! ```no_run
//! # async fn demo(cb: cyberbrain_core::Cyberbrain) -> std::io::Result<()> {
//! let app = cyberbrain_http::router(cyberbrain_http::AppState::new(cb));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9595").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

pub mod api;
pub mod cli;
mod docs;
pub mod error;
mod mcp;
pub mod openapi;
mod routing;
pub mod state;
mod webui;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use cyberbrain_core::Config;
use tower_http::trace::TraceLayer;

use crate::api::json::BodyLimit;
pub use crate::error::ApiError;
pub use crate::state::AppState;

/// What the router needs besides the SDK handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterOptions {
    /// The largest request body accepted anywhere, in bytes (413 above it).
    pub max_body_bytes: usize,
    /// `Host` header values `/mcp` accepts besides the loopback names, which it always accepts
    /// (DNS-rebinding protection; see `cyberbrain_mcp::McpOptions`).
    pub mcp_allowed_hosts: Vec<String>,
}

impl RouterOptions {
    /// Options from the configuration: `server.max_body_bytes`, and `server.allowed_hosts`
    /// plus the host of `server.bind` (unless it is the unspecified address, which no client
    /// sends as a `Host`).
    pub fn from_config(config: &Config) -> Self {
        let mut hosts: Vec<String> = config.server.allowed_hosts.clone();
        if let Ok(bind) = config.server.bind.parse::<std::net::SocketAddr>()
            && !bind.ip().is_unspecified()
            && !bind.ip().is_loopback()
        {
            hosts.push(bind.ip().to_string());
        }
        let mut seen = std::collections::HashSet::new();
        hosts.retain(|host| seen.insert(host.clone()));
        Self {
            max_body_bytes: config.server.max_body_bytes,
            mcp_allowed_hosts: hosts,
        }
    }

    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }
}

/// The whole HTTP surface, configured from `state.cb.config()`.
pub fn router(state: AppState) -> Router {
    let options = RouterOptions::from_config(state.cb.config());
    router_with(state, options)
}

/// The whole HTTP surface with explicit options.
pub fn router_with(state: AppState, options: RouterOptions) -> Router {
    let limit = options.max_body_bytes;
    let mcp = mcp::service(state.cb.clone(), options.mcp_allowed_hosts, limit);
    Router::new()
        .merge(api::routes())
        .merge(webui::routes())
        .fallback(api::not_found)
        .layer(axum::Extension(BodyLimit(limit)))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
        .nest_service("/mcp", mcp)
        .layer(TraceLayer::new_for_http())
}

/// The OpenAPI document of the REST API (what `GET /api/schema/` serves).
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi::document()
}
