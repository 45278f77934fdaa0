//! Run pages: the list with its filters and a launch form, one run's page (jobs, token counts,
//! LLM calls, artifacts and the rendered report), the approvals queue, and the buttons that
//! launch, cancel, approve and deny — each a same-origin form post through the same engine calls
//! the REST API makes.

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use cyberbrain_core::domain::{
    ApprovalStatus, Artifact, ArtifactQuery, JobStatus, LlmCall, MAX_PAGE_SIZE, PageRequest, Run,
    RunJob, RunQuery, RunStatus, TaskDefinition, Trigger,
};
use cyberbrain_core::engine::{ANONYMOUS_APPROVER, LaunchRequest};
use cyberbrain_core::{Cyberbrain, FieldErrors};

use super::form::{Fields, LIST_PAGE_SIZE, Pager, page_request};
use super::markdown::report_html;
use super::page::{
    Back, Flash, Layout, engine_error, not_found, parse_id, redirect_with_notice, render, screen,
};
use crate::api::query::QueryParams;
use crate::state::AppState;

type FormBody = Result<axum::Form<Vec<(String, String)>>, FormRejection>;

const LIST: &str = "/webui/runs";
const APPROVALS: &str = "/webui/approvals";

#[derive(Debug, Template)]
#[template(path = "runs/list.html")]
pub(crate) struct ListPage {
    layout: Layout,
    runs: Vec<RunRow>,
    pager: Pager,
    statuses: Vec<&'static str>,
    filter_status: String,
    filter_task: String,
    tasks: Vec<TaskChoice>,
    directives: Vec<DirectiveChoice>,
}

#[derive(Debug, Template)]
#[template(path = "runs/detail.html")]
pub(crate) struct DetailPage {
    layout: Layout,
    run: RunRow,
    facts: Vec<(&'static str, String)>,
    error_summary: Option<String>,
    can_cancel: bool,
    awaits_approval: bool,
    ended: bool,
    jobs: Vec<JobRow>,
    calls: Vec<CallRow>,
    artifacts: Vec<ArtifactRow>,
    /// Sanitised HTML of `report.md`, when it was written.
    report: Option<String>,
}

#[derive(Debug, Template)]
#[template(path = "runs/approvals.html")]
pub(crate) struct ApprovalsPage {
    layout: Layout,
    runs: Vec<RunRow>,
    pager: Pager,
}

screen!(ListPage, DetailPage, ApprovalsPage);

/// A run as lists show it.
#[derive(Debug, Clone)]
pub(crate) struct RunRow {
    pub id: i64,
    pub status: &'static str,
    pub status_class: &'static str,
    pub approval_pending: bool,
    pub tasks: String,
    pub directive: String,
    pub trigger: &'static str,
    pub created: String,
    pub total_tokens: i64,
}

impl RunRow {
    pub(crate) fn new(run: &Run, jobs: &[RunJob]) -> Self {
        Self {
            id: run.id,
            status: run.status.as_str(),
            status_class: status_class(run.status),
            approval_pending: run.approval_status == ApprovalStatus::Pending,
            tasks: jobs
                .iter()
                .map(|job| job.task_key.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            directive: format!(
                "{} ({})",
                run.directive_snapshot.name, run.directive_snapshot.directive_type
            ),
            trigger: run.trigger.as_str(),
            created: time(run.created_at),
            total_tokens: run.total_tokens,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct JobRow {
    task_key: String,
    status: &'static str,
    status_class: &'static str,
    attempts: i32,
    started: String,
    ended: String,
    prompt_tokens: i64,
    completion_tokens: i64,
    total_tokens: i64,
    error: String,
}

#[derive(Debug, Clone)]
pub(crate) struct CallRow {
    model: String,
    endpoint_host: String,
    prompt_tokens: i64,
    completion_tokens: i64,
    total_tokens: i64,
    duration_ms: i64,
    outcome: &'static str,
    ok: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct ArtifactRow {
    id: i64,
    relative_path: String,
    kind: &'static str,
    size_bytes: i64,
    sha256_short: String,
}

/// One option of a task checkbox group or select.
#[derive(Debug, Clone)]
pub(crate) struct TaskChoice {
    pub key: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub(crate) struct DirectiveChoice {
    value: String,
    label: String,
}

pub(crate) fn status_class(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Completed => "on",
        RunStatus::Failed => "bad",
        RunStatus::Running => "warn",
        RunStatus::Pending | RunStatus::Cancelled => "off",
    }
}

fn job_status_class(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Completed => "on",
        JobStatus::Failed => "bad",
        JobStatus::Running => "warn",
        JobStatus::Pending | JobStatus::Cancelled => "off",
    }
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn optional_time(at: Option<DateTime<Utc>>) -> String {
    at.map(time).unwrap_or_else(|| "–".to_string())
}

/// Runs of a page with their task keys (one small query per run; a page has at most 50).
pub(crate) async fn rows(cb: &Cyberbrain, runs: &[Run]) -> cyberbrain_core::Result<Vec<RunRow>> {
    let mut rows = Vec::with_capacity(runs.len());
    for run in runs {
        let jobs = cb.run_jobs(run.id).await?;
        rows.push(RunRow::new(run, &jobs));
    }
    Ok(rows)
}

/// The active tasks, for the launch buttons and the task filter.
pub(crate) async fn active_tasks(cb: &Cyberbrain) -> cyberbrain_core::Result<Vec<TaskChoice>> {
    Ok(all_tasks(cb)
        .await?
        .into_iter()
        .filter(|task| task.is_active)
        .map(|task| TaskChoice {
            key: task.task_key,
            name: task.name,
        })
        .collect())
}

async fn all_tasks(cb: &Cyberbrain) -> cyberbrain_core::Result<Vec<TaskDefinition>> {
    // The catalogue is small; one page of the largest size holds it.
    Ok(cb
        .list_tasks(PageRequest::first(MAX_PAGE_SIZE))
        .await?
        .items)
}

async fn directive_choices(cb: &Cyberbrain) -> cyberbrain_core::Result<Vec<DirectiveChoice>> {
    let page = cb
        .list_directives(PageRequest::first(MAX_PAGE_SIZE))
        .await?;
    Ok(page
        .items
        .into_iter()
        .filter(|d| d.is_active)
        .map(|d| DirectiveChoice {
            value: d.id.to_string(),
            label: format!(
                "{} ({}){}",
                d.name,
                d.directive_type.as_str(),
                if d.approval_required {
                    " — needs approval"
                } else {
                    ""
                }
            ),
        })
        .collect())
}

/// `GET /webui/runs?status=&task=&page=`
pub(crate) async fn list(
    State(state): State<AppState>,
    flash: Flash,
    RawQuery(query): RawQuery,
) -> Response {
    let cb = &state.cb;
    let params = QueryParams::parse(query.as_deref());
    let request = page_request(query.as_deref(), LIST_PAGE_SIZE);
    let mut errors = FieldErrors::new();
    let status = params.parsed::<RunStatus>(&mut errors, "status");
    if let Err(error) = errors.into_result() {
        return engine_error(error, Back::RUNS);
    }
    let task = params.text("task");
    let mut run_query = RunQuery::new(request);
    run_query.status = status;
    run_query.task_key = task.clone();
    let page = match cb.list_runs(run_query).await {
        Ok(page) => page,
        Err(error) => return engine_error(error, Back::RUNS),
    };
    let (runs, tasks, directives) = match (
        rows(cb, &page.items).await,
        active_tasks(cb).await,
        directive_choices(cb).await,
    ) {
        (Ok(runs), Ok(tasks), Ok(directives)) => (runs, tasks, directives),
        (Err(error), ..) | (_, Err(error), _) | (.., Err(error)) => {
            return engine_error(error, Back::DASHBOARD);
        }
    };
    let filter_status = status
        .map(RunStatus::as_str)
        .unwrap_or_default()
        .to_string();
    let filter_task = task.unwrap_or_default();
    let pager = Pager::new(request, &page)
        .with_filters(&[("status", &filter_status), ("task", &filter_task)]);
    let list = ListPage {
        layout: Layout::new("Runs", "runs", flash),
        runs,
        pager,
        statuses: RunStatus::ALL.iter().map(|s| s.as_str()).collect(),
        filter_status,
        filter_task,
        tasks,
        directives,
    };
    render(StatusCode::OK, &list)
}

/// `GET /webui/runs/{id}`
pub(crate) async fn detail(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    flash: Flash,
) -> Response {
    let Some(id) = parse_id(&raw_id) else {
        return not_found("run", &raw_id, Back::RUNS);
    };
    let cb = &state.cb;
    let detail = match cb.run_detail(id).await {
        Ok(detail) => detail,
        Err(error) => return engine_error(error, Back::RUNS),
    };
    let artifacts = match cb
        .list_artifacts(ArtifactQuery {
            run_id: Some(id),
            page: PageRequest::first(MAX_PAGE_SIZE),
        })
        .await
    {
        Ok(page) => page.items,
        Err(error) => return engine_error(error, Back::RUNS),
    };
    let run = &detail.run;
    let report = if run.status.is_terminal() {
        match cb.run_report(id).await {
            Ok(report) => report.markdown.as_deref().map(report_html),
            // A report file that escapes the root (G8) or cannot be read is shown as missing;
            // the rest of the page is still worth seeing.
            Err(error) => {
                tracing::warn!(run_id = id, %error, "the run's report could not be read");
                None
            }
        }
    } else {
        None
    };
    let page = DetailPage {
        layout: Layout::new(format!("Run {id}"), "runs", flash),
        run: RunRow::new(run, &detail.jobs),
        facts: facts(run),
        error_summary: run.error_summary.clone(),
        can_cancel: !run.status.is_terminal(),
        awaits_approval: run.approval_status == ApprovalStatus::Pending,
        ended: run.status.is_terminal(),
        jobs: detail.jobs.iter().map(job_row).collect(),
        calls: detail.llm_calls.iter().map(call_row).collect(),
        artifacts: artifacts.iter().map(artifact_row).collect(),
        report,
    };
    render(StatusCode::OK, &page)
}

fn facts(run: &Run) -> Vec<(&'static str, String)> {
    let snapshot = &run.directive_snapshot;
    let mut facts = vec![
        (
            "Directive",
            format!(
                "{} ({}, version {})",
                snapshot.name, snapshot.directive_type, snapshot.version
            ),
        ),
        ("Snapshot SHA-256", run.snapshot_sha256.clone()),
        ("Trigger", run.trigger.as_str().to_string()),
        ("Approval", run.approval_status.as_str().to_string()),
    ];
    if let Some(by) = &run.approved_by {
        facts.push((
            "Decided by",
            format!("{by} at {}", optional_time(run.approved_at)),
        ));
    }
    facts.extend([
        ("Container scope", run.task3_scope.as_str().to_string()),
        (
            "Uses RAG",
            if run.use_rag { "yes" } else { "no" }.to_string(),
        ),
        ("Created", time(run.created_at)),
        ("Started", optional_time(run.started_at)),
        ("Ended", optional_time(run.ended_at)),
        (
            "Tokens",
            format!(
                "{} total ({} prompt, {} completion)",
                run.total_tokens, run.prompt_tokens, run.completion_tokens
            ),
        ),
    ]);
    if run.cancel_requested_at.is_some() && !run.status.is_terminal() {
        facts.push((
            "Cancel",
            "requested; running jobs stop at their next check".to_string(),
        ));
    }
    facts
}

fn job_row(job: &RunJob) -> JobRow {
    JobRow {
        task_key: job.task_key.clone(),
        status: job.status.as_str(),
        status_class: job_status_class(job.status),
        attempts: job.attempts,
        started: optional_time(job.started_at),
        ended: optional_time(job.ended_at),
        prompt_tokens: job.prompt_tokens,
        completion_tokens: job.completion_tokens,
        total_tokens: job.total_tokens,
        error: job.error_summary.clone().unwrap_or_default(),
    }
}

fn call_row(call: &LlmCall) -> CallRow {
    CallRow {
        model: call.model.clone(),
        endpoint_host: call.endpoint_host.clone(),
        prompt_tokens: call.prompt_tokens,
        completion_tokens: call.completion_tokens,
        total_tokens: call.total_tokens,
        duration_ms: call.duration_ms,
        outcome: call.outcome.as_str(),
        ok: call.outcome == cyberbrain_core::domain::LlmOutcome::Ok,
    }
}

fn artifact_row(artifact: &Artifact) -> ArtifactRow {
    ArtifactRow {
        id: artifact.id,
        relative_path: artifact.relative_path.clone(),
        kind: artifact.kind.as_str(),
        size_bytes: artifact.size_bytes,
        sha256_short: artifact.sha256.chars().take(12).collect(),
    }
}

/// `POST /webui/runs/launch`: `task` (repeatable; none = every active task) and an optional
/// `directive_id`. A person pressed the button, so the trigger is `manual`.
pub(crate) async fn launch(State(state): State<AppState>, body: FormBody) -> Response {
    let fields = match Fields::from_body(body, Back::RUNS) {
        Ok(fields) => fields,
        Err(unreadable) => return unreadable.into_response(),
    };
    let mut request = LaunchRequest::new().with_trigger(Trigger::Manual);
    let tasks = fields.all("task");
    if !tasks.is_empty() {
        request = request.with_tasks(tasks);
    }
    let directive = fields.text("directive_id");
    let directive = directive.trim();
    if !directive.is_empty() {
        let Some(id) = parse_id(directive) else {
            return engine_error(
                cyberbrain_core::Error::invalid(
                    "directive_id",
                    format!("{directive:?} is not a directive id; choose one from the list"),
                ),
                Back::RUNS,
            );
        };
        request = request.with_directive(id);
    }
    match state.cb.launch(request).await {
        Ok(run) => {
            let notice = if run.approval_status == ApprovalStatus::Pending {
                format!(
                    "Run {} launched; its directive requires approval, so it waits on the \
                     Approvals page.",
                    run.id
                )
            } else {
                format!("Run {} launched.", run.id)
            };
            redirect_with_notice(&format!("{LIST}/{}", run.id), &notice)
        }
        Err(error) => engine_error(error, Back::RUNS),
    }
}

/// Where a run action sends the user back to: the approvals queue when pressed there, else the
/// run's page. Only these two; a form cannot redirect anywhere else.
fn back_to(fields: Option<&Fields>, run_id: i64) -> String {
    match fields.map(|fields| fields.text("return_to")).as_deref() {
        Some("approvals") => APPROVALS.to_string(),
        _ => format!("{LIST}/{run_id}"),
    }
}

/// The action buttons post a form whose only field may be `return_to`; a body that is not a
/// form still acts, it just returns to the run's page.
fn action_fields(body: FormBody) -> Option<Fields> {
    Fields::from_body(body, Back::RUNS).ok()
}

/// `POST /webui/runs/{id}/cancel`
pub(crate) async fn cancel(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    body: FormBody,
) -> Response {
    let Some(id) = parse_id(&raw_id) else {
        return not_found("run", &raw_id, Back::RUNS);
    };
    let fields = action_fields(body);
    match state.cb.cancel_run(id).await {
        Ok(run) => {
            let notice = if run.status == RunStatus::Cancelled {
                format!("Run {id} cancelled.")
            } else {
                format!("Run {id}: cancel requested; running jobs stop at their next check.")
            };
            redirect_with_notice(&back_to(fields.as_ref(), id), &notice)
        }
        Err(error) => engine_error(error, Back::RUNS),
    }
}

/// `POST /webui/runs/{id}/approve`
pub(crate) async fn approve(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    body: FormBody,
) -> Response {
    decide(&state, &raw_id, body, Decision::Approve).await
}

/// `POST /webui/runs/{id}/deny`
pub(crate) async fn deny(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    body: FormBody,
) -> Response {
    decide(&state, &raw_id, body, Decision::Deny).await
}

#[derive(Clone, Copy)]
enum Decision {
    Approve,
    Deny,
}

/// Approves or denies a run awaiting approval, then goes back where the form came from.
async fn decide(state: &AppState, raw_id: &str, body: FormBody, decision: Decision) -> Response {
    let Some(id) = parse_id(raw_id) else {
        return not_found("run", raw_id, Back::APPROVALS);
    };
    let fields = action_fields(body);
    let (outcome, notice) = match decision {
        Decision::Approve => (
            state.cb.approve_run(id, ANONYMOUS_APPROVER).await,
            format!("Run {id} approved; an executor picks it up."),
        ),
        Decision::Deny => (
            state.cb.deny_run(id, ANONYMOUS_APPROVER).await,
            format!("Run {id} denied; it will not run."),
        ),
    };
    match outcome {
        Ok(_) => redirect_with_notice(&back_to(fields.as_ref(), id), &notice),
        Err(error) => engine_error(error, Back::APPROVALS),
    }
}

/// `GET /webui/approvals`
pub(crate) async fn approvals(
    State(state): State<AppState>,
    flash: Flash,
    RawQuery(query): RawQuery,
) -> Response {
    let request = page_request(query.as_deref(), LIST_PAGE_SIZE);
    let page = match state.cb.pending_approvals(request).await {
        Ok(page) => page,
        Err(error) => return engine_error(error, Back::DASHBOARD),
    };
    let runs = match rows(&state.cb, &page.items).await {
        Ok(runs) => runs,
        Err(error) => return engine_error(error, Back::DASHBOARD),
    };
    let list = ApprovalsPage {
        layout: Layout::new("Approvals", "approvals", flash),
        runs,
        pager: Pager::new(request, &page),
    };
    render(StatusCode::OK, &list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_return_only_to_known_pages() {
        let fields = |value: &str| {
            Fields::from_body(
                Ok(axum::Form(vec![("return_to".into(), value.into())])),
                Back::RUNS,
            )
            .unwrap()
        };
        assert_eq!(back_to(Some(&fields("approvals")), 4), "/webui/approvals");
        assert_eq!(
            back_to(Some(&fields("https://evil.example/")), 4),
            "/webui/runs/4"
        );
        assert_eq!(back_to(None, 4), "/webui/runs/4");
    }
}
