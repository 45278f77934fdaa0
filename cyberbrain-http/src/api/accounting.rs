//! Token accounting and what runs observed: `/api/token-stats/`, `/api/cost-report/`,
//! `/api/usage-by-directive/`, `/api/container-inventory/` and `/api/network-policies/`
//! (SPEC §4). Counts only: no prompt or response text exists to be shown (G2).

use axum::Json;
use axum::extract::State;
use cyberbrain_core::domain::{
    DirectiveUsage, InventoryQuery, InventorySnapshot, NetworkPolicyRecommendation, TokenStats,
};
use cyberbrain_core::engine::CostReport;

use super::artifacts::RunFilter;
use super::pagination::{Listing, PageQuery, Paginated, Pagination};
use super::query::QueryParams;
use crate::error::{ApiError, ErrorDetail, ValidationErrors};
use crate::state::AppState;

/// Token totals over every recorded LLM call.
#[utoipa::path(
    get,
    path = "/api/token-stats/",
    tag = "accounting",
    operation_id = "token_stats",
    responses((status = 200, description = "Token totals", body = TokenStats))
)]
pub async fn token_stats(State(state): State<AppState>) -> Result<Json<TokenStats>, ApiError> {
    Ok(Json(state.cb.token_stats().await?))
}

/// Estimated cost per model from the per-1000-token rates in `llm.rates` (prompt and completion
/// priced separately; models without a rate count as 0).
#[utoipa::path(
    get,
    path = "/api/cost-report/",
    tag = "accounting",
    operation_id = "cost_report",
    responses((status = 200, description = "Cost per model", body = CostReport))
)]
pub async fn cost_report(State(state): State<AppState>) -> Result<Json<CostReport>, ApiError> {
    Ok(Json(state.cb.cost_report().await?))
}

/// Runs and tokens per directive, by the name and type in the runs' snapshots.
#[utoipa::path(
    get,
    path = "/api/usage-by-directive/",
    tag = "accounting",
    operation_id = "usage_by_directive",
    responses((status = 200, description = "One row per directive", body = Listing<DirectiveUsage>))
)]
pub async fn usage_by_directive(
    State(state): State<AppState>,
) -> Result<Json<Listing<DirectiveUsage>>, ApiError> {
    Ok(Json(Listing::new(state.cb.usage_by_directive().await?)))
}

/// The containers a `service_map` run saw: the run named by `?run=`, else the latest run that
/// took an inventory.
#[utoipa::path(
    get,
    path = "/api/container-inventory/",
    tag = "containers",
    operation_id = "container_inventory",
    params(PageQuery, RunFilter),
    responses(
        (status = 200, description = "A page of inventory snapshots", body = Paginated<InventorySnapshot>),
        (status = 400, description = "Bad page parameters or run filter", body = ValidationErrors),
        (status = 404, description = "The run filter names no run", body = ErrorDetail),
    )
)]
pub async fn container_inventory(
    State(state): State<AppState>,
    pagination: Pagination,
    params: QueryParams,
) -> Result<Json<Paginated<InventorySnapshot>>, ApiError> {
    let query = InventoryQuery {
        run_id: RunFilter::read(&params)?,
        page: pagination.request(),
    };
    let page = state.cb.container_inventory(query).await?;
    Ok(Json(pagination.respond(page)))
}

/// Network-policy recommendations (`service_map` under a D2+ directive), each with its
/// Kubernetes `NetworkPolicy` YAML.
#[utoipa::path(
    get,
    path = "/api/network-policies/",
    tag = "containers",
    operation_id = "network_policies",
    params(PageQuery, RunFilter),
    responses(
        (status = 200, description = "A page of recommendations", body = Paginated<NetworkPolicyRecommendation>),
        (status = 400, description = "Bad page parameters or run filter", body = ValidationErrors),
        (status = 404, description = "The run filter names no run", body = ErrorDetail),
    )
)]
pub async fn network_policies(
    State(state): State<AppState>,
    pagination: Pagination,
    params: QueryParams,
) -> Result<Json<Paginated<NetworkPolicyRecommendation>>, ApiError> {
    let run = RunFilter::read(&params)?;
    let page = state.cb.network_policies(run, pagination.request()).await?;
    Ok(Json(pagination.respond(page)))
}
