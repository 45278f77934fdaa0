//! The deterministic part of the `service_map` task (SPEC §3.4).
//!
//! The run engine lists containers and networks through the [`ContainerEngine`], keeps only the
//! containers in scope (the allowlist, or every container with scope `all` on D4), and then:
//!
//! 1. [`build_topology`] → [`Topology`] (`services.json`): a node per container, an edge per
//!    declared compose dependency and target port with the network the two share, and the
//!    networks. [`inventory_record`] gives each container's inventory snapshot fields, with
//!    labels filtered by [`inventory_labels`] (SPEC §2.4).
//! 2. [`render_mermaid`] → `services.mmd`.
//! 3. With D2+, [`recommend_policies`] → one Kubernetes `NetworkPolicy` per edge with a known
//!    port (the §2.8 recommendation rows).
//! 4. [`render_markdown`] → `service_map.md`, [`summary_json`] → the task's counts for
//!    `summary.json`. An engine that is not configured or does not answer is
//!    [`EngineStatus::Unavailable`]: rendered as `container_engine_unavailable`, not a failure.
//!
//! Edges come only from `com.docker.compose.depends_on`. Containers that share a network could
//! talk, but inferring that they do would invent traffic, and the recommendations would turn
//! the invention into an allow rule.
//!
//! Everything here is pure and deterministic: the same containers in any order give the same
//! bytes. The caller redacts the rendered files (G6); values from the engine are written into
//! Markdown as verbatim code spans rather than backslash-escaped, so redaction still matches
//! addresses and secrets in them.
//!
//! [`ContainerEngine`]: crate::container::ContainerEngine

mod mermaid;
mod policy;
mod report;
mod topology;
mod yaml;

pub use mermaid::render_mermaid;
pub use policy::{
    POD_NAME_LABEL, PolicyRecommendation, dns_label, label_value, recommend_policies,
};
pub use report::{EngineStatus, ServiceMapSummary, render_markdown, summary_json};
pub use topology::{
    INVENTORY_LABEL_KEYS, InventoryRecord, LABEL_DEPENDS_ON, LABEL_PROJECT, LABEL_SERVICE,
    PortSpec, PublishedPort, ServiceEdge, ServiceNode, Topology, TopologyNetwork,
    UnresolvedDependency, build_topology, format_port, inventory_labels, inventory_record,
    parse_depends_on,
};

#[cfg(test)]
mod tests;
