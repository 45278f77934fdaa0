use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::wire_enum;

/// The name of the directive a run gets when none is given.
pub const DEFAULT_DIRECTIVE_NAME: &str = "default";

wire_enum! {
    /// Autonomy level of a directive: what a run under it may do.
    DirectiveType {
        /// Read-only diagnostics: observe and report.
        D1 = "D1",
        /// Conservative recommendations: also recommend changes.
        D2 = "D2",
        /// Change planning: also produce ready-to-apply plans. Approval required.
        D3 = "D3",
        /// Admin override: also widen scope (`task3_scope = "all"`). Approval required.
        D4 = "D4",
    }
}

impl DirectiveType {
    /// D3 and D4 require approval unless the operator says otherwise.
    pub fn requires_approval_by_default(self) -> bool {
        matches!(self, Self::D3 | Self::D4)
    }

    /// D2 and higher may recommend changes (network policies, LLM capacity summaries).
    pub fn may_recommend(self) -> bool {
        self != Self::D1
    }
}

/// A directive: the instructions and autonomy level a run executes under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Directive {
    pub id: i64,
    pub name: String,
    pub directive_type: DirectiveType,
    pub description: String,
    pub directive_text: String,
    /// Task configuration overrides, always a JSON object.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub task_config: Map<String, Value>,
    pub is_builtin: bool,
    pub is_active: bool,
    pub approval_required: bool,
    /// Increments whenever text, type or task config change.
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Directive {
    /// The immutable copy a run keeps (G4).
    pub fn snapshot(&self) -> DirectiveSnapshot {
        DirectiveSnapshot {
            id: Some(self.id),
            name: self.name.clone(),
            directive_type: self.directive_type,
            version: self.version,
            directive_text: self.directive_text.clone(),
            task_config: self.task_config.clone(),
            approval_required: self.approval_required,
        }
    }
}

/// A directive as a run saw it when it was launched (G4). Custom directive text has no id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectiveSnapshot {
    pub id: Option<i64>,
    pub name: String,
    pub directive_type: DirectiveType,
    pub version: i32,
    pub directive_text: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub task_config: Map<String, Value>,
    pub approval_required: bool,
}

impl DirectiveSnapshot {
    /// Canonical JSON: keys sorted (serde_json's map is ordered), no insignificant whitespace.
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(self).expect("a snapshot always serialises")
    }

    /// SHA-256 hex of the canonical JSON, stored beside the snapshot and checked on approval.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(self.canonical_json().as_bytes()))
    }
}

/// What it takes to create a directive. `approval_required` defaults from the type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewDirective {
    pub name: String,
    pub directive_type: DirectiveType,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub directive_text: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub task_config: Map<String, Value>,
    #[serde(default = "default_true")]
    pub is_active: bool,
    #[serde(default)]
    pub approval_required: Option<bool>,
}

impl NewDirective {
    pub fn new(name: impl Into<String>, directive_type: DirectiveType) -> Self {
        Self {
            name: name.into(),
            directive_type,
            description: String::new(),
            directive_text: String::new(),
            task_config: Map::new(),
            is_active: true,
            approval_required: None,
        }
    }

    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.directive_text = text.into();
        self
    }

    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    pub fn with_task_config(mut self, task_config: Map<String, Value>) -> Self {
        self.task_config = task_config;
        self
    }

    pub fn with_approval_required(mut self, required: bool) -> Self {
        self.approval_required = Some(required);
        self
    }

    /// The approval flag the stored row gets.
    pub fn effective_approval_required(&self) -> bool {
        self.approval_required
            .unwrap_or(self.directive_type.requires_approval_by_default())
    }
}

/// A partial update; `None` leaves a field unchanged. A full replacement (PUT) sets every field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DirectivePatch {
    pub name: Option<String>,
    pub directive_type: Option<DirectiveType>,
    pub description: Option<String>,
    pub directive_text: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub task_config: Option<Map<String, Value>>,
    pub is_active: Option<bool>,
    pub approval_required: Option<bool>,
}

impl DirectivePatch {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.directive_text = Some(text.into());
        self
    }

    pub fn with_type(mut self, directive_type: DirectiveType) -> Self {
        self.directive_type = Some(directive_type);
        self
    }

    pub fn with_active(mut self, active: bool) -> Self {
        self.is_active = Some(active);
        self
    }

    /// Whether applying this patch to `current` changes what the version tracks.
    pub fn changes_versioned_fields(&self, current: &Directive) -> bool {
        self.directive_text
            .as_ref()
            .is_some_and(|t| t != &current.directive_text)
            || self
                .directive_type
                .is_some_and(|t| t != current.directive_type)
            || self
                .task_config
                .as_ref()
                .is_some_and(|c| c != &current.task_config)
    }
}

fn default_true() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> DirectiveSnapshot {
        DirectiveSnapshot {
            id: Some(1),
            name: "Read-only Diagnostics".into(),
            directive_type: DirectiveType::D1,
            version: 1,
            directive_text: "Observe and report.".into(),
            task_config: serde_json::from_str(r#"{"b": 1, "a": {"z": 1, "y": 2}}"#).unwrap(),
            approval_required: false,
        }
    }

    #[test]
    fn snapshot_hash_is_stable_and_key_order_independent() {
        let a = sample();
        let mut b = sample();
        b.task_config = serde_json::from_str(r#"{"a": {"y": 2, "z": 1}, "b": 1}"#).unwrap();
        assert_eq!(a.sha256(), b.sha256());
        assert_eq!(a.sha256().len(), 64);
        let mut c = sample();
        c.directive_text.push('!');
        assert_ne!(a.sha256(), c.sha256());
    }

    #[test]
    fn approval_defaults_follow_the_type() {
        assert!(!NewDirective::new("x", DirectiveType::D2).effective_approval_required());
        assert!(NewDirective::new("x", DirectiveType::D3).effective_approval_required());
        assert!(
            !NewDirective::new("x", DirectiveType::D4)
                .with_approval_required(false)
                .effective_approval_required()
        );
        assert_eq!(
            "D5".parse::<DirectiveType>().unwrap_err(),
            r#""D5" is not one of "D1", "D2", "D3", "D4""#
        );
    }
}
