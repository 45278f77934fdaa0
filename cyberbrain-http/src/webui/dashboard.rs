//! The dashboard: launch buttons, the latest runs, catalogue counts and component health at a
//! glance.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use cyberbrain_core::domain::{MAX_PAGE_SIZE, Page, PageRequest, RunQuery};
use cyberbrain_core::engine::{ComponentHealth, ComponentState};
use cyberbrain_core::{Cyberbrain, Result};

use super::page::{Flash, Layout, render, screen};
use super::runs::{RunRow, TaskChoice, active_tasks, rows};
use crate::state::AppState;

/// Pages read at most when counting; catalogues are small, this only bounds a pathological one.
const MAX_COUNT_PAGES: u32 = 100;

/// Runs the dashboard lists.
const RECENT_RUNS: u32 = 5;

#[derive(Debug, Template)]
#[template(path = "dashboard.html")]
pub(crate) struct DashboardPage {
    layout: Layout,
    /// One launch button each; `None` when the catalogue cannot be read.
    launch_tasks: Option<Vec<TaskChoice>>,
    recent_runs: Option<Vec<RunRow>>,
    pending_approvals: Option<u64>,
    directives: Option<Tally>,
    tasks: Option<Tally>,
    allowlist: Option<Tally>,
    health_ok: bool,
    health_status: &'static str,
    components: Vec<ComponentRow>,
}

screen!(DashboardPage);

/// How many rows are active (or enabled) out of how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Tally {
    pub active: u64,
    pub total: u64,
}

#[derive(Debug)]
struct ComponentRow {
    name: &'static str,
    state: &'static str,
    class: &'static str,
    detail: String,
}

impl ComponentRow {
    fn new(name: &'static str, health: ComponentHealth) -> Self {
        let (state, class) = match health.state {
            ComponentState::Ok => ("ok", "on"),
            ComponentState::Unavailable => ("unavailable", "bad"),
            ComponentState::NotConfigured => ("not configured", "off"),
        };
        Self {
            name,
            state,
            class,
            detail: health.detail,
        }
    }
}

/// `GET /` and `GET /webui/`. A failing count shows as unavailable rather than failing the
/// page: the dashboard is where an operator looks when something is broken.
pub(crate) async fn show(State(state): State<AppState>, flash: Flash) -> Response {
    let cb = &state.cb;
    let directives = tally(cb, |cb, page| async move {
        Ok(cb.list_directives(page).await?.map(|d| d.is_active))
    })
    .await;
    let tasks = tally(cb, |cb, page| async move {
        Ok(cb.list_tasks(page).await?.map(|t| t.is_active))
    })
    .await;
    let allowlist = tally(cb, |cb, page| async move {
        Ok(cb.list_allowlist(page).await?.map(|e| e.enabled))
    })
    .await;
    let health = cb.health().await;
    let launch_tasks = logged(active_tasks(cb).await);
    let recent_runs = match cb
        .list_runs(RunQuery::new(PageRequest::first(RECENT_RUNS)))
        .await
    {
        Ok(page) => logged(rows(cb, &page.items).await),
        Err(error) => logged(Err(error)),
    };
    let pending_approvals = logged(
        cb.pending_approvals(PageRequest::first(1))
            .await
            .map(|page| page.count),
    );
    let page = DashboardPage {
        layout: Layout::new("Dashboard", "dashboard", flash),
        launch_tasks,
        recent_runs,
        pending_approvals,
        directives,
        tasks,
        allowlist,
        health_ok: health.status == "ok",
        health_status: health.status,
        components: vec![
            ComponentRow::new("Database", health.database),
            ComponentRow::new("LLM", health.llm),
            ComponentRow::new("Embedder", health.embedder),
            ComponentRow::new("Container engine", health.engine),
        ],
    };
    render(StatusCode::OK, &page)
}

/// The value, or `None` with the failure logged: one broken panel must not hide the others.
fn logged<T>(result: Result<T>) -> Option<T> {
    result
        .inspect_err(|error| tracing::warn!(%error, "a dashboard panel could not be read"))
        .ok()
}

/// Counts the active rows of a collection by reading it page by page; `None` when the store
/// fails (logged).
async fn tally<F, Fut>(cb: &Cyberbrain, list: F) -> Option<Tally>
where
    F: Fn(Cyberbrain, PageRequest) -> Fut,
    Fut: Future<Output = Result<Page<bool>>>,
{
    let mut tally = Tally::default();
    let mut request = PageRequest::first(MAX_PAGE_SIZE);
    for _ in 0..MAX_COUNT_PAGES {
        let page = match list(cb.clone(), request).await {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(%error, "dashboard count failed");
                return None;
            }
        };
        tally.total = page.count;
        tally.active += page.items.iter().filter(|active| **active).count() as u64;
        if !page.has_next(request) {
            break;
        }
        request = request.with_page(request.page + 1);
    }
    Some(tally)
}
