//! `/api/runs/` and `/api/approvals/`: launching runs through the one engine path, reading them
//! with their jobs, LLM calls, reports and artifacts, and cancelling, approving or denying them
//! (SPEC §2.3, §3.1, §3.7).

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use cyberbrain_core::FieldErrors;
use cyberbrain_core::domain::{
    ApprovalStatus, Artifact, ArtifactQuery, Run, RunJob, RunQuery, RunStatus,
};
use cyberbrain_core::engine::{
    ANONYMOUS_APPROVER, LaunchRequest, RunDetail, RunReport, TaskLastSuccess,
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::created;
use super::json::ApiJson;
use super::pagination::{Listing, PageQuery, Paginated, Pagination};
use super::path::ResourceId;
use super::query::QueryParams;
use crate::error::{ApiError, ErrorDetail, ValidationErrors};
use crate::state::AppState;

/// Filters of `GET /api/runs/`; all optional, combined with AND.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunFilters {
    /// Only runs in this status.
    pub status: Option<RunStatus>,
    /// Only runs with a job of this task (a task key, or an alias `task1`–`task3`).
    pub task: Option<String>,
    /// Only runs in this approval state.
    pub approval: Option<ApprovalStatus>,
}

/// The task filter of `GET /api/runs/since-last-success/`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskFilter {
    /// One task (a key or an alias); every task when absent.
    pub task: Option<String>,
}

/// Launch a run. Tasks by key (or alias) or by id, not both; none means every active task. The
/// directive by id or as custom text (runs as D1), not both; none means the `default` directive.
/// A directive that requires approval makes the run start `pending` approval.
#[utoipa::path(
    post,
    path = "/api/runs/launch/",
    tag = "runs",
    operation_id = "launch_run",
    request_body = LaunchRequest,
    responses(
        (status = 201, description = "Launched", body = Run),
        (status = 400, description = "Invalid input; nothing was saved", body = ValidationErrors),
        (status = 413, description = "Body too large", body = ErrorDetail),
        (status = 415, description = "Not a JSON body", body = ErrorDetail),
    )
)]
pub async fn launch(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<LaunchRequest>,
) -> Result<impl IntoResponse, ApiError> {
    // The body cannot set the trigger (it is skipped when deserialising); say where it came from.
    let request = request.with_trigger(cyberbrain_core::domain::Trigger::Api);
    let run = state.cb.launch(request).await?;
    Ok(created(format!("/api/runs/{}/", run.id), run))
}

/// List runs, newest first.
#[utoipa::path(
    get,
    path = "/api/runs/",
    tag = "runs",
    operation_id = "list_runs",
    params(PageQuery, RunFilters),
    responses(
        (status = 200, description = "A page of runs", body = Paginated<Run>),
        (status = 400, description = "Bad page parameters or filters", body = ValidationErrors),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    pagination: Pagination,
    params: QueryParams,
) -> Result<Json<Paginated<Run>>, ApiError> {
    let mut errors = FieldErrors::new();
    let status = params.parsed::<RunStatus>(&mut errors, "status");
    let approval = params.parsed::<ApprovalStatus>(&mut errors, "approval");
    errors.into_result()?;
    let mut query = RunQuery::new(pagination.request());
    query.status = status;
    query.approval_status = approval;
    query.task_key = params.text("task");
    let page = state.cb.list_runs(query).await?;
    Ok(Json(pagination.respond(page)))
}

/// One run with its jobs and LLM calls (token counts only, never prompt or response text).
#[utoipa::path(
    get,
    path = "/api/runs/{id}/",
    tag = "runs",
    operation_id = "get_run",
    params(("id" = i64, Path, description = "Run id")),
    responses(
        (status = 200, description = "The run", body = RunDetail),
        (status = 404, description = "No such run", body = ErrorDetail),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> Result<Json<RunDetail>, ApiError> {
    Ok(Json(state.cb.run_detail(id).await?))
}

/// The run's jobs, one per task.
#[utoipa::path(
    get,
    path = "/api/runs/{id}/jobs/",
    tag = "runs",
    operation_id = "list_run_jobs",
    params(("id" = i64, Path, description = "Run id")),
    responses(
        (status = 200, description = "The run's jobs", body = Listing<RunJob>),
        (status = 404, description = "No such run", body = ErrorDetail),
    )
)]
pub async fn jobs(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> Result<Json<Listing<RunJob>>, ApiError> {
    // The jobs of a run that does not exist are not an empty list.
    state.cb.get_run(id).await?;
    Ok(Json(Listing::new(state.cb.run_jobs(id).await?)))
}

/// The run's report: `report.md` and `summary.json` once it ended, the summary so far before.
#[utoipa::path(
    get,
    path = "/api/runs/{id}/report/",
    tag = "runs",
    operation_id = "get_run_report",
    params(("id" = i64, Path, description = "Run id")),
    responses(
        (status = 200, description = "The report", body = RunReport),
        (status = 403, description = "A report file escapes the artifacts root (G8)", body = ErrorDetail),
        (status = 404, description = "No such run", body = ErrorDetail),
    )
)]
pub async fn report(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> Result<Json<RunReport>, ApiError> {
    Ok(Json(state.cb.run_report(id).await?))
}

/// The run's artifact files (download each at `/api/artifacts/{id}/download/`).
#[utoipa::path(
    get,
    path = "/api/runs/{id}/artifacts/",
    tag = "runs",
    operation_id = "list_run_artifacts",
    params(("id" = i64, Path, description = "Run id"), PageQuery),
    responses(
        (status = 200, description = "A page of the run's artifacts", body = Paginated<Artifact>),
        (status = 400, description = "Bad page parameters", body = ValidationErrors),
        (status = 404, description = "No such run", body = ErrorDetail),
    )
)]
pub async fn artifacts(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
    pagination: Pagination,
) -> Result<Json<Paginated<Artifact>>, ApiError> {
    let query = ArtifactQuery {
        run_id: Some(id),
        page: pagination.request(),
    };
    let page = state.cb.list_artifacts(query).await?;
    Ok(Json(pagination.respond(page)))
}

/// Cancel a run: at once when no job is running, else at the running jobs' next lease check.
#[utoipa::path(
    post,
    path = "/api/runs/{id}/cancel/",
    tag = "runs",
    operation_id = "cancel_run",
    params(("id" = i64, Path, description = "Run id")),
    responses(
        (status = 200, description = "The run, cancelled or with its cancel requested", body = Run),
        (status = 404, description = "No such run", body = ErrorDetail),
        (status = 409, description = "The run already ended", body = ErrorDetail),
    )
)]
pub async fn cancel(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(state.cb.cancel_run(id).await?))
}

/// Approve a run awaiting approval; records the approver, the time and the snapshot hash (G4).
/// Until authentication exists the approver is recorded as `anonymous`.
#[utoipa::path(
    post,
    path = "/api/runs/{id}/approve/",
    tag = "approvals",
    operation_id = "approve_run",
    params(("id" = i64, Path, description = "Run id")),
    responses(
        (status = 200, description = "The approved run; executors pick it up", body = Run),
        (status = 404, description = "No such run", body = ErrorDetail),
        (status = 409, description = "The run is not awaiting approval", body = ErrorDetail),
    )
)]
pub async fn approve(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(state.cb.approve_run(id, ANONYMOUS_APPROVER).await?))
}

/// Deny a run awaiting approval, which cancels it.
#[utoipa::path(
    post,
    path = "/api/runs/{id}/deny/",
    tag = "approvals",
    operation_id = "deny_run",
    params(("id" = i64, Path, description = "Run id")),
    responses(
        (status = 200, description = "The denied (cancelled) run", body = Run),
        (status = 404, description = "No such run", body = ErrorDetail),
        (status = 409, description = "The run is not awaiting approval", body = ErrorDetail),
    )
)]
pub async fn deny(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(state.cb.deny_run(id, ANONYMOUS_APPROVER).await?))
}

/// When each task (or the one named) last succeeded: the start of its next `log_triage` window.
#[utoipa::path(
    get,
    path = "/api/runs/since-last-success/",
    tag = "runs",
    operation_id = "since_last_success",
    params(TaskFilter),
    responses(
        (status = 200, description = "One row per task", body = Listing<TaskLastSuccess>),
        (status = 400, description = "Unknown task", body = ValidationErrors),
    )
)]
pub async fn since_last_success(
    State(state): State<AppState>,
    params: QueryParams,
) -> Result<Json<Listing<TaskLastSuccess>>, ApiError> {
    let task = params.text("task");
    let rows = state.cb.since_last_success(task.as_deref()).await?;
    Ok(Json(Listing::new(rows)))
}

/// Runs awaiting approval, newest first.
#[utoipa::path(
    get,
    path = "/api/approvals/",
    tag = "approvals",
    operation_id = "list_pending_approvals",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of runs awaiting approval", body = Paginated<Run>),
        (status = 400, description = "Bad page parameters", body = ValidationErrors),
    )
)]
pub async fn approvals(
    State(state): State<AppState>,
    pagination: Pagination,
) -> Result<Json<Paginated<Run>>, ApiError> {
    let page = state.cb.pending_approvals(pagination.request()).await?;
    Ok(Json(pagination.respond(page)))
}
