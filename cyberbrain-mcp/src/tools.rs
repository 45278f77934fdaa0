//! The tools: thin adapters from MCP arguments to [`Cyberbrain`] engine calls.
//!
//! Each tool parses its arguments (errors name the field), calls exactly one engine method (which
//! validates once for every host) and returns the domain value as JSON, both as text content and
//! as structured content.

mod rag;

use cyberbrain_core::Cyberbrain;
use cyberbrain_core::domain::{Page, PageRequest, RunStatus, Timestamp};
use cyberbrain_core::engine::{ANONYMOUS_APPROVER, RunReport};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use serde::Serialize;
use serde_json::Value;

use crate::error::{ToolError, ToolResult};
use crate::inputs::{
    CreateScheduleArgs, IdArgs, LaunchRunArgs, ListRunsArgs, ListSchedulesArgs, NoArgs, PageArgs,
    ScheduleHistoryArgs, ScheduleIdArgs, SetAllowlistArgs, SetScheduleEnabledArgs,
};
use crate::params::Parameters;

/// The MCP server: one per session, each holding a clone of the engine handle.
#[derive(Debug, Clone)]
pub(crate) struct CyberbrainMcp {
    cb: Cyberbrain,
}

#[tool_router(vis = "pub(crate)")]
impl CyberbrainMcp {
    pub(crate) fn new(cb: Cyberbrain) -> Self {
        Self { cb }
    }

    /// Every tool: these and the knowledge-base ones ([`rag`]).
    pub(crate) fn all_tools() -> ToolRouter<Self> {
        Self::tool_router() + Self::rag_tool_router()
    }

    #[tool(
        description = "List directives, ordered by id, one page at a time. A directive is the \
                       instructions and autonomy level (D1 read-only diagnostics, D2 conservative \
                       recommendations, D3 change planning, D4 admin override) a run executes \
                       under. Returns {count, page, page_size, next_page, items}.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_directives(&self, args: Parameters<PageArgs>) -> ToolResult {
        let request = args.into_inner()?.page_request()?;
        paged(request, self.cb.list_directives(request).await?)
    }

    #[tool(
        description = "Get one directive by id: its name, type (D1-D4), text, task configuration, \
                       version, and whether runs under it need approval.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_directive(&self, args: Parameters<IdArgs>) -> ToolResult {
        let id = args.into_inner()?.id()?;
        structured(&self.cb.get_directive(id).await?)
    }

    #[tool(
        description = "List task definitions (the diagnostics a run can execute: log_triage, \
                       gpu_report, service_map and any added ones), ordered by id, one page at a \
                       time. Returns {count, page, page_size, next_page, items}.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_tasks(&self, args: Parameters<PageArgs>) -> ToolResult {
        let request = args.into_inner()?.page_request()?;
        paged(request, self.cb.list_tasks(request).await?)
    }

    #[tool(
        description = "List the container allowlist, ordered by id, one page at a time. \
                       Cyberbrain reads logs from, inspects and maps GPU processes to enabled \
                       allowlisted containers only. Returns {count, page, page_size, next_page, \
                       items}.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_allowlist(&self, args: Parameters<PageArgs>) -> ToolResult {
        let request = args.into_inner()?.page_request()?;
        paged(request, self.cb.list_allowlist(request).await?)
    }

    #[tool(
        description = "Add a container to the allowlist, or replace the entry with the same \
                       container_id (upsert). name, description, enabled and tags are set exactly \
                       as given; omitted ones take their defaults (empty name and description, \
                       enabled, no tags). Returns the stored entry.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn set_allowlist(&self, args: Parameters<SetAllowlistArgs>) -> ToolResult {
        let entry = args.into_inner()?.into();
        structured(&self.cb.set_allowlist_entry(entry).await?)
    }

    #[tool(
        description = "Launch a run: one job per task under one directive, validated like \
                       POST /api/runs/launch/ (unknown or inactive task or directive, tasks and \
                       task_ids together, directive_id and custom_directive_text together, or a \
                       bad task3_scope are errors naming the field, and nothing is created). \
                       No tasks means every active task; no directive means `default`. A run \
                       whose directive requires approval (D3, D4) starts with approval_status \
                       \"pending\" and waits for approve_run. Returns the run; follow it with \
                       get_run and read the findings with get_run_report.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn launch_run(&self, args: Parameters<LaunchRunArgs>) -> ToolResult {
        let request = args.into_inner()?.into();
        structured(&self.cb.launch(request).await?)
    }

    #[tool(
        description = "List runs, newest first, optionally only those in one status or with a \
                       job of one task. Returns {count (all matching runs), limit, items}.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_runs(&self, args: Parameters<ListRunsArgs>) -> ToolResult {
        let query = args.into_inner()?.query()?;
        let limit = query.page.page_size;
        limited(limit, self.cb.list_runs(query).await?)
    }

    #[tool(
        description = "Get one run by id with its jobs (status, attempts, result counts, error, \
                       tokens) and its LLM calls (model, token counts, duration, outcome; never \
                       prompt or response text). A run ends completed, failed or cancelled.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_run(&self, args: Parameters<IdArgs>) -> ToolResult {
        let id = args.into_inner()?.id()?;
        structured(&self.cb.run_detail(id).await?)
    }

    #[tool(
        description = "Get a run's report: the Markdown report (null until the run ended), the \
                       summary (statuses, counts, findings' titles and severities, artifact \
                       paths) and the token totals. Reports hold findings, never prompt or raw \
                       LLM response text, and are redacted.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_run_report(&self, args: Parameters<IdArgs>) -> ToolResult {
        let id = args.into_inner()?.id()?;
        structured(&ReportOutput::from(self.cb.run_report(id).await?))
    }

    #[tool(
        description = "Cancel a run: a pending run (or one awaiting approval) is cancelled at \
                       once, a running run's jobs stop at their next lease check. Cancelling a \
                       run that already ended is a conflict error. Returns the run.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn cancel_run(&self, args: Parameters<IdArgs>) -> ToolResult {
        let id = args.into_inner()?.id()?;
        structured(&self.cb.cancel_run(id).await?)
    }

    #[tool(
        description = "Token totals over every recorded LLM call, as the LLM server reported \
                       them: {total_tokens, total_prompt_tokens, total_completion_tokens, \
                       call_count}.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn token_stats(&self, args: Parameters<NoArgs>) -> ToolResult {
        args.into_inner()?;
        structured(&self.cb.token_stats().await?)
    }

    #[tool(
        description = "List runs awaiting approval (their directive is D3, D4 or requires \
                       approval), newest first, one page at a time. Such runs are never executed \
                       until approved. Returns {count, page, page_size, next_page, items}.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_pending_approvals(&self, args: Parameters<PageArgs>) -> ToolResult {
        let request = args.into_inner()?.page_request()?;
        paged(request, self.cb.pending_approvals(request).await?)
    }

    #[tool(
        description = "Approve a run awaiting approval so executors may run it. Records the \
                       approver, the time and the directive snapshot hash approved. A run that \
                       is not awaiting approval is a conflict error. Returns the run.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn approve_run(&self, args: Parameters<IdArgs>) -> ToolResult {
        let id = args.into_inner()?.id()?;
        structured(&self.cb.approve_run(id, ANONYMOUS_APPROVER).await?)
    }

    #[tool(
        description = "Deny a run awaiting approval, which cancels it (it never runs). A run \
                       that is not awaiting approval is a conflict error. Returns the run.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn deny_run(&self, args: Parameters<IdArgs>) -> ToolResult {
        let id = args.into_inner()?.id()?;
        structured(&self.cb.deny_run(id, ANONYMOUS_APPROVER).await?)
    }

    #[tool(
        description = "List schedules, ordered by id: name, task, directive, timing \
                       (interval_minutes, cron_expr in its timezone, or a one-shot run_at), \
                       enabled, limits, misfire policy, last_run_at and next_run_at. Returns \
                       {count (all schedules), limit, items}.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_schedules(&self, args: Parameters<ListSchedulesArgs>) -> ToolResult {
        let request = args.into_inner()?.page_request()?;
        limited(request.page_size, self.cb.list_schedules(request).await?)
    }

    #[tool(
        description = "Create a schedule that launches one task on a timing, validated like \
                       POST /api/schedules/: name, the task (task_key, job_key, task_id or \
                       job_id) and schedule_type with its timing field are required \
                       (interval_minutes >= 1, a 5- or 6-field cron_expr, or a future run_at). \
                       An unknown task or directive, both directive fields, a bad cron \
                       expression, an unknown timezone or task3_scope \"all\" without a D4 \
                       directive are errors naming the field, and nothing is saved. Returns the \
                       schedule with its next_run_at.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn create_schedule(&self, args: Parameters<CreateScheduleArgs>) -> ToolResult {
        let CreateScheduleArgs(input) = args.into_inner()?;
        structured(&self.cb.create_schedule(input).await?)
    }

    #[tool(
        description = "Launch a schedule's task now, enabled or not, through the same path as \
                       any launch (its directive, scope and RAG setting; approval is respected), \
                       and record the slot in its history. The schedule's timing is not \
                       touched. Returns {run_id, scheduled_run_id}; follow the run with get_run.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn run_schedule_now(&self, args: Parameters<ScheduleIdArgs>) -> ToolResult {
        let id = args.into_inner()?.schedule_id()?;
        let (run, scheduled_run) = self.cb.run_schedule_now(id).await?;
        structured(&RunNowOutput {
            run_id: run.id,
            scheduled_run_id: scheduled_run.id,
        })
    }

    #[tool(
        description = "Enable or disable a schedule. Enabling fires from the next slot after \
                       now (no catch-up for the time it was off); disabling clears next_run_at. \
                       Returns the schedule.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn set_schedule_enabled(&self, args: Parameters<SetScheduleEnabledArgs>) -> ToolResult {
        let args = args.into_inner()?;
        let id = args.schedule_id()?;
        structured(&self.cb.set_schedule_enabled(id, args.enabled).await?)
    }

    #[tool(
        description = "A schedule's fired slots, newest first: scheduled_for, run_id, status \
                       (pending, started, finished or failed), started_at, finished_at and \
                       error_summary. Returns {count (all slots), limit, items}.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_schedule_history(&self, args: Parameters<ScheduleHistoryArgs>) -> ToolResult {
        let (id, request) = args.into_inner()?.query()?;
        limited(
            request.page_size,
            self.cb.schedule_history(id, request).await?,
        )
    }
}

/// What run_schedule_now returns (the same body as `POST /api/schedules/{id}/run-now`).
#[derive(Serialize)]
struct RunNowOutput {
    run_id: i64,
    scheduled_run_id: i64,
}

/// What the `limit` lists return: the first `limit` items and how many there are in all.
#[derive(Serialize)]
struct LimitedList<T> {
    count: u64,
    limit: u32,
    items: Vec<T>,
}

/// What get_run_report returns (SPEC §5: markdown + summary + token totals).
#[derive(Serialize)]
struct ReportOutput {
    id: i64,
    status: RunStatus,
    /// `report.md`, once the run ended.
    markdown: Option<String>,
    /// `summary.json` once the run ended, the stored summary before.
    summary: Value,
    started_at: Option<Timestamp>,
    completed_at: Option<Timestamp>,
    prompt_tokens: i64,
    completion_tokens: i64,
    total_tokens: i64,
}

impl From<RunReport> for ReportOutput {
    fn from(report: RunReport) -> Self {
        Self {
            id: report.id,
            status: report.status,
            markdown: report.markdown,
            summary: report.json,
            started_at: report.started_at,
            completed_at: report.completed_at,
            prompt_tokens: report.prompt_tokens,
            completion_tokens: report.completion_tokens,
            total_tokens: report.total_tokens,
        }
    }
}

fn limited<T: Serialize>(limit: u32, page: Page<T>) -> ToolResult {
    structured(&LimitedList {
        count: page.count,
        limit,
        items: page.items,
    })
}

/// One page of a collection as the list tools return it.
#[derive(Serialize)]
struct PageOutput<T> {
    count: u64,
    page: u32,
    page_size: u32,
    /// The next page number, or `null` on the last page.
    next_page: Option<u32>,
    items: Vec<T>,
}

fn paged<T: Serialize>(request: PageRequest, page: Page<T>) -> ToolResult {
    let next_page = page
        .has_next(request)
        .then(|| request.page.saturating_add(1));
    structured(&PageOutput {
        count: page.count,
        page: request.page,
        page_size: request.page_size,
        next_page,
        items: page.items,
    })
}

fn structured<T: Serialize>(value: &T) -> ToolResult {
    let value = serde_json::to_value(value).map_err(|error| ToolError::serialization(&error))?;
    Ok(CallToolResult::structured(value))
}
