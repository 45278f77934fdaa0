//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations and the
//! domain types' schemas, served at `GET /api/schema/` (JSON, or YAML with `?format=yaml`).

use std::sync::OnceLock;

use axum::extract::RawQuery;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use url::form_urlencoded;
use utoipa::{IntoParams, OpenApi};

use crate::api::{
    accounting, artifacts, containers, directives, metrics, rag, root, runs, schedules, tasks,
};
use crate::error::{ApiError, ErrorDetail, ValidationErrors};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cyberbrain API",
        description = "REST API of Cyberbrain, a local-first operations assistant. Every path \
                       works with and without its trailing slash. Collections are paginated \
                       with `?page=` and `?page_size=` (at most 200). Validation errors are \
                       `400 {\"field\": [\"message\"]}`; other errors are `{\"detail\": \"…\"}`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        root::index,
        root::health,
        schema,
        directives::list,
        directives::create,
        directives::get,
        directives::update,
        directives::replace,
        directives::delete,
        tasks::list,
        tasks::create,
        tasks::get,
        tasks::update,
        tasks::delete,
        tasks::list_jobs,
        tasks::get_job,
        containers::list,
        containers::create,
        containers::get,
        containers::update,
        containers::delete,
        accounting::container_inventory,
        accounting::network_policies,
        runs::launch,
        runs::list,
        runs::since_last_success,
        runs::get,
        runs::jobs,
        runs::report,
        runs::artifacts,
        runs::cancel,
        runs::approve,
        runs::deny,
        runs::approvals,
        schedules::list,
        schedules::create,
        schedules::get,
        schedules::update,
        schedules::replace,
        schedules::delete,
        schedules::run_now,
        schedules::enable,
        schedules::disable,
        schedules::history,
        rag::upload,
        rag::list_uploads,
        rag::get_upload,
        rag::delete_upload,
        rag::retry_upload,
        rag::list_documents,
        rag::search,
        artifacts::list,
        artifacts::get,
        artifacts::download,
        accounting::token_stats,
        accounting::cost_report,
        accounting::usage_by_directive,
        metrics::prometheus,
        metrics::json,
    ),
    components(schemas(ErrorDetail, ValidationErrors)),
    tags(
        (name = "meta", description = "Where everything is, component health, this document"),
        (name = "directives", description = "Autonomy levels runs execute under (D1–D4)"),
        (name = "tasks", description = "Task definitions, also listed as jobs"),
        (name = "containers", description = "The container allowlist, and what service_map runs saw"),
        (name = "runs", description = "Launching runs and reading their jobs, reports and artifacts"),
        (name = "approvals", description = "Runs of directives that require approval"),
        (name = "schedules", description = "Recurring and one-shot launches, run-now and history"),
        (name = "rag", description = "The knowledge base: uploads, their ingestion, documents and search"),
        (name = "artifacts", description = "Report files under the artifacts root"),
        (name = "accounting", description = "Token use and estimated cost (counts only)"),
    )
)]
struct ApiDoc;

/// The OpenAPI document of the REST API.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Query parameters of `GET /api/schema/`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SchemaQuery {
    /// `json` (default) or `yaml`.
    pub format: Option<String>,
}

impl SchemaQuery {
    fn parse(query: Option<&str>) -> Self {
        let format = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .filter(|(key, _)| key == "format")
            .map(|(_, value)| value.into_owned())
            .last();
        Self { format }
    }
}

/// The rendered document, built once: it only changes when the code does.
fn rendered() -> &'static (String, String) {
    static RENDERED: OnceLock<(String, String)> = OnceLock::new();
    RENDERED.get_or_init(|| {
        let document = document();
        let json = document.to_pretty_json().unwrap_or_else(|e| {
            tracing::error!(error = %e, "the OpenAPI document does not serialize to JSON");
            "{}".to_string()
        });
        let yaml = document.to_yaml().unwrap_or_else(|e| {
            tracing::error!(error = %e, "the OpenAPI document does not serialize to YAML");
            "{}\n".to_string()
        });
        (json, yaml)
    })
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/schema/",
    tag = "meta",
    operation_id = "openapi_schema",
    params(SchemaQuery),
    responses(
        (status = 200, description = "The OpenAPI 3.1 document", content(
            (Object = "application/json"),
            (String = "application/yaml"),
        )),
        (status = 400, description = "Unknown format", body = ValidationErrors),
    )
)]
pub async fn schema(RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let (json, yaml) = rendered();
    let (body, content_type) = match SchemaQuery::parse(query.as_deref()).format.as_deref() {
        None | Some("") | Some("json") => (json.clone(), "application/json"),
        Some("yaml") | Some("yml") => (yaml.clone(), "application/yaml"),
        Some(other) => {
            return Err(ApiError::field(
                "format",
                format!("must be json or yaml; got {other:?}"),
            ));
        }
    };
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(response)
}
