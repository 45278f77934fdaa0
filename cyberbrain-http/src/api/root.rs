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
        (status = 200, description = "The database works", body = HealthReport),
        (status = 503, description = "The database does not work", body = HealthReport),
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

// The OpenAPI description of core's `Health`, which carries no schema derive of its own; a test
// below keeps the two in step.

/// Component states and what to do about them.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documentation only: the handler serializes core's `Health`
pub struct HealthReport {
    /// `ok` when the database works, else `degraded`.
    status: String,
    /// Server version.
    version: String,
    database: ComponentReport,
    llm: ComponentReport,
    embedder: ComponentReport,
    /// The container engine.
    engine: ComponentReport,
}

/// One component's state.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documentation only
pub struct ComponentReport {
    state: ComponentStateName,
    /// What works, or what is wrong and how to fix it.
    detail: String,
}

#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documentation only
#[schema(rename_all = "snake_case")]
pub enum ComponentStateName {
    Ok,
    Unavailable,
    NotConfigured,
}

#[cfg(test)]
mod tests {
    use cyberbrain_core::engine::ComponentHealth;
    use utoipa::PartialSchema;

    use super::*;

    fn property_names(
        schema: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
    ) -> Vec<String> {
        let json = serde_json::to_value(schema).unwrap();
        let mut names: Vec<String> = json["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }

    #[test]
    fn documented_health_matches_what_is_served() {
        let health = Health {
            status: "ok",
            version: "0",
            database: ComponentHealth::ok("x"),
            llm: ComponentHealth::unavailable("x"),
            embedder: ComponentHealth::not_configured("x"),
            engine: ComponentHealth::ok("x"),
        };
        let served = serde_json::to_value(&health).unwrap();
        let mut served_keys: Vec<String> = served.as_object().unwrap().keys().cloned().collect();
        served_keys.sort();
        assert_eq!(property_names(HealthReport::schema()), served_keys);

        let mut component_keys: Vec<String> = served["database"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        component_keys.sort();
        assert_eq!(property_names(ComponentReport::schema()), component_keys);

        let states = serde_json::to_value(ComponentStateName::schema()).unwrap();
        for state in [
            served["database"]["state"].clone(),
            served["llm"]["state"].clone(),
        ] {
            assert!(
                states["enum"].as_array().unwrap().contains(&state),
                "{state}"
            );
        }
        let not_configured = serde_json::to_value(ComponentState::NotConfigured).unwrap();
        assert!(states["enum"].as_array().unwrap().contains(&not_configured));
    }
}
