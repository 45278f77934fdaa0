//! [`Topology`] → a Mermaid flowchart (`services.mmd`).
//!
//! Container names, images, labels and network names come from whoever created the containers,
//! so none of them reaches the diagram source unescaped: node and subgraph ids are generated
//! from `[A-Za-z0-9_]`, and every label is a double-quoted string in which each character
//! Mermaid treats specially is written as an entity code (`#34;`).

use std::collections::{BTreeSet, HashMap};

use super::topology::{ServiceEdge, Topology};

/// The diagram: `graph LR`, one subgraph per network holding the containers whose first
/// network (by name) it is, containers without a network at the top level, and one arrow per
/// edge labelled `port/protocol`. An edge between containers that share no network is dashed
/// and says so. A container on several networks lists the others in its label, since Mermaid
/// draws a node inside one subgraph only.
pub fn render_mermaid(topology: &Topology) -> String {
    let mut out = String::from("graph LR\n");
    if topology.nodes.is_empty() {
        out.push_str("    empty[\"no containers in scope\"]\n");
        return out;
    }

    let ids = node_ids(topology);
    let node_line = |index: usize, indent: &str| {
        let node = &topology.nodes[index];
        let mut label = escape_label(&node.name);
        if !node.image.is_empty() {
            label.push_str("<br/>");
            label.push_str(&escape_label(&node.image));
        }
        if node.state != "running" {
            label.push_str("<br/>");
            label.push_str(&escape_label(&node.state));
        }
        if node.networks.len() > 1 {
            label.push_str("<br/>also on: ");
            label.push_str(&escape_label(&node.networks[1..].join(", ")));
        }
        format!("{indent}{}[\"{label}\"]\n", ids[index])
    };

    for (n, network) in topology.networks.iter().enumerate() {
        out.push_str(&format!(
            "    subgraph net_{n} [\"{}\"]\n",
            escape_label(&network.name)
        ));
        for (index, node) in topology.nodes.iter().enumerate() {
            if node.networks.first() == Some(&network.name) {
                out.push_str(&node_line(index, "        "));
            }
        }
        out.push_str("    end\n");
    }
    for (index, node) in topology.nodes.iter().enumerate() {
        // A node whose first network is missing from the list (a hand-built topology) must
        // still be drawn somewhere.
        let placed = node
            .networks
            .first()
            .is_some_and(|first| topology.networks.iter().any(|n| &n.name == first));
        if !placed {
            out.push_str(&node_line(index, "    "));
        }
    }

    let by_key: HashMap<(&str, &str), &str> = topology
        .nodes
        .iter()
        .zip(&ids)
        .map(|(node, id)| ((node.id.as_str(), node.name.as_str()), id.as_str()))
        .collect();
    for edge in &topology.edges {
        let (Some(from), Some(to)) = (
            by_key.get(&(edge.source_id.as_str(), edge.source.as_str())),
            by_key.get(&(edge.target_id.as_str(), edge.target.as_str())),
        ) else {
            // An edge to a node the topology does not hold (a hand-built topology) has nothing
            // to point at.
            continue;
        };
        let arrow = if edge.shared_network.is_some() {
            "-->"
        } else {
            "-.->"
        };
        match edge_label(edge) {
            Some(label) => out.push_str(&format!("    {from} {arrow}|\"{label}\"| {to}\n")),
            None => out.push_str(&format!("    {from} {arrow} {to}\n")),
        }
    }
    out
}

fn edge_label(edge: &ServiceEdge) -> Option<String> {
    let port = match (edge.port, edge.protocol.as_deref()) {
        (Some(port), Some(protocol)) => Some(format!("{port}/{}", escape_label(protocol))),
        (Some(port), None) => Some(port.to_string()),
        (None, _) => None,
    };
    match (port, edge.shared_network.is_some()) {
        (port, true) => port,
        (Some(port), false) => Some(format!("{port}, no shared network")),
        (None, false) => Some("no shared network".to_string()),
    }
}

/// `c_` + the name with every character outside `[A-Za-z0-9_]` as `_`, made unique with a
/// numeric suffix. The prefix keeps ids clear of Mermaid keywords (`end`, `graph`) and of the
/// `o`/`x` arrow heads an id starting with those letters would form after `--`.
fn node_ids(topology: &Topology) -> Vec<String> {
    let mut taken = BTreeSet::new();
    topology
        .nodes
        .iter()
        .map(|node| {
            let base: String = std::iter::once("c_".to_string())
                .chain(node.name.chars().map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        c.to_string()
                    } else {
                        "_".to_string()
                    }
                }))
                .collect();
            let mut id = base.clone();
            let mut suffix = 2;
            while !taken.insert(id.clone()) {
                id = format!("{base}_{suffix}");
                suffix += 1;
            }
            id
        })
        .collect()
}

/// Text for inside a double-quoted Mermaid label. Quotes, brackets, braces, parentheses, pipes,
/// angle brackets (HTML), `&`, `#` (so the input cannot forge an entity code), `%` (comments and
/// directives), `\` and backticks (which switch a label to Markdown) become `#<decimal>;`; line
/// breaks and other control characters become a space.
pub(super) fn escape_label(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' | '#' | '<' | '>' | '&' | '[' | ']' | '(' | ')' | '{' | '}' | '|' | '`' | '%'
            | '\\' => out.push_str(&format!("#{};", c as u32)),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}
