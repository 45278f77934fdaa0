use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::PageRequest;

/// A container the operator allows Cyberbrain to touch (G5). `container_id` is a full or short
/// id, or a container name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AllowlistEntry {
    pub id: i64,
    pub container_id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl AllowlistEntry {
    /// An entry as unit tests need it: id 1, no name, description or tags.
    #[cfg(test)]
    pub(crate) fn for_test(container_id: &str, enabled: bool) -> Self {
        let now = chrono::Utc::now();
        Self {
            id: 1,
            container_id: container_id.into(),
            name: String::new(),
            description: String::new(),
            enabled,
            tags: vec![],
            created_at: now,
            updated_at: now,
        }
    }

    /// Whether this enabled entry names the container with the given id (full or prefix) or name.
    pub fn matches(&self, container_id: &str, container_name: &str) -> bool {
        if !self.enabled {
            return false;
        }
        let wanted = self.container_id.trim_start_matches('/');
        let name = container_name.trim_start_matches('/');
        wanted == name
            || wanted == container_id
            || (wanted.len() >= 12 && container_id.starts_with(wanted))
    }
}

/// What it takes to add (or, through `upsert`, replace) an allowlist entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewAllowlistEntry {
    pub container_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default)]
    pub tags: Vec<String>,
}

impl NewAllowlistEntry {
    pub fn new(container_id: impl Into<String>) -> Self {
        Self {
            container_id: container_id.into(),
            name: String::new(),
            description: String::new(),
            enabled: true,
            tags: Vec::new(),
        }
    }

    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    pub fn with_tags(mut self, tags: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }
}

/// A partial update of an allowlist entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AllowlistPatch {
    pub container_id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    pub tags: Option<Vec<String>>,
}

impl AllowlistPatch {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = Some(enabled);
        self
    }
}

/// One container as `service_map` saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InventorySnapshot {
    pub id: i64,
    pub run_id: i64,
    pub container_id: String,
    pub name: String,
    pub image: String,
    pub state: String,
    pub networks: Vec<String>,
    pub ports: Vec<String>,
    /// Only allowlisted label keys (compose project/service/depends_on).
    pub labels: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
}

/// One container to record in a `service_map` run's inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInventorySnapshot {
    pub run_id: i64,
    pub container_id: String,
    pub name: String,
    pub image: String,
    pub state: String,
    pub networks: Vec<String>,
    pub ports: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
}

/// Which inventory to list: one run's, or (`run_id: None`) the latest run that took one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InventoryQuery {
    pub run_id: Option<i64>,
    pub page: PageRequest,
}

fn default_true() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(container_id: &str, enabled: bool) -> AllowlistEntry {
        AllowlistEntry::for_test(container_id, enabled)
    }

    #[test]
    fn matching_by_name_full_id_and_short_id() {
        let full = "4f1c2a9be0d3a1b2c3d4e5f60718293a4b5c6d7e8f9012345678901234567890";
        assert!(entry("web", true).matches(full, "/web"));
        assert!(entry(full, true).matches(full, "/other"));
        assert!(entry(&full[..12], true).matches(full, "/other"));
        assert!(
            !entry(&full[..4], true).matches(full, "/other"),
            "too short a prefix"
        );
        assert!(
            !entry("web", false).matches(full, "/web"),
            "disabled entries never match"
        );
        assert!(!entry("web", true).matches(full, "/webapp"));
    }
}
