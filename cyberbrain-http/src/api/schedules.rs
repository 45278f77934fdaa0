//! `/api/schedules/`: recurring and one-shot launches of one task (SPEC §2.6, §3.5, §4), their
//! run-now, enable/disable actions and their history. The engine validates; this module adds
//! the task and directive summaries a client shows next to each schedule.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use cyberbrain_core::Error;
use cyberbrain_core::domain::{DEFAULT_DIRECTIVE_NAME, DirectiveType, Schedule, ScheduledRun};
use cyberbrain_core::engine::ScheduleInput;
use serde::Serialize;
use utoipa::ToSchema;

use super::created;
use super::json::ApiJson;
use super::pagination::{PageQuery, Paginated, Pagination};
use super::path::ResourceId;
use crate::error::{ApiError, ErrorDetail, ValidationErrors};
use crate::state::AppState;

/// A schedule with the summaries of what it launches.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleView {
    #[serde(flatten)]
    pub schedule: Schedule,
    /// The task it launches; null only if the task definition no longer exists.
    pub task: Option<TaskSummary>,
    /// The same summary under the build plan's name for a task.
    pub job: Option<TaskSummary>,
    /// The directive its runs get; null only if a stored directive no longer exists.
    pub directive: Option<DirectiveSummary>,
}

/// Which task a schedule launches.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskSummary {
    pub id: i64,
    pub task_key: String,
    pub name: String,
}

/// Which directive a schedule's runs get: a stored one by id, the schedule's own custom text
/// (`{"custom": true}`, runs as D1), or, when neither is set, the directive named `default`
/// (`{"default": true, "name": "default"}`), resolved when each run launches.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum DirectiveSummary {
    Stored {
        id: i64,
        name: String,
        directive_type: DirectiveType,
    },
    Custom {
        /// Always true.
        custom: bool,
    },
    Default {
        /// Always true.
        default: bool,
        /// Always `default`.
        name: String,
    },
}

/// `POST /api/schedules/{id}/run-now`: what was launched.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunNowResult {
    pub run_id: i64,
    pub scheduled_run_id: i64,
}

/// `GET /api/schedules/{id}/history`: one page of fired slots, newest first, with the total.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleHistory {
    pub items: Vec<ScheduledRun>,
    /// Slots in the whole history.
    pub count: u64,
}

/// Looks up task and directive summaries once per request, however many schedules share them.
#[derive(Default)]
struct Summaries {
    tasks: HashMap<String, Option<TaskSummary>>,
    directives: HashMap<i64, Option<DirectiveSummary>>,
}

impl Summaries {
    async fn view(
        &mut self,
        state: &AppState,
        schedule: Schedule,
    ) -> Result<ScheduleView, ApiError> {
        let task = match self.tasks.get(&schedule.task_key) {
            Some(task) => task.clone(),
            None => {
                let task = match state.cb.get_task_by_key(&schedule.task_key).await {
                    Ok(task) => Some(TaskSummary {
                        id: task.id,
                        task_key: task.task_key,
                        name: task.name,
                    }),
                    Err(Error::NotFound { .. }) => None,
                    Err(other) => return Err(other.into()),
                };
                self.tasks.insert(schedule.task_key.clone(), task.clone());
                task
            }
        };
        let directive = match (&schedule.custom_directive_text, schedule.directive_id) {
            (Some(_), _) => Some(DirectiveSummary::Custom { custom: true }),
            (None, Some(id)) => match self.directives.get(&id) {
                Some(directive) => directive.clone(),
                None => {
                    let directive = match state.cb.get_directive(id).await {
                        Ok(directive) => Some(DirectiveSummary::Stored {
                            id: directive.id,
                            name: directive.name,
                            directive_type: directive.directive_type,
                        }),
                        Err(Error::NotFound { .. }) => None,
                        Err(other) => return Err(other.into()),
                    };
                    self.directives.insert(id, directive.clone());
                    directive
                }
            },
            (None, None) => Some(DirectiveSummary::Default {
                default: true,
                name: DEFAULT_DIRECTIVE_NAME.to_string(),
            }),
        };
        Ok(ScheduleView {
            schedule,
            job: task.clone(),
            task,
            directive,
        })
    }
}

async fn view(state: &AppState, schedule: Schedule) -> Result<ScheduleView, ApiError> {
    Summaries::default().view(state, schedule).await
}

/// List schedules, ordered by id.
#[utoipa::path(
    get,
    path = "/api/schedules/",
    tag = "schedules",
    operation_id = "list_schedules",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of schedules", body = Paginated<ScheduleView>),
        (status = 400, description = "Bad page parameters", body = ValidationErrors),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    pagination: Pagination,
) -> Result<Json<Paginated<ScheduleView>>, ApiError> {
    let page = state.cb.list_schedules(pagination.request()).await?;
    let mut summaries = Summaries::default();
    let mut views = Vec::with_capacity(page.items.len());
    for schedule in page.items {
        views.push(summaries.view(&state, schedule).await?);
    }
    Ok(Json(pagination.respond(cyberbrain_core::domain::Page {
        count: page.count,
        items: views,
    })))
}

/// Create a schedule. Required: `name`, the task (`task_key`, `job_key`, `task_id` or
/// `job_id`), `schedule_type` and its timing field (`interval_minutes` ≥ 1, a 5- or 6-field
/// `cron_expr`, or a future `run_at`). No directive means the `default` directive.
#[utoipa::path(
    post,
    path = "/api/schedules/",
    tag = "schedules",
    operation_id = "create_schedule",
    request_body = ScheduleInput,
    responses(
        (status = 201, description = "Created", body = ScheduleView),
        (status = 400, description = "Invalid input; nothing was saved", body = ValidationErrors),
        (status = 409, description = "The name is taken", body = ErrorDetail),
        (status = 413, description = "Body too large", body = ErrorDetail),
        (status = 415, description = "Not a JSON body", body = ErrorDetail),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<ScheduleInput>,
) -> Result<impl IntoResponse, ApiError> {
    let schedule = state.cb.create_schedule(input).await?;
    let location = format!("/api/schedules/{}/", schedule.id);
    Ok(created(location, view(&state, schedule).await?))
}

/// Get one schedule.
#[utoipa::path(
    get,
    path = "/api/schedules/{id}/",
    tag = "schedules",
    operation_id = "get_schedule",
    params(("id" = i64, Path, description = "Schedule id")),
    responses(
        (status = 200, description = "The schedule", body = ScheduleView),
        (status = 404, description = "No such schedule", body = ErrorDetail),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> Result<Json<ScheduleView>, ApiError> {
    let schedule = state.cb.get_schedule(id).await?;
    Ok(Json(view(&state, schedule).await?))
}

/// Change some fields (`null` clears a nullable one). `next_run_at` is recomputed only when a
/// timing field changes or the schedule is turned back on.
#[utoipa::path(
    patch,
    path = "/api/schedules/{id}/",
    tag = "schedules",
    operation_id = "update_schedule",
    params(("id" = i64, Path, description = "Schedule id")),
    request_body = ScheduleInput,
    responses(
        (status = 200, description = "The updated schedule", body = ScheduleView),
        (status = 400, description = "Invalid input; nothing was saved", body = ValidationErrors),
        (status = 404, description = "No such schedule", body = ErrorDetail),
        (status = 409, description = "The name is taken", body = ErrorDetail),
        (status = 413, description = "Body too large", body = ErrorDetail),
        (status = 415, description = "Not a JSON body", body = ErrorDetail),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
    ApiJson(input): ApiJson<ScheduleInput>,
) -> Result<Json<ScheduleView>, ApiError> {
    let schedule = state.cb.update_schedule(id, input).await?;
    Ok(Json(view(&state, schedule).await?))
}

/// Replace the whole schedule, validated like a create; absent optional fields take their
/// defaults.
#[utoipa::path(
    put,
    path = "/api/schedules/{id}/",
    tag = "schedules",
    operation_id = "replace_schedule",
    params(("id" = i64, Path, description = "Schedule id")),
    request_body = ScheduleInput,
    responses(
        (status = 200, description = "The replaced schedule", body = ScheduleView),
        (status = 400, description = "Invalid input; nothing was saved", body = ValidationErrors),
        (status = 404, description = "No such schedule", body = ErrorDetail),
        (status = 409, description = "The name is taken", body = ErrorDetail),
        (status = 413, description = "Body too large", body = ErrorDetail),
        (status = 415, description = "Not a JSON body", body = ErrorDetail),
    )
)]
pub async fn replace(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
    ApiJson(input): ApiJson<ScheduleInput>,
) -> Result<Json<ScheduleView>, ApiError> {
    let schedule = state.cb.replace_schedule(id, input).await?;
    Ok(Json(view(&state, schedule).await?))
}

/// Delete a schedule. The runs it launched stay.
#[utoipa::path(
    delete,
    path = "/api/schedules/{id}/",
    tag = "schedules",
    operation_id = "delete_schedule",
    params(("id" = i64, Path, description = "Schedule id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such schedule", body = ErrorDetail),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> Result<StatusCode, ApiError> {
    state.cb.delete_schedule(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Launch the schedule's task now (enabled or not) through the same path as a manual launch,
/// and record the slot in its history. Approval is respected; the timing is not touched.
#[utoipa::path(
    post,
    path = "/api/schedules/{id}/run-now",
    tag = "schedules",
    operation_id = "run_schedule_now",
    params(("id" = i64, Path, description = "Schedule id")),
    responses(
        (status = 201, description = "Launched", body = RunNowResult),
        (status = 400, description = "The schedule cannot launch as it stands", body = ValidationErrors),
        (status = 404, description = "No such schedule", body = ErrorDetail),
    )
)]
pub async fn run_now(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> Result<impl IntoResponse, ApiError> {
    let (run, scheduled_run) = state.cb.run_schedule_now(id).await?;
    Ok(created(
        format!("/api/runs/{}/", run.id),
        RunNowResult {
            run_id: run.id,
            scheduled_run_id: scheduled_run.id,
        },
    ))
}

/// Turn a schedule on; it next fires at its first slot after now.
#[utoipa::path(
    post,
    path = "/api/schedules/{id}/enable",
    tag = "schedules",
    operation_id = "enable_schedule",
    params(("id" = i64, Path, description = "Schedule id")),
    responses(
        (status = 200, description = "The enabled schedule", body = ScheduleView),
        (status = 404, description = "No such schedule", body = ErrorDetail),
    )
)]
pub async fn enable(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> Result<Json<ScheduleView>, ApiError> {
    let schedule = state.cb.set_schedule_enabled(id, true).await?;
    Ok(Json(view(&state, schedule).await?))
}

/// Turn a schedule off; it fires no more until enabled (run-now still works).
#[utoipa::path(
    post,
    path = "/api/schedules/{id}/disable",
    tag = "schedules",
    operation_id = "disable_schedule",
    params(("id" = i64, Path, description = "Schedule id")),
    responses(
        (status = 200, description = "The disabled schedule", body = ScheduleView),
        (status = 404, description = "No such schedule", body = ErrorDetail),
    )
)]
pub async fn disable(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
) -> Result<Json<ScheduleView>, ApiError> {
    let schedule = state.cb.set_schedule_enabled(id, false).await?;
    Ok(Json(view(&state, schedule).await?))
}

/// The schedule's fired slots, newest first: pending → started → finished | failed, with times
/// and a short error summary.
#[utoipa::path(
    get,
    path = "/api/schedules/{id}/history",
    tag = "schedules",
    operation_id = "get_schedule_history",
    params(("id" = i64, Path, description = "Schedule id"), PageQuery),
    responses(
        (status = 200, description = "One page of the history", body = ScheduleHistory),
        (status = 400, description = "Bad page parameters", body = ValidationErrors),
        (status = 404, description = "No such schedule", body = ErrorDetail),
    )
)]
pub async fn history(
    State(state): State<AppState>,
    ResourceId(id): ResourceId,
    pagination: Pagination,
) -> Result<Json<ScheduleHistory>, ApiError> {
    // The history of a schedule that does not exist is not an empty list.
    state.cb.get_schedule(id).await?;
    let page = state.cb.schedule_history(id, pagination.request()).await?;
    Ok(Json(ScheduleHistory {
        items: page.items,
        count: page.count,
    }))
}
