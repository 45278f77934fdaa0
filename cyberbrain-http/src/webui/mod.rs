//! The server-rendered web UI: dashboard, directives, tasks and the container allowlist.
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
mod page;
mod tasks;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

/// Every web UI route; the host merges these into its router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard::show))
        .route("/webui", get(dashboard::show))
        .route("/webui/", get(dashboard::show))
        .route("/webui/static/app.css", get(assets::stylesheet))
        .route("/webui/static/app.js", get(assets::script))
        .route(
            "/webui/directives",
            get(directives::list).post(directives::create),
        )
        .route(
            "/webui/directives/",
            get(directives::list).post(directives::create),
        )
        .route("/webui/directives/new", get(directives::new_form))
        .route(
            "/webui/directives/{id}",
            get(directives::edit_form).post(directives::update),
        )
        .route("/webui/directives/{id}/toggle", post(directives::toggle))
        .route("/webui/directives/{id}/delete", post(directives::delete))
        .route("/webui/tasks", get(tasks::list))
        .route("/webui/tasks/", get(tasks::list))
        .route(
            "/webui/tasks/{id}",
            get(tasks::edit_form).post(tasks::update),
        )
        .route("/webui/tasks/{id}/toggle", post(tasks::toggle))
        .route(
            "/webui/allowlist",
            get(allowlist::list).post(allowlist::create),
        )
        .route(
            "/webui/allowlist/",
            get(allowlist::list).post(allowlist::create),
        )
        .route(
            "/webui/allowlist/{id}",
            get(allowlist::edit_form).post(allowlist::update),
        )
        .route("/webui/allowlist/{id}/toggle", post(allowlist::toggle))
        .route("/webui/allowlist/{id}/delete", post(allowlist::delete))
}
