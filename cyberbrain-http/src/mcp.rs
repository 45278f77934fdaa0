//! `/mcp`: the MCP crate's Streamable HTTP service behind the same body limit as the REST API.
//!
//! The MCP service reads request bodies itself and reports a body it cannot read as a 500, so
//! the body is read here first, within the limit: too large is a 413 (JSON, as everywhere),
//! whether or not the client sent a Content-Length.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use cyberbrain_core::Cyberbrain;

use crate::api::json::{BodyLimit, read_body_draining_excess, too_large};

/// The service to nest at `/mcp`.
pub(crate) fn service(
    cb: Cyberbrain,
    allowed_hosts: Vec<String>,
    max_body_bytes: usize,
) -> impl tower::Service<
    Request,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    let mcp =
        cyberbrain_mcp::streamable_http_service(cb, cyberbrain_mcp::McpOptions { allowed_hosts });
    tower::ServiceBuilder::new()
        .layer(middleware::from_fn_with_state(
            BodyLimit(max_body_bytes),
            read_body_within_limit,
        ))
        .service(mcp)
}

async fn read_body_within_limit(
    State(BodyLimit(limit)): State<BodyLimit>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    match read_body_draining_excess(body, limit).await {
        Ok(Some(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(None) => too_large(Some(BodyLimit(limit))).into_response(),
        Err(error) => error.into_response(),
    }
}
