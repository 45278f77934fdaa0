//! [`ContainerEngine`] over the Docker Engine API: a Docker daemon, or Podman's compatible
//! `podman system service`. bollard negotiates the API version, pings and streams logs; the
//! container and network endpoints are read as plain JSON into lenient models (`raw`,
//! `convert`), because bollard's generated models reject state names Podman sends.
//!
//! The client is created on first use, not in [`DockerEngine::connect`]: a host can start while
//! the engine is still down, and every call then reports `Unavailable` until it is up.

mod convert;
mod logs;
mod raw;

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use bollard::errors::Error as BollardError;
use bollard::query_parameters::LogsOptionsBuilder;
use bollard::{API_DEFAULT_VERSION, Docker};
use futures::StreamExt;
use tokio::sync::OnceCell;

use super::{ContainerDetails, ContainerEngine, ContainerSummary, LogLine, NetworkSummary};
use crate::domain::Timestamp;
use crate::{Error, Result};

/// The config field (and environment variable) that names the engine, for error messages.
const SETTING: &str = "containers.docker_host";
const COMPONENT: &str = "container engine";
/// Per-request limit; `with_timeout` changes it.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the engine listens, parsed from `DOCKER_HOST`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    /// Path of a unix socket.
    Unix(String),
    /// `host:port` of a plain-HTTP endpoint.
    Tcp(String),
}

/// The Docker Engine API client. Cheap to share behind an `Arc`.
pub struct DockerEngine {
    docker_host: String,
    endpoint: Endpoint,
    timeout: Duration,
    client: OnceCell<Clients>,
}

/// bollard for pings, versions and log streams; plain JSON GETs (lenient models) for the
/// container and network endpoints.
struct Clients {
    docker: Docker,
    raw: raw::RawClient,
}

impl fmt::Debug for DockerEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerEngine")
            .field("docker_host", &self.docker_host)
            .field("timeout", &self.timeout)
            .field("connected", &self.client.initialized())
            .finish()
    }
}

/// What the engine says about itself (for `health` and `doctor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineVersion {
    /// Engine version, e.g. `27.3.1` (Docker) or `4.3.1` (Podman).
    pub version: String,
    /// Highest API version the engine speaks, e.g. `1.41`.
    pub api_version: String,
    /// First component name, e.g. `Engine` (Docker) or `Podman Engine`.
    pub product: String,
}

impl DockerEngine {
    /// Parses `docker_host` (`unix:///path.sock`, a bare absolute socket path, `tcp://host:port`
    /// or `http://host:port`). Does not contact the engine.
    pub fn connect(docker_host: &str) -> Result<Self> {
        let docker_host = docker_host.trim();
        let endpoint = parse_docker_host(docker_host)?;
        Ok(Self {
            docker_host: docker_host.to_string(),
            endpoint,
            timeout: DEFAULT_TIMEOUT,
            client: OnceCell::new(),
        })
    }

    /// Limit for each call (default 60 s); a call that takes longer is `Unavailable`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_secs(1));
        self
    }

    /// The `DOCKER_HOST` this engine talks to, as configured.
    pub fn docker_host(&self) -> &str {
        &self.docker_host
    }

    /// Checks that the engine answers `/_ping`.
    pub async fn ping(&self) -> Result<()> {
        let docker = &self.client().await?.docker;
        self.timed("ping", docker.ping()).await.map(|_| ())
    }

    /// The engine's version and API version.
    pub async fn version(&self) -> Result<EngineVersion> {
        let docker = &self.client().await?.docker;
        let version = self
            .timed("read the engine version", docker.version())
            .await?;
        Ok(EngineVersion {
            version: version.version.unwrap_or_default(),
            api_version: version.api_version.unwrap_or_default(),
            product: version
                .components
                .and_then(|c| c.into_iter().next())
                .map(|c| c.name)
                .unwrap_or_default(),
        })
    }

    /// The clients, created (and the API version negotiated down to the engine's) on first
    /// use. A failed attempt is retried on the next call.
    async fn client(&self) -> Result<&Clients> {
        self.client
            .get_or_try_init(|| async {
                let timeout_s = self.timeout.as_secs();
                let docker = match &self.endpoint {
                    Endpoint::Unix(path) => {
                        Docker::connect_with_unix(path, timeout_s, API_DEFAULT_VERSION)
                    }
                    Endpoint::Tcp(addr) => {
                        Docker::connect_with_http(addr, timeout_s, API_DEFAULT_VERSION)
                    }
                }
                .map_err(|e| self.error("connect", e))?;
                // bollard speaks API 1.53 by default; older engines refuse newer clients.
                let docker = self
                    .timed("negotiate the API version", docker.negotiate_version())
                    .await?;
                let raw = raw::RawClient::new(&self.endpoint, &docker.client_version().to_string());
                Ok(Clients { docker, raw })
            })
            .await
    }

    /// Runs one engine call under the timeout and maps its error.
    async fn timed<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, BollardError>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result.map_err(|e| self.error(what, e)),
            Err(_) => Err(self.timeout_error(what)),
        }
    }

    fn timeout_error(&self, what: &str) -> Error {
        Error::unavailable(
            COMPONENT,
            format!(
                "no answer within {}s to `{what}` from {} ({SETTING} / DOCKER_HOST); check that the engine is healthy",
                self.timeout.as_secs(),
                self.docker_host
            ),
        )
    }

    /// Maps a bollard error: unreachable engine → `Unavailable` naming `DOCKER_HOST` and the
    /// fix; anything else → `Backend` with what was being done.
    fn error(&self, what: &str, err: BollardError) -> Error {
        let fix = "start Docker (or Podman's API service: scripts/podman.sh up) or correct containers.docker_host / DOCKER_HOST";
        match err {
            BollardError::SocketNotFoundError(path) => Error::unavailable(
                COMPONENT,
                format!(
                    "no socket at {path} ({SETTING} / DOCKER_HOST = {}); {fix}",
                    self.docker_host
                ),
            ),
            BollardError::RequestTimeoutError => self.timeout_error(what),
            BollardError::HyperLegacyError { err } if err.is_connect() => Error::unavailable(
                COMPONENT,
                format!(
                    "cannot connect to {} ({SETTING} / DOCKER_HOST): {}; {fix}",
                    self.docker_host,
                    error_chain(&err)
                ),
            ),
            BollardError::IOError { err } => Error::unavailable(
                COMPONENT,
                format!(
                    "I/O error talking to {} ({SETTING} / DOCKER_HOST): {err}; {fix}",
                    self.docker_host
                ),
            ),
            BollardError::DockerResponseServerError {
                status_code,
                message,
            } => Error::backend(format!(
                "the container engine at {} answered {status_code} to `{what}`: {message}",
                self.docker_host
            )),
            other => Error::backend_with(
                format!(
                    "container engine call `{what}` to {} failed",
                    self.docker_host
                ),
                other,
            ),
        }
    }
}

#[async_trait]
impl ContainerEngine for DockerEngine {
    async fn list_containers(&self) -> Result<Vec<ContainerSummary>> {
        let raw = &self.client().await?.raw;
        let containers: Vec<convert::ApiContainer> = self
            .timed("list containers", raw.get_json("/containers/json?all=1"))
            .await?;
        Ok(containers
            .into_iter()
            .filter_map(convert::summary_from_list)
            .collect())
    }

    async fn list_networks(&self) -> Result<Vec<NetworkSummary>> {
        let raw = &self.client().await?.raw;
        let networks: Vec<convert::ApiNetwork> = self
            .timed("list networks", raw.get_json("/networks"))
            .await?;
        let mut summaries = Vec::with_capacity(networks.len());
        let mut seen = HashSet::new();
        for network in networks {
            let Some(key) = network.id.clone().or_else(|| network.name.clone()) else {
                continue;
            };
            if !seen.insert(key.clone()) || !convert::is_safe_reference(&key) {
                continue;
            }
            // The list items of API 1.44+ carry no member containers; inspect has them.
            let path = format!("/networks/{key}");
            let inspect = raw.get_json(&path);
            match docker_call(self, "inspect network", inspect).await {
                Ok(inspected) => {
                    summaries.push(convert::network_from_inspect(inspected, &network));
                }
                // Removed between listing and inspecting: it is gone, not an error.
                Err(CallError::NotFound) => {}
                Err(CallError::Other(e)) => return Err(e),
            }
        }
        Ok(summaries)
    }

    async fn inspect_container(&self, id: &str) -> Result<ContainerDetails> {
        let reference = container_reference(id)?;
        let raw = &self.client().await?.raw;
        let path = format!("/containers/{reference}/json");
        let inspect = raw.get_json(&path);
        match docker_call(self, "inspect container", inspect).await {
            Ok(inspected) => convert::details_from_inspect(inspected).ok_or_else(|| {
                Error::backend(format!(
                    "the container engine at {} answered inspect of container {reference} without an id",
                    self.docker_host
                ))
            }),
            Err(CallError::NotFound) => Err(Error::not_found("container", reference)),
            Err(CallError::Other(e)) => Err(e),
        }
    }

    async fn logs(&self, id: &str, since: Option<Timestamp>, tail: u32) -> Result<Vec<LogLine>> {
        let reference = container_reference(id)?;
        let docker = &self.client().await?.docker;
        let mut options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .timestamps(true);
        options = match since {
            // The API takes whole seconds; the exact cut happens below.
            Some(since) => options.since(clamp_unix_seconds(since)).tail("all"),
            None => options.tail(&tail.to_string()),
        };
        let mut stream = docker.logs(reference, Some(options.build()));
        let mut collector = logs::LineCollector::default();
        let read = async {
            while let Some(frame) = stream.next().await {
                collector.push(frame?);
            }
            Ok::<_, BollardError>(())
        };
        let outcome = match tokio::time::timeout(self.timeout, read).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            })) => Err(CallError::NotFound),
            Ok(Err(e)) => Err(CallError::Other(self.error("read container logs", e))),
            Err(_) => Err(CallError::Other(self.timeout_error("read container logs"))),
        };
        match outcome {
            Ok(()) => Ok(logs::keep_since(collector.finish(), since)),
            // A container that vanished has no logs (trait contract), not an error.
            Err(CallError::NotFound) => Ok(Vec::new()),
            Err(CallError::Other(e)) => Err(e),
        }
    }
}

/// A call's error with 404 kept apart, so each method decides what "gone" means.
enum CallError {
    NotFound,
    Other(Error),
}

async fn docker_call<T>(
    engine: &DockerEngine,
    what: &str,
    call: impl Future<Output = Result<T, BollardError>>,
) -> Result<T, CallError> {
    match tokio::time::timeout(engine.timeout, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(BollardError::DockerResponseServerError {
            status_code: 404, ..
        })) => Err(CallError::NotFound),
        Ok(Err(e)) => Err(CallError::Other(engine.error(what, e))),
        Err(_) => Err(CallError::Other(engine.timeout_error(what))),
    }
}

/// A container id or name as the API path takes it. bollard puts it into the URL path
/// unescaped, so anything but Docker's id/name alphabet is refused here.
fn container_reference(id: &str) -> Result<&str> {
    let reference = id.trim().trim_start_matches('/');
    if convert::is_safe_reference(reference) {
        Ok(reference)
    } else {
        Err(Error::invalid(
            "container",
            format!(
                "{id:?} is not a container id or name (letters, digits, '_', '.', '-', at most 255 characters, starting with a letter or digit)"
            ),
        ))
    }
}

/// `since` as the API's 32-bit unix seconds, rounded down (the exact cut is done client-side).
fn clamp_unix_seconds(since: Timestamp) -> i32 {
    i32::try_from(since.timestamp().max(0)).unwrap_or(i32::MAX)
}

fn parse_docker_host(docker_host: &str) -> Result<Endpoint> {
    let invalid = |message: String| Error::invalid(SETTING, message);
    if docker_host.is_empty() {
        return Err(invalid(
            "is empty: set containers.docker_host or DOCKER_HOST to the engine, e.g. unix:///var/run/docker.sock or tcp://127.0.0.1:2375".into(),
        ));
    }
    if let Some(path) = docker_host.strip_prefix("unix://") {
        if !path.starts_with('/') {
            return Err(invalid(format!(
                "{docker_host:?} has no absolute socket path; write unix:///path/to/docker.sock"
            )));
        }
        return Ok(Endpoint::Unix(path.to_string()));
    }
    if docker_host.starts_with('/') {
        return Ok(Endpoint::Unix(docker_host.to_string()));
    }
    let rest = docker_host
        .strip_prefix("tcp://")
        .or_else(|| docker_host.strip_prefix("http://"));
    let Some(rest) = rest else {
        let scheme = docker_host.split("://").next().unwrap_or(docker_host);
        let hint = if docker_host.contains("://") {
            format!(
                "the scheme {scheme:?} is not supported (TLS and SSH are not built in); use unix:///path.sock, tcp://host:port or http://host:port"
            )
        } else {
            "has no scheme; use unix:///path.sock, tcp://host:port or http://host:port".to_string()
        };
        return Err(invalid(format!("{docker_host:?}: {hint}")));
    };
    let authority = rest.trim_end_matches('/');
    let parsed = url::Url::parse(&format!("http://{authority}"))
        .ok()
        .filter(|u| u.path() == "/" && u.query().is_none() && u.host_str().is_some());
    match parsed {
        Some(url) if url.port().is_some() => Ok(Endpoint::Tcp(authority.to_string())),
        Some(_) => Err(invalid(format!(
            "{docker_host:?} has no port; write tcp://host:port (Docker's plain-HTTP port is usually 2375)"
        ))),
        None => Err(invalid(format!(
            "{docker_host:?} is not host:port after the scheme; write tcp://host:port"
        ))),
    }
}

/// `err` and its sources, joined, for a message a user can act on (e.g. "Connection refused").
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let next = inner.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_host_forms() {
        assert_eq!(
            parse_docker_host("unix:///run/docker.sock").unwrap(),
            Endpoint::Unix("/run/docker.sock".into())
        );
        assert_eq!(
            parse_docker_host("/run/podman/podman.sock").unwrap(),
            Endpoint::Unix("/run/podman/podman.sock".into())
        );
        assert_eq!(
            parse_docker_host("tcp://127.0.0.1:2375").unwrap(),
            Endpoint::Tcp("127.0.0.1:2375".into())
        );
        assert_eq!(
            parse_docker_host("http://docker.internal:2375/").unwrap(),
            Endpoint::Tcp("docker.internal:2375".into())
        );
        assert_eq!(
            parse_docker_host("tcp://[::1]:2375").unwrap(),
            Endpoint::Tcp("[::1]:2375".into())
        );
    }

    #[test]
    fn bad_docker_hosts_name_the_setting_and_the_fix() {
        for (input, expected) in [
            ("", "DOCKER_HOST"),
            ("unix://relative.sock", "absolute socket path"),
            ("tcp://127.0.0.1", "no port"),
            ("ssh://user@host", "not supported"),
            ("https://host:2376", "not supported"),
            ("docker.sock", "no scheme"),
            ("tcp://host:2375/path", "host:port"),
        ] {
            let err = DockerEngine::connect(input).unwrap_err();
            let Error::InvalidInput(fields) = &err else {
                panic!("{input:?} gave {err:?}");
            };
            let message = fields.to_string();
            assert!(
                message.starts_with("containers.docker_host: "),
                "{input:?}: {message}"
            );
            assert!(message.contains(expected), "{input:?}: {message}");
        }
    }

    #[test]
    fn container_references_stay_inside_the_url_path() {
        assert_eq!(container_reference("/web").unwrap(), "web");
        assert_eq!(container_reference("4f1c2a9be0d3").unwrap(), "4f1c2a9be0d3");
        assert_eq!(container_reference("my_app.db-1").unwrap(), "my_app.db-1");
        for bad in [
            "",
            "../networks",
            "web?all=1",
            "a/b",
            "web#x",
            "-web",
            "we b",
        ] {
            assert!(
                matches!(container_reference(bad), Err(Error::InvalidInput(_))),
                "{bad:?} must be refused"
            );
        }
    }

    #[tokio::test]
    async fn connect_does_not_contact_the_engine_and_a_missing_socket_is_unavailable() {
        let engine = DockerEngine::connect("unix:///nonexistent/cyberbrain/docker.sock").unwrap();
        let err = engine.list_containers().await.unwrap_err();
        let Error::Unavailable { component, message } = &err else {
            panic!("expected Unavailable, got {err:?}");
        };
        assert_eq!(component, "container engine");
        assert!(
            message.contains("/nonexistent/cyberbrain/docker.sock")
                && message.contains("DOCKER_HOST"),
            "{message}"
        );
        assert!(err.is_retryable());
    }

    #[test]
    fn since_is_clamped_to_the_api_range() {
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 900_000_000).unwrap();
        assert_eq!(clamp_unix_seconds(at), 1_700_000_000);
        let before_epoch = chrono::DateTime::from_timestamp(-5, 0).unwrap();
        assert_eq!(clamp_unix_seconds(before_epoch), 0);
    }
}
