//! `service_map.md` and the counts for `summary.json`.
//!
//! Every value that came from the engine (names, images, labels, networks, the unavailability
//! reason) is written inside a code span, verbatim apart from line breaks and table pipes: a
//! code span cannot start a link, an HTML tag or emphasis, and because the text is not
//! backslash-escaped, the G6 redaction the caller applies afterwards still sees (and masks)
//! addresses and secrets in it.

use serde::{Deserialize, Serialize};

use super::mermaid::render_mermaid;
use super::policy::PolicyRecommendation;
use super::topology::{ServiceNode, Topology};
use crate::Error;

/// Whether the container engine answered. No engine configured or reachable is a reported
/// condition (SPEC §3.4), not a failed job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum EngineStatus {
    Available,
    /// Serialised as `{"status": "container_engine_unavailable", "reason": …}`.
    #[serde(rename = "container_engine_unavailable")]
    Unavailable {
        reason: String,
    },
}

impl EngineStatus {
    /// The condition name reports and `summary.json` use.
    pub const UNAVAILABLE: &'static str = "container_engine_unavailable";

    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self::Unavailable {
            reason: reason.into(),
        }
    }

    /// The status after the engine answered a listing with `error`.
    pub fn from_error(error: &Error) -> Self {
        Self::unavailable(error.to_string())
    }

    pub fn is_available(&self) -> bool {
        matches!(self, Self::Available)
    }
}

/// The counts `summary.json` records for the task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceMapSummary {
    pub engine: EngineStatus,
    pub containers: usize,
    pub networks: usize,
    pub edges: usize,
    pub edges_without_shared_network: usize,
    pub unresolved_dependencies: usize,
    pub published_ports: usize,
    /// `None` when recommendations were not produced (directive below D2).
    pub policy_recommendations: Option<usize>,
}

impl ServiceMapSummary {
    pub fn new(
        topology: &Topology,
        recommendations: Option<&[PolicyRecommendation]>,
        engine: &EngineStatus,
    ) -> Self {
        Self {
            engine: engine.clone(),
            containers: topology.nodes.len(),
            networks: topology.networks.len(),
            edges: topology.edges.len(),
            edges_without_shared_network: topology
                .edges
                .iter()
                .filter(|e| e.shared_network.is_none())
                .count(),
            unresolved_dependencies: topology.unresolved_dependencies.len(),
            published_ports: topology.nodes.iter().map(|n| n.published_ports.len()).sum(),
            policy_recommendations: recommendations.map(<[_]>::len),
        }
    }
}

/// [`ServiceMapSummary`] as JSON.
pub fn summary_json(
    topology: &Topology,
    recommendations: Option<&[PolicyRecommendation]>,
    engine: &EngineStatus,
) -> serde_json::Value {
    serde_json::json!(ServiceMapSummary::new(topology, recommendations, engine))
}

/// `service_map.md`: the engine condition, counts, a containers table, a dependencies table,
/// the Mermaid diagram and the recommendations with their manifests.
///
/// `recommendations` is `None` when they were not produced (directive below D2), which the
/// report says, and `Some(&[])` when there was no edge with a known port. With the engine
/// [`EngineStatus::Unavailable`], the report is the condition and its reason only.
pub fn render_markdown(
    topology: &Topology,
    recommendations: Option<&[PolicyRecommendation]>,
    engine: &EngineStatus,
) -> String {
    let mut out = String::from("# Service map\n\n");
    if let EngineStatus::Unavailable { reason } = engine {
        out.push_str(&format!(
            "**Condition:** `{}`: the container engine is not configured or did not answer, so \
             no containers were listed. This is reported, not a failure.\n\n**Reason:** {}\n",
            EngineStatus::UNAVAILABLE,
            code(reason)
        ));
        return out;
    }

    let summary = ServiceMapSummary::new(topology, recommendations, engine);
    out.push_str(&format!(
        "- Containers: {}\n- Networks: {}\n- Dependency edges: {} ({} without a shared network)\n\
         - Unresolved dependencies: {}\n- Published ports: {}\n",
        summary.containers,
        summary.networks,
        summary.edges,
        summary.edges_without_shared_network,
        summary.unresolved_dependencies,
        summary.published_ports,
    ));
    if topology.nodes.is_empty() {
        out.push_str(
            "\nNo containers in scope: the allowlist has no enabled entry that matches a \
             container on this engine.\n",
        );
    } else {
        containers_section(&mut out, topology);
        dependencies_section(&mut out, topology);
        out.push_str("\n## Diagram\n\n");
        fenced(&mut out, "mermaid", &render_mermaid(topology));
    }
    recommendations_section(&mut out, recommendations);
    let end = out.trim_end().len();
    out.truncate(end);
    out.push('\n');
    out
}

fn containers_section(out: &mut String, topology: &Topology) {
    out.push_str(
        "\n## Containers\n\n\
         | Name | Id | Image | State | Compose project | Compose service | Networks | Published | Exposed |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for node in &topology.nodes {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            cell(&node.name),
            cell(&node.id),
            cell(&node.image),
            cell(&node.state),
            node.compose_project.as_deref().map_or("-".into(), cell),
            node.compose_service.as_deref().map_or("-".into(), cell),
            list_cell(&node.networks),
            published(node),
            exposed(node),
        ));
    }
    if !topology.networks.is_empty() {
        out.push_str("\n## Networks\n\n| Network | Driver | Members |\n|---|---|---|\n");
        for network in &topology.networks {
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                cell(&network.name),
                network.driver.as_deref().map_or("-".into(), cell),
                list_cell(&network.members),
            ));
        }
    }
}

fn dependencies_section(out: &mut String, topology: &Topology) {
    out.push_str(
        "\n## Dependencies\n\nDeclared with compose `depends_on`. Containers that only share a \
         network are not linked: that they can talk does not mean they do.\n\n",
    );
    if topology.edges.is_empty() {
        out.push_str("No declared dependencies between containers in scope.\n");
    } else {
        out.push_str("| From | To | Port | Shared network |\n|---|---|---|---|\n");
        for edge in &topology.edges {
            let port = match (edge.port, edge.protocol.as_deref()) {
                (Some(port), Some(protocol)) => cell(&format!("{port}/{protocol}")),
                (Some(port), None) => cell(&port.to_string()),
                (None, _) => "none exposed".to_string(),
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                cell(&edge.source),
                cell(&edge.target),
                port,
                edge.shared_network
                    .as_deref()
                    .map_or("none: not reachable as deployed".into(), cell),
            ));
        }
    }
    if !topology.unresolved_dependencies.is_empty() {
        out.push_str(
            "\nDependencies on services with no container in scope (not allowlisted, not \
             running, or misspelt):\n\n",
        );
        for unresolved in &topology.unresolved_dependencies {
            out.push_str(&format!(
                "- {} depends on {}\n",
                code(&unresolved.source),
                code(&unresolved.target_service)
            ));
        }
    }
}

fn recommendations_section(out: &mut String, recommendations: Option<&[PolicyRecommendation]>) {
    out.push_str("\n## Network-policy recommendations\n\n");
    match recommendations {
        None => out.push_str("Not produced: recommendations need directive level D2 or higher.\n"),
        Some([]) => out.push_str("None: no declared dependency has a known target port.\n"),
        Some(recommendations) => {
            for recommendation in recommendations {
                // Policy names are DNS-1123 labels, so the heading needs no escaping.
                out.push_str(&format!("### {}\n\n", recommendation.policy_name));
                out.push_str(&format!(
                    "{} → {} on {}/{}",
                    code(&recommendation.source_service),
                    code(&recommendation.target_service),
                    recommendation.port,
                    recommendation.protocol
                ));
                if let Some(namespace) = &recommendation.namespace {
                    out.push_str(&format!(" in namespace {}", code(namespace)));
                }
                out.push_str(".\n\n");
                out.push_str(&text(&recommendation.recommendation));
                out.push_str("\n\n");
                fenced(out, "yaml", &recommendation.policy_yaml);
                out.push('\n');
            }
        }
    }
}

fn published(node: &ServiceNode) -> String {
    let ports: Vec<String> = node
        .published_ports
        .iter()
        .map(|p| format!("{}->{}/{}", p.host_port, p.container_port, p.protocol))
        .collect();
    list_cell(&ports)
}

fn exposed(node: &ServiceNode) -> String {
    let ports: Vec<String> = node
        .exposed_ports
        .iter()
        .map(|p| format!("{}/{}", p.port, p.protocol))
        .collect();
    list_cell(&ports)
}

fn list_cell(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_string()
    } else {
        items.iter().map(|i| cell(i)).collect::<Vec<_>>().join(", ")
    }
}

/// A code span for a table cell: GFM splits cells on `|` before it parses code spans, so pipes
/// are escaped (`\|` inside a cell's code span shows as `|`).
fn cell(value: &str) -> String {
    code(value).replace('|', "\\|")
}

/// A code span showing `value` verbatim: delimited by one more backtick than the longest run
/// inside, padded with spaces where the value starts or ends with a backtick, line breaks and
/// control characters as spaces. An empty value shows as `-`.
fn code(value: &str) -> String {
    let value: String = value
        .chars()
        .map(|c| if is_line_breaking(c) { ' ' } else { c })
        .collect();
    if value.trim().is_empty() {
        return "-".to_string();
    }
    crate::tasks::markdown::code_span(&value)
}

/// Plain text in a paragraph: Markdown's inline punctuation is backslash-escaped, line breaks
/// become spaces. Only characters no redaction pattern contains are escaped (not `.`, `:`, `/`,
/// `@`, `-`), so redaction afterwards still matches.
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '&' | '~' | '!' | '#' => {
                out.push('\\');
                out.push(c);
            }
            c if is_line_breaking(c) => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A fenced block whose fence is longer than any backtick run in `body`, so the body cannot
/// close it.
fn fenced(out: &mut String, info: &str, body: &str) {
    let fence = "`".repeat((crate::tasks::markdown::longest_backtick_run(body) + 1).max(3));
    out.push_str(&format!("{fence}{info}\n{body}"));
    if !body.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!("{fence}\n"));
}

fn is_line_breaking(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}
