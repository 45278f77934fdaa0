//! Input types of the tools. Their JSON schemas are what `tools/list` advertises, so the doc
//! comments here are the argument descriptions agents read.

use cyberbrain_core::domain::{
    MAX_PAGE_SIZE, NewAllowlistEntry, PageRequest, RunQuery, RunStatus, Trigger,
};
use cyberbrain_core::engine::LaunchRequest;
use schemars::JsonSchema;
use serde::Deserialize;

use cyberbrain_core::FieldErrors;

use crate::error::ToolError;

/// Which page of a collection to return.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageArgs {
    /// 1-based page number (default 1).
    #[schemars(range(min = 1))]
    pub page: Option<u32>,
    /// Items per page, 1 to 200 (default 50).
    #[schemars(range(min = 1, max = 200))]
    pub page_size: Option<u32>,
}

impl PageArgs {
    /// The validated page request; messages name `page` or `page_size`.
    pub(crate) fn page_request(&self) -> Result<PageRequest, ToolError> {
        let defaults = PageRequest::default();
        Ok(PageRequest::new(
            self.page.unwrap_or(defaults.page),
            self.page_size.unwrap_or(defaults.page_size),
        )?)
    }
}

/// Names one row by its id.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdArgs {
    /// The row's id, as listed by the matching list tool.
    #[schemars(range(min = 1))]
    pub id: i64,
}

impl IdArgs {
    /// The id, refused when it cannot name a row (ids start at 1).
    pub(crate) fn id(&self) -> Result<i64, ToolError> {
        if self.id < 1 {
            return Err(ToolError::invalid_field(
                "id",
                format!(
                    "{} is not a valid id: ids are whole numbers from 1",
                    self.id
                ),
            ));
        }
        Ok(self.id)
    }
}

/// One allowlist entry, added or replaced as a whole.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetAllowlistArgs {
    /// A container name or a full or short (12+ hex digits) id: letters, digits, `_`, `.`, `-`.
    pub container_id: String,
    /// A display label (optional).
    #[serde(default)]
    pub name: String,
    /// Why the container is allowed (optional).
    #[serde(default)]
    pub description: String,
    /// Whether Cyberbrain may touch the container (default true); disabled entries never match.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Free-form labels; duplicates are dropped.
    #[serde(default)]
    pub tags: Vec<String>,
}

impl From<SetAllowlistArgs> for NewAllowlistEntry {
    fn from(args: SetAllowlistArgs) -> Self {
        NewAllowlistEntry {
            container_id: args.container_id,
            name: args.name,
            description: args.description,
            enabled: args.enabled,
            tags: args.tags,
        }
    }
}

fn enabled_by_default() -> bool {
    true
}

/// A tool that takes no arguments; anything passed is refused by name.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoArgs {}

/// What to launch: the same fields and rules as `POST /api/runs/launch/`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LaunchRunArgs {
    /// Task keys (`log_triage`, `gpu_report`, `service_map`) or aliases (`task1`, `task2`,
    /// `task3`). Give tasks or task_ids, not both; neither (or an empty list) runs every active
    /// task.
    pub tasks: Option<Vec<String>>,
    /// Task definition ids, as list_tasks shows them (instead of tasks).
    pub task_ids: Option<Vec<i64>>,
    /// The directive to run under, as list_directives shows it. Give directive_id or
    /// custom_directive_text, not both; neither uses the `default` directive.
    pub directive_id: Option<i64>,
    /// Free-text instructions instead of a stored directive; such a run is read-only (D1).
    pub custom_directive_text: Option<String>,
    /// Retrieve passages from the private knowledge base into the analysis (default false).
    pub use_rag: Option<bool>,
    /// Which containers service_map looks at: "allowlist" (default) or "all" (D4 directives
    /// only).
    pub task3_scope: Option<String>,
}

impl From<LaunchRunArgs> for LaunchRequest {
    fn from(args: LaunchRunArgs) -> Self {
        LaunchRequest {
            tasks: args.tasks,
            task_ids: args.task_ids,
            directive_id: args.directive_id,
            custom_directive_text: args.custom_directive_text,
            use_rag: args.use_rag.unwrap_or(false),
            task3_scope: args.task3_scope,
            ..LaunchRequest::new()
        }
        .with_trigger(Trigger::Mcp)
    }
}

/// Runs a list_runs call returns when no limit is given.
const DEFAULT_RUN_LIMIT: u32 = 20;

/// Which runs to list, newest first.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListRunsArgs {
    /// Only runs in this status: "pending", "running", "completed", "failed" or "cancelled".
    pub status: Option<String>,
    /// Only runs with a job of this task (key or alias).
    pub task: Option<String>,
    /// How many runs to return, 1 to 200 (default 20).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<u32>,
}

impl ListRunsArgs {
    /// The validated query; every bad argument is named at once.
    pub(crate) fn query(&self) -> Result<RunQuery, ToolError> {
        let mut errors = FieldErrors::new();
        let limit = self.limit.unwrap_or(DEFAULT_RUN_LIMIT);
        if limit == 0 || limit > MAX_PAGE_SIZE {
            errors.add("limit", format!("must be between 1 and {MAX_PAGE_SIZE}"));
        }
        let status = match self.status.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(value) => match value.parse::<RunStatus>() {
                Ok(status) => Some(status),
                Err(message) => {
                    errors.add("status", message);
                    None
                }
            },
        };
        errors.into_result()?;
        let mut query = RunQuery::new(PageRequest::new(1, limit)?);
        query.status = status;
        query.task_key = self
            .task
            .as_deref()
            .map(str::trim)
            .filter(|task| !task.is_empty())
            .map(str::to_string);
        Ok(query)
    }
}
