//! Component health for `/api/health` and `cyberbrain doctor`.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use super::Cyberbrain;

/// Whether a component works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ComponentState {
    Ok,
    /// Configured but not working; the product keeps running without it.
    Unavailable,
    /// Not configured (an optional component).
    NotConfigured,
}

/// One component's state and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ComponentHealth {
    pub state: ComponentState,
    /// What works, or what is wrong and how to fix it.
    pub detail: String,
}

impl ComponentHealth {
    pub fn ok(detail: impl Into<String>) -> Self {
        Self {
            state: ComponentState::Ok,
            detail: detail.into(),
        }
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self {
            state: ComponentState::Unavailable,
            detail: detail.into(),
        }
    }

    pub fn not_configured(detail: impl Into<String>) -> Self {
        Self {
            state: ComponentState::NotConfigured,
            detail: detail.into(),
        }
    }
}

/// The state of every component. `status` is `ok` when the database works: the other
/// components are optional and only degrade the steps that need them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `ok` when the database works, else `degraded`.
    pub status: &'static str,
    /// Server version.
    pub version: &'static str,
    pub database: ComponentHealth,
    pub llm: ComponentHealth,
    pub embedder: ComponentHealth,
    /// The container engine.
    pub engine: ComponentHealth,
}

/// The longest one component's probe may take, so `/api/health` (and the dashboard) answer
/// quickly even when a component hangs.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

impl Cyberbrain {
    /// Checks each component, the optional ones by actually reaching them (`GET …/models` at the
    /// vetted LLM addresses, a network listing from the container engine), each bounded by a
    /// short timeout and all at once. Never fails: a broken component is reported, not raised.
    pub async fn health(&self) -> Health {
        let (database, llm, embedder, engine) = tokio::join!(
            self.database_health(),
            self.llm_health(),
            self.embedder_health(),
            self.engine_health()
        );
        Health {
            status: if database.state == ComponentState::Ok {
                "ok"
            } else {
                "degraded"
            },
            version: env!("CARGO_PKG_VERSION"),
            database,
            llm,
            embedder,
            engine,
        }
    }

    async fn database_health(&self) -> ComponentHealth {
        match self.store.info().await {
            Ok(info) => ComponentHealth::ok(format!(
                "{} {} (schema {})",
                info.backend, info.version, info.schema_version
            )),
            Err(e) => ComponentHealth::unavailable(e.to_string()),
        }
    }

    /// Locality first (G1, resolved now), then whether an LLM server answers there.
    async fn llm_health(&self) -> ComponentHealth {
        let config = &self.config.llm;
        let endpoint = config.endpoint.trim();
        // The async check: the blocking resolver must not stall a request thread.
        let addresses = match crate::guardrails::locality::check_endpoint_at_connect(
            endpoint,
            &config.allow_hosts,
        )
        .await
        {
            Ok(addresses) => addresses,
            Err(e) => return ComponentHealth::unavailable(e.to_string()),
        };
        let Some(llm) = &self.llm else {
            return ComponentHealth::not_configured(format!(
                "endpoint {endpoint} (model {}), but no LLM client is attached, so LLM steps \
                 fail; hosts attach the configured one with with_configured_plugins()",
                config.model
            ));
        };
        if !names_endpoint(endpoint, llm.endpoint_host()) {
            // An embedder's own LLM (a Python callable, a test double): nothing to dial.
            return ComponentHealth::ok(format!(
                "LLM {} (model {}) attached by the host; not probed",
                llm.endpoint_host(),
                llm.model()
            ));
        }
        probe_models(
            endpoint,
            &addresses,
            self.config.llm.api_key.expose(),
            llm.model(),
        )
        .await
    }

    /// Whether the attached engine answers a network listing (which names no container, G5).
    /// Embeds a short text: proves the runtime and the model files load and answer.
    async fn embedder_health(&self) -> ComponentHealth {
        let embedder = match self.require_embedder() {
            Ok(embedder) => embedder,
            Err(e) => return ComponentHealth::not_configured(e.to_string()),
        };
        let probe = vec!["health check".to_string()];
        match tokio::time::timeout(PROBE_TIMEOUT, embedder.embed(&probe)).await {
            Ok(Ok(vectors)) if vectors.first().map(Vec::len) == Some(embedder.dimension()) => {
                ComponentHealth::ok(format!(
                    "{} ({} dimensions)",
                    embedder.model_id(),
                    embedder.dimension()
                ))
            }
            Ok(Ok(_)) => ComponentHealth::unavailable(format!(
                "{} returned no {}-dimension vector",
                embedder.model_id(),
                embedder.dimension()
            )),
            Ok(Err(e)) => ComponentHealth::unavailable(e.to_string()),
            // The first call loads the model; a later probe finds it loaded.
            Err(_) => ComponentHealth::unavailable(format!(
                "{} did not answer within {} s (loading the model?)",
                embedder.model_id(),
                PROBE_TIMEOUT.as_secs()
            )),
        }
    }

    async fn engine_health(&self) -> ComponentHealth {
        let docker_host = self.config.containers.docker_host.trim();
        let Some(engine) = &self.containers else {
            return ComponentHealth::not_configured(if docker_host.is_empty() {
                "DOCKER_HOST is not set; container steps report container_engine_unavailable"
                    .to_string()
            } else {
                format!(
                    "DOCKER_HOST={docker_host}, but no engine client is attached; hosts attach \
                     the configured one with with_configured_plugins()"
                )
            });
        };
        let shown = if docker_host.is_empty() {
            "the attached engine".to_string()
        } else {
            format!("DOCKER_HOST={docker_host}")
        };
        match tokio::time::timeout(PROBE_TIMEOUT, engine.list_networks()).await {
            Ok(Ok(networks)) => {
                ComponentHealth::ok(format!("{shown} answers ({} networks)", networks.len()))
            }
            Ok(Err(e)) => ComponentHealth::unavailable(format!(
                "{shown} does not answer: {e}; start Docker or Podman, or fix DOCKER_HOST"
            )),
            Err(_) => ComponentHealth::unavailable(format!(
                "{shown} did not answer within {} s",
                PROBE_TIMEOUT.as_secs()
            )),
        }
    }
}

/// Whether an LLM's accounting host (`host[:port]` as written in its endpoint) is the
/// configured endpoint's, i.e. the attached client is the configured one.
fn names_endpoint(endpoint: &str, llm_host: &str) -> bool {
    let Ok(url) = url::Url::parse(endpoint) else {
        return false;
    };
    let Some(host) = url.host_str() else {
        return false;
    };
    let written = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    written.eq_ignore_ascii_case(llm_host)
}

/// `GET {endpoint}/models` (every OpenAI-compatible server lists its models there) against the
/// vetted addresses only, without proxies or redirects: a 2xx means an LLM server answers. A
/// bare TCP connection would prove little, since a proxy or another service may accept it.
#[cfg(feature = "openai")]
async fn probe_models(
    endpoint: &str,
    addresses: &[SocketAddr],
    api_key: &str,
    model: &str,
) -> ComponentHealth {
    let path = format!("{}/models", endpoint.trim_end_matches('/'));
    let host = url::Url::parse(endpoint)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
        .unwrap_or_default();
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(PROBE_TIMEOUT)
        .resolve_to_addrs(&host, addresses)
        .build();
    let client = match client {
        Ok(client) => client,
        Err(e) => {
            return ComponentHealth::unavailable(format!(
                "cannot set up the probe: {}",
                root_cause(&e)
            ));
        }
    };
    let mut request = client.get(&path);
    if !api_key.is_empty() {
        request = request.bearer_auth(api_key);
    }
    match request.send().await {
        Ok(response) if response.status().is_success() => ComponentHealth::ok(format!(
            "{endpoint} (model {model}) answers GET …/models with {}",
            response.status().as_u16()
        )),
        Ok(response) => ComponentHealth::unavailable(format!(
            "{endpoint} answers GET …/models with {}; is it an OpenAI-compatible base URL \
             ending in /v1 (and llm.api_key right)?",
            response.status().as_u16()
        )),
        Err(e) if e.is_timeout() => ComponentHealth::unavailable(format!(
            "{endpoint} did not answer within {} s; only the LLM steps fail meanwhile",
            PROBE_TIMEOUT.as_secs()
        )),
        Err(e) => ComponentHealth::unavailable(format!(
            "{endpoint} does not answer ({}); start the LLM server or set LLM_ENDPOINT — only \
             the LLM steps fail meanwhile",
            root_cause(&e)
        )),
    }
}

/// Without the HTTP client (feature `openai`) no configured client can be attached either, so
/// this only runs for a host's own LLM that happens to share the configured host.
#[cfg(not(feature = "openai"))]
async fn probe_models(
    endpoint: &str,
    _addresses: &[SocketAddr],
    _api_key: &str,
    model: &str,
) -> ComponentHealth {
    ComponentHealth::ok(format!(
        "{endpoint} (model {model}) attached by the host; not probed"
    ))
}

/// The innermost cause: "connection refused", not "error sending request for url (…)", which
/// would also print the URL and any user info in it.
#[cfg(feature = "openai")]
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configured_client_is_recognised_by_its_host() {
        assert!(names_endpoint(
            "http://127.0.0.1:11434/v1",
            "127.0.0.1:11434"
        ));
        assert!(names_endpoint("http://LLM.lan/v1", "llm.lan"));
        assert!(!names_endpoint("http://127.0.0.1:11434/v1", "scripted"));
        assert!(!names_endpoint("not a url", "scripted"));
    }
}
