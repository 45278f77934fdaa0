//! Containers and networks → [`Topology`]: nodes, declared dependency edges and networks, plus
//! the label filter and port formatting the inventory snapshots use.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::container::{ContainerSummary, NetworkSummary, PortMapping};

/// Compose's project label.
pub const LABEL_PROJECT: &str = "com.docker.compose.project";
/// Compose's service label.
pub const LABEL_SERVICE: &str = "com.docker.compose.service";
/// Compose's declared dependencies (`db:service_started:false,cache:service_healthy:true`).
pub const LABEL_DEPENDS_ON: &str = "com.docker.compose.depends_on";
/// The only label keys an inventory snapshot keeps (SPEC §2.4): other labels may carry anything
/// an image author or operator put there, secrets included.
pub const INVENTORY_LABEL_KEYS: [&str; 3] = [LABEL_PROJECT, LABEL_SERVICE, LABEL_DEPENDS_ON];

/// The service map of the containers in scope: what runs, where it listens, what declared it
/// depends on what, and which networks connect them. Every list is sorted, so the same engine
/// state always gives the same topology, JSON and diagram.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    /// One per container, sorted by name then id.
    pub nodes: Vec<ServiceNode>,
    /// One per declared dependency and target port, sorted by source, target, port, protocol.
    pub edges: Vec<ServiceEdge>,
    /// Networks with at least one node on them, sorted by name.
    pub networks: Vec<TopologyNetwork>,
    /// Declared dependencies on a service no container in scope provides (not allowlisted, not
    /// running, or misspelt), sorted.
    pub unresolved_dependencies: Vec<UnresolvedDependency>,
}

/// One container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceNode {
    /// The short (12-character) container id.
    pub id: String,
    pub name: String,
    pub image: String,
    pub state: String,
    /// `com.docker.compose.project`, when set and not blank.
    pub compose_project: Option<String>,
    /// `com.docker.compose.service`, when set and not blank.
    pub compose_service: Option<String>,
    /// Service names parsed from `com.docker.compose.depends_on`, sorted and unique.
    pub depends_on: Vec<String>,
    /// Sorted and unique.
    pub networks: Vec<String>,
    /// Every container-side port (published or not): what a peer on a shared network connects
    /// to. Sorted by port then protocol.
    pub exposed_ports: Vec<PortSpec>,
    /// Ports published on the host, sorted by host port, container port, protocol.
    pub published_ports: Vec<PublishedPort>,
}

impl ServiceNode {
    /// The compose service name, or the container name for a container outside compose.
    pub fn service_name(&self) -> &str {
        self.compose_service.as_deref().unwrap_or(&self.name)
    }
}

/// A container-side port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PortSpec {
    pub port: u16,
    /// Lower-case (`tcp`, `udp`, `sctp`).
    pub protocol: String,
}

/// A container port published on the host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PublishedPort {
    pub host_port: u16,
    pub container_port: u16,
    /// Lower-case (`tcp`, `udp`, `sctp`).
    pub protocol: String,
}

/// A declared dependency of one container on another, for one port of the target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ServiceEdge {
    /// Name of the depending container.
    pub source: String,
    /// Short id of the depending container.
    pub source_id: String,
    pub source_service: String,
    /// Name of the container depended on.
    pub target: String,
    /// Short id of the container depended on.
    pub target_id: String,
    pub target_service: String,
    /// A container-side port of the target; `None` when the target exposes none.
    pub port: Option<u16>,
    /// Lower-case protocol of `port`; `None` with it.
    pub protocol: Option<String>,
    /// The first network (by name) both containers are on; `None` when they share none, which
    /// means the declared dependency cannot be reached over a container network as deployed.
    pub shared_network: Option<String>,
}

/// A network with its in-scope members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopologyNetwork {
    pub name: String,
    /// Short (12-character) network id, when the engine listed the network.
    pub id: Option<String>,
    /// The driver (`bridge`, `macvlan`, …), when the engine listed the network.
    pub driver: Option<String>,
    /// Names of the nodes on this network, sorted.
    pub members: Vec<String>,
}

/// A `depends_on` entry that names a service no in-scope container provides.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UnresolvedDependency {
    /// Name of the depending container.
    pub source: String,
    pub source_service: String,
    pub target_service: String,
}

/// What an inventory snapshot row stores about one container (SPEC §2.4), without the row's id,
/// run and time, which the caller adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryRecord {
    /// The full container id.
    pub container_id: String,
    pub name: String,
    pub image: String,
    pub state: String,
    /// Sorted and unique.
    pub networks: Vec<String>,
    /// As [`format_port`] writes them, unique, sorted by container port, host port, protocol.
    pub ports: Vec<String>,
    /// Only [`INVENTORY_LABEL_KEYS`].
    pub labels: BTreeMap<String, String>,
}

/// Builds the topology of `containers` (already filtered to the allowlist, or every container
/// with scope `all` on D4) and the engine's `networks`.
///
/// - A container is on a network when it lists the network or the network lists it (by full or
///   12+-character id prefix): Docker and Podman each fill only one side in some answers.
/// - Networks with no container in scope are left out, so the map shows nothing about
///   containers outside the allowlist.
/// - Edges come only from declared `com.docker.compose.depends_on` labels, resolved within the
///   same compose project. Containers that merely share a network are not linked: that they
///   *can* talk says nothing about whether they *do*, and a guessed edge would turn into a
///   guessed allow rule in the network-policy recommendations.
/// - Containers listed twice (same id) count once.
pub fn build_topology(containers: &[ContainerSummary], networks: &[NetworkSummary]) -> Topology {
    let mut containers: Vec<&ContainerSummary> = containers.iter().collect();
    containers.sort_by(|a, b| {
        (&a.name, &a.id, &a.image, &a.state).cmp(&(&b.name, &b.id, &b.image, &b.state))
    });
    let mut seen_ids = BTreeSet::new();
    containers.retain(|c| seen_ids.insert(c.id.as_str()));

    let nodes: Vec<ServiceNode> = containers
        .iter()
        .map(|container| node_from(container, networks))
        .collect();
    let (edges, unresolved_dependencies) = declared_edges(&nodes);
    let networks = networks_of(&nodes, networks);
    Topology {
        nodes,
        edges,
        networks,
        unresolved_dependencies,
    }
}

/// Service names in a `com.docker.compose.depends_on` value, sorted and unique.
///
/// Compose v2 writes `service:condition:restart` entries separated by commas
/// (`db:service_started:false,cache:service_healthy:true`); older tools wrote plain names
/// (`db,cache`), and hand-written labels use spaces or a bracketed list. Anything after the
/// first `:` of an entry is the condition, which does not change the edge.
pub fn parse_depends_on(value: &str) -> Vec<String> {
    let names: BTreeSet<String> = value
        .split(|c: char| c == ',' || c.is_whitespace())
        .map(|entry| entry.trim_matches(|c: char| matches!(c, '[' | ']' | '"' | '\'')))
        .filter_map(|entry| entry.split(':').next())
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect();
    names.into_iter().collect()
}

/// The labels an inventory snapshot may store: only [`INVENTORY_LABEL_KEYS`].
pub fn inventory_labels(labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    labels
        .iter()
        .filter(|(key, _)| INVENTORY_LABEL_KEYS.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// The inventory snapshot fields of one container.
pub fn inventory_record(container: &ContainerSummary) -> InventoryRecord {
    let networks: BTreeSet<String> = container
        .networks
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
    let ports: BTreeSet<(u16, Option<u16>, String)> = container
        .ports
        .iter()
        .filter(|p| p.private_port != 0)
        .map(|p| {
            (
                p.private_port,
                p.public_port.filter(|p| *p != 0),
                normalise_protocol(&p.protocol),
            )
        })
        .collect();
    InventoryRecord {
        container_id: container.id.clone(),
        name: container.name.clone(),
        image: container.image.clone(),
        state: container.state.clone(),
        networks: networks.into_iter().collect(),
        ports: ports
            .into_iter()
            .map(|(private_port, public_port, protocol)| {
                format_port(&PortMapping {
                    private_port,
                    public_port,
                    protocol,
                })
            })
            .collect(),
        labels: inventory_labels(&container.labels),
    }
}

/// `8080->80/tcp` for a published port, `80/tcp` for an exposed one (`docker ps` style, without
/// the host address, which Podman does not report).
pub fn format_port(port: &PortMapping) -> String {
    let protocol = normalise_protocol(&port.protocol);
    match port.public_port.filter(|p| *p != 0) {
        Some(public) => format!("{public}->{}/{protocol}", port.private_port),
        None => format!("{}/{protocol}", port.private_port),
    }
}

/// The 12-character form Docker shows.
pub(super) fn short_id(id: &str) -> String {
    id.chars().take(12).collect()
}

/// Lower-case and trimmed; the engines default a missing protocol to TCP.
fn normalise_protocol(protocol: &str) -> String {
    match protocol.trim() {
        "" => "tcp".to_string(),
        other => other.to_ascii_lowercase(),
    }
}

fn non_blank_label(labels: &BTreeMap<String, String>, key: &str) -> Option<String> {
    labels
        .get(key)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// Whether a network's member id and a container id name the same container (either may be
/// the short form).
fn same_container(member: &str, container_id: &str) -> bool {
    member == container_id
        || (member.len() >= 12 && container_id.starts_with(member))
        || (container_id.len() >= 12 && member.starts_with(container_id))
}

fn node_from(container: &ContainerSummary, networks: &[NetworkSummary]) -> ServiceNode {
    let mut on: BTreeSet<String> = container
        .networks
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
    for network in networks {
        let name = network.name.trim();
        if !name.is_empty()
            && !container.id.is_empty()
            && network
                .containers
                .iter()
                .any(|member| same_container(member, &container.id))
        {
            on.insert(name.to_string());
        }
    }

    let mut exposed = BTreeSet::new();
    let mut published = BTreeSet::new();
    for port in container.ports.iter().filter(|p| p.private_port != 0) {
        let protocol = normalise_protocol(&port.protocol);
        if let Some(host_port) = port.public_port.filter(|p| *p != 0) {
            published.insert(PublishedPort {
                host_port,
                container_port: port.private_port,
                protocol: protocol.clone(),
            });
        }
        exposed.insert(PortSpec {
            port: port.private_port,
            protocol,
        });
    }

    ServiceNode {
        id: short_id(&container.id),
        name: container.name.clone(),
        image: container.image.clone(),
        state: container.state.clone(),
        compose_project: non_blank_label(&container.labels, LABEL_PROJECT),
        compose_service: non_blank_label(&container.labels, LABEL_SERVICE),
        depends_on: container
            .labels
            .get(LABEL_DEPENDS_ON)
            .map(|v| parse_depends_on(v))
            .unwrap_or_default(),
        networks: on.into_iter().collect(),
        exposed_ports: exposed.into_iter().collect(),
        published_ports: published.into_iter().collect(),
    }
}

/// Edges from `depends_on`, resolved to the containers of the named service in the source's
/// compose project (every replica of a scaled service gets its own edge).
fn declared_edges(nodes: &[ServiceNode]) -> (Vec<ServiceEdge>, Vec<UnresolvedDependency>) {
    let mut by_service: BTreeMap<(Option<&str>, &str), Vec<&ServiceNode>> = BTreeMap::new();
    for node in nodes {
        if let Some(service) = node.compose_service.as_deref() {
            by_service
                .entry((node.compose_project.as_deref(), service))
                .or_default()
                .push(node);
        }
    }

    let mut edges = BTreeSet::new();
    let mut unresolved = BTreeSet::new();
    for source in nodes {
        let source_service = source.service_name();
        for wanted in &source.depends_on {
            let targets: Vec<&ServiceNode> = by_service
                .get(&(source.compose_project.as_deref(), wanted.as_str()))
                .into_iter()
                .flatten()
                .copied()
                // A container cannot depend on itself; compose rejects such cycles anyway.
                .filter(|target| !std::ptr::eq(*target, source))
                .collect();
            if targets.is_empty() {
                unresolved.insert(UnresolvedDependency {
                    source: source.name.clone(),
                    source_service: source_service.to_string(),
                    target_service: wanted.clone(),
                });
                continue;
            }
            for target in targets {
                let shared_network = source
                    .networks
                    .iter()
                    .find(|n| target.networks.contains(n))
                    .cloned();
                let edge = |port: Option<&PortSpec>| ServiceEdge {
                    source: source.name.clone(),
                    source_id: source.id.clone(),
                    source_service: source_service.to_string(),
                    target: target.name.clone(),
                    target_id: target.id.clone(),
                    target_service: target.service_name().to_string(),
                    port: port.map(|p| p.port),
                    protocol: port.map(|p| p.protocol.clone()),
                    shared_network: shared_network.clone(),
                };
                if target.exposed_ports.is_empty() {
                    edges.insert(edge(None));
                } else {
                    for port in &target.exposed_ports {
                        edges.insert(edge(Some(port)));
                    }
                }
            }
        }
    }
    (
        edges.into_iter().collect(),
        unresolved.into_iter().collect(),
    )
}

fn networks_of(nodes: &[ServiceNode], listed: &[NetworkSummary]) -> Vec<TopologyNetwork> {
    let mut members: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for node in nodes {
        for network in &node.networks {
            members
                .entry(network.as_str())
                .or_default()
                .push(node.name.clone());
        }
    }
    members
        .into_iter()
        .map(|(name, mut names)| {
            names.sort();
            // Two listed networks with one name (a Podman and a Docker view, or a race with a
            // re-created network): the smallest id wins, so the choice does not depend on order.
            let summary = listed
                .iter()
                .filter(|n| n.name.trim() == name)
                .min_by(|a, b| a.id.cmp(&b.id));
            TopologyNetwork {
                name: name.to_string(),
                id: summary.map(|n| short_id(&n.id)).filter(|id| !id.is_empty()),
                driver: summary
                    .map(|n| n.driver.trim().to_string())
                    .filter(|d| !d.is_empty()),
                members: names,
            }
        })
        .collect()
}
