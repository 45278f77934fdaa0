//! The REST API under `/api/` (SPEC §4). Handlers parse input with the extractors in this
//! module, call one engine method, and render; errors go through [`ApiError`].

pub mod accounting;
pub mod artifacts;
pub mod containers;
pub mod directives;
pub mod json;
pub mod metrics;
pub mod pagination;
pub mod path;
pub mod query;
pub mod rag;
pub mod root;
pub mod runs;
pub mod schedules;
pub mod tasks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::error::ApiError;
use crate::state::AppState;

/// Every REST route, each reachable with and without its trailing slash.
pub(crate) fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for (path, methods) in [
        ("/api/", get(root::index)),
        ("/api/health", get(root::health)),
        ("/api/schema/", get(crate::openapi::schema)),
        (
            "/api/directives/",
            get(directives::list).post(directives::create),
        ),
        (
            "/api/directives/{id}/",
            get(directives::get)
                .patch(directives::update)
                .put(directives::replace)
                .delete(directives::delete),
        ),
        ("/api/tasks/", get(tasks::list).post(tasks::create)),
        (
            "/api/tasks/{id}/",
            get(tasks::get).patch(tasks::update).delete(tasks::delete),
        ),
        ("/api/jobs/", get(tasks::list_jobs)),
        ("/api/jobs/{id}/", get(tasks::get_job)),
        (
            "/api/containers/",
            get(containers::list).post(containers::create),
        ),
        (
            "/api/containers/{id}/",
            get(containers::get)
                .patch(containers::update)
                .delete(containers::delete),
        ),
        ("/api/runs/launch/", post(runs::launch)),
        ("/api/runs/", get(runs::list)),
        // A static segment outranks `{id}` whatever the order; listed first for the reader.
        (
            "/api/runs/since-last-success/",
            get(runs::since_last_success),
        ),
        ("/api/runs/{id}/", get(runs::get)),
        ("/api/runs/{id}/jobs/", get(runs::jobs)),
        ("/api/runs/{id}/report/", get(runs::report)),
        ("/api/runs/{id}/artifacts/", get(runs::artifacts)),
        ("/api/runs/{id}/cancel/", post(runs::cancel)),
        ("/api/runs/{id}/approve/", post(runs::approve)),
        ("/api/runs/{id}/deny/", post(runs::deny)),
        ("/api/approvals/", get(runs::approvals)),
        (
            "/api/schedules/",
            get(schedules::list).post(schedules::create),
        ),
        (
            "/api/schedules/{id}/",
            get(schedules::get)
                .patch(schedules::update)
                .put(schedules::replace)
                .delete(schedules::delete),
        ),
        ("/api/schedules/{id}/run-now", post(schedules::run_now)),
        ("/api/schedules/{id}/enable", post(schedules::enable)),
        ("/api/schedules/{id}/disable", post(schedules::disable)),
        ("/api/schedules/{id}/history", get(schedules::history)),
        ("/api/artifacts/", get(artifacts::list)),
        ("/api/artifacts/{id}/", get(artifacts::get)),
        ("/api/artifacts/{id}/download/", get(artifacts::download)),
        (
            "/api/container-inventory/",
            get(accounting::container_inventory),
        ),
        ("/api/network-policies/", get(accounting::network_policies)),
        ("/api/token-stats/", get(accounting::token_stats)),
        ("/api/cost-report/", get(accounting::cost_report)),
        (
            "/api/usage-by-directive/",
            get(accounting::usage_by_directive),
        ),
        // The upload route sets its own body limit (rag.max_upload_bytes plus the multipart
        // framing) instead of server.max_body_bytes; see `rag::receive_upload`.
        (
            "/api/rag/upload",
            post(rag::upload).layer(DefaultBodyLimit::disable()),
        ),
        ("/api/rag/uploads", get(rag::list_uploads)),
        (
            "/api/rag/uploads/{id}",
            get(rag::get_upload).delete(rag::delete_upload),
        ),
        ("/api/rag/uploads/{id}/retry", post(rag::retry_upload)),
        ("/api/rag/documents", get(rag::list_documents)),
        ("/api/rag/search", post(rag::search)),
        ("/metrics", get(metrics::prometheus)),
        ("/metrics/json/", get(metrics::json)),
    ] {
        router = crate::routing::with_and_without_slash(router, path, methods);
    }
    router
        .merge(crate::docs::routes())
        .method_not_allowed_fallback(method_not_allowed)
}

/// 201 with the new object and a `Location` header naming it.
pub(crate) fn created<T: serde::Serialize>(location: String, body: T) -> Response {
    let mut response = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// 405 with a JSON body; axum adds the `Allow` header listing the methods that do exist.
async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::detail(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "method {method} is not allowed on {}; the Allow header lists those that are",
            uri.path()
        ),
    )
}

/// Unknown paths: JSON under `/api`, a short HTML page elsewhere (the web UI's space).
pub(crate) async fn not_found(uri: Uri) -> Response {
    let path = uri.path();
    if path == "/api" || path.starts_with("/api/") {
        return ApiError::not_found(format!(
            "no API endpoint at {path}; GET /api/ lists the collections and /api/docs/ documents them"
        ))
        .into_response();
    }
    let mut response = (
        StatusCode::NOT_FOUND,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not found · Cyberbrain</title></head>\
         <body><h1>Not found</h1><p>There is no page at this address. \
         <a href=\"/\">Back to the dashboard</a></p></body></html>",
    )
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}
