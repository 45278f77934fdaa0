//! `/api/containers/`: the container allowlist (SPEC §2.4, G5). Container operations touch
//! only enabled entries of this list.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use cyberbrain_core::domain::{AllowlistEntry, AllowlistPatch, NewAllowlistEntry};

use super::created;
use super::json::ApiJson;
use super::pagination::{PageQuery, Paginated, Pagination};
use super::path::ResourceId;
use crate::error::{ApiError, ErrorDetail, ValidationErrors};
use crate::state::AppState;

/// List allowlist entries, ordered by id.
#[utoipa::path(
    get,
    path = "/api/containers/",
    tag = "containers",
    operation_id = "list_containers",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of allowlist entries", body = Paginated<AllowlistEntry>),
        (status = 400, description = "Bad page parameters", body = ValidationErrors),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    pagination: Pagination,
) -> Result<Json<Paginated<AllowlistEntry>>, ApiError> {
    let page = state.cb.list_allowlist(pagination.request()).await?;
    Ok(Json(pagination.respond(page)))
}

/// Add a container to the allowlist by full or short id, or by name.
#[utoipa::path(
    post,
    path = "/api/containers/",
    tag = "containers",
    operation_id = "create_container",
    request_body = NewAllowlistEntry,
    responses(
        (status = 201, description = "Created", body = AllowlistEntry),
        (status = 400, description = "Invalid input; nothing was saved", body = ValidationErrors),
        (status = 409, description = "The container is already listed", body = ErrorDetail),
        (status = 413, description = "Body too large", body = ErrorDetail),
        (status = 415, description = "Not a JSON body", body = ErrorDetail),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewAllowlistEntry>,
) -> Result<impl IntoResponse, ApiError> {
    let entry = state.cb.create_allowlist_entry(new).await?;
    Ok(created(format!("/api/containers/{}/", entry.id), entry))
}

/// Get one allowlist entry.
#[utoipa::path(
    get,
    path = "/api/containers/{id}/",
    tag = "containers",
    operation_id = "get_container",
    params(("id" = i64, Path, description = "Allowlist entry id")),
    responses(
        (status = 200, description = "The allowlist entry", body = AllowlistEntry),
        (status = 404, description = "No such entry", body = ErrorDetail),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> Result<Json<AllowlistEntry>, ApiError> {
    Ok(Json(state.cb.get_allowlist_entry(id).await?))
}

/// Change some fields (enable or disable an entry, rename it, retag it).
#[utoipa::path(
    patch,
    path = "/api/containers/{id}/",
    tag = "containers",
    operation_id = "update_container",
    params(("id" = i64, Path, description = "Allowlist entry id")),
    request_body = AllowlistPatch,
    responses(
        (status = 200, description = "The updated entry", body = AllowlistEntry),
        (status = 400, description = "Invalid input; nothing was saved", body = ValidationErrors),
        (status = 404, description = "No such entry", body = ErrorDetail),
        (status = 409, description = "The container is already listed", body = ErrorDetail),
        (status = 413, description = "Body too large", body = ErrorDetail),
        (status = 415, description = "Not a JSON body", body = ErrorDetail),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
    ApiJson(patch): ApiJson<AllowlistPatch>,
) -> Result<Json<AllowlistEntry>, ApiError> {
    Ok(Json(state.cb.update_allowlist_entry(id, patch).await?))
}

/// Remove a container from the allowlist.
#[utoipa::path(
    delete,
    path = "/api/containers/{id}/",
    tag = "containers",
    operation_id = "delete_container",
    params(("id" = i64, Path, description = "Allowlist entry id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such entry", body = ErrorDetail),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> Result<StatusCode, ApiError> {
    state.cb.delete_allowlist_entry(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
