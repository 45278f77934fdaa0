//! `service_map` (SPEC §3.4): the containers in scope (the enabled allowlist, or every
//! container with `task3_scope = "all"` on D4 — [`JobContext::containers`] decides), their
//! networks, ports and compose labels → `services.json`, `services.mmd`, `service_map.md`,
//! inventory snapshots, and for D2+ one `NetworkPolicy` recommendation per edge with a known
//! port.
//!
//! No engine configured, or one that does not answer (`Unavailable`), is the reported condition
//! `container_engine_unavailable`, and the job completes. An engine that answers with something
//! that is not a listing fails the job: that is a broken engine, not a missing one.
//!
//! A job attempted again (its lease expired) records inventory and recommendations only once
//! per run: the first attempt's rows are kept.

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::container::{ContainerEngine, ContainerSummary, NetworkSummary};
use crate::domain::{
    ArtifactKind, InventoryQuery, NewInventorySnapshot, NewNetworkPolicy, PageRequest,
};
use crate::engine::{JobContext, TaskRunner};
use crate::tasks::services::{
    EngineStatus, PolicyRecommendation, build_topology, inventory_record, recommend_policies,
    render_markdown, render_mermaid, summary_json,
};
use crate::{Error, Result};

const TOPOLOGY_FILE: &str = "services.json";
const DIAGRAM_FILE: &str = "services.mmd";
const MARKDOWN_FILE: &str = "service_map.md";

/// The `service_map` runner.
#[derive(Debug, Default)]
pub struct ServiceMapRunner;

#[async_trait]
impl TaskRunner for ServiceMapRunner {
    async fn run(&self, ctx: &JobContext) -> Result<Value> {
        let (containers, networks, engine) = list(ctx).await?;
        let topology = build_topology(&containers, &networks);
        let recommendations = ctx.may_recommend().then(|| recommend_policies(&topology));

        let inventory_recorded = record_inventory(ctx, &containers).await?;
        let policies_recorded = match &recommendations {
            Some(recommendations) => record_policies(ctx, recommendations).await?,
            None => false,
        };

        let mut topology_file = serde_json::to_value(&topology)
            .map_err(|e| Error::backend(format!("serialising the service topology: {e}")))?;
        if let Some(object) = topology_file.as_object_mut() {
            object.insert(
                "engine".into(),
                serde_json::to_value(&engine)
                    .map_err(|e| Error::backend(format!("serialising the engine status: {e}")))?,
            );
            object.insert(
                "scope".into(),
                json!(if scope_is_all(ctx) {
                    "all"
                } else {
                    "allowlist"
                }),
            );
        }
        let artifacts = ctx.artifacts();
        artifacts.write_json(TOPOLOGY_FILE, &topology_file).await?;
        artifacts
            .write(
                DIAGRAM_FILE,
                ArtifactKind::Mermaid,
                &render_mermaid(&topology),
            )
            .await?;
        artifacts
            .write(
                MARKDOWN_FILE,
                ArtifactKind::Markdown,
                &render_markdown(&topology, recommendations.as_deref(), &engine),
            )
            .await?;

        let mut result = summary_json(&topology, recommendations.as_deref(), &engine);
        if let Some(object) = result.as_object_mut() {
            object.insert(
                "scope".into(),
                json!(if scope_is_all(ctx) {
                    "all"
                } else {
                    "allowlist"
                }),
            );
            object.insert("inventory_recorded".into(), json!(inventory_recorded));
            object.insert("policies_recorded".into(), json!(policies_recorded));
        }
        Ok(result)
    }
}

/// Whether this job sees every container (`task3_scope = "all"` on D4, recorded in the run).
fn scope_is_all(ctx: &JobContext) -> bool {
    use crate::domain::{DirectiveType, Task3Scope};
    ctx.run().task3_scope == Task3Scope::All && ctx.directive().directive_type == DirectiveType::D4
}

/// The containers in scope and the networks, or why the engine could not be asked.
async fn list(
    ctx: &JobContext,
) -> Result<(Vec<ContainerSummary>, Vec<NetworkSummary>, EngineStatus)> {
    let Some(engine) = ctx.containers().await? else {
        return Ok((
            Vec::new(),
            Vec::new(),
            EngineStatus::unavailable(
                "no container engine is configured; set DOCKER_HOST (containers.docker_host) \
                 to the Docker or Podman API socket, e.g. unix:///run/docker.sock",
            ),
        ));
    };
    let unavailable = |e: Error| match e {
        Error::Unavailable { .. } => Ok((Vec::new(), Vec::new(), EngineStatus::from_error(&e))),
        other => Err(other),
    };
    let containers = match engine.list_containers().await {
        Ok(containers) => containers,
        Err(e) => return unavailable(e),
    };
    let networks = match engine.list_networks().await {
        Ok(networks) => networks,
        Err(e) => return unavailable(e),
    };
    Ok((containers, networks, EngineStatus::Available))
}

/// Stores one inventory snapshot per container (allowlisted label keys only). Returns whether
/// rows were written by this call.
async fn record_inventory(ctx: &JobContext, containers: &[ContainerSummary]) -> Result<bool> {
    if containers.is_empty() {
        return Ok(false);
    }
    let store = ctx.cyberbrain().store();
    let earlier = store
        .list_inventory(InventoryQuery {
            run_id: Some(ctx.run().id),
            page: PageRequest::first(1),
        })
        .await?;
    if earlier.count > 0 {
        return Ok(false);
    }
    let now = ctx.now();
    let snapshots = containers
        .iter()
        .map(|container| {
            let record = inventory_record(container);
            NewInventorySnapshot {
                run_id: ctx.run().id,
                container_id: record.container_id,
                name: record.name,
                image: record.image,
                state: record.state,
                networks: record.networks,
                ports: record.ports,
                labels: record.labels,
                created_at: now,
            }
        })
        .collect();
    store.add_inventory(snapshots).await?;
    Ok(true)
}

/// Stores the recommendations (§2.8 rows). Returns whether rows were written by this call.
async fn record_policies(
    ctx: &JobContext,
    recommendations: &[PolicyRecommendation],
) -> Result<bool> {
    if recommendations.is_empty() {
        return Ok(false);
    }
    let store = ctx.cyberbrain().store();
    let earlier = store
        .list_network_policies(Some(ctx.run().id), PageRequest::first(1))
        .await?;
    if earlier.count > 0 {
        return Ok(false);
    }
    let now = ctx.now();
    let rows = recommendations
        .iter()
        .map(|r| NewNetworkPolicy {
            run_id: ctx.run().id,
            source_service: r.source_service.clone(),
            target_service: r.target_service.clone(),
            port: i32::from(r.port),
            protocol: r.protocol.clone(),
            recommendation: r.recommendation.clone(),
            policy_yaml: r.policy_yaml.clone(),
            created_at: now,
        })
        .collect();
    store.add_network_policies(rows).await?;
    Ok(true)
}
