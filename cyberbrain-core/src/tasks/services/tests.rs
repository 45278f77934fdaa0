//! Whole-module tests on realistic compose setups; the YAML writer has its own unit tests.

use std::collections::BTreeMap;

use regex::Regex;
use sha2::{Digest, Sha256};

use super::*;
use crate::container::{ContainerSummary, NetworkSummary, PortMapping};
use crate::guardrails::redaction::redact;

/// A 64-hex container or network id derived from a name, like the engine's.
fn id_of(name: &str) -> String {
    hex::encode(Sha256::digest(name.as_bytes()))
}

fn port(private_port: u16, public_port: Option<u16>, protocol: &str) -> PortMapping {
    PortMapping {
        private_port,
        public_port,
        protocol: protocol.to_string(),
    }
}

fn container(
    name: &str,
    image: &str,
    labels: &[(&str, &str)],
    networks: &[&str],
    ports: Vec<PortMapping>,
) -> ContainerSummary {
    ContainerSummary {
        id: id_of(name),
        name: name.to_string(),
        image: image.to_string(),
        state: "running".to_string(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        networks: networks.iter().map(|n| n.to_string()).collect(),
        ports,
    }
}

/// A compose service container of project `project`.
fn service(
    project: &str,
    service: &str,
    depends_on: Option<&str>,
    networks: &[&str],
    ports: Vec<PortMapping>,
) -> ContainerSummary {
    let mut labels = vec![
        (LABEL_PROJECT, project),
        (LABEL_SERVICE, service),
        ("com.docker.compose.config-hash", "6e1919c99842c9e3"),
        ("com.docker.compose.container-number", "1"),
        ("org.opencontainers.image.authors", "ops@example.com"),
    ];
    if let Some(depends_on) = depends_on {
        labels.push((LABEL_DEPENDS_ON, depends_on));
    }
    let image = format!("example/{service}:1.0");
    container(
        &format!("{project}-{service}-1"),
        &image,
        &labels,
        networks,
        ports,
    )
}

fn network(name: &str, driver: &str, members: &[&ContainerSummary]) -> NetworkSummary {
    NetworkSummary {
        id: id_of(&format!("net:{name}")),
        name: name.to_string(),
        driver: driver.to_string(),
        containers: members.iter().map(|c| c.id.clone()).collect(),
    }
}

/// web → api → db, cache; a worker with an old-style plain list; a one-shot migration that is
/// on a network of its own (so its edge has no shared network).
fn shop() -> (Vec<ContainerSummary>, Vec<NetworkSummary>) {
    let web = service(
        "shop",
        "web",
        Some("api:service_started:false"),
        &["shop_frontend"],
        // Docker lists a port published on IPv4 and IPv6 twice.
        vec![
            port(80, Some(8080), "tcp"),
            port(80, Some(8080), "tcp"),
            port(443, None, "tcp"),
        ],
    );
    let api = service(
        "shop",
        "api",
        Some("db:service_healthy:true,cache:service_started:false"),
        &["shop_frontend", "shop_backend"],
        vec![port(8000, None, "tcp")],
    );
    let db = service(
        "shop",
        "db",
        None,
        &["shop_backend"],
        vec![port(5432, None, "tcp")],
    );
    let cache = service(
        "shop",
        "cache",
        None,
        &["shop_backend"],
        vec![port(6379, None, "tcp")],
    );
    let worker = service(
        "shop",
        "worker",
        Some("db,cache"),
        &["shop_backend"],
        vec![],
    );
    let mut migrate = service(
        "shop",
        "migrate",
        Some("db:service_healthy:false"),
        &["shop_default"],
        vec![],
    );
    migrate.state = "exited".to_string();
    let outsider = container("outsider", "busybox", &[], &["bridge"], vec![]);
    let networks = vec![
        network("shop_frontend", "bridge", &[&web, &api]),
        network("shop_backend", "bridge", &[&api, &db, &cache, &worker]),
        network("shop_default", "bridge", &[&migrate]),
        // Networks of containers that are not in scope must not show up.
        network("bridge", "bridge", &[&outsider]),
        network("podman", "bridge", &[]),
    ];
    (vec![web, api, db, cache, worker, migrate], networks)
}

type EdgeRow = (String, String, Option<u16>, Option<String>, Option<String>);

fn edge_rows(topology: &Topology) -> Vec<EdgeRow> {
    topology
        .edges
        .iter()
        .map(|e| {
            (
                e.source.clone(),
                e.target.clone(),
                e.port,
                e.protocol.clone(),
                e.shared_network.clone(),
            )
        })
        .collect()
}

fn row(source: &str, target: &str, port: Option<u16>, shared_network: Option<&str>) -> EdgeRow {
    (
        source.to_string(),
        target.to_string(),
        port,
        port.map(|_| "tcp".to_string()),
        shared_network.map(str::to_string),
    )
}

#[test]
fn compose_stack_gives_nodes_edges_and_networks() {
    let (containers, networks) = shop();
    let topology = build_topology(&containers, &networks);

    let names: Vec<&str> = topology.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "shop-api-1",
            "shop-cache-1",
            "shop-db-1",
            "shop-migrate-1",
            "shop-web-1",
            "shop-worker-1"
        ]
    );

    assert_eq!(
        edge_rows(&topology),
        vec![
            row(
                "shop-api-1",
                "shop-cache-1",
                Some(6379),
                Some("shop_backend")
            ),
            row("shop-api-1", "shop-db-1", Some(5432), Some("shop_backend")),
            row("shop-migrate-1", "shop-db-1", Some(5432), None),
            row(
                "shop-web-1",
                "shop-api-1",
                Some(8000),
                Some("shop_frontend")
            ),
            row(
                "shop-worker-1",
                "shop-cache-1",
                Some(6379),
                Some("shop_backend")
            ),
            row(
                "shop-worker-1",
                "shop-db-1",
                Some(5432),
                Some("shop_backend")
            ),
        ]
    );
    let web_to_api = &topology.edges[3];
    assert_eq!(web_to_api.source_service, "web");
    assert_eq!(web_to_api.target_service, "api");
    assert_eq!(web_to_api.source_id, id_of("shop-web-1")[..12]);
    assert_eq!(web_to_api.target_id, id_of("shop-api-1")[..12]);

    let networks: Vec<(&str, Vec<&str>)> = topology
        .networks
        .iter()
        .map(|n| {
            (
                n.name.as_str(),
                n.members.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        networks,
        vec![
            (
                "shop_backend",
                vec!["shop-api-1", "shop-cache-1", "shop-db-1", "shop-worker-1"]
            ),
            ("shop_default", vec!["shop-migrate-1"]),
            ("shop_frontend", vec!["shop-api-1", "shop-web-1"]),
        ]
    );
    let backend = &topology.networks[0];
    assert_eq!(backend.driver.as_deref(), Some("bridge"));
    assert_eq!(
        backend.id.as_deref(),
        Some(&id_of("net:shop_backend")[..12])
    );
    assert!(topology.unresolved_dependencies.is_empty());
}

#[test]
fn node_fields_ports_and_compose_labels() {
    let (containers, networks) = shop();
    let topology = build_topology(&containers, &networks);
    let web = topology
        .nodes
        .iter()
        .find(|n| n.name == "shop-web-1")
        .unwrap();
    assert_eq!(
        web,
        &ServiceNode {
            id: id_of("shop-web-1")[..12].to_string(),
            name: "shop-web-1".into(),
            image: "example/web:1.0".into(),
            state: "running".into(),
            compose_project: Some("shop".into()),
            compose_service: Some("web".into()),
            depends_on: vec!["api".into()],
            networks: vec!["shop_frontend".into()],
            exposed_ports: vec![
                PortSpec {
                    port: 80,
                    protocol: "tcp".into()
                },
                PortSpec {
                    port: 443,
                    protocol: "tcp".into()
                },
            ],
            published_ports: vec![PublishedPort {
                host_port: 8080,
                container_port: 80,
                protocol: "tcp".into()
            }],
        }
    );
    let api = topology
        .nodes
        .iter()
        .find(|n| n.name == "shop-api-1")
        .unwrap();
    assert_eq!(api.networks, ["shop_backend", "shop_frontend"]);
    assert_eq!(api.depends_on, ["cache", "db"]);
    assert!(api.published_ports.is_empty(), "exposed only");
}

#[test]
fn depends_on_formats() {
    let cases: [(&str, &[&str]); 13] = [
        (
            "db:service_started:false,cache:service_healthy:true",
            &["cache", "db"],
        ),
        ("db:service_started", &["db"]),
        ("migrate:service_completed_successfully:false", &["migrate"]),
        ("db", &["db"]),
        ("db,cache", &["cache", "db"]),
        (" db , cache ", &["cache", "db"]),
        ("db cache", &["cache", "db"]),
        ("[db, cache]", &["cache", "db"]),
        (r#"["db","cache"]"#, &["cache", "db"]),
        ("db,db:service_healthy:true", &["db"]),
        ("", &[]),
        (",, ,", &[]),
        (":service_started:false", &[]),
    ];
    for (value, expected) in cases {
        assert_eq!(
            parse_depends_on(value),
            expected,
            "parse_depends_on({value:?})"
        );
    }
}

#[test]
fn dependencies_resolve_within_the_compose_project_and_to_every_replica() {
    let web = service("shop", "web", Some("api,auth"), &["front"], vec![]);
    let mut api_1 = service(
        "shop",
        "api",
        Some("db"),
        &["front"],
        vec![port(8000, None, "tcp")],
    );
    api_1.name = "shop-api-1".into();
    let mut api_2 = api_1.clone();
    api_2.name = "shop-api-2".into();
    api_2.id = id_of("shop-api-2");
    // Another project's `db` must not satisfy shop's dependency.
    let blog_db = service(
        "blog",
        "db",
        None,
        &["front"],
        vec![port(5432, None, "tcp")],
    );
    let topology = build_topology(&[web, api_1, api_2, blog_db], &[]);
    assert_eq!(
        edge_rows(&topology),
        vec![
            row("shop-web-1", "shop-api-1", Some(8000), Some("front")),
            row("shop-web-1", "shop-api-2", Some(8000), Some("front")),
        ]
    );
    let unresolved: Vec<(&str, &str)> = topology
        .unresolved_dependencies
        .iter()
        .map(|u| (u.source.as_str(), u.target_service.as_str()))
        .collect();
    assert_eq!(
        unresolved,
        [
            ("shop-api-1", "db"),
            ("shop-api-2", "db"),
            ("shop-web-1", "auth")
        ]
    );

    // Replicas share one recommendation.
    let policies = recommend_policies(&topology);
    assert_eq!(policies.len(), 1);
    assert_eq!(policies[0].policy_name, "allow-web-to-api-8000");
}

#[test]
fn target_without_ports_gives_one_edge_without_port_and_no_policy() {
    let (containers, networks) = shop();
    let mut containers = containers;
    // The web depends on the worker too, which exposes nothing.
    containers[0].labels.insert(
        LABEL_DEPENDS_ON.into(),
        "api:service_started:false,worker:service_started:false".into(),
    );
    containers[4].networks.push("shop_frontend".into());
    let topology = build_topology(&containers, &networks);
    let to_worker: Vec<&ServiceEdge> = topology
        .edges
        .iter()
        .filter(|e| e.target == "shop-worker-1")
        .collect();
    assert_eq!(to_worker.len(), 1);
    assert_eq!(to_worker[0].port, None);
    assert_eq!(to_worker[0].protocol, None);
    assert_eq!(
        to_worker[0].shared_network.as_deref(),
        Some("shop_frontend")
    );
    assert!(
        recommend_policies(&topology)
            .iter()
            .all(|p| p.target_service != "worker")
    );
    assert!(render_mermaid(&topology).contains("    c_shop_web_1 --> c_shop_worker_1\n"));
}

#[test]
fn shared_network_is_the_first_common_one_by_name() {
    let a = service(
        "p",
        "a",
        Some("b"),
        &["zeta", "alpha", "mid"],
        vec![port(1, None, "udp")],
    );
    let b = service(
        "p",
        "b",
        None,
        &["mid", "zeta"],
        vec![port(53, None, "udp")],
    );
    let topology = build_topology(&[a, b], &[]);
    assert_eq!(topology.edges.len(), 1);
    assert_eq!(topology.edges[0].shared_network.as_deref(), Some("mid"));
    assert_eq!(topology.edges[0].protocol.as_deref(), Some("udp"));
}

#[test]
fn membership_from_the_network_side_and_podman_quirks() {
    // Podman: no host address on ports, an upper-case or empty protocol, host port 0 for an
    // unpublished port, a network that lists a container that does not list it, by short id.
    let mut api = container(
        "api",
        "localhost/api:latest",
        &[],
        &[],
        vec![
            port(8000, Some(0), "TCP"),
            port(9000, Some(19000), ""),
            port(0, None, "tcp"),
            port(53, None, " UDP "),
        ],
    );
    api.state = "exited".into();
    let podman = NetworkSummary {
        id: "2f259bab93aa".into(),
        name: "podman".into(),
        driver: "bridge".into(),
        containers: vec![api.id[..12].to_string()],
    };
    let topology = build_topology(std::slice::from_ref(&api), &[podman]);
    let node = &topology.nodes[0];
    assert_eq!(node.networks, ["podman"]);
    assert_eq!(
        node.exposed_ports,
        [
            PortSpec {
                port: 53,
                protocol: "udp".into()
            },
            PortSpec {
                port: 8000,
                protocol: "tcp".into()
            },
            PortSpec {
                port: 9000,
                protocol: "tcp".into()
            },
        ]
    );
    assert_eq!(
        node.published_ports,
        [PublishedPort {
            host_port: 19000,
            container_port: 9000,
            protocol: "tcp".into()
        }]
    );
    assert_eq!(node.compose_project, None);
    assert_eq!(node.service_name(), "api");
    assert_eq!(topology.networks[0].id.as_deref(), Some("2f259bab93aa"));

    let record = inventory_record(&api);
    assert_eq!(record.ports, ["53/udp", "8000/tcp", "19000->9000/tcp"]);
    assert!(record.networks.is_empty(), "only what the container lists");
}

#[test]
fn duplicate_containers_count_once_and_blank_labels_are_absent() {
    let mut a = service("p", "a", None, &["n"], vec![]);
    a.labels.insert(LABEL_PROJECT.into(), "  ".into());
    a.labels.insert(LABEL_SERVICE.into(), "".into());
    let topology = build_topology(&[a.clone(), a], &[]);
    assert_eq!(topology.nodes.len(), 1);
    assert_eq!(topology.nodes[0].compose_project, None);
    assert_eq!(topology.nodes[0].compose_service, None);
}

#[test]
fn inventory_keeps_only_the_allowlisted_labels() {
    let (containers, _) = shop();
    let web = &containers[0];
    let expected: BTreeMap<String, String> = [
        (LABEL_DEPENDS_ON, "api:service_started:false"),
        (LABEL_PROJECT, "shop"),
        (LABEL_SERVICE, "web"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(inventory_labels(&web.labels), expected);
    assert!(inventory_labels(&BTreeMap::new()).is_empty());

    let record = inventory_record(web);
    assert_eq!(record.container_id, web.id);
    assert_eq!(record.labels, expected);
    assert_eq!(
        record.ports,
        ["8080->80/tcp", "443/tcp"],
        "by container port"
    );
    assert_eq!(record.networks, ["shop_frontend"]);
    assert_eq!(format_port(&port(53, None, "")), "53/tcp");
    assert_eq!(format_port(&port(53, Some(0), "UDP")), "53/udp");
}

#[test]
fn mermaid_diagram_of_the_compose_stack() {
    let (containers, networks) = shop();
    let diagram = render_mermaid(&build_topology(&containers, &networks));
    assert_eq!(
        diagram,
        r#"graph LR
    subgraph net_0 ["shop_backend"]
        c_shop_api_1["shop-api-1<br/>example/api:1.0<br/>also on: shop_frontend"]
        c_shop_cache_1["shop-cache-1<br/>example/cache:1.0"]
        c_shop_db_1["shop-db-1<br/>example/db:1.0"]
        c_shop_worker_1["shop-worker-1<br/>example/worker:1.0"]
    end
    subgraph net_1 ["shop_default"]
        c_shop_migrate_1["shop-migrate-1<br/>example/migrate:1.0<br/>exited"]
    end
    subgraph net_2 ["shop_frontend"]
        c_shop_web_1["shop-web-1<br/>example/web:1.0"]
    end
    c_shop_api_1 -->|"6379/tcp"| c_shop_cache_1
    c_shop_api_1 -->|"5432/tcp"| c_shop_db_1
    c_shop_migrate_1 -.->|"5432/tcp, no shared network"| c_shop_db_1
    c_shop_web_1 -->|"8000/tcp"| c_shop_api_1
    c_shop_worker_1 -->|"6379/tcp"| c_shop_cache_1
    c_shop_worker_1 -->|"5432/tcp"| c_shop_db_1
"#
    );
    assert_eq!(
        render_mermaid(&Topology::default()),
        "graph LR\n    empty[\"no containers in scope\"]\n"
    );
}

/// Names no engine would accept, but labels, images and hand-fed inputs can hold anything.
const NASTY: [&str; 14] = [
    "end",
    "graph",
    "o-x",
    "a\"]; click a href \"javascript:alert(1)\"",
    "x --> y",
    "%%{init: {'theme': 'dark'}}%%",
    "two\nlines\r\nthree",
    "<script>alert(1)</script>",
    "`**markdown**`",
    "pipe|pipe",
    "[brackets] (parens) {braces}",
    "#quot; &amp; #35;",
    "数据库 ✓",
    "back\\slash; semi",
];

fn whitespace_free_nasty() -> usize {
    NASTY
        .iter()
        .filter(|n| !n.contains(char::is_whitespace))
        .count()
}

/// Every nasty container depends on `backend`, which depends on the nasty services whose names
/// hold no whitespace (a `depends_on` separator).
fn nasty_topology() -> Topology {
    let mut containers = Vec::new();
    for (i, name) in NASTY.iter().enumerate() {
        let mut c = container(
            name,
            name,
            &[
                (LABEL_PROJECT, "p"),
                (LABEL_SERVICE, name),
                (LABEL_DEPENDS_ON, "backend:service_started:false"),
            ],
            &[name, "shared"],
            vec![port(1000 + i as u16, None, "tcp")],
        );
        c.state = (*name).to_string();
        containers.push(c);
    }
    let depends_on: Vec<&str> = NASTY
        .iter()
        .copied()
        .filter(|n| !n.contains(char::is_whitespace))
        .collect();
    containers.push(container(
        "backend",
        "example/backend",
        &[
            (LABEL_PROJECT, "p"),
            (LABEL_SERVICE, "backend"),
            (LABEL_DEPENDS_ON, &depends_on.join(",")),
        ],
        &["shared"],
        vec![port(8080, None, "tcp")],
    ));
    build_topology(&containers, &[])
}

#[test]
fn arbitrary_names_cannot_break_the_diagram() {
    let topology = nasty_topology();
    let diagram = render_mermaid(&topology);

    let label = r#""[^"\n]*""#;
    let id = "c_[A-Za-z0-9_]+";
    let patterns = [
        "^graph LR$".to_string(),
        format!(r"^    subgraph net_\d+ \[{label}\]$"),
        "^    end$".to_string(),
        format!(r"^( {{4}}| {{8}}){id}\[{label}\]$"),
        format!(r"^    {id} (-->|-\.->)(\|{label}\|)? {id}$"),
    ];
    let patterns: Vec<Regex> = patterns.iter().map(|p| Regex::new(p).unwrap()).collect();
    for line in diagram.lines() {
        assert!(
            patterns.iter().any(|p| p.is_match(line)),
            "unexpected diagram line {line:?}"
        );
    }

    // Inside the quotes, nothing Mermaid or HTML would act on survives except our `<br/>`.
    let quoted = Regex::new(r#""([^"]*)""#).unwrap();
    let unescaped_hash = Regex::new(r"#(?:[^0-9]|[0-9]+(?:[^0-9;]|$))").unwrap();
    for captures in quoted.captures_iter(&diagram) {
        let text = captures[1].replace("<br/>", "");
        assert!(
            !text.contains(['<', '>', '[', ']', '(', ')', '{', '}', '|', '`', '%', '\\']),
            "unescaped label {text:?}"
        );
        assert!(
            !unescaped_hash.is_match(&text),
            "a # that is not our entity code in {text:?}"
        );
    }

    // Every node is declared once, with a distinct id, and every edge is drawn.
    let declared = Regex::new(r"(?m)^ +(c_[A-Za-z0-9_]+)\[").unwrap();
    let mut ids: Vec<&str> = declared
        .captures_iter(&diagram)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    assert_eq!(ids.len(), NASTY.len() + 1);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), NASTY.len() + 1, "ids collide");
    assert!(topology.unresolved_dependencies.is_empty());
    assert_eq!(topology.edges.len(), NASTY.len() + whitespace_free_nasty());
    let arrows = diagram.lines().filter(|l| l.contains("-->")).count();
    assert_eq!(arrows, topology.edges.len());
    // `end` and `graph` as names become ids that are not keywords.
    assert!(diagram.contains("    c_end[\"end<br/>end<br/>end"));
    assert!(diagram.contains("#34;#93;; click a href #34;javascript:alert#40;1#41;#34;"));
}

fn is_dns_label(value: &str) -> bool {
    value.len() <= 63
        && Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
            .unwrap()
            .is_match(value)
}

fn is_label_value(value: &str) -> bool {
    value.len() <= 63
        && Regex::new(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
            .unwrap()
            .is_match(value)
}

#[test]
fn network_policy_for_a_compose_edge() {
    let (containers, networks) = shop();
    let policies = recommend_policies(&build_topology(&containers, &networks));
    let keys: Vec<(&str, &str, u16, &str, &str)> = policies
        .iter()
        .map(|p| {
            (
                p.source_service.as_str(),
                p.target_service.as_str(),
                p.port,
                p.protocol.as_str(),
                p.policy_name.as_str(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            ("api", "cache", 6379, "TCP", "allow-api-to-cache-6379"),
            ("api", "db", 5432, "TCP", "allow-api-to-db-5432"),
            ("migrate", "db", 5432, "TCP", "allow-migrate-to-db-5432"),
            ("web", "api", 8000, "TCP", "allow-web-to-api-8000"),
            ("worker", "cache", 6379, "TCP", "allow-worker-to-cache-6379"),
            ("worker", "db", 5432, "TCP", "allow-worker-to-db-5432"),
        ]
    );
    let web_to_api = &policies[3];
    assert_eq!(web_to_api.namespace.as_deref(), Some("shop"));
    assert_eq!(
        web_to_api.policy_yaml,
        "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-web-to-api-8000
  namespace: shop
spec:
  podSelector:
    matchLabels:
      app.kubernetes.io/name: api
  policyTypes:
    - Ingress
  ingress:
    - from:
        - podSelector:
            matchLabels:
              app.kubernetes.io/name: web
      ports:
        - protocol: TCP
          port: 8000
"
    );
    assert_eq!(
        web_to_api.recommendation,
        "Allow ingress to pods labelled app.kubernetes.io/name=api only from pods labelled \
         app.kubernetes.io/name=web, on 8000/TCP (\"web\" declares depends_on \"api\"). Once a \
         NetworkPolicy selects a pod, ingress no policy allows is denied: apply the policies for \
         every declared client of \"api\" together."
    );
    let migrate = &policies[2];
    assert!(
        migrate
            .recommendation
            .ends_with("share no container network as deployed, so this dependency cannot be reached directly today."),
        "{}",
        migrate.recommendation
    );
}

#[test]
fn policy_without_compose_project_omits_the_namespace_and_names_the_protocol() {
    let mut dns = container(
        "dns",
        "coredns",
        &[],
        &["n"],
        vec![port(53, None, "udp"), port(53, None, "tcp")],
    );
    dns.labels.insert(LABEL_SERVICE.into(), "dns".into());
    let mut client = container("client", "busybox", &[], &["n"], vec![]);
    client.labels.insert(LABEL_SERVICE.into(), "client".into());
    client.labels.insert(LABEL_DEPENDS_ON.into(), "dns".into());
    // Kubernetes knows no such protocol: the edge exists, the policy does not.
    let mut odd = container("odd", "x", &[], &["n"], vec![port(9, None, "dccp")]);
    odd.labels.insert(LABEL_SERVICE.into(), "odd".into());
    client
        .labels
        .insert(LABEL_DEPENDS_ON.into(), "dns,odd".into());

    let topology = build_topology(&[dns, client, odd], &[]);
    assert_eq!(topology.edges.len(), 3);
    let policies = recommend_policies(&topology);
    let names: Vec<&str> = policies.iter().map(|p| p.policy_name.as_str()).collect();
    assert_eq!(
        names,
        ["allow-client-to-dns-53", "allow-client-to-dns-53-udp"]
    );
    assert!(policies.iter().all(|p| p.namespace.is_none()));
    assert!(!policies[1].policy_yaml.contains("namespace"));
    assert!(
        policies[1]
            .policy_yaml
            .ends_with("        - protocol: UDP\n          port: 53\n")
    );
}

#[test]
fn nasty_service_and_project_names_are_sanitised() {
    let long = "a".repeat(80);
    let long_other = format!("{}b", "a".repeat(79));
    let cases: [(&str, &str); 6] = [
        ("My_App!!", "shop"),
        (&long, "Shop Project ✓"),
        (&long_other, "Shop Project ✓"),
        ("数据库", "项目"),
        ("-._weird._-", "--"),
        ("yes", "123"),
    ];
    let mut containers = Vec::new();
    for (i, (service_name, project)) in cases.iter().enumerate() {
        let target_name = format!("t{i}");
        let source_name = format!("s{i}");
        let mut target = container(&target_name, "x", &[], &["n"], vec![port(80, None, "tcp")]);
        target
            .labels
            .insert(LABEL_PROJECT.into(), project.to_string());
        target
            .labels
            .insert(LABEL_SERVICE.into(), service_name.to_string());
        let mut source = container(&source_name, "x", &[], &["n"], vec![]);
        source
            .labels
            .insert(LABEL_PROJECT.into(), project.to_string());
        source
            .labels
            .insert(LABEL_SERVICE.into(), format!("client{i}"));
        source
            .labels
            .insert(LABEL_DEPENDS_ON.into(), service_name.to_string());
        containers.push(target);
        containers.push(source);
    }
    let policies = recommend_policies(&build_topology(&containers, &[]));
    assert_eq!(policies.len(), cases.len());
    for policy in &policies {
        assert!(
            is_dns_label(&policy.policy_name),
            "{:?}",
            policy.policy_name
        );
        let namespace = policy.namespace.as_deref().unwrap();
        assert!(is_dns_label(namespace), "{namespace:?}");
        for line in policy.policy_yaml.lines() {
            if let Some(value) = line.trim().strip_prefix("app.kubernetes.io/name: ") {
                let value = value.trim_matches('"');
                assert!(is_label_value(value), "{value:?}");
            }
        }
    }
    let by_source: BTreeMap<&str, &PolicyRecommendation> = policies
        .iter()
        .map(|p| (p.source_service.as_str(), p))
        .collect();

    let my_app = by_source["client0"];
    assert_eq!(my_app.policy_name, "allow-client0-to-my-app-80");
    assert!(
        my_app
            .policy_yaml
            .contains("app.kubernetes.io/name: My_App\n")
    );

    let long_a = by_source["client1"];
    let long_b = by_source["client2"];
    assert_eq!(long_a.namespace.as_deref(), Some("shop-project"));
    assert_eq!(long_a.policy_name.len(), 63);
    assert_ne!(
        long_a.policy_name, long_b.policy_name,
        "truncation keeps names apart"
    );
    assert!(
        long_a
            .policy_yaml
            .contains(&format!("app.kubernetes.io/name: {}-", "a".repeat(54)))
    );

    let unicode = by_source["client3"];
    assert!(
        unicode
            .namespace
            .as_deref()
            .unwrap()
            .starts_with("project-")
    );
    let hashed = unicode.policy_name["allow-client3-to-".len()..]
        .strip_suffix("-80")
        .unwrap();
    assert!(hashed.starts_with("svc-") && hashed.len() == 12, "{hashed}");
    assert!(
        unicode
            .policy_yaml
            .contains(&format!("app.kubernetes.io/name: {hashed}\n")),
        "the name and the pod label agree"
    );

    let weird = by_source["client4"];
    assert_eq!(weird.policy_name, "allow-client4-to-weird-80");
    assert!(
        weird
            .policy_yaml
            .contains("app.kubernetes.io/name: weird\n")
    );
    assert!(weird.namespace.as_deref().unwrap().starts_with("project-"));

    // YAML would read these as a boolean and a number unless quoted.
    let quoted = by_source["client5"];
    assert!(quoted.policy_yaml.contains("  namespace: \"123\"\n"));
    assert!(
        quoted
            .policy_yaml
            .contains("app.kubernetes.io/name: \"yes\"\n")
    );
}

#[test]
fn names_that_sanitise_alike_get_distinct_policy_names() {
    let mut containers = Vec::new();
    for (i, name) in ["My_App", "my-app"].iter().enumerate() {
        let mut target = container(
            &format!("t{i}"),
            "x",
            &[],
            &["n"],
            vec![port(80, None, "tcp")],
        );
        target.labels.insert(LABEL_SERVICE.into(), name.to_string());
        containers.push(target);
    }
    let mut source = container("s", "x", &[], &["n"], vec![]);
    source.labels.insert(LABEL_SERVICE.into(), "web".into());
    source
        .labels
        .insert(LABEL_DEPENDS_ON.into(), "My_App,my-app".into());
    containers.push(source);
    let policies = recommend_policies(&build_topology(&containers, &[]));
    assert_eq!(policies.len(), 2);
    assert_ne!(policies[0].policy_name, policies[1].policy_name);
    for policy in &policies {
        assert!(policy.policy_name.starts_with("allow-web-to-my-app-80-"));
        assert!(is_dns_label(&policy.policy_name));
    }
}

#[test]
fn dns_labels_and_label_values() {
    let dns_cases = [
        ("Shop", "shop"),
        ("my_project.v2", "my-project-v2"),
        ("--a--b--", "a-b"),
        ("ÄÖÜ-x", "x"),
    ];
    for (raw, expected) in dns_cases {
        assert_eq!(dns_label(raw, "p"), expected, "dns_label({raw:?})");
    }
    for raw in ["", "✓✓", "-", &"x".repeat(64), &"Ab_".repeat(40)] {
        let label = dns_label(raw, "Fall back!");
        assert!(is_dns_label(&label), "dns_label({raw:?}) = {label:?}");
        let value = label_value(raw);
        assert!(
            is_label_value(&value) && !value.is_empty(),
            "label_value({raw:?}) = {value:?}"
        );
    }
    assert!(dns_label("✓", "Fall back!").starts_with("fall-back-"));
    assert!(
        dns_label("✓", "✗").len() == 8,
        "a hash alone when nothing is left"
    );
    assert_eq!(label_value("My.App_v2"), "My.App_v2");
    assert_eq!(label_value("a b/c"), "a-b-c");
}

#[test]
fn markdown_report_of_the_compose_stack() {
    let (containers, networks) = shop();
    let topology = build_topology(&containers, &networks);
    let policies = recommend_policies(&topology);
    let markdown = render_markdown(&topology, Some(&policies), &EngineStatus::Available);

    assert!(markdown.starts_with("# Service map\n\n- Containers: 6\n- Networks: 3\n"));
    assert!(markdown.contains("- Dependency edges: 6 (1 without a shared network)\n"));
    assert!(markdown.contains("| `shop-web-1` | `"));
    assert!(markdown.contains(
        "| `example/web:1.0` | `running` | `shop` | `web` | `shop_frontend` | `8080->80/tcp` | `80/tcp`, `443/tcp` |\n"
    ));
    assert!(markdown.contains(
        "| `shop-migrate-1` | `shop-db-1` | `5432/tcp` | none: not reachable as deployed |\n"
    ));
    assert!(markdown.contains("| `shop_backend` | `bridge` | `shop-api-1`, `shop-cache-1`, `shop-db-1`, `shop-worker-1` |\n"));
    assert!(markdown.contains(&format!("```mermaid\n{}```\n", render_mermaid(&topology))));
    assert!(markdown.contains(
        "### allow-web-to-api-8000\n\n`web` → `api` on 8000/TCP in namespace `shop`.\n\n"
    ));
    assert!(markdown.contains(&format!("```yaml\n{}```\n", policies[3].policy_yaml)));
    assert!(
        !markdown.contains("ops@example.com"),
        "other labels stay out"
    );
}

#[test]
fn markdown_says_why_recommendations_or_containers_are_missing() {
    let (containers, networks) = shop();
    let topology = build_topology(&containers, &networks);
    let below_d2 = render_markdown(&topology, None, &EngineStatus::Available);
    assert!(
        below_d2.contains("Not produced: recommendations need directive level D2 or higher.\n")
    );

    let empty = render_markdown(&Topology::default(), Some(&[]), &EngineStatus::Available);
    assert!(empty.contains("No containers in scope"));
    assert!(empty.contains("None: no declared dependency has a known target port.\n"));
    assert!(!empty.contains("```mermaid"));

    let unavailable = EngineStatus::from_error(&crate::Error::unavailable(
        "container engine",
        "connecting to unix:///run/podman/podman.sock: No such file or directory",
    ));
    let report = render_markdown(&Topology::default(), None, &unavailable);
    assert_eq!(
        report,
        "# Service map\n\n**Condition:** `container_engine_unavailable`: the container engine is \
         not configured or did not answer, so no containers were listed. This is reported, not a \
         failure.\n\n**Reason:** `container engine unavailable: connecting to \
         unix:///run/podman/podman.sock: No such file or directory`\n"
    );
}

#[test]
fn hostile_names_stay_inside_their_table_cells_and_code_spans() {
    let topology = nasty_topology();
    let policies = recommend_policies(&topology);
    let markdown = render_markdown(&topology, Some(&policies), &EngineStatus::Available);

    let unescaped_pipe = Regex::new(r"(^|[^\\])\|").unwrap();
    let unescaped_markup = Regex::new(r"(^|[^\\])[<>`\[\]*_|&]").unwrap();
    let mut in_fence = false;
    let mut rows = 0;
    let mut paragraphs = 0;
    for line in markdown.lines() {
        if line.starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        if line.starts_with("| `") {
            rows += 1;
            let separators = unescaped_pipe.find_iter(line).count();
            assert!(
                separators == 10 || separators == 5 || separators == 4,
                "a name split a table row: {line:?}"
            );
        }
        if line.starts_with("Allow ingress") {
            paragraphs += 1;
            assert!(!unescaped_markup.is_match(line), "{line:?}");
        }
    }
    assert!(!in_fence, "a fence was left open");
    assert_eq!(
        rows,
        topology.nodes.len() + topology.networks.len() + topology.edges.len()
    );
    assert_eq!(paragraphs, policies.len());
    assert_eq!(policies.len(), NASTY.len() + whitespace_free_nasty());
    // A backtick in a value lengthens the code span's fence.
    assert!(markdown.contains("| `` `**markdown**` `` |"));
    assert!(markdown.contains("| `<script>alert(1)</script>` |"));
    assert!(markdown.contains("| `two lines  three` |"));
    assert!(markdown.contains("| `pipe\\|pipe` |"));
}

#[test]
fn redaction_still_applies_to_the_rendered_files() {
    let mut ip_named = container(
        "10.20.30.40",
        "registry.local:5000/app",
        &[],
        &["n"],
        vec![],
    );
    ip_named.labels.insert(LABEL_SERVICE.into(), "svc".into());
    let topology = build_topology(&[ip_named], &[]);
    let markdown = render_markdown(&topology, None, &EngineStatus::Available);
    let diagram = render_mermaid(&topology);
    for rendered in [markdown, diagram] {
        assert!(rendered.contains("10.20.30.40"));
        let redacted = redact(&rendered);
        assert!(!redacted.contains("10.20.30.40"), "{redacted}");
        assert!(redacted.contains("registry.local:5000/app"));
    }
    let reason = "dial tcp 192.168.1.9:2375: connection refused";
    let report = render_markdown(
        &Topology::default(),
        None,
        &EngineStatus::unavailable(reason),
    );
    assert!(!redact(&report).contains("192.168.1.9"));
}

#[test]
fn summary_counts() {
    let (containers, networks) = shop();
    let topology = build_topology(&containers, &networks);
    let policies = recommend_policies(&topology);
    assert_eq!(
        summary_json(&topology, Some(&policies), &EngineStatus::Available),
        serde_json::json!({
            "engine": {"status": "available"},
            "containers": 6,
            "networks": 3,
            "edges": 6,
            "edges_without_shared_network": 1,
            "unresolved_dependencies": 0,
            "published_ports": 1,
            "policy_recommendations": 6,
        })
    );
    assert_eq!(
        summary_json(
            &Topology::default(),
            None,
            &EngineStatus::unavailable("no docker_host configured")
        ),
        serde_json::json!({
            "engine": {"status": "container_engine_unavailable", "reason": "no docker_host configured"},
            "containers": 0,
            "networks": 0,
            "edges": 0,
            "edges_without_shared_network": 0,
            "unresolved_dependencies": 0,
            "published_ports": 0,
            "policy_recommendations": null,
        })
    );
    let status: EngineStatus =
        serde_json::from_str(r#"{"status":"container_engine_unavailable","reason":"x"}"#).unwrap();
    assert_eq!(status, EngineStatus::unavailable("x"));
    assert!(!status.is_available());
}

#[test]
fn topology_round_trips_through_json() {
    let (containers, networks) = shop();
    let topology = build_topology(&containers, &networks);
    let json = serde_json::to_string(&topology).unwrap();
    let back: Topology = serde_json::from_str(&json).unwrap();
    assert_eq!(back, topology);
    let policies = recommend_policies(&topology);
    let back: Vec<PolicyRecommendation> =
        serde_json::from_str(&serde_json::to_string(&policies).unwrap()).unwrap();
    assert_eq!(back, policies);
}

#[test]
fn same_input_in_any_order_gives_identical_output() {
    let render = |containers: &[ContainerSummary], networks: &[NetworkSummary]| {
        let topology = build_topology(containers, networks);
        let policies = recommend_policies(&topology);
        (
            serde_json::to_string(&topology).unwrap(),
            render_mermaid(&topology),
            render_markdown(&topology, Some(&policies), &EngineStatus::Available),
            serde_json::to_string(&policies).unwrap(),
        )
    };
    let (containers, networks) = shop();
    let expected = render(&containers, &networks);
    for shift in 1..containers.len() {
        let mut containers = containers.clone();
        containers.rotate_left(shift);
        containers.reverse();
        for c in &mut containers {
            c.networks.reverse();
            c.ports.reverse();
        }
        let mut networks = networks.clone();
        let len = networks.len();
        networks.rotate_right(shift % len);
        for n in &mut networks {
            n.containers.reverse();
        }
        assert_eq!(render(&containers, &networks), expected, "rotation {shift}");
    }

    let nasty = nasty_topology();
    assert_eq!(render_mermaid(&nasty), render_mermaid(&nasty_topology()));
}
