//! `DockerEngine` against a real Docker-Engine-API service (Podman's, from `scripts/podman.sh up`).
//!
//! Run:
//!   eval "$(scripts/podman.sh up)"   # prints DOCKER_HOST=unix://…/podman.sock
//!   CYBERBRAIN_TEST_DOCKER_HOST=$DOCKER_HOST \
//!     cargo test -p cyberbrain-core --features docker,testing --test docker_engine
//!
//! Each test creates its own network and containers (unique names, from the locally built
//! `localhost/busybox:latest`) and removes them again, also when it fails.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, NetworkCreateRequest, PortBinding};
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};
use chrono::Utc;
use cyberbrain_core::Error;
use cyberbrain_core::container::{AllowlistedEngine, ContainerEngine, DockerEngine, LogLine};
use cyberbrain_core::domain::AllowlistEntry;

const IMAGE: &str = "localhost/busybox:latest";

/// The engine under test; never skipped: without one the test fails and says how to start it.
fn docker_host() -> String {
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
fn fixture_client(docker_host: &str) -> Docker {
    let connected = match docker_host.strip_prefix("unix://") {
        Some(path) => Docker::connect_with_unix(path, 60, bollard::API_DEFAULT_VERSION),
        None => Docker::connect_with_http(docker_host, 60, bollard::API_DEFAULT_VERSION),
    };
    connected.unwrap_or_else(|e| {
        panic!("cannot use {docker_host} ({e}); is `scripts/podman.sh up` running?")
    })
}

fn unique_prefix(test: &str) -> String {
    format!(
        "cbtest-{test}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_micros()
    )
}

/// Containers and a network this test created; removed on drop, also after a failed assertion.
struct Fixtures {
    docker_host: String,
    containers: Vec<String>,
    network: Option<String>,
}

impl Fixtures {
    fn new(docker_host: &str) -> Self {
        Self {
            docker_host: docker_host.to_string(),
            containers: Vec::new(),
            network: None,
        }
    }

    async fn network(&mut self, docker: &Docker, name: &str) {
        docker
            .create_network(NetworkCreateRequest {
                name: name.to_string(),
                driver: Some("bridge".into()),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("creating network {name}: {e}"));
        self.network = Some(name.to_string());
    }

    /// Creates and starts a container; returns its id.
    async fn container(
        &mut self,
        docker: &Docker,
        name: &str,
        labels: &[(&str, &str)],
        cmd: &[&str],
        network: &str,
        publish: Option<&str>,
    ) -> String {
        let port_bindings = publish.map(|port| {
            // An empty host port lets the engine pick a free one.
            HashMap::from([(
                port.to_string(),
                Some(vec![PortBinding {
                    host_ip: None,
                    host_port: Some(String::new()),
                }]),
            )])
        });
        let body = ContainerCreateBody {
            image: Some(IMAGE.into()),
            cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            exposed_ports: publish.map(|p| vec![p.to_string()]),
            host_config: Some(HostConfig {
                network_mode: Some(network.to_string()),
                port_bindings,
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = docker
            .create_container(
                Some(CreateContainerOptionsBuilder::default().name(name).build()),
                body,
            )
            .await
            .unwrap_or_else(|e| {
                panic!("creating {name} from {IMAGE}: {e} (does `scripts/podman.sh up` run, which builds the image?)")
            });
        self.containers.push(created.id.clone());
        docker
            .start_container(
                &created.id,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        created.id
    }
}

async fn remove_container(docker: &Docker, id: &str) {
    let options = RemoveContainerOptionsBuilder::default().force(true).build();
    // Already gone is fine: this is cleanup.
    let _ = docker.remove_container(id, Some(options)).await;
}

impl Drop for Fixtures {
    fn drop(&mut self) {
        let host = self.docker_host.clone();
        let containers = std::mem::take(&mut self.containers);
        let network = self.network.take();
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
                if let Some(network) = network {
                    let _ = docker.remove_network(&network).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// Polls the logs until `done` holds (the container writes one pair of lines a second).
async fn wait_for_logs(
    engine: &DockerEngine,
    id: &str,
    done: impl Fn(&[LogLine]) -> bool,
) -> Vec<LogLine> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lines = engine.logs(id, None, 1000).await.expect("logs");
        if done(&lines) {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "the expected log lines did not appear within 30s; got {lines:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn has(lines: &[LogLine], stream: &str, text: &str) -> bool {
    lines.iter().any(|l| l.stream == stream && l.line == text)
}

fn entry(container_id: &str) -> AllowlistEntry {
    AllowlistEntry {
        id: 1,
        container_id: container_id.into(),
        name: String::new(),
        description: String::new(),
        enabled: true,
        tags: vec![],
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

#[tokio::test]
async fn lists_inspects_and_reads_logs_of_real_containers() {
    let host = docker_host();
    let docker = fixture_client(&host);
    let engine = DockerEngine::connect(&host).unwrap();
    engine.ping().await.unwrap_or_else(|e| {
        panic!("{host} does not answer /_ping: {e}; run `scripts/podman.sh up`")
    });
    let version = engine.version().await.unwrap();
    assert!(!version.api_version.is_empty(), "{version:?}");

    let prefix = unique_prefix("main");
    let network = format!("{prefix}-net");
    let web_name = format!("{prefix}-web");
    let worker_name = format!("{prefix}-worker");
    let mut fixtures = Fixtures::new(&host);
    fixtures.network(&docker, &network).await;
    let web_id = fixtures
        .container(
            &docker,
            &web_name,
            &[
                ("com.docker.compose.project", &prefix),
                ("com.docker.compose.service", "web"),
            ],
            &["httpd", "-f", "-p", "80", "-h", "/www"],
            &network,
            Some("80/tcp"),
        )
        .await;
    let worker_id = fixtures
        .container(
            &docker,
            &worker_name,
            &[
                ("com.docker.compose.project", &prefix),
                ("com.docker.compose.service", "worker"),
                ("com.docker.compose.depends_on", "web:service_started:false"),
            ],
            &[
                "sh",
                "-c",
                "i=0; while [ $i -lt 4 ]; do echo \"out line $i\"; echo \"err line $i\" >&2; \
                 i=$((i+1)); sleep 1; done; exec sleep 3600",
            ],
            &network,
            None,
        )
        .await;

    // list_containers: both, with labels, the user network and the published port.
    let containers = engine.list_containers().await.unwrap();
    let web = containers
        .iter()
        .find(|c| c.name == web_name)
        .unwrap_or_else(|| panic!("{web_name} not listed: {containers:#?}"));
    let worker = containers
        .iter()
        .find(|c| c.name == worker_name)
        .unwrap_or_else(|| panic!("{worker_name} not listed: {containers:#?}"));
    assert_eq!(web.id, web_id);
    assert_eq!(worker.id, worker_id);
    assert_eq!(web.image, IMAGE);
    assert_eq!(web.state, "running");
    assert_eq!(web.labels["com.docker.compose.service"], "web");
    assert_eq!(worker.labels["com.docker.compose.project"], prefix);
    assert_eq!(web.networks, vec![network.clone()]);
    assert_eq!(worker.networks, vec![network.clone()]);
    let published = web
        .ports
        .iter()
        .find(|p| p.private_port == 80)
        .unwrap_or_else(|| panic!("port 80 not listed: {:?}", web.ports));
    assert_eq!(published.protocol, "tcp");
    assert!(
        published.public_port.is_some_and(|p| p > 0),
        "{published:?}"
    );
    assert!(worker.ports.is_empty(), "{:?}", worker.ports);

    // list_networks: the user network with both members.
    let networks = engine.list_networks().await.unwrap();
    let net = networks
        .iter()
        .find(|n| n.name == network)
        .unwrap_or_else(|| panic!("{network} not listed: {networks:#?}"));
    assert_eq!(net.driver, "bridge");
    let mut expected = vec![web_id.clone(), worker_id.clone()];
    expected.sort();
    assert_eq!(net.containers, expected);

    // inspect: by name and by id, with the host pid of the main process.
    let details = engine.inspect_container(&web_name).await.unwrap();
    assert_eq!(details.summary.id, web_id);
    assert_eq!(details.summary.name, web_name);
    assert_eq!(details.summary.image, IMAGE);
    assert!(details.pid.is_some_and(|pid| pid > 1), "{details:?}");
    assert_eq!(
        details.summary.ports, web.ports,
        "inspect and list agree on ports"
    );
    assert_eq!(details.summary.labels, web.labels);
    assert_eq!(details.summary.networks, web.networks);
    let by_id = engine.inspect_container(&worker_id).await.unwrap();
    assert_eq!(by_id.summary.name, worker_name);

    // logs: both streams, every line timestamped, in the order written.
    let lines = wait_for_logs(&engine, &worker_id, |lines| {
        has(lines, "stdout", "out line 3") && has(lines, "stderr", "err line 3")
    })
    .await;
    assert_eq!(lines.len(), 8, "{lines:#?}");
    assert!(lines.iter().all(|l| l.timestamp.is_some()), "{lines:#?}");
    let stdout: Vec<&str> = lines
        .iter()
        .filter(|l| l.stream == "stdout")
        .map(|l| l.line.as_str())
        .collect();
    assert_eq!(
        stdout,
        ["out line 0", "out line 1", "out line 2", "out line 3"]
    );
    assert!(has(&lines, "stderr", "err line 0"));
    let at = |text: &str| {
        lines
            .iter()
            .find(|l| l.line == text)
            .and_then(|l| l.timestamp)
            .unwrap()
    };
    assert!(at("out line 0") < at("out line 3"));

    // tail: the last lines only.
    let tail = engine.logs(&worker_id, None, 2).await.unwrap();
    assert_eq!(tail, lines[lines.len() - 2..].to_vec());

    // since: lines from that moment on (the lines were written a second apart).
    let since = at("out line 2");
    let recent = engine.logs(&worker_id, Some(since), 1000).await.unwrap();
    let texts: Vec<&str> = recent.iter().map(|l| l.line.as_str()).collect();
    for wanted in ["out line 2", "err line 2", "out line 3", "err line 3"] {
        assert!(
            texts.contains(&wanted),
            "{wanted} missing after {since}: {texts:?}"
        );
    }
    for old in ["out line 0", "err line 0", "out line 1", "err line 1"] {
        assert!(
            !texts.contains(&old),
            "{old} is older than {since}: {texts:?}"
        );
    }
    let future = Utc::now() + chrono::Duration::hours(1);
    assert!(
        engine
            .logs(&worker_id, Some(future), 1000)
            .await
            .unwrap()
            .is_empty()
    );

    // The G5 wrapper over the real engine: only the allowlisted container is in scope.
    let guarded = AllowlistedEngine::new(
        std::sync::Arc::new(DockerEngine::connect(&host).unwrap()),
        [entry(&worker_name)],
    );
    let in_scope: Vec<String> = guarded
        .list_containers()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert!(
        in_scope.contains(&worker_name) && !in_scope.contains(&web_name),
        "{in_scope:?}"
    );
    assert_eq!(guarded.logs(&worker_name, None, 2).await.unwrap(), tail);
    assert!(matches!(
        guarded.logs(&web_name, None, 10).await.unwrap_err(),
        Error::Forbidden(_)
    ));
    assert!(matches!(
        guarded.inspect_container(&web_id).await.unwrap_err(),
        Error::Forbidden(_)
    ));

    // A container that vanished: empty logs, inspect NotFound.
    remove_container(&docker, &worker_id).await;
    assert!(engine.logs(&worker_id, None, 100).await.unwrap().is_empty());
    assert!(
        engine
            .logs(&worker_name, Some(since), 100)
            .await
            .unwrap()
            .is_empty()
    );
    let err = engine.inspect_container(&worker_id).await.unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { entity: "container", key } if *key == worker_id),
        "{err:?}"
    );
    assert!(
        !engine
            .list_containers()
            .await
            .unwrap()
            .iter()
            .any(|c| c.id == worker_id)
    );

    drop(fixtures);
    let leftovers = engine.list_containers().await.unwrap();
    assert!(
        !leftovers.iter().any(|c| c.name.starts_with(&prefix)),
        "fixtures left behind: {leftovers:#?}"
    );
    assert!(
        !engine
            .list_networks()
            .await
            .unwrap()
            .iter()
            .any(|n| n.name == network)
    );
}

#[tokio::test]
async fn an_unreachable_engine_is_unavailable_quickly() {
    let dir = tempfile::tempdir().unwrap();
    // A socket file nobody listens on any more: connection refused.
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let missing = dir.path().join("missing.sock");
    for host in [
        format!("unix://{}", missing.display()),
        format!("unix://{}", stale.display()),
        "tcp://127.0.0.1:1".to_string(),
    ] {
        let engine = DockerEngine::connect(&host).unwrap();
        let started = Instant::now();
        let err = engine.list_containers().await.unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{host}: took {:?}",
            started.elapsed()
        );
        let Error::Unavailable { component, message } = &err else {
            panic!("{host}: expected Unavailable, got {err:?}");
        };
        assert_eq!(component, "container engine");
        eprintln!("{host} -> {err}");
        assert!(
            message.contains(&host) && message.contains("DOCKER_HOST"),
            "{host}: {message}"
        );
        assert!(
            matches!(engine.ping().await, Err(Error::Unavailable { .. })),
            "{host}: ping"
        );
        assert!(matches!(
            engine.logs("web", None, 10).await,
            Err(Error::Unavailable { .. })
        ));
    }
}

#[test]
fn an_empty_docker_host_names_the_setting() {
    let err = DockerEngine::connect("  ").unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, Error::InvalidInput(_))
            && message.contains("containers.docker_host")
            && message.contains("DOCKER_HOST"),
        "{message}"
    );
}
