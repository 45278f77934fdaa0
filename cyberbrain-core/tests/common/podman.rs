//! Fixtures on the real Docker-API engine (`scripts/podman.sh up`): a user network and
//! labelled containers from the locally built `localhost/busybox:latest`, removed again when
//! the fixture is dropped (also after a failed assertion).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, NetworkCreateRequest, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, StartContainerOptions,
};
use chrono::Utc;
use cyberbrain_core::container::{ContainerEngine, DockerEngine, LogLine};

pub const IMAGE: &str = "localhost/busybox:latest";

/// The engine under test; never skipped: without one the test fails and says how to start it.
pub fn docker_host() -> String {
    std::env::var("CYBERBRAIN_TEST_DOCKER_HOST")
        .or_else(|_| std::env::var("DOCKER_HOST"))
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| {
            panic!(
                "no container engine to test against: run `scripts/podman.sh up` and set \
                 CYBERBRAIN_TEST_DOCKER_HOST (or DOCKER_HOST) to the DOCKER_HOST it prints"
            )
        })
}

/// A raw bollard client for creating fixtures (the engine under test only reads).
pub fn fixture_client(docker_host: &str) -> Docker {
    let connected = match docker_host.strip_prefix("unix://") {
        Some(path) => Docker::connect_with_unix(path, 60, bollard::API_DEFAULT_VERSION),
        None => Docker::connect_with_http(docker_host, 60, bollard::API_DEFAULT_VERSION),
    };
    connected.unwrap_or_else(|e| {
        panic!("cannot use {docker_host} ({e}); is `scripts/podman.sh up` running?")
    })
}

/// Names unique to one test of one process.
pub fn unique_prefix(test: &str) -> String {
    format!(
        "cbrun-{test}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_micros()
    )
}

/// One container to create.
#[derive(Debug, Clone, Default)]
pub struct Spec<'a> {
    pub name: &'a str,
    pub labels: &'a [(&'a str, &'a str)],
    pub cmd: &'a [&'a str],
    /// Container ports to expose, e.g. `"5432/tcp"`.
    pub expose: &'a [&'a str],
    /// Also publish every exposed port on a host port the engine picks. Podman lists only
    /// published ports (Docker lists exposed ones too), so a test that needs a container's port
    /// in the listing publishes it.
    pub publish: bool,
}

/// A network and containers this test created.
pub struct Fixtures {
    pub docker_host: String,
    pub docker: Docker,
    pub network: String,
    containers: Vec<String>,
}

impl Fixtures {
    /// Pings the engine and creates the user network `name`.
    pub async fn new(network: &str) -> Fixtures {
        let docker_host = docker_host();
        let engine = DockerEngine::connect(&docker_host).expect("DOCKER_HOST parses");
        engine.ping().await.unwrap_or_else(|e| {
            panic!("{docker_host} does not answer /_ping: {e}; run `scripts/podman.sh up`")
        });
        let docker = fixture_client(&docker_host);
        docker
            .create_network(NetworkCreateRequest {
                name: network.to_string(),
                driver: Some("bridge".into()),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("creating network {network}: {e}"));
        Fixtures {
            docker_host,
            docker,
            network: network.to_string(),
            containers: Vec::new(),
        }
    }

    /// The engine under test, talking to the same service.
    pub fn engine(&self) -> DockerEngine {
        DockerEngine::connect(&self.docker_host).expect("DOCKER_HOST parses")
    }

    /// Creates and starts a container on the fixture network; returns its id.
    pub async fn container(&mut self, spec: Spec<'_>) -> String {
        let body = ContainerCreateBody {
            image: Some(IMAGE.into()),
            cmd: Some(spec.cmd.iter().map(|s| s.to_string()).collect()),
            labels: Some(
                spec.labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<HashMap<_, _>>(),
            ),
            exposed_ports: (!spec.expose.is_empty())
                .then(|| spec.expose.iter().map(|p| p.to_string()).collect()),
            host_config: Some(HostConfig {
                network_mode: Some(self.network.clone()),
                port_bindings: spec.publish.then(|| {
                    spec.expose
                        .iter()
                        .map(|port| {
                            // An empty host port lets the engine pick a free one.
                            let binding = PortBinding {
                                host_ip: None,
                                host_port: Some(String::new()),
                            };
                            (port.to_string(), Some(vec![binding]))
                        })
                        .collect()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(
                Some(
                    CreateContainerOptionsBuilder::default()
                        .name(spec.name)
                        .build(),
                ),
                body,
            )
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "creating {} from {IMAGE}: {e} (does `scripts/podman.sh up` run, which \
                     builds the image?)",
                    spec.name
                )
            });
        self.containers.push(created.id.clone());
        self.docker
            .start_container(&created.id, None::<StartContainerOptions>)
            .await
            .unwrap_or_else(|e| panic!("starting {}: {e}", spec.name));
        created.id
    }

    /// Waits until the engine returns at least `lines` log lines of `container`.
    pub async fn wait_for_log_lines(&self, container: &str, lines: usize) {
        self.wait_for_logs(container, |got| got.len() >= lines)
            .await;
    }

    /// Polls `container`'s logs until `done` holds (at most 30s); returns the lines it saw.
    pub async fn wait_for_logs(
        &self,
        container: &str,
        done: impl Fn(&[LogLine]) -> bool,
    ) -> Vec<LogLine> {
        let engine = self.engine();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = engine.logs(container, None, 1000).await.expect("logs");
            if done(&got) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "the expected log lines of {container} did not appear within 30s: {got:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Force-removes a container (already gone is fine).
pub async fn remove_container(docker: &Docker, id: &str) {
    let options = RemoveContainerOptionsBuilder::default().force(true).build();
    let _ = docker.remove_container(id, Some(options)).await;
}

impl Drop for Fixtures {
    fn drop(&mut self) {
        let host = self.docker_host.clone();
        let containers = std::mem::take(&mut self.containers);
        let network = self.network.clone();
        // Drop cannot await inside the test's runtime; clean up on a runtime of our own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            runtime.block_on(async {
                let docker = fixture_client(&host);
                for id in &containers {
                    remove_container(&docker, id).await;
                }
                let _ = docker.remove_network(&network).await;
            });
        });
        let _ = cleanup.join();
    }
}
