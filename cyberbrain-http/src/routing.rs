//! Route registration shared by the REST API and the web UI.

use axum::Router;
use axum::routing::MethodRouter;

use crate::state::AppState;

/// Registers `methods` at `path` both with and without a trailing slash: SPEC §4 wants both
/// spellings to work, and a redirect would turn a POST into a GET in many clients.
pub(crate) fn with_and_without_slash(
    router: Router<AppState>,
    path: &str,
    methods: MethodRouter<AppState>,
) -> Router<AppState> {
    let bare = path.trim_end_matches('/');
    router
        .route(bare, methods.clone())
        .route(&format!("{bare}/"), methods)
}
