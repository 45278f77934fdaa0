//! `service_map`, container `log_triage` and `gpu_report`'s process mapping against a **real**
//! Docker-API engine (Podman's, from `scripts/podman.sh up`; never skipped):
//!
//!   eval "$(scripts/podman.sh up)"
//!   CYBERBRAIN_TEST_DOCKER_HOST=$DOCKER_HOST \
//!     cargo test -p cyberbrain-core --features testing,openai,docker --test runners_podman
//!
//! Each test creates its own user network and labelled containers and removes them again. The
//! engine is wrapped in [`Observed`], which records every container a call named (inspect,
//! logs) — the proof that a container off the allowlist is never contacted (G5) — and can
//! remove one container right after a listing, so it vanishes mid-run.

mod common;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bollard::Docker;
use common::podman::{Fixtures, Spec, remove_container, unique_prefix};
use common::{Harness, edge_tuples, fixtures_dir};
use cyberbrain_core::Result;
use cyberbrain_core::container::{
    ContainerDetails, ContainerEngine, ContainerSummary, DockerEngine, LogLine, NetworkSummary,
};
use cyberbrain_core::domain::{JobStatus, Timestamp};
use cyberbrain_core::engine::LaunchRequest;
use cyberbrain_core::testing::{ScriptedLlm, ScriptedReply};
use serde_json::{Value, json};

const COMPOSE_PROJECT: &str = "com.docker.compose.project";
const COMPOSE_SERVICE: &str = "com.docker.compose.service";
const COMPOSE_DEPENDS_ON: &str = "com.docker.compose.depends_on";

/// The real engine, observed.
#[derive(Debug)]
struct Observed {
    inner: DockerEngine,
    contacted: Mutex<Vec<String>>,
    /// Removed (by id) right after the first listing that includes it.
    vanish: Mutex<Option<String>>,
    docker: Docker,
}

impl Observed {
    fn new(fixtures: &Fixtures) -> Arc<Observed> {
        Arc::new(Observed {
            inner: fixtures.engine(),
            contacted: Mutex::new(Vec::new()),
            vanish: Mutex::new(None),
            docker: fixtures.docker.clone(),
        })
    }

    fn vanish_after_listing(&self, id: &str) {
        *self.vanish.lock().expect("lock") = Some(id.to_owned());
    }

    fn contacted(&self) -> Vec<String> {
        self.contacted.lock().expect("lock").clone()
    }
}

#[async_trait]
impl ContainerEngine for Observed {
    async fn list_containers(&self) -> Result<Vec<ContainerSummary>> {
        let listed = self.inner.list_containers().await?;
        let victim = self.vanish.lock().expect("lock").clone();
        if let Some(victim) = victim.filter(|v| listed.iter().any(|c| &c.id == v)) {
            remove_container(&self.docker, &victim).await;
            *self.vanish.lock().expect("lock") = None;
        }
        Ok(listed)
    }

    async fn list_networks(&self) -> Result<Vec<NetworkSummary>> {
        self.inner.list_networks().await
    }

    async fn inspect_container(&self, id: &str) -> Result<ContainerDetails> {
        self.contacted.lock().expect("lock").push(id.to_owned());
        self.inner.inspect_container(id).await
    }

    async fn logs(&self, id: &str, since: Option<Timestamp>, tail: u32) -> Result<Vec<LogLine>> {
        self.contacted.lock().expect("lock").push(id.to_owned());
        self.inner.logs(id, since, tail).await
    }
}

fn as_refs(cmd: &[String]) -> Vec<&str> {
    cmd.iter().map(String::as_str).collect()
}

fn sleeper() -> &'static [&'static str] {
    &["sleep", "3600"]
}

#[tokio::test]
async fn service_map_maps_labelled_containers_on_a_user_network() {
    let prefix = unique_prefix("map");
    let mut fixtures = Fixtures::new(&format!("{prefix}-net")).await;
    let name = |service: &str| format!("{prefix}-{service}");
    let (web, api, db, secret) = (name("web"), name("api"), name("db"), name("secret"));
    let web_id = fixtures
        .container(Spec {
            name: &web,
            labels: &[
                (COMPOSE_PROJECT, &prefix),
                (COMPOSE_SERVICE, "web"),
                (COMPOSE_DEPENDS_ON, "api:service_started:false"),
                ("org.example.token", "podmanlabelcanary"),
            ],
            cmd: sleeper(),
            expose: &[],
            publish: false,
        })
        .await;
    fixtures
        .container(Spec {
            name: &api,
            labels: &[
                (COMPOSE_PROJECT, &prefix),
                (COMPOSE_SERVICE, "api"),
                (
                    COMPOSE_DEPENDS_ON,
                    "db:service_healthy:true,secret:service_started:false",
                ),
            ],
            cmd: sleeper(),
            expose: &["8080/tcp"],
            publish: true,
        })
        .await;
    fixtures
        .container(Spec {
            name: &db,
            labels: &[(COMPOSE_PROJECT, &prefix), (COMPOSE_SERVICE, "db")],
            cmd: sleeper(),
            expose: &["5432/tcp"],
            publish: true,
        })
        .await;
    fixtures
        .container(Spec {
            name: &secret,
            labels: &[(COMPOSE_PROJECT, &prefix), (COMPOSE_SERVICE, "secret")],
            cmd: sleeper(),
            expose: &["6379/tcp"],
            publish: true,
        })
        .await;

    let engine = Observed::new(&fixtures);
    let harness = Harness::new(|_| {}).await.with_engine(engine.clone());
    for allowed in [&web, &api, &db] {
        harness.allow(allowed).await;
    }
    let d2 = harness.directive_id("Conservative Recommendations").await;
    let outcome = harness
        .run_task("service_map", LaunchRequest::new().with_directive(d2))
        .await;
    let result = outcome.value();
    assert_eq!(result["engine"], json!({"status": "available"}), "{result}");
    assert_eq!(result["containers"], 3, "{result}");
    assert_eq!(result["edges"], 2, "{result}");
    assert_eq!(
        result["unresolved_dependencies"], 1,
        "api → secret is out of scope"
    );
    assert_eq!(result["policy_recommendations"], 2, "{result}");
    assert_eq!(result["published_ports"], 2, "api's and db's: {result}");
    assert!(
        engine.contacted().is_empty(),
        "the map lists; it never inspects or reads a container: {:?}",
        engine.contacted()
    );

    let topology = outcome.artifact_json(&harness, "services.json");
    let nodes: Vec<&str> = topology["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert_eq!(nodes, [api.as_str(), db.as_str(), web.as_str()]);
    let edges = edge_tuples(&topology, "source_service", "target_service");
    let network = json!(fixtures.network);
    assert_eq!(
        edges,
        [
            ("api".into(), "db".into(), json!(5432), network.clone()),
            ("web".into(), "api".into(), json!(8080), network.clone()),
        ]
    );
    let diagram = outcome.artifact_text(&harness, "services.mmd");
    assert!(
        diagram.contains(&web) && !diagram.contains(&secret),
        "{diagram}"
    );
    let markdown = outcome.artifact_text(&harness, "service_map.md");
    assert!(markdown.contains("kind: NetworkPolicy"), "{markdown}");
    assert!(!markdown.contains(&secret), "{markdown}");

    let inventory = harness.inventory_of(outcome.run.id).await;
    assert_eq!(inventory.count, 3);
    let web_row = inventory
        .items
        .iter()
        .find(|s| s.name == web)
        .expect("web inventory");
    assert_eq!(web_row.container_id, web_id);
    assert_eq!(web_row.image, common::podman::IMAGE);
    assert_eq!(web_row.state, "running");
    assert_eq!(web_row.networks, [fixtures.network.clone()]);
    assert!(!web_row.labels.contains_key("org.example.token"));
    let api_row = inventory
        .items
        .iter()
        .find(|s| s.name == api)
        .expect("api inventory");
    assert!(
        api_row.ports.len() == 1
            && api_row.ports[0].ends_with("->8080/tcp")
            && !api_row.ports[0].starts_with("0->"),
        "a published port: {:?}",
        api_row.ports
    );
    assert!(common::occurrences(&harness.database_bytes(), "podmanlabelcanary").is_empty());
    let policies = harness.policies_of(outcome.run.id).await;
    let ports: Vec<i32> = policies.items.iter().map(|p| p.port).collect();
    assert_eq!(ports, [5432, 8080]);
}

#[tokio::test]
async fn container_log_triage_reads_allowlisted_logs_and_survives_a_vanished_container() {
    let prefix = unique_prefix("logs");
    let mut fixtures = Fixtures::new(&format!("{prefix}-net")).await;
    let (app, gone, other) = (
        format!("{prefix}-app"),
        format!("{prefix}-gone"),
        format!("{prefix}-other"),
    );
    let writer = |lines: &str| {
        vec![
            "sh".to_owned(),
            "-c".to_owned(),
            format!("{lines}; exec sleep 3600"),
        ]
    };
    let app_cmd = writer(
        "echo 'ERROR db connection refused'; echo 'ERROR db connection refused'; \
         echo 'WARN cache slow' >&2; echo 'INFO started'",
    );
    let other_cmd = writer("echo 'ERROR podmanothercanary exploded'");
    let gone_cmd = writer("echo 'ERROR gone soon'");
    let app_id = fixtures
        .container(Spec {
            name: &app,
            labels: &[],
            cmd: &as_refs(&app_cmd),
            expose: &[],
            publish: false,
        })
        .await;
    let other_id = fixtures
        .container(Spec {
            name: &other,
            labels: &[],
            cmd: &as_refs(&other_cmd),
            expose: &[],
            publish: false,
        })
        .await;
    let gone_id = fixtures
        .container(Spec {
            name: &gone,
            labels: &[],
            cmd: &as_refs(&gone_cmd),
            expose: &[],
            publish: false,
        })
        .await;
    fixtures.wait_for_log_lines(&app_id, 4).await;
    fixtures.wait_for_log_lines(&other_id, 1).await;
    fixtures.wait_for_log_lines(&gone_id, 1).await;

    let engine = Observed::new(&fixtures);
    engine.vanish_after_listing(&gone_id);
    let llm = Arc::new(ScriptedLlm::new([ScriptedReply::text(
        json!({"findings": [{"severity": "error", "title": "Database refuses connections",
                             "explanation": "The app cannot connect.", "recommendation": "Start the database."}]})
        .to_string(),
        200,
        30,
    )]));
    let harness = Harness::new(|_| {})
        .await
        .with_engine(engine.clone())
        .with_llm(llm);
    harness.allow(&app).await;
    harness.allow(&gone).await;
    let outcome = harness.run_task("log_triage", LaunchRequest::new()).await;
    let result = outcome.value();
    assert_eq!(outcome.job.status, JobStatus::Completed);
    assert_eq!(result["container_logs"], "read", "{result}");
    assert_eq!(result["sources"], 2, "{result}");
    assert_eq!(
        result["lines"], 4,
        "the app's four lines, none of the vanished one's: {result}"
    );
    assert_eq!(result["findings_count"], 1);

    // G5: the container off the allowlist was never named in a call.
    let contacted = engine.contacted();
    assert!(!contacted.contains(&other_id), "{contacted:?}");
    assert!(
        contacted.contains(&app_id) && contacted.contains(&gone_id),
        "{contacted:?}"
    );

    let report = outcome.artifact_json(&harness, "log_triage.json");
    let source = |label: String| {
        report["sources"]
            .as_array()
            .expect("sources")
            .iter()
            .find(|s| s["label"] == label.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("{label} missing: {report}"))
    };
    assert_eq!(source(format!("container:{app}"))["lines"], 4);
    assert_eq!(source(format!("container:{gone}"))["lines"], 0);
    let markdown = outcome.artifact_text(&harness, "log_triage.md");
    assert!(!markdown.contains("podmanothercanary"), "{markdown}");
    assert!(
        markdown.contains("2 allowlisted containers read"),
        "{markdown}"
    );
}

#[tokio::test]
async fn gpu_processes_are_mapped_to_allowlisted_containers_only() {
    let prefix = unique_prefix("gpu");
    let mut fixtures = Fixtures::new(&format!("{prefix}-net")).await;
    let (trainer, miner) = (format!("{prefix}-trainer"), format!("{prefix}-miner"));
    let trainer_id = fixtures
        .container(Spec {
            name: &trainer,
            labels: &[],
            cmd: sleeper(),
            expose: &[],
            publish: false,
        })
        .await;
    let miner_id = fixtures
        .container(Spec {
            name: &miner,
            labels: &[],
            cmd: sleeper(),
            expose: &[],
            publish: false,
        })
        .await;
    let pid = |id: String| {
        let docker = fixtures.docker.clone();
        async move {
            docker
                .inspect_container(&id, None)
                .await
                .expect("inspect")
                .state
                .and_then(|s| s.pid)
                .filter(|pid| *pid > 0)
                .expect("a running container has a pid")
        }
    };
    let (trainer_pid, miner_pid) = (pid(trainer_id.clone()).await, pid(miner_id.clone()).await);

    // nvidia-smi's CSV with the two containers' real host pids as GPU processes.
    let uuid = "GPU-3c2a6f4e-8b1d-7e5f-a9c0-1d2e3f4a5b6c";
    let harness = Harness::new(|config| {
        let dir = config.paths.data_dir.join("smi");
        std::fs::create_dir_all(&dir).expect("smi dir");
        std::fs::write(
            dir.join("gpus.csv"),
            format!("0, {uuid}, NVIDIA H100 80GB HBM3, 81559, 40000, 91, 64, 402.17\n"),
        )
        .expect("gpus.csv");
        std::fs::write(
            dir.join("apps.csv"),
            format!("{uuid}, {trainer_pid}, 30000\n{uuid}, {miner_pid}, 9000\n"),
        )
        .expect("apps.csv");
        let link = dir.join("nvidia-smi.from-dir");
        std::os::unix::fs::symlink(fixtures_dir().join("gpu/nvidia-smi"), &link).expect("link");
        config.gpu.nvidia_smi = link.display().to_string();
    })
    .await;
    let engine = Observed::new(&fixtures);
    let harness = harness.with_engine(engine.clone());
    harness.allow(&trainer).await;
    let outcome = harness.run_task("gpu_report", LaunchRequest::new()).await;
    let result = outcome.value();
    assert_eq!(result["process_count"], 2, "{result}");
    assert_eq!(result["attributed_process_count"], 1, "{result}");
    assert_eq!(result["utilization_hotspot_count"], 1, "{result}");
    assert_eq!(
        engine.contacted(),
        std::slice::from_ref(&trainer_id),
        "only the allowlisted container"
    );

    let report = outcome.artifact_json(&harness, "gpu_report.json");
    let process = |pid: i64| {
        report["processes"]
            .as_array()
            .expect("processes")
            .iter()
            .find(|p| p["pid"] == pid)
            .cloned()
            .unwrap_or_else(|| panic!("pid {pid} missing: {report}"))
    };
    let mapped = process(trainer_pid);
    assert_eq!(mapped["container_id"], trainer_id);
    assert_eq!(mapped["container_name"], trainer);
    let unmapped = process(miner_pid);
    assert_eq!(unmapped["container_id"], Value::Null);
    let markdown = outcome.artifact_text(&harness, "gpu_report.md");
    assert!(markdown.contains(&trainer), "{markdown}");
    assert!(!markdown.contains(&miner), "{markdown}");
    assert!(
        markdown.contains("not an allowlisted container"),
        "{markdown}"
    );
}
