//! The engine's JSON → the engine-neutral summaries of [`crate::container`].
//!
//! The models read only the fields Cyberbrain uses, every one optional and enums as plain
//! strings: Docker and Podman differ in what they leave out (`Ports[].IP`) and in their state
//! names (`stopped`, `configured`), and neither may fail a whole listing.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::container::{ContainerDetails, ContainerSummary, NetworkSummary, PortMapping};

/// An entry of `GET /containers/json`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct ApiContainer {
    id: Option<String>,
    names: Option<Vec<String>>,
    image: Option<String>,
    state: Option<String>,
    labels: Option<HashMap<String, String>>,
    ports: Option<Vec<ApiPort>>,
    network_settings: Option<ApiNetworkSettings>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ApiPort {
    private_port: u16,
    public_port: Option<u16>,
    #[serde(rename = "Type")]
    protocol: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ApiNetworkSettings {
    networks: Option<HashMap<String, IgnoredAny>>,
    /// Inspect only: `{"80/tcp": [{"HostIp": "", "HostPort": "18080"}]}`, `null` when unpublished.
    ports: Option<HashMap<String, Option<Vec<ApiPortBinding>>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ApiPortBinding {
    host_port: Option<String>,
}

/// `GET /containers/{id}/json`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct ApiContainerInspect {
    id: Option<String>,
    name: Option<String>,
    /// The image id; `Config.Image` is the reference the container was created from.
    image: Option<String>,
    state: Option<ApiState>,
    config: Option<ApiConfig>,
    network_settings: Option<ApiNetworkSettings>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ApiState {
    status: Option<String>,
    pid: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ApiConfig {
    image: Option<String>,
    labels: Option<HashMap<String, String>>,
}

/// An entry of `GET /networks` or the answer of `GET /networks/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct ApiNetwork {
    pub(super) id: Option<String>,
    pub(super) name: Option<String>,
    driver: Option<String>,
    /// Members by container id (inspect; list items of API 1.44+ have none).
    containers: Option<HashMap<String, IgnoredAny>>,
}

/// Whether `reference` is a container/network id or name in Docker's alphabet
/// (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`), which keeps it inside the URL path segment it goes into.
pub(super) fn is_safe_reference(reference: &str) -> bool {
    let mut chars = reference.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    reference.len() <= 255
        && first.is_ascii_alphanumeric()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// A listed container; `None` for an entry without an id (nothing can address it).
pub(super) fn summary_from_list(container: ApiContainer) -> Option<ContainerSummary> {
    let id = container.id.filter(|id| !id.is_empty())?;
    let name = primary_name(container.names.as_deref().unwrap_or_default(), &id);
    Some(ContainerSummary {
        name,
        image: container.image.unwrap_or_default(),
        state: normalise_state(container.state),
        labels: sorted_labels(container.labels),
        networks: network_names(container.network_settings.and_then(|n| n.networks)),
        ports: ports_from_list(container.ports.unwrap_or_default()),
        id,
    })
}

/// An inspected container; `None` without an id.
pub(super) fn details_from_inspect(container: ApiContainerInspect) -> Option<ContainerDetails> {
    let id = container.id.filter(|id| !id.is_empty())?;
    let name = container
        .name
        .map(|n| n.trim_start_matches('/').to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| short_id(&id));
    let state = container.state.unwrap_or_default();
    let config = container.config.unwrap_or_default();
    let network_settings = container.network_settings.unwrap_or_default();
    // Config.Image is the reference the container was created from, as the list shows it;
    // the top-level Image is the image id.
    let image = config
        .image
        .filter(|i| !i.is_empty())
        .or(container.image)
        .unwrap_or_default();
    let summary = ContainerSummary {
        name,
        image,
        state: normalise_state(state.status),
        labels: sorted_labels(config.labels),
        networks: network_names(network_settings.networks),
        ports: ports_from_map(network_settings.ports.unwrap_or_default()),
        id,
    };
    // A stopped container reports pid 0.
    let pid = state
        .pid
        .filter(|pid| *pid > 0)
        .and_then(|pid| u32::try_from(pid).ok());
    Some(ContainerDetails { summary, pid })
}

/// A network from its inspect answer (which lists members), falling back to the listing for
/// fields the inspect answer lacks.
pub(super) fn network_from_inspect(inspected: ApiNetwork, listed: &ApiNetwork) -> NetworkSummary {
    let mut containers: Vec<String> = inspected
        .containers
        .unwrap_or_default()
        .into_keys()
        .filter(|id| !id.is_empty())
        .collect();
    containers.sort();
    NetworkSummary {
        id: inspected
            .id
            .or_else(|| listed.id.clone())
            .unwrap_or_default(),
        name: inspected
            .name
            .or_else(|| listed.name.clone())
            .unwrap_or_default(),
        driver: inspected
            .driver
            .or_else(|| listed.driver.clone())
            .unwrap_or_default(),
        containers,
    }
}

/// Docker's state names. Podman's compatible API passes some of its own through (`stopped`:
/// exited but not yet cleaned up; `configured`: created but not initialised).
fn normalise_state(state: Option<String>) -> String {
    let state = state.unwrap_or_default().trim().to_ascii_lowercase();
    match state.as_str() {
        "" => "unknown".into(),
        "stopped" => "exited".into(),
        "configured" | "initialized" => "created".into(),
        _ => state,
    }
}

/// The container's own name: Docker also lists legacy link aliases (`/other/alias`).
fn primary_name(names: &[String], id: &str) -> String {
    names
        .iter()
        .map(|n| n.trim_start_matches('/'))
        .find(|n| !n.is_empty() && !n.contains('/'))
        .map(str::to_string)
        .unwrap_or_else(|| short_id(id))
}

fn short_id(id: &str) -> String {
    id.chars().take(12).collect()
}

fn sorted_labels(labels: Option<HashMap<String, String>>) -> BTreeMap<String, String> {
    labels.unwrap_or_default().into_iter().collect()
}

fn network_names(networks: Option<HashMap<String, IgnoredAny>>) -> Vec<String> {
    let mut names: Vec<String> = networks.unwrap_or_default().into_keys().collect();
    names.sort();
    names
}

/// Docker lists a port published on IPv4 and IPv6 twice; one mapping per
/// (private, public, protocol) is kept.
fn ports_from_list(ports: Vec<ApiPort>) -> Vec<PortMapping> {
    let unique: BTreeSet<(u16, Option<u16>, String)> = ports
        .into_iter()
        .map(|p| {
            let protocol = p
                .protocol
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "tcp".into());
            (p.private_port, p.public_port.filter(|p| *p != 0), protocol)
        })
        .collect();
    into_mappings(unique)
}

/// `NetworkSettings.Ports` of inspect: `{"80/tcp": [{"HostIp": "", "HostPort": "18080"}]}`,
/// `null` for an exposed but unpublished port.
fn ports_from_map(ports: HashMap<String, Option<Vec<ApiPortBinding>>>) -> Vec<PortMapping> {
    let mut unique = BTreeSet::new();
    for (key, bindings) in ports {
        let (port, protocol) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
        let Ok(private_port) = port.parse::<u16>() else {
            continue;
        };
        let protocol = match protocol.trim() {
            "" => "tcp".to_string(),
            other => other.to_ascii_lowercase(),
        };
        let published: Vec<u16> = bindings
            .unwrap_or_default()
            .iter()
            .filter_map(|b| b.host_port.as_deref()?.parse::<u16>().ok())
            .filter(|p| *p != 0)
            .collect();
        if published.is_empty() {
            unique.insert((private_port, None, protocol));
        } else {
            for public in published {
                unique.insert((private_port, Some(public), protocol.clone()));
            }
        }
    }
    into_mappings(unique)
}

fn into_mappings(unique: BTreeSet<(u16, Option<u16>, String)>) -> Vec<PortMapping> {
    unique
        .into_iter()
        .map(|(private_port, public_port, protocol)| PortMapping {
            private_port,
            public_port,
            protocol,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Podman's list entry (no `Ports[].IP`), as captured from `GET /containers/json`.
    const PODMAN_LIST_ENTRY: &str = r#"{
        "Id": "3a1b2c3d4e5f60718293a4b5c6d7e8f9012345678901234567890abcdef0123",
        "Names": ["/web"], "Image": "localhost/busybox:latest", "State": "running",
        "Status": "Up 27 seconds", "Created": 1764000000,
        "Labels": {"com.docker.compose.project": "probe", "com.docker.compose.service": "web"},
        "Ports": [{"PrivatePort": 80, "PublicPort": 18080, "Type": "tcp"}],
        "NetworkSettings": {"Networks": {"testnet": {"NetworkID": "testnet", "EndpointID": ""}}}
    }"#;

    /// Docker's list entry: a port published on IPv4 and IPv6, a link alias, an exposed port.
    const DOCKER_LIST_ENTRY: &str = r#"{
        "Id": "4f1c2a9be0d3a1b2c3d4e5f60718293a4b5c6d7e8f9012345678901234567890",
        "Names": ["/app/db", "/db"], "Image": "postgres:16", "State": "exited",
        "Ports": [
            {"IP": "0.0.0.0", "PrivatePort": 5432, "PublicPort": 15432, "Type": "tcp"},
            {"IP": "::", "PrivatePort": 5432, "PublicPort": 15432, "Type": "tcp"},
            {"PrivatePort": 53, "Type": "udp"}
        ],
        "NetworkSettings": {"Networks": {"backend": {}, "bridge": {}}}
    }"#;

    #[test]
    fn list_entries_from_podman_and_docker() {
        let podman: ApiContainer = serde_json::from_str(PODMAN_LIST_ENTRY).unwrap();
        let web = summary_from_list(podman).unwrap();
        assert_eq!(web.name, "web");
        assert_eq!(web.state, "running");
        assert_eq!(web.networks, vec!["testnet"]);
        assert_eq!(web.labels["com.docker.compose.service"], "web");
        assert_eq!(
            web.ports,
            vec![PortMapping {
                private_port: 80,
                public_port: Some(18080),
                protocol: "tcp".into()
            }]
        );

        let docker: ApiContainer = serde_json::from_str(DOCKER_LIST_ENTRY).unwrap();
        let db = summary_from_list(docker).unwrap();
        assert_eq!(db.name, "db", "the link alias is not the name");
        assert_eq!(db.state, "exited");
        assert_eq!(db.networks, vec!["backend", "bridge"]);
        assert_eq!(
            db.ports,
            vec![
                PortMapping {
                    private_port: 53,
                    public_port: None,
                    protocol: "udp".into()
                },
                PortMapping {
                    private_port: 5432,
                    public_port: Some(15432),
                    protocol: "tcp".into()
                },
            ]
        );
    }

    #[test]
    fn podman_only_states_and_unknown_values_never_fail_a_listing() {
        // Podman 4.3 lists a container it is removing as "stopped" (bollard's models reject it).
        let list: Vec<ApiContainer> = serde_json::from_str(
            r#"[
                {"Id": "a1", "Names": ["/gone"], "State": "stopped", "Mounts": [{"Type": "odd"}]},
                {"Id": "b2", "Names": ["/new"], "State": "configured", "Health": {"Status": "?"}},
                {"Id": "c3", "Names": ["/x"], "State": "Running",
                 "Ports": [{"PrivatePort": 9, "Type": "SCTP"}], "Labels": null}
            ]"#,
        )
        .unwrap();
        let states: Vec<(String, String)> = list
            .into_iter()
            .filter_map(summary_from_list)
            .map(|c| (c.name, c.state))
            .collect();
        assert_eq!(
            states,
            [("gone", "exited"), ("new", "created"), ("x", "running")]
                .map(|(n, s)| (n.to_string(), s.to_string()))
        );
        let inspected: ApiContainerInspect =
            serde_json::from_str(r#"{"Id": "a1", "State": {"Status": "stopped", "Pid": 0}}"#)
                .unwrap();
        assert_eq!(
            details_from_inspect(inspected).unwrap().summary.state,
            "exited"
        );
    }

    #[test]
    fn list_entry_without_id_is_skipped_and_without_name_uses_short_id() {
        let no_id: ApiContainer = serde_json::from_str(r#"{"Names": ["/x"]}"#).unwrap();
        assert!(summary_from_list(no_id).is_none());
        let no_name: ApiContainer =
            serde_json::from_str(r#"{"Id": "0123456789abcdef0123"}"#).unwrap();
        let summary = summary_from_list(no_name).unwrap();
        assert_eq!(summary.name, "0123456789ab");
        assert_eq!(summary.state, "unknown");
        assert!(summary.ports.is_empty() && summary.labels.is_empty());
    }

    #[test]
    fn inspect_gives_pid_ports_and_config_image() {
        let inspected: ApiContainerInspect = serde_json::from_str(
            r#"{
                "Id": "abc123abc123abc123", "Name": "/web", "Image": "sha256:feed",
                "State": {"Status": "running", "Running": true, "Pid": 4242},
                "Config": {"Image": "localhost/busybox:latest", "Labels": {"a": "b"}},
                "NetworkSettings": {
                    "Ports": {"80/tcp": [{"HostIp": "", "HostPort": "18080"}], "443/tcp": null},
                    "Networks": {"testnet": {}}
                }
            }"#,
        )
        .unwrap();
        let details = details_from_inspect(inspected).unwrap();
        assert_eq!(details.pid, Some(4242));
        assert_eq!(details.summary.name, "web");
        assert_eq!(details.summary.image, "localhost/busybox:latest");
        assert_eq!(details.summary.networks, vec!["testnet"]);
        assert_eq!(
            details.summary.ports,
            vec![
                PortMapping {
                    private_port: 80,
                    public_port: Some(18080),
                    protocol: "tcp".into()
                },
                PortMapping {
                    private_port: 443,
                    public_port: None,
                    protocol: "tcp".into()
                },
            ]
        );

        let stopped: ApiContainerInspect =
            serde_json::from_str(r#"{"Id": "abc", "State": {"Status": "exited", "Pid": 0}}"#)
                .unwrap();
        let details = details_from_inspect(stopped).unwrap();
        assert_eq!(details.pid, None, "a stopped container has no process");
        assert_eq!(details.summary.state, "exited");
    }

    #[test]
    fn network_members_come_from_inspect() {
        let listed: ApiNetwork =
            serde_json::from_str(r#"{"Name": "testnet", "Id": "9f8e", "Driver": "bridge"}"#)
                .unwrap();
        let inspected: ApiNetwork = serde_json::from_str(
            r#"{"Name": "testnet", "Id": "9f8e", "Driver": "bridge",
                "Containers": {"bbb": {"Name": "b"}, "aaa": {"Name": "a"}}}"#,
        )
        .unwrap();
        let network = network_from_inspect(inspected, &listed);
        assert_eq!(network.containers, vec!["aaa", "bbb"]);
        assert_eq!(
            (network.name.as_str(), network.driver.as_str()),
            ("testnet", "bridge")
        );

        let bare: ApiNetwork = serde_json::from_str("{}").unwrap();
        let network = network_from_inspect(bare, &listed);
        assert_eq!(network.id, "9f8e");
        assert!(network.containers.is_empty());
    }

    #[test]
    fn safe_references() {
        assert!(is_safe_reference("web"));
        assert!(is_safe_reference("4f1c2a9be0d3"));
        assert!(!is_safe_reference(""));
        assert!(!is_safe_reference("../x"));
        assert!(!is_safe_reference(&"a".repeat(256)));
    }
}
