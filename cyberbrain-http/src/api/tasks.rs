//! `/api/tasks/` (and `/api/jobs/`, the build plan's name): the diagnostics a run can execute
//! (SPEC §2.2).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use cyberbrain_core::domain::{NewTaskDefinition, TaskDefinition, TaskDefinitionPatch};

use super::created;
use super::json::ApiJson;
use super::pagination::{PageQuery, Paginated, Pagination};
use super::path::ResourceId;
use crate::error::{ApiError, ErrorDetail, ValidationErrors};
use crate::state::AppState;

/// List task definitions, ordered by id.
#[utoipa::path(
    get,
    path = "/api/tasks/",
    tag = "tasks",
    operation_id = "list_tasks",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of task definitions", body = Paginated<TaskDefinition>),
        (status = 400, description = "Bad page parameters", body = ValidationErrors),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    pagination: Pagination,
) -> Result<Json<Paginated<TaskDefinition>>, ApiError> {
    let page = state.cb.list_tasks(pagination.request()).await?;
    Ok(Json(pagination.respond(page)))
}

/// The task list under its build-plan name ("jobs"); identical to `GET /api/tasks/`.
#[utoipa::path(
    get,
    path = "/api/jobs/",
    tag = "tasks",
    operation_id = "list_jobs",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of task definitions", body = Paginated<TaskDefinition>),
        (status = 400, description = "Bad page parameters", body = ValidationErrors),
    )
)]
pub async fn list_jobs(
    state: State<AppState>,
    pagination: Pagination,
) -> Result<Json<Paginated<TaskDefinition>>, ApiError> {
    list(state, pagination).await
}

/// Create a task definition. `task_key` is lower-case letters, digits and `_`; the aliases
/// `task1`–`task3` are reserved.
#[utoipa::path(
    post,
    path = "/api/tasks/",
    tag = "tasks",
    operation_id = "create_task",
    request_body = NewTaskDefinition,
    responses(
        (status = 201, description = "Created", body = TaskDefinition),
        (status = 400, description = "Invalid input; nothing was saved", body = ValidationErrors),
        (status = 409, description = "The task key is taken", body = ErrorDetail),
        (status = 413, description = "Body too large", body = ErrorDetail),
        (status = 415, description = "Not a JSON body", body = ErrorDetail),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewTaskDefinition>,
) -> Result<impl IntoResponse, ApiError> {
    let task = state.cb.create_task(new).await?;
    Ok(created(format!("/api/tasks/{}/", task.id), task))
}

/// Get one task definition.
#[utoipa::path(
    get,
    path = "/api/tasks/{id}/",
    tag = "tasks",
    operation_id = "get_task",
    params(("id" = i64, Path, description = "Task definition id")),
    responses(
        (status = 200, description = "The task definition", body = TaskDefinition),
        (status = 404, description = "No such task", body = ErrorDetail),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> Result<Json<TaskDefinition>, ApiError> {
    Ok(Json(state.cb.get_task(id).await?))
}

/// One task definition under its build-plan name; identical to `GET /api/tasks/{id}/`.
#[utoipa::path(
    get,
    path = "/api/jobs/{id}/",
    tag = "tasks",
    operation_id = "get_job",
    params(("id" = i64, Path, description = "Task definition id")),
    responses(
        (status = 200, description = "The task definition", body = TaskDefinition),
        (status = 404, description = "No such task", body = ErrorDetail),
    )
)]
pub async fn get_job(
    state: State<AppState>,
    id: ResourceId,
) -> Result<Json<TaskDefinition>, ApiError> {
    get(state, id).await
}

/// Change some fields; `default_directive_id: null` clears the default directive.
#[utoipa::path(
    patch,
    path = "/api/tasks/{id}/",
    tag = "tasks",
    operation_id = "update_task",
    params(("id" = i64, Path, description = "Task definition id")),
    request_body = TaskDefinitionPatch,
    responses(
        (status = 200, description = "The updated task definition", body = TaskDefinition),
        (status = 400, description = "Invalid input; nothing was saved", body = ValidationErrors),
        (status = 404, description = "No such task", body = ErrorDetail),
        (status = 413, description = "Body too large", body = ErrorDetail),
        (status = 415, description = "Not a JSON body", body = ErrorDetail),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
    ApiJson(patch): ApiJson<TaskDefinitionPatch>,
) -> Result<Json<TaskDefinition>, ApiError> {
    Ok(Json(state.cb.update_task(id, patch).await?))
}

/// Delete a task definition. One referenced by a schedule cannot be deleted (deactivate it).
#[utoipa::path(
    delete,
    path = "/api/tasks/{id}/",
    tag = "tasks",
    operation_id = "delete_task",
    params(("id" = i64, Path, description = "Task definition id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such task", body = ErrorDetail),
        (status = 409, description = "Referenced by a schedule", body = ErrorDetail),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> Result<StatusCode, ApiError> {
    state.cb.delete_task(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
