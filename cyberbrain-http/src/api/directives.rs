//! `/api/directives/`: the autonomy levels runs execute under (SPEC §2.1).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use cyberbrain_core::domain::{Directive, DirectivePatch, NewDirective};

use super::created;
use super::json::ApiJson;
use super::pagination::{PageQuery, Paginated, Pagination};
use super::path::ResourceId;
use crate::error::{ApiError, ErrorDetail, ValidationErrors};
use crate::state::AppState;

/// List directives, ordered by id.
#[utoipa::path(
    get,
    path = "/api/directives/",
    tag = "directives",
    operation_id = "list_directives",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of directives", body = Paginated<Directive>),
        (status = 400, description = "Bad page parameters", body = ValidationErrors),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    pagination: Pagination,
) -> Result<Json<Paginated<Directive>>, ApiError> {
    let page = state.cb.list_directives(pagination.request()).await?;
    Ok(Json(pagination.respond(page)))
}

/// Create a directive. `approval_required` defaults to true for D3 and D4.
#[utoipa::path(
    post,
    path = "/api/directives/",
    tag = "directives",
    operation_id = "create_directive",
    request_body = NewDirective,
    responses(
        (status = 201, description = "Created", body = Directive),
        (status = 400, description = "Invalid input; nothing was saved", body = ValidationErrors),
        (status = 409, description = "The name is taken", body = ErrorDetail),
        (status = 413, description = "Body too large", body = ErrorDetail),
        (status = 415, description = "Not a JSON body", body = ErrorDetail),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewDirective>,
) -> Result<impl IntoResponse, ApiError> {
    let directive = state.cb.create_directive(new).await?;
    Ok(created(
        format!("/api/directives/{}/", directive.id),
        directive,
    ))
}

/// Get one directive.
#[utoipa::path(
    get,
    path = "/api/directives/{id}/",
    tag = "directives",
    operation_id = "get_directive",
    params(("id" = i64, Path, description = "Directive id")),
    responses(
        (status = 200, description = "The directive", body = Directive),
        (status = 404, description = "No such directive", body = ErrorDetail),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> Result<Json<Directive>, ApiError> {
    Ok(Json(state.cb.get_directive(id).await?))
}

/// Change some fields. `version` increments when the text, type or task config change.
#[utoipa::path(
    patch,
    path = "/api/directives/{id}/",
    tag = "directives",
    operation_id = "update_directive",
    params(("id" = i64, Path, description = "Directive id")),
    request_body = DirectivePatch,
    responses(
        (status = 200, description = "The updated directive", body = Directive),
        (status = 400, description = "Invalid input; nothing was saved", body = ValidationErrors),
        (status = 404, description = "No such directive", body = ErrorDetail),
        (status = 409, description = "The name is taken", body = ErrorDetail),
        (status = 413, description = "Body too large", body = ErrorDetail),
        (status = 415, description = "Not a JSON body", body = ErrorDetail),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
    ApiJson(patch): ApiJson<DirectivePatch>,
) -> Result<Json<Directive>, ApiError> {
    Ok(Json(state.cb.update_directive(id, patch).await?))
}

/// Replace every field; absent optional fields take their defaults.
#[utoipa::path(
    put,
    path = "/api/directives/{id}/",
    tag = "directives",
    operation_id = "replace_directive",
    params(("id" = i64, Path, description = "Directive id")),
    request_body = NewDirective,
    responses(
        (status = 200, description = "The replaced directive", body = Directive),
        (status = 400, description = "Invalid input; nothing was saved", body = ValidationErrors),
        (status = 404, description = "No such directive", body = ErrorDetail),
        (status = 409, description = "The name is taken", body = ErrorDetail),
        (status = 413, description = "Body too large", body = ErrorDetail),
        (status = 415, description = "Not a JSON body", body = ErrorDetail),
    )
)]
pub async fn replace(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
    ApiJson(new): ApiJson<NewDirective>,
) -> Result<Json<Directive>, ApiError> {
    Ok(Json(state.cb.replace_directive(id, new).await?))
}

/// Delete a directive. Built-in directives cannot be deleted (deactivate them instead); runs
/// keep their snapshots.
#[utoipa::path(
    delete,
    path = "/api/directives/{id}/",
    tag = "directives",
    operation_id = "delete_directive",
    params(("id" = i64, Path, description = "Directive id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such directive", body = ErrorDetail),
        (status = 409, description = "A built-in directive", body = ErrorDetail),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> Result<StatusCode, ApiError> {
    state.cb.delete_directive(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
