//! `DockerEngine` against a real Docker-Engine-API service (Podman's, from `scripts/podman.sh up`).
//!
//! Run:
//!   eval "$(scripts/podman.sh up)"   # prints DOCKER_HOST=unix://…/podman.sock
//!   CYBERBRAIN_TEST_DOCKER_HOST=$DOCKER_HOST \
//!     cargo test -p cyberbrain-core --features docker,testing --test docker_engine
//!
//! Each test creates its own network and containers (unique names, from the locally built
//! `localhost/busybox:latest`) and removes them again, also when it fails.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use common::podman::{Fixtures, IMAGE, Spec, remove_container, unique_prefix};
use cyberbrain_core::Error;
use cyberbrain_core::container::{AllowlistedEngine, ContainerEngine, DockerEngine, LogLine};
use cyberbrain_core::domain::AllowlistEntry;

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
    let prefix = unique_prefix("main");
    let network = format!("{prefix}-net");
    let web_name = format!("{prefix}-web");
    let worker_name = format!("{prefix}-worker");
    // Pings the engine (failing with how to start it) and creates the network.
    let mut fixtures = Fixtures::new(&network).await;
    let docker = fixtures.docker.clone();
    let engine = fixtures.engine();
    let version = engine.version().await.unwrap();
    assert!(!version.api_version.is_empty(), "{version:?}");

    let web_id = fixtures
        .container(Spec {
            name: &web_name,
            labels: &[
                ("com.docker.compose.project", &prefix),
                ("com.docker.compose.service", "web"),
            ],
            cmd: &["httpd", "-f", "-p", "80", "-h", "/www"],
            expose: &["80/tcp"],
            publish: true,
        })
        .await;
    let worker_id = fixtures
        .container(Spec {
            name: &worker_name,
            labels: &[
                ("com.docker.compose.project", &prefix),
                ("com.docker.compose.service", "worker"),
                ("com.docker.compose.depends_on", "web:service_started:false"),
            ],
            cmd: &[
                "sh",
                "-c",
                "i=0; while [ $i -lt 4 ]; do echo \"out line $i\"; echo \"err line $i\" >&2; \
                 i=$((i+1)); sleep 1; done; exec sleep 3600",
            ],
            ..Spec::default()
        })
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
    let lines = fixtures
        .wait_for_logs(&worker_id, |lines| {
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
    let guarded = AllowlistedEngine::new(Arc::new(fixtures.engine()), [entry(&worker_name)]);
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
