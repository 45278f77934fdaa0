//! The Streamable HTTP endpoint as a tower service the HTTP host mounts at `/mcp`.
//!
//! rmcp's `StreamableHttpService` speaks the protocol. In front of it this service answers one
//! extra request itself: `GET` asking for `application/json` (and not for an event stream) gets
//! the tool catalogue (SPEC §5), which rmcp would refuse with 406. Everything else, including
//! the `Host` check against DNS rebinding, is rmcp's; a session `DELETE` is acknowledged with 204
//! instead of rmcp's 202.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use cyberbrain_core::Cyberbrain;

use crate::McpOptions;
use crate::tools::CyberbrainMcp;

/// The body of every response from [`McpHttpService`].
pub type McpBody = BoxBody<Bytes, Infallible>;

/// `Host` values always accepted: the loopback names, with any port.
const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// MCP over Streamable HTTP: a `tower::Service` for any request body, ready for
/// `axum::Router::nest_service("/mcp", service)`. Cheap to clone; clones share sessions.
#[derive(Clone)]
pub struct McpHttpService {
    inner: StreamableHttpService<CyberbrainMcp, LocalSessionManager>,
    allowed_hosts: Arc<[String]>,
    catalog: Bytes,
}

impl std::fmt::Debug for McpHttpService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpHttpService")
            .field("allowed_hosts", &self.allowed_hosts)
            .finish_non_exhaustive()
    }
}

impl McpHttpService {
    pub(crate) fn new(cb: Cyberbrain, options: McpOptions) -> Self {
        let allowed_hosts: Arc<[String]> = LOOPBACK_HOSTS
            .iter()
            .map(ToString::to_string)
            .chain(
                options
                    .allowed_hosts
                    .iter()
                    .map(|host| host.trim().to_string()),
            )
            .filter(|host| !host.is_empty())
            .collect();
        let config =
            StreamableHttpServerConfig::default().with_allowed_hosts(allowed_hosts.iter().cloned());
        let inner = StreamableHttpService::new(
            move || Ok(CyberbrainMcp::new(cb.clone())),
            Arc::new(LocalSessionManager::default()),
            config,
        );
        let catalog = serde_json::json!({
            "transport": "streamable-http",
            "endpoint": "/mcp",
            "tools": crate::tool_catalog(),
        });
        Self {
            inner,
            allowed_hosts,
            catalog: Bytes::from(catalog.to_string()),
        }
    }

    fn catalog_response(&self, request_host: Option<Authority>) -> Response<McpBody> {
        // The same rule rmcp applies to protocol requests, so the catalogue is no easier to
        // reach from a rebinding page than the tools themselves.
        let allowed = request_host.is_some_and(|host| host.is_allowed(&self.allowed_hosts));
        if !allowed {
            return plain(
                StatusCode::FORBIDDEN,
                "Forbidden: Host header is not allowed",
            );
        }
        let mut response = Response::new(full(self.catalog.clone()));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

impl<B> tower::Service<Request<B>> for McpHttpService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<McpBody>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if request.method() == Method::GET && wants_catalog(request.headers()) {
            let response = self.catalog_response(Authority::of(&request));
            return Box::pin(futures::future::ready(Ok(response)));
        }
        // rmcp wants a body error it can display; boxing gives every body one.
        let request = request.map(|body| body.map_err(Into::<BoxError>::into));
        let is_delete = request.method() == Method::DELETE;
        let inner = self.inner.clone();
        Box::pin(async move {
            let mut response = inner.handle(request).await;
            // rmcp acknowledges a session DELETE with 202; the official Python client expects
            // 200 or 204 and logs a failed termination otherwise. The body is empty either way.
            if is_delete && response.status() == StatusCode::ACCEPTED {
                *response.status_mut() = StatusCode::NO_CONTENT;
            }
            Ok(response)
        })
    }
}

/// Whether the `Accept` header asks for JSON and not for an event stream (a client opening the
/// server-to-client SSE stream sends `text/event-stream`; that GET belongs to rmcp).
fn wants_catalog(headers: &HeaderMap) -> bool {
    let mut json = false;
    let mut event_stream = false;
    for media_type in accepted_media_types(headers) {
        json |= media_type.eq_ignore_ascii_case("application/json");
        event_stream |= media_type.eq_ignore_ascii_case("text/event-stream");
    }
    json && !event_stream
}

/// The media types of every `Accept` header, without parameters, leaving out those weighted
/// `q=0` (which means "not acceptable").
fn accepted_media_types(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|entry| {
            let mut parts = entry.split(';');
            let media_type = parts.next()?.trim();
            let refused = parts.any(|parameter| {
                parameter.split_once('=').is_some_and(|(name, weight)| {
                    name.trim().eq_ignore_ascii_case("q")
                        && weight.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
                })
            });
            (!refused && !media_type.is_empty()).then_some(media_type)
        })
}

/// The host (and port) a request was sent to, from `Host` or, for HTTP/2, the URI authority.
#[derive(Debug, PartialEq, Eq)]
struct Authority {
    host: String,
    port: Option<u16>,
}

impl Authority {
    fn of<B>(request: &Request<B>) -> Option<Self> {
        match request.headers().get(header::HOST) {
            Some(value) => Self::parse(value.to_str().ok()?),
            None => request.uri().authority().map(Self::from_uri),
        }
    }

    fn parse(value: &str) -> Option<Self> {
        http::uri::Authority::try_from(value.trim())
            .ok()
            .map(|authority| Self::from_uri(&authority))
    }

    fn from_uri(authority: &http::uri::Authority) -> Self {
        Self {
            host: normalize_host(authority.host()),
            port: authority.port_u16(),
        }
    }

    /// An allowed entry without a port accepts any port; one with a port only that port.
    fn is_allowed(&self, allowed_hosts: &[String]) -> bool {
        allowed_hosts.iter().any(|allowed| {
            let allowed = Self::parse(allowed).unwrap_or_else(|| Self {
                // A bare IPv6 address (`::1`) is not a valid authority; it is a host.
                host: normalize_host(allowed),
                port: None,
            });
            allowed.host == self.host && allowed.port.is_none_or(|port| self.port == Some(port))
        })
    }
}

fn normalize_host(host: &str) -> String {
    host.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

fn full(bytes: Bytes) -> McpBody {
    http_body_util::Full::new(bytes).boxed()
}

fn plain(status: StatusCode, message: &'static str) -> Response<McpBody> {
    let mut response = Response::new(full(Bytes::from_static(message.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::ACCEPT, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn only_json_without_event_stream_gets_the_catalogue() {
        assert!(wants_catalog(&accept(&["application/json"])));
        assert!(wants_catalog(&accept(&[
            "text/html, application/json;q=0.9"
        ])));
        assert!(wants_catalog(&accept(&[
            "application/json",
            "text/event-stream;q=0"
        ])));
        assert!(!wants_catalog(&accept(&[
            "application/json, text/event-stream"
        ])));
        assert!(!wants_catalog(&accept(&["text/event-stream"])));
        assert!(!wants_catalog(&accept(&["application/json;q=0"])));
        assert!(!wants_catalog(&accept(&["*/*"])));
        assert!(!wants_catalog(&HeaderMap::new()));
    }

    #[test]
    fn hosts_match_like_rmcp() {
        let allowed: Vec<String> = ["localhost", "127.0.0.1", "::1", "box.lan:9595"]
            .map(String::from)
            .to_vec();
        let host = |value: &str| Authority::parse(value).expect("a valid authority");
        assert!(host("localhost:9595").is_allowed(&allowed));
        assert!(host("LOCALHOST").is_allowed(&allowed));
        assert!(host("127.0.0.1:1").is_allowed(&allowed));
        assert!(host("[::1]:9595").is_allowed(&allowed));
        assert!(host("box.lan:9595").is_allowed(&allowed));
        assert!(
            !host("box.lan:8080").is_allowed(&allowed),
            "the entry pins the port"
        );
        assert!(!host("box.lan").is_allowed(&allowed));
        assert!(!host("evil.example:9595").is_allowed(&allowed));
        assert!(!host("localhost.evil.example").is_allowed(&allowed));
        assert_eq!(Authority::parse("bad host"), None);
    }
}
