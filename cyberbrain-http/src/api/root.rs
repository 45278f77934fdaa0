//! `GET /api/` (where everything is) and `GET /api/health` (what works).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cyberbrain_core::engine::{ComponentState, Health};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// Links to every collection and to the API's own documentation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiIndex {
    pub directives: &'static str,
    pub tasks: &'static str,
    /// The task collection under its build-plan name.
    pub jobs: &'static str,
    pub containers: &'static str,
    pub runs: &'static str,
    /// `POST` here to launch a run.
    pub launch: &'static str,
    pub approvals: &'static str,
    pub schedules: &'static str,
    pub artifacts: &'static str,
    pub container_inventory: &'static str,
    pub network_policies: &'static str,
    pub token_stats: &'static str,
    pub cost_report: &'static str,
    pub usage_by_directive: &'static str,
    pub since_last_success: &'static str,
    /// `POST` a multipart `file` here to add it to the knowledge base.
    pub rag_upload: &'static str,
    pub rag_uploads: &'static str,
    pub rag_documents: &'static str,
    /// `POST` a query here.
    pub rag_search: &'static str,
    /// Prometheus text format.
    pub metrics: &'static str,
    pub metrics_json: &'static str,
    pub health: &'static str,
    pub schema: &'static str,
    pub docs: &'static str,
    /// The MCP endpoint (Streamable HTTP).
    pub mcp: &'static str,
}

const INDEX: ApiIndex = ApiIndex {
    directives: "/api/directives/",
    tasks: "/api/tasks/",
    jobs: "/api/jobs/",
    containers: "/api/containers/",
    runs: "/api/runs/",
    launch: "/api/runs/launch/",
    approvals: "/api/approvals/",
    schedules: "/api/schedules/",
    artifacts: "/api/artifacts/",
    container_inventory: "/api/container-inventory/",
    network_policies: "/api/network-policies/",
    token_stats: "/api/token-stats/",
    cost_report: "/api/cost-report/",
    usage_by_directive: "/api/usage-by-directive/",
    since_last_success: "/api/runs/since-last-success/",
    rag_upload: "/api/rag/upload",
    rag_uploads: "/api/rag/uploads",
    rag_documents: "/api/rag/documents",
    rag_search: "/api/rag/search",
    metrics: "/metrics",
    metrics_json: "/metrics/json/",
    health: "/api/health",
    schema: "/api/schema/",
    docs: "/api/docs/",
    mcp: "/mcp",
};

/// Links to every collection.
#[utoipa::path(
    get,
    path = "/api/",
    tag = "meta",
    operation_id = "api_index",
    responses((status = 200, description = "Links to every collection", body = ApiIndex))
)]
pub async fn index() -> Json<ApiIndex> {
    Json(INDEX)
}

/// The state of every component. 200 while the database works (optional components only
/// degrade the steps that need them), 503 when it does not.
#[utoipa::path(
    get,
    path = "/api/health",
    tag = "meta",
    operation_id = "health",
    responses(
        (status = 200, description = "The database works", body = Health),
        (status = 503, description = "The database does not work", body = Health),
    )
)]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let health = state.cb.health().await;
    let status = if health.database.state == ComponentState::Ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health))
}
