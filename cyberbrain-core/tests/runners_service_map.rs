//! The `service_map` runner (SPEC §3.4) with the fake container engine: scope (the allowlist,
//! or every container with `task3_scope = "all"` on D4), inventory snapshots with allowlisted
//! label keys only, D2+ network-policy recommendations, and `container_engine_unavailable`.
//!
//! The same against a real Docker-API engine (Podman) is in `runners_podman.rs`.

mod common;

use std::sync::Arc;

use common::{Harness, container, edge_tuples, id, runner};
use cyberbrain_core::container::NetworkSummary;
use cyberbrain_core::domain::{ClaimJobs, DirectiveType, JobStatus, Task3Scope};
use cyberbrain_core::engine::{JobContext, LaunchRequest};
use cyberbrain_core::testing::FakeContainerEngine;
use serde_json::{Value, json};

const TASK: &str = "service_map";
const PROJECT: &str = "shop";

/// web → api → db in one compose project on `shopnet`, plus `secret`, which is not allowlisted
/// and which `web` claims to depend on.
fn shop() -> Arc<FakeContainerEngine> {
    let engine = FakeContainerEngine::new();
    let compose = |service: &'static str, depends_on: &'static str| {
        vec![
            ("com.docker.compose.project", PROJECT),
            ("com.docker.compose.service", service),
            ("com.docker.compose.depends_on", depends_on),
            ("vendor.build.token", "labeltokencanary"),
        ]
    };
    let services = [
        (
            'a',
            "web",
            "api:service_started:false,secret:service_started:false",
            (80, Some(8080)),
        ),
        ('b', "api", "db:service_healthy:true", (9000, None)),
        ('c', "db", "", (5432, None)),
        ('d', "secret", "", (6379, None)),
    ];
    for (digit, service, depends_on, port) in services {
        engine.add_container(
            container(
                &id(digit),
                &format!("{PROJECT}-{service}-1"),
                &compose(service, depends_on),
                &["shopnet"],
                &[port],
            ),
            vec![],
        );
    }
    engine.add_network(NetworkSummary {
        id: id('e'),
        name: "shopnet".into(),
        driver: "bridge".into(),
        containers: vec![id('a'), id('b'), id('c'), id('d')],
    });
    Arc::new(engine)
}

async fn allowlisted_shop() -> (Harness, Arc<FakeContainerEngine>) {
    let engine = shop();
    let harness = Harness::new(|_| {}).await.with_engine(engine.clone());
    for name in ["shop-web-1", "shop-api-1", "shop-db-1"] {
        harness.allow(name).await;
    }
    (harness, engine)
}

fn names(values: &Value) -> Vec<String> {
    values
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| v["name"].as_str().expect("a name").to_owned())
        .collect()
}

#[tokio::test]
async fn allowlisted_containers_become_nodes_edges_inventory_and_a_diagram() {
    let (harness, engine) = allowlisted_shop().await;
    let outcome = harness.run_task(TASK, LaunchRequest::new()).await;
    let result = outcome.value();
    assert_eq!(
        *result,
        json!({
            "engine": {"status": "available"},
            "containers": 3,
            "networks": 1,
            "edges": 2,
            "edges_without_shared_network": 0,
            // web's dependency on `secret`, which is not in scope.
            "unresolved_dependencies": 1,
            "published_ports": 1,
            "policy_recommendations": null,
            "scope": "allowlist",
            "inventory_recorded": true,
            "policies_recorded": false,
        })
    );
    // Listing is the only call G5 permits for containers not on the allowlist; nothing was
    // inspected or read.
    assert!(engine.contacted().is_empty(), "{:?}", engine.contacted());

    let topology = outcome.artifact_json(&harness, "services.json");
    assert_eq!(
        names(&topology["nodes"]),
        ["shop-api-1", "shop-db-1", "shop-web-1"]
    );
    let edges = edge_tuples(&topology, "source", "target");
    assert_eq!(
        edges,
        [
            (
                "shop-api-1".into(),
                "shop-db-1".into(),
                json!(5432),
                json!("shopnet")
            ),
            (
                "shop-web-1".into(),
                "shop-api-1".into(),
                json!(9000),
                json!("shopnet")
            ),
        ]
    );
    assert_eq!(topology["engine"], json!({"status": "available"}));
    assert_eq!(topology["scope"], "allowlist");
    assert_eq!(
        topology["networks"][0]["members"].as_array().map(Vec::len),
        Some(3)
    );

    let diagram = outcome.artifact_text(&harness, "services.mmd");
    assert!(
        diagram.starts_with("flowchart") || diagram.starts_with("graph"),
        "{diagram}"
    );
    assert!(
        diagram.contains("shop-web-1") && diagram.contains("9000"),
        "{diagram}"
    );
    assert!(!diagram.contains("shop-secret-1"), "{diagram}");
    let markdown = outcome.artifact_text(&harness, "service_map.md");
    assert!(markdown.contains("```mermaid"), "{markdown}");
    assert!(
        markdown.contains("Not produced: recommendations need directive level D2 or higher."),
        "{markdown}"
    );
    for file in ["services.json", "services.mmd", "service_map.md"] {
        let text = outcome.artifact_text(&harness, file);
        assert!(
            !text.contains("shop-secret-1"),
            "{file} shows a container out of scope"
        );
    }

    // Inventory: one snapshot per node, labels limited to the compose keys.
    let inventory = harness.inventory_of(outcome.run.id).await;
    assert_eq!(inventory.count, 3);
    let web = inventory
        .items
        .iter()
        .find(|s| s.name == "shop-web-1")
        .expect("web snapshot");
    assert_eq!(web.container_id, id('a'));
    assert_eq!(web.networks, ["shopnet"]);
    assert_eq!(web.ports, ["8080->80/tcp"]);
    assert_eq!(
        web.labels.keys().collect::<Vec<_>>(),
        [
            "com.docker.compose.depends_on",
            "com.docker.compose.project",
            "com.docker.compose.service"
        ]
    );
    let stored = harness.database_bytes();
    assert!(
        common::occurrences(&stored, "labeltokencanary").is_empty(),
        "a label outside the compose keys reached the database"
    );
    let policies = harness.policies_of(outcome.run.id).await;
    assert_eq!(policies.count, 0, "D1 recommends nothing");
}

#[tokio::test]
async fn d2_records_one_network_policy_per_edge_with_a_port() {
    let (harness, _) = allowlisted_shop().await;
    let d2 = harness.directive_id("Conservative Recommendations").await;
    let outcome = harness
        .run_task(TASK, LaunchRequest::new().with_directive(d2))
        .await;
    let result = outcome.value();
    assert_eq!(result["policy_recommendations"], 2);
    assert_eq!(result["policies_recorded"], true);
    let policies = harness.policies_of(outcome.run.id).await;
    let rows: Vec<(String, String, i32, String)> = policies
        .items
        .iter()
        .map(|p| {
            (
                p.source_service.clone(),
                p.target_service.clone(),
                p.port,
                p.protocol.clone(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("api".into(), "db".into(), 5432, "TCP".into()),
            ("web".into(), "api".into(), 9000, "TCP".into()),
        ]
    );
    for policy in &policies.items {
        assert!(
            policy.policy_yaml.contains("kind: NetworkPolicy"),
            "{}",
            policy.policy_yaml
        );
        assert!(
            policy
                .policy_yaml
                .contains(&format!("port: {}", policy.port))
        );
        assert!(!policy.recommendation.is_empty());
    }
    let markdown = outcome.artifact_text(&harness, "service_map.md");
    assert!(
        markdown.contains("## Network-policy recommendations"),
        "{markdown}"
    );
    assert!(markdown.contains("kind: NetworkPolicy"), "{markdown}");
    assert!(markdown.contains("port: 5432"), "{markdown}");
}

#[tokio::test]
async fn scope_all_on_d4_maps_every_container() {
    let (harness, _) = allowlisted_shop().await;
    let d4 = harness.directive_id("Admin Override").await;
    let outcome = harness
        .run_task(
            TASK,
            LaunchRequest::new()
                .with_directive(d4)
                .with_task3_scope(Task3Scope::All),
        )
        .await;
    assert_eq!(
        outcome.run.directive_snapshot.directive_type,
        DirectiveType::D4
    );
    let result = outcome.value();
    assert_eq!(result["scope"], "all");
    assert_eq!(result["containers"], 4);
    assert_eq!(result["unresolved_dependencies"], 0);
    assert_eq!(result["edges"], 3);
    let topology = outcome.artifact_json(&harness, "services.json");
    assert!(names(&topology["nodes"]).contains(&"shop-secret-1".to_owned()));
}

#[tokio::test]
async fn no_engine_or_an_unreachable_one_is_a_reported_condition() {
    let harness = Harness::new(|_| {}).await;
    let outcome = harness.run_task(TASK, LaunchRequest::new()).await;
    assert_eq!(outcome.job.status, JobStatus::Completed);
    let result = outcome.value();
    assert_eq!(result["engine"]["status"], "container_engine_unavailable");
    assert!(
        result["engine"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("DOCKER_HOST")),
        "{result}"
    );
    assert_eq!(result["containers"], 0);
    assert_eq!(result["inventory_recorded"], false);
    let markdown = outcome.artifact_text(&harness, "service_map.md");
    assert!(
        markdown.contains("`container_engine_unavailable`"),
        "{markdown}"
    );

    let engine = shop();
    engine.set_unavailable(Some("cannot connect to unix:///run/docker.sock".into()));
    let harness = Harness::new(|_| {}).await.with_engine(engine.clone());
    harness.allow("shop-web-1").await;
    let outcome = harness.run_task(TASK, LaunchRequest::new()).await;
    assert_eq!(outcome.job.status, JobStatus::Completed);
    let topology = outcome.artifact_json(&harness, "services.json");
    assert_eq!(topology["engine"]["status"], "container_engine_unavailable");
    assert!(
        topology["engine"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("cannot connect")),
        "{topology}"
    );
    assert!(engine.contacted().is_empty());
}

#[tokio::test]
async fn a_second_attempt_does_not_record_the_inventory_twice() {
    let (harness, _) = allowlisted_shop().await;
    let d2 = harness.directive_id("Conservative Recommendations").await;
    let run = harness
        .cb
        .launch(LaunchRequest::new().with_directive(d2).with_tasks([TASK]))
        .await
        .expect("launch");
    let job = harness
        .cb
        .store()
        .claim_jobs(ClaimJobs::new(
            "attempts",
            harness.now(),
            chrono::Duration::minutes(5),
        ))
        .await
        .expect("claim")
        .remove(0);
    let ctx = JobContext::load(harness.cb.clone(), run.clone(), job)
        .await
        .expect("context");
    let first = runner(TASK).run(&ctx).await.expect("first attempt");
    let second = runner(TASK).run(&ctx).await.expect("second attempt");
    assert_eq!(
        (
            first["inventory_recorded"].clone(),
            first["policies_recorded"].clone()
        ),
        (json!(true), json!(true))
    );
    assert_eq!(
        (
            second["inventory_recorded"].clone(),
            second["policies_recorded"].clone()
        ),
        (json!(false), json!(false))
    );
    let inventory = harness.inventory_of(run.id).await;
    assert_eq!(inventory.count, 3);
    let policies = harness.policies_of(run.id).await;
    assert_eq!(policies.count, 2);
}
