//! The container-engine plug-in (Docker Engine API or Podman's compatible API).
//!
//! Callers check the allowlist (G5) before calling any method that names a container; the
//! listing methods are the only ones that touch containers not on it.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::domain::Timestamp;

mod allowlist;
#[cfg(feature = "docker")]
mod docker;

pub use allowlist::AllowlistedEngine;
#[cfg(feature = "docker")]
pub use docker::{DockerEngine, EngineVersion};

/// A container as the engine lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerSummary {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    pub image: String,
    pub state: String,
    pub labels: BTreeMap<String, String>,
    pub networks: Vec<String>,
    pub ports: Vec<PortMapping>,
}

/// One exposed or published port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    pub private_port: u16,
    pub public_port: Option<u16>,
    pub protocol: String,
}

/// A network and its member containers (by id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkSummary {
    pub id: String,
    pub name: String,
    pub driver: String,
    pub containers: Vec<String>,
}

/// Lines of a container's logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub timestamp: Option<Timestamp>,
    pub stream: String,
    pub line: String,
}

/// Details of one container beyond its summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerDetails {
    pub summary: ContainerSummary,
    /// Host pid of the container's main process, for GPU process mapping.
    pub pid: Option<u32>,
}

/// Talks to a container engine.
///
/// Contract: a container that disappears between listing and reading gives empty logs or
/// `NotFound`, never a panic; an unreachable engine is `Unavailable`.
#[async_trait]
pub trait ContainerEngine: Send + Sync + std::fmt::Debug {
    async fn list_containers(&self) -> Result<Vec<ContainerSummary>>;

    async fn list_networks(&self) -> Result<Vec<NetworkSummary>>;

    async fn inspect_container(&self, id: &str) -> Result<ContainerDetails>;

    /// Logs since `since` (or the last `tail` lines when `since` is `None`).
    async fn logs(&self, id: &str, since: Option<Timestamp>, tail: u32) -> Result<Vec<LogLine>>;
}
