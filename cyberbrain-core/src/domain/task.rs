use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A task definition ("job" in the build plan): one kind of diagnostic a run can execute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskDefinition {
    pub id: i64,
    pub task_key: String,
    pub name: String,
    pub description: String,
    pub default_directive_id: Option<i64>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub config: Map<String, Value>,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What it takes to create a task definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewTaskDefinition {
    pub task_key: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub default_directive_id: Option<i64>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub config: Map<String, Value>,
    #[serde(default = "default_true")]
    pub is_active: bool,
}

impl NewTaskDefinition {
    pub fn new(task_key: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            task_key: task_key.into(),
            name: name.into(),
            description: String::new(),
            default_directive_id: None,
            config: Map::new(),
            is_active: true,
        }
    }

    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    pub fn with_default_directive(mut self, directive_id: i64) -> Self {
        self.default_directive_id = Some(directive_id);
        self
    }
}

/// A partial update of a task definition. An absent `default_directive_id` leaves it alone;
/// `null` clears it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskDefinitionPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(default, with = "super::double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub default_directive_id: Option<Option<i64>>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub config: Option<Map<String, Value>>,
    pub is_active: Option<bool>,
}

impl TaskDefinitionPatch {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    pub fn with_active(mut self, active: bool) -> Self {
        self.is_active = Some(active);
        self
    }

    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// Canonical task keys and their build-plan aliases (`task1`, `task2`, `task3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskKey;

impl TaskKey {
    pub const LOG_TRIAGE: &'static str = "log_triage";
    pub const GPU_REPORT: &'static str = "gpu_report";
    pub const SERVICE_MAP: &'static str = "service_map";

    /// The canonical key for an input key or alias; other keys pass through trimmed.
    pub fn canonical(input: &str) -> &str {
        match input.trim() {
            "task1" => Self::LOG_TRIAGE,
            "task2" => Self::GPU_REPORT,
            "task3" => Self::SERVICE_MAP,
            other => other,
        }
    }
}

fn default_true() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_resolve() {
        assert_eq!(TaskKey::canonical("task1"), "log_triage");
        assert_eq!(TaskKey::canonical(" task3 "), "service_map");
        assert_eq!(TaskKey::canonical("custom_probe"), "custom_probe");
    }

    #[test]
    fn patch_distinguishes_absent_from_null() {
        let absent: TaskDefinitionPatch = serde_json::from_str(r#"{"name": "x"}"#).unwrap();
        assert_eq!(absent.default_directive_id, None);
        let cleared: TaskDefinitionPatch =
            serde_json::from_str(r#"{"default_directive_id": null}"#).unwrap();
        assert_eq!(cleared.default_directive_id, Some(None));
        let set: TaskDefinitionPatch =
            serde_json::from_str(r#"{"default_directive_id": 4}"#).unwrap();
        assert_eq!(set.default_directive_id, Some(Some(4)));
    }
}
