//! Network-policy recommendations (D2+): one Kubernetes `NetworkPolicy` per declared dependency
//! with a known port, allowing exactly that traffic.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::topology::Topology;
use super::yaml::{Yaml, to_yaml};

/// The pod label the generated policies select on, the one Kubernetes recommends for an
/// application's name.
pub const POD_NAME_LABEL: &str = "app.kubernetes.io/name";

/// Longest DNS-1123 label and label value.
const MAX_LABEL: usize = 63;

/// One recommended `NetworkPolicy` (SPEC §2.8's recommendation row plus the policy's name and
/// namespace).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRecommendation {
    pub source_service: String,
    pub target_service: String,
    /// The target's container-side port.
    pub port: u16,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// What to do and why, in plain text.
    pub recommendation: String,
    /// A complete `networking.k8s.io/v1` `NetworkPolicy` manifest.
    pub policy_yaml: String,
    /// `metadata.name` of the manifest: a DNS-1123 label.
    pub policy_name: String,
    /// `metadata.namespace`: the compose project as a DNS-1123 label; `None` (omitted from the
    /// manifest) for containers outside compose.
    pub namespace: Option<String>,
}

/// Recommendations for every edge of `topology` with a known port, one per (compose project,
/// source service, target service, port, protocol): replicas of a scaled service share one.
/// Ports of a protocol Kubernetes does not know (anything but TCP, UDP, SCTP) get none.
///
/// Sorted by source service, target service, port, protocol, namespace. Policy names are unique
/// within a namespace: names that sanitise to the same label get a hash suffix.
pub fn recommend_policies(topology: &Topology) -> Vec<PolicyRecommendation> {
    // Key → whether any edge behind it has a shared network.
    let mut wanted: BTreeMap<PolicyKey, bool> = BTreeMap::new();
    for edge in &topology.edges {
        let (Some(port), Some(protocol)) = (edge.port, edge.protocol.as_deref()) else {
            continue;
        };
        let Some(protocol) = kubernetes_protocol(protocol) else {
            continue;
        };
        let project = topology
            .nodes
            .iter()
            .find(|n| n.id == edge.source_id && n.name == edge.source)
            .and_then(|n| n.compose_project.clone());
        let key = PolicyKey {
            source_service: edge.source_service.clone(),
            target_service: edge.target_service.clone(),
            port,
            protocol,
            project,
        };
        *wanted.entry(key).or_default() |= edge.shared_network.is_some();
    }

    let named = unique_names(wanted.keys());
    let mut recommendations: Vec<PolicyRecommendation> = wanted
        .into_iter()
        .zip(named)
        .map(|((key, reachable), policy_name)| recommendation(key, reachable, policy_name))
        .collect();
    recommendations.sort_by(|a, b| {
        (
            &a.source_service,
            &a.target_service,
            a.port,
            &a.protocol,
            &a.namespace,
        )
            .cmp(&(
                &b.source_service,
                &b.target_service,
                b.port,
                &b.protocol,
                &b.namespace,
            ))
    });
    recommendations
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct PolicyKey {
    source_service: String,
    target_service: String,
    port: u16,
    protocol: &'static str,
    project: Option<String>,
}

impl PolicyKey {
    fn namespace(&self) -> Option<String> {
        self.project
            .as_deref()
            .map(|project| dns_label(project, "project"))
    }

    fn raw_name(&self) -> String {
        format!(
            "allow-{}-to-{}-{}{}",
            self.source_service,
            self.target_service,
            self.port,
            self.protocol_suffix()
        )
    }

    /// `allow-<source>-to-<target>-<port>`, each service sanitised on its own so that one
    /// with no usable character becomes `svc-<hash>` (as its pod label value does) instead of
    /// vanishing from the name. A protocol other than TCP is appended (`-udp`), since a
    /// service may listen on one port with both.
    fn plain_name(&self) -> String {
        let part = |service: &str| match dns_chars(service) {
            part if part.is_empty() => with_hash("svc", service),
            part => part,
        };
        dns_label(
            &format!(
                "allow-{}-to-{}-{}{}",
                part(&self.source_service),
                part(&self.target_service),
                self.port,
                self.protocol_suffix()
            ),
            "allow",
        )
    }

    fn protocol_suffix(&self) -> String {
        match self.protocol {
            "TCP" => String::new(),
            other => format!("-{}", other.to_ascii_lowercase()),
        }
    }
}

fn kubernetes_protocol(protocol: &str) -> Option<&'static str> {
    match protocol.trim().to_ascii_lowercase().as_str() {
        "tcp" => Some("TCP"),
        "udp" => Some("UDP"),
        "sctp" => Some("SCTP"),
        _ => None,
    }
}

/// `metadata.name` per key, in key order. Two keys whose names sanitise to the same label in
/// the same namespace (`My_App` and `my-app`, or projects `Shop` and `shop`) both get a suffix
/// from a hash of their project and raw name, so one policy never silently replaces the other
/// when applied.
fn unique_names<'a>(keys: impl Iterator<Item = &'a PolicyKey>) -> Vec<String> {
    let keys: Vec<&PolicyKey> = keys.collect();
    let identity = |key: &PolicyKey| format!("{:?}/{}", key.project, key.raw_name());
    let plain: Vec<(Option<String>, String)> = keys
        .iter()
        .map(|key| (key.namespace(), key.plain_name()))
        .collect();
    let mut identities: BTreeMap<&(Option<String>, String), BTreeSet<String>> = BTreeMap::new();
    for (key, named) in keys.iter().zip(&plain) {
        identities.entry(named).or_default().insert(identity(key));
    }
    keys.iter()
        .zip(&plain)
        .map(|(key, named)| {
            if identities[named].len() > 1 {
                with_hash(&named.1, &identity(key))
            } else {
                named.1.clone()
            }
        })
        .collect()
}

fn recommendation(key: PolicyKey, reachable: bool, policy_name: String) -> PolicyRecommendation {
    let namespace = key.namespace();
    let target_label = label_value(&key.target_service);
    let source_label = label_value(&key.source_service);

    let mut metadata = vec![("name".to_string(), Yaml::str(policy_name.clone()))];
    if let Some(namespace) = &namespace {
        metadata.push(("namespace".to_string(), Yaml::str(namespace.clone())));
    }
    let manifest = Yaml::map([
        ("apiVersion", Yaml::str("networking.k8s.io/v1")),
        ("kind", Yaml::str("NetworkPolicy")),
        ("metadata", Yaml::Map(metadata)),
        (
            "spec",
            Yaml::map([
                ("podSelector", match_labels(&target_label)),
                ("policyTypes", Yaml::Seq(vec![Yaml::str("Ingress")])),
                (
                    "ingress",
                    Yaml::Seq(vec![Yaml::map([
                        (
                            "from",
                            Yaml::Seq(vec![Yaml::map([(
                                "podSelector",
                                match_labels(&source_label),
                            )])]),
                        ),
                        (
                            "ports",
                            Yaml::Seq(vec![Yaml::map([
                                ("protocol", Yaml::str(key.protocol)),
                                ("port", Yaml::Int(i64::from(key.port))),
                            ])]),
                        ),
                    ])]),
                ),
            ]),
        ),
    ]);

    let mut text = format!(
        "Allow ingress to pods labelled {POD_NAME_LABEL}={target_label} only from pods labelled \
         {POD_NAME_LABEL}={source_label}, on {}/{} (\"{}\" declares depends_on \"{}\"). Once a \
         NetworkPolicy selects a pod, ingress no policy allows is denied: apply the policies for \
         every declared client of \"{}\" together.",
        key.port, key.protocol, key.source_service, key.target_service, key.target_service
    );
    if !reachable {
        text.push_str(&format!(
            " Note: \"{}\" and \"{}\" share no container network as deployed, so this dependency \
             cannot be reached directly today.",
            key.source_service, key.target_service
        ));
    }

    PolicyRecommendation {
        source_service: key.source_service,
        target_service: key.target_service,
        port: key.port,
        protocol: key.protocol.to_string(),
        recommendation: text,
        policy_yaml: to_yaml(&manifest),
        policy_name,
        namespace,
    }
}

fn match_labels(value: &str) -> Yaml {
    Yaml::map([(
        "matchLabels",
        Yaml::map([(POD_NAME_LABEL, Yaml::str(value))]),
    )])
}

/// `raw` as a DNS-1123 label (lower-case ASCII letters, digits and `-`, alphanumeric at both
/// ends, at most 63 characters), as Kubernetes requires of namespace and policy names.
///
/// Anything else becomes `-` (runs collapse). A name that had to be shortened, or that has no
/// ASCII letter or digit at all, ends in `-` and 8 hex digits of its SHA-256, so different long
/// or non-ASCII names stay different; `fallback` (sanitised the same way) prefixes the latter.
pub fn dns_label(raw: &str, fallback: &str) -> String {
    let label = dns_chars(raw);
    if label.is_empty() {
        return with_hash(&dns_chars(fallback), raw);
    }
    if label.len() > MAX_LABEL {
        return with_hash(&label, raw);
    }
    label
}

/// Lower-case ASCII letters and digits, anything else as one `-`, no `-` at either end.
fn dns_chars(raw: &str) -> String {
    let mut label = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            label.push(c);
        } else if !label.ends_with('-') {
            label.push('-');
        }
    }
    label.trim_matches('-').to_string()
}

/// `raw` as a Kubernetes label value (ASCII letters, digits, `-`, `_`, `.`, alphanumeric at both
/// ends, at most 63 characters). Case is kept: label values are case-sensitive and should match
/// the names in the user's manifests. Shortened or emptied values end in a hash like
/// [`dns_label`].
pub fn label_value(raw: &str) -> String {
    let mut value = String::with_capacity(raw.len());
    for c in raw.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.') {
            value.push(c);
        } else if !value.ends_with('-') {
            value.push('-');
        }
    }
    let value = value.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if value.is_empty() {
        return with_hash("svc", raw);
    }
    if value.len() > MAX_LABEL {
        return with_hash(value, raw);
    }
    value.to_string()
}

/// `prefix`, cut so that `-` and 8 hex digits of `raw`'s SHA-256 fit in 63 characters, and
/// trimmed to end in an ASCII letter or digit.
fn with_hash(prefix: &str, raw: &str) -> String {
    let digest = hex::encode(Sha256::digest(raw.as_bytes()));
    let room = MAX_LABEL - 9;
    let end = prefix
        .char_indices()
        .nth(room)
        .map_or(prefix.len(), |(at, _)| at);
    let cut = prefix[..end].trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    if cut.is_empty() {
        digest[..8].to_string()
    } else {
        format!("{cut}-{}", &digest[..8])
    }
}
