//! Input types of the tools. Their JSON schemas are what `tools/list` advertises, so the doc
//! comments here are the argument descriptions agents read.

use cyberbrain_core::domain::{
    MAX_PAGE_SIZE, NewAllowlistEntry, PageRequest, RunQuery, RunStatus, Trigger,
};
use cyberbrain_core::engine::{LaunchRequest, ScheduleInput};
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
        valid_id("id", self.id)
    }
}

/// `value` when it can name a row (ids start at 1), else an error naming `field`.
fn valid_id(field: &str, value: i64) -> Result<i64, ToolError> {
    if value < 1 {
        return Err(ToolError::invalid_field(
            field,
            format!("{value} is not a valid id: ids are whole numbers from 1"),
        ));
    }
    Ok(value)
}

/// Rows a `limit`-style list returns when no limit is given.
const DEFAULT_LIMIT: u32 = 20;

/// The first page of `limit` rows (default 20), or an error naming `limit` in `errors`.
fn limit_page(errors: &mut FieldErrors, limit: Option<u32>) -> PageRequest {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_PAGE_SIZE {
        errors.add("limit", format!("must be between 1 and {MAX_PAGE_SIZE}"));
    }
    PageRequest::new(1, limit.clamp(1, MAX_PAGE_SIZE)).unwrap_or_default()
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
        let page = limit_page(&mut errors, self.limit);
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
        let mut query = RunQuery::new(page);
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

/// How many schedules to list.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListSchedulesArgs {
    /// How many schedules to return, 1 to 200 (default 20).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<u32>,
}

impl ListSchedulesArgs {
    /// The first page of `limit` schedules; a bad limit is named.
    pub(crate) fn page_request(&self) -> Result<PageRequest, ToolError> {
        let mut errors = FieldErrors::new();
        let page = limit_page(&mut errors, self.limit);
        errors.into_result()?;
        Ok(page)
    }
}

/// A new schedule: exactly the engine's [`ScheduleInput`], so MCP accepts the same fields and
/// names the same ones as `POST /api/schedules/`. Its advertised schema is [`ScheduleFields`].
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub(crate) struct CreateScheduleArgs(pub ScheduleInput);

impl JsonSchema for CreateScheduleArgs {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        ScheduleFields::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        ScheduleFields::json_schema(generator)
    }
}

/// The fields of a schedule as agents see them in `tools/list`. Deserialisation goes through
/// [`ScheduleInput`]; a test checks that both accept the same field names.
#[allow(dead_code, reason = "only its JSON schema is used")]
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields, rename = "CreateScheduleArgs")]
struct ScheduleFields {
    /// A name for the schedule (required).
    name: String,
    /// The task to run: a key (`log_triage`, `gpu_report`, `service_map`) or alias (`task1`,
    /// `task2`, `task3`). Name the task once: task_key, job_key, task_id or job_id.
    task_key: Option<String>,
    /// The same as task_key (the build plan's word).
    job_key: Option<String>,
    /// The task definition id, as list_tasks shows it (instead of task_key).
    task_id: Option<i64>,
    /// The same as task_id.
    job_id: Option<i64>,
    /// The directive runs use, as list_directives shows it. Give directive_id or
    /// custom_directive_text, not both; neither uses the `default` directive.
    directive_id: Option<i64>,
    /// Free-text instructions instead of a stored directive (read-only D1 runs).
    custom_directive_text: Option<String>,
    /// Whether the schedule fires (default true).
    enabled: Option<bool>,
    /// "interval", "cron" or "one_shot" (required); it decides which timing field is needed.
    schedule_type: String,
    /// For interval schedules: minutes between runs, 1 or more.
    #[schemars(range(min = 1))]
    interval_minutes: Option<i64>,
    /// For cron schedules: a 5-field expression (`0 3 * * *`), or 6 fields with seconds first.
    cron_expr: Option<String>,
    /// For one_shot schedules: the future time to run at (RFC 3339, e.g.
    /// `2030-01-01T03:00:00Z`).
    #[schemars(extend("format" = "date-time"))]
    run_at: Option<String>,
    /// The IANA zone cron expressions are read in, e.g. `Europe/Berlin` (default `UTC`).
    timezone: Option<String>,
    /// Which containers service_map looks at: "allowlist" (default) or "all" (D4 directives
    /// only).
    task3_scope: Option<String>,
    /// Retrieve passages from the private knowledge base into the analysis (default false).
    use_rag: Option<bool>,
    /// At most this many jobs running in all when the schedule fires (null: the configured
    /// limit).
    #[schemars(range(min = 1))]
    max_global: Option<i32>,
    /// At most this many jobs of this task running at once (null: the configured limit).
    #[schemars(range(min = 1))]
    max_per_job: Option<i32>,
    /// What a slot missed while nothing ran does: "run_once" (default, one catch-up run) or
    /// "skip".
    misfire_policy: Option<String>,
}

/// Names one schedule.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScheduleIdArgs {
    /// The schedule's id, as list_schedules shows it.
    #[schemars(range(min = 1))]
    pub schedule_id: i64,
}

impl ScheduleIdArgs {
    pub(crate) fn schedule_id(&self) -> Result<i64, ToolError> {
        valid_id("schedule_id", self.schedule_id)
    }
}

/// Turns one schedule on or off.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetScheduleEnabledArgs {
    /// The schedule's id, as list_schedules shows it.
    #[schemars(range(min = 1))]
    pub schedule_id: i64,
    /// true fires from the next slot after now; false stops firing.
    pub enabled: bool,
}

impl SetScheduleEnabledArgs {
    pub(crate) fn schedule_id(&self) -> Result<i64, ToolError> {
        valid_id("schedule_id", self.schedule_id)
    }
}

/// Which schedule's history, and how much of it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScheduleHistoryArgs {
    /// The schedule's id, as list_schedules shows it.
    #[schemars(range(min = 1))]
    pub schedule_id: i64,
    /// How many slots to return, newest first, 1 to 200 (default 20).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<u32>,
}

impl ScheduleHistoryArgs {
    /// The schedule id and the page; every bad argument is named at once.
    pub(crate) fn query(&self) -> Result<(i64, PageRequest), ToolError> {
        let mut errors = FieldErrors::new();
        let page = limit_page(&mut errors, self.limit);
        if self.schedule_id < 1 {
            errors.add(
                "schedule_id",
                format!(
                    "{} is not a valid id: ids are whole numbers from 1",
                    self.schedule_id
                ),
            );
        }
        errors.into_result()?;
        Ok((self.schedule_id, page))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The advertised schema and the engine's input take the same field names.
    #[test]
    fn the_create_schedule_schema_lists_exactly_the_engine_fields() {
        let schema = schemars::schema_for!(CreateScheduleArgs);
        let properties = schema
            .get("properties")
            .and_then(|p| p.as_object())
            .expect("properties");
        for name in properties.keys() {
            let value = match name.as_str() {
                "name"
                | "task_key"
                | "job_key"
                | "custom_directive_text"
                | "cron_expr"
                | "timezone"
                | "task3_scope"
                | "misfire_policy"
                | "schedule_type" => {
                    serde_json::json!("x")
                }
                "run_at" => serde_json::json!("2030-01-01T00:00:00Z"),
                "enabled" | "use_rag" => serde_json::json!(true),
                _ => serde_json::json!(1),
            };
            let input = serde_json::json!({ name.clone(): value });
            assert!(
                serde_json::from_value::<ScheduleInput>(input).is_ok(),
                "ScheduleInput does not take {name}"
            );
        }
        assert_eq!(properties.len(), 18, "one property per ScheduleInput field");
    }
}
