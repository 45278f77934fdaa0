//! The server-rendered web UI: dashboard (with launch buttons), runs, approvals, directives,
//! tasks, schedules, the container allowlist and the knowledge base.
//!
//! Pages are askama templates (`cyberbrain-http/templates/`, HTML auto-escaping on) rendered from
//! the same engine calls the REST API uses, so both surfaces apply the same rules. Forms post
//! `application/x-www-form-urlencoded`; a success answers 303 with a one-shot flash message
//! (Post/Redirect/Get), a rejected form comes back with status 400 or 409, the messages beside
//! the fields and the input kept.

mod allowlist;
mod assets;
mod dashboard;
mod directives;
mod form;
mod markdown;
mod page;
mod rag;
mod runs;
mod schedules;
mod tasks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::state::AppState;

/// Every web UI route, each reachable with and without its trailing slash; the host merges
/// these into its router.
pub fn routes() -> Router<AppState> {
    let mut router = Router::new().route("/", get(dashboard::show));
    for (path, methods) in [
        ("/webui/", get(dashboard::show)),
        ("/webui/static/app.css", get(assets::stylesheet)),
        ("/webui/static/app.js", get(assets::script)),
        ("/webui/runs/", get(runs::list)),
        ("/webui/runs/launch/", post(runs::launch)),
        ("/webui/runs/{id}/", get(runs::detail)),
        ("/webui/runs/{id}/cancel/", post(runs::cancel)),
        ("/webui/runs/{id}/approve/", post(runs::approve)),
        ("/webui/runs/{id}/deny/", post(runs::deny)),
        ("/webui/approvals/", get(runs::approvals)),
        (
            "/webui/schedules/",
            get(schedules::list).post(schedules::create),
        ),
        ("/webui/schedules/{id}/", get(schedules::detail)),
        (
            "/webui/schedules/{id}/edit/",
            get(schedules::edit_form).post(schedules::update),
        ),
        ("/webui/schedules/{id}/toggle/", post(schedules::toggle)),
        ("/webui/schedules/{id}/run/", post(schedules::run_now)),
        ("/webui/schedules/{id}/delete/", post(schedules::delete)),
        (
            "/webui/directives/",
            get(directives::list).post(directives::create),
        ),
        ("/webui/directives/new/", get(directives::new_form)),
        (
            "/webui/directives/{id}/",
            get(directives::edit_form).post(directives::update),
        ),
        ("/webui/directives/{id}/toggle/", post(directives::toggle)),
        ("/webui/directives/{id}/delete/", post(directives::delete)),
        ("/webui/tasks/", get(tasks::list)),
        (
            "/webui/tasks/{id}/",
            get(tasks::edit_form).post(tasks::update),
        ),
        ("/webui/tasks/{id}/toggle/", post(tasks::toggle)),
        (
            "/webui/allowlist/",
            get(allowlist::list).post(allowlist::create),
        ),
        (
            "/webui/allowlist/{id}/",
            get(allowlist::edit_form).post(allowlist::update),
        ),
        ("/webui/allowlist/{id}/toggle/", post(allowlist::toggle)),
        ("/webui/allowlist/{id}/delete/", post(allowlist::delete)),
        ("/webui/rag/", get(rag::uploads)),
        // The upload sets its own body limit (rag.max_upload_bytes plus the multipart framing).
        (
            "/webui/rag/upload/",
            post(rag::upload).layer(DefaultBodyLimit::disable()),
        ),
        ("/webui/rag/uploads/{id}/retry/", post(rag::retry)),
        ("/webui/rag/uploads/{id}/delete/", post(rag::delete)),
        (
            "/webui/rag/search/",
            get(rag::search_form).post(rag::search),
        ),
    ] {
        router = crate::routing::with_and_without_slash(router, path, methods);
    }
    router
}
