//! Schedule pages: the list with an add form, one schedule's page with its history, and the
//! buttons that enable, disable, run now and delete — each a same-origin form post through the
//! same engine calls the REST API makes, so both surfaces validate alike.

use std::collections::HashMap;

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use cyberbrain_core::domain::{
    MAX_PAGE_SIZE, MisfirePolicy, PageRequest, Schedule, ScheduleType, ScheduledRun,
    ScheduledRunStatus, Task3Scope,
};
use cyberbrain_core::engine::ScheduleInput;
use cyberbrain_core::{Cyberbrain, FieldErrors};

use super::form::{Fields, FormErrors, LIST_PAGE_SIZE, Pager, Rejected, Unreadable, page_request};
use super::page::{
    Back, Flash, Layout, engine_error, not_found, parse_id, redirect_with_notice, render, screen,
};
use super::runs::{TaskChoice, active_tasks};
use crate::state::AppState;

type FormBody = Result<axum::Form<Vec<(String, String)>>, FormRejection>;

const LIST: &str = "/webui/schedules";
const BACK: Back = Back::SCHEDULES;
/// The fields the form draws; `task_key` also takes the engine's messages for the other ways
/// of naming a task.
const SHOWN: &[&str] = &[
    "name",
    "task_key",
    "directive_id",
    "custom_directive_text",
    "schedule_type",
    "interval_minutes",
    "cron_expr",
    "run_at",
    "timezone",
    "task3_scope",
    "use_rag",
    "max_global",
    "max_per_job",
    "misfire_policy",
];
/// The directive select's value for "use the text below".
const CUSTOM: &str = "custom";

#[derive(Debug, Template)]
#[template(path = "schedules/list.html")]
pub(crate) struct ListPage {
    layout: Layout,
    schedules: Vec<ScheduleRow>,
    pager: Pager,
    form: ScheduleForm,
    errors: FormErrors,
    choices: Choices,
}

#[derive(Debug, Template)]
#[template(path = "schedules/detail.html")]
pub(crate) struct DetailPage {
    layout: Layout,
    schedule: ScheduleRow,
    facts: Vec<(&'static str, String)>,
    history: Vec<HistoryRow>,
    pager: Pager,
}

#[derive(Debug, Template)]
#[template(path = "schedules/edit.html")]
pub(crate) struct EditPage {
    layout: Layout,
    id: i64,
    name: String,
    form: ScheduleForm,
    errors: FormErrors,
    choices: Choices,
}

screen!(ListPage, DetailPage, EditPage);

/// A schedule as the pages show it.
#[derive(Debug, Clone)]
pub(crate) struct ScheduleRow {
    id: i64,
    name: String,
    enabled: bool,
    task_key: String,
    directive: String,
    timing: String,
    next_run: String,
    last_run: String,
}

#[derive(Debug, Clone)]
pub(crate) struct HistoryRow {
    scheduled_for: String,
    status: &'static str,
    status_class: &'static str,
    run_id: Option<i64>,
    started: String,
    finished: String,
    error: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Choice {
    value: String,
    label: String,
}

/// The options of the form's selects.
#[derive(Debug, Clone, Default)]
pub(crate) struct Choices {
    tasks: Vec<TaskChoice>,
    directives: Vec<Choice>,
    schedule_types: Vec<&'static str>,
    scopes: Vec<&'static str>,
    misfire_policies: Vec<&'static str>,
}

/// The add form as the user typed it; numbers and times stay text so a bad one comes back as
/// written beside its message.
#[derive(Debug, Clone)]
pub(crate) struct ScheduleForm {
    name: String,
    task_key: String,
    /// Empty (the default directive), [`CUSTOM`] or a directive id.
    directive: String,
    custom_directive_text: String,
    schedule_type: String,
    interval_minutes: String,
    cron_expr: String,
    run_at: String,
    timezone: String,
    task3_scope: String,
    use_rag: bool,
    max_global: String,
    max_per_job: String,
    misfire_policy: String,
}

impl ScheduleForm {
    fn blank() -> Self {
        Self {
            name: String::new(),
            task_key: String::new(),
            directive: String::new(),
            custom_directive_text: String::new(),
            schedule_type: ScheduleType::Interval.as_str().to_string(),
            interval_minutes: "60".to_string(),
            cron_expr: String::new(),
            run_at: String::new(),
            timezone: "UTC".to_string(),
            task3_scope: Task3Scope::Allowlist.as_str().to_string(),
            use_rag: false,
            max_global: String::new(),
            max_per_job: String::new(),
            misfire_policy: MisfirePolicy::RunOnce.as_str().to_string(),
        }
    }

    /// The form as the schedule stands, for the edit page.
    fn of(schedule: &Schedule) -> Self {
        let directive = match (&schedule.custom_directive_text, schedule.directive_id) {
            (Some(_), _) => CUSTOM.to_string(),
            (None, Some(id)) => id.to_string(),
            (None, None) => String::new(),
        };
        let shown = |value: Option<i32>| value.map(|v| v.to_string()).unwrap_or_default();
        Self {
            name: schedule.name.clone(),
            task_key: schedule.task_key.clone(),
            directive,
            custom_directive_text: schedule.custom_directive_text.clone().unwrap_or_default(),
            schedule_type: schedule.schedule_type.as_str().to_string(),
            interval_minutes: schedule
                .interval_minutes
                .map(|m| m.to_string())
                .unwrap_or_default(),
            cron_expr: schedule.cron_expr.clone().unwrap_or_default(),
            // The `datetime-local` box takes minutes; `run_at` reads this format back.
            run_at: schedule
                .run_at
                .map(|at| at.format("%Y-%m-%dT%H:%M").to_string())
                .unwrap_or_default(),
            timezone: schedule.timezone.clone(),
            task3_scope: schedule.task3_scope.as_str().to_string(),
            use_rag: schedule.use_rag,
            max_global: shown(schedule.max_global),
            max_per_job: shown(schedule.max_per_job),
            misfire_policy: schedule.misfire_policy.as_str().to_string(),
        }
    }

    fn read(fields: &Fields) -> Self {
        Self {
            name: fields.text("name"),
            task_key: fields.text("task_key"),
            directive: fields.text("directive").trim().to_string(),
            custom_directive_text: fields.multiline("custom_directive_text"),
            schedule_type: fields.text("schedule_type"),
            interval_minutes: fields.text("interval_minutes"),
            cron_expr: fields.text("cron_expr"),
            run_at: fields.text("run_at"),
            timezone: fields.text("timezone"),
            task3_scope: fields.text("task3_scope"),
            use_rag: fields.checked("use_rag"),
            max_global: fields.text("max_global"),
            max_per_job: fields.text("max_per_job"),
            misfire_policy: fields.text("misfire_policy"),
        }
    }

    /// The engine input; only the timing field of the chosen type is sent, so a value left in
    /// another type's box does not count. What cannot be read as a number or time is collected
    /// as field errors before the engine sees anything.
    fn input(&self) -> Result<ScheduleInput, FieldErrors> {
        let mut errors = FieldErrors::new();
        let schedule_type = self.schedule_type.trim();
        let mut input = ScheduleInput {
            name: Some(self.name.clone()),
            task_key: Some(self.task_key.clone()),
            schedule_type: Some(schedule_type.to_string()),
            timezone: Some(text_or(&self.timezone, "UTC")),
            task3_scope: Some(self.task3_scope.trim().to_string()),
            use_rag: Some(self.use_rag),
            max_global: Some(number(&mut errors, "max_global", &self.max_global)),
            max_per_job: Some(number(&mut errors, "max_per_job", &self.max_per_job)),
            misfire_policy: Some(self.misfire_policy.trim().to_string()),
            ..ScheduleInput::default()
        };
        match self.directive.as_str() {
            "" => {}
            CUSTOM => input.custom_directive_text = Some(Some(self.custom_directive_text.clone())),
            other => match parse_id(other) {
                Some(id) => input.directive_id = Some(Some(id)),
                None => errors.add(
                    "directive_id",
                    format!("{other:?} is not a directive id; choose one from the list"),
                ),
            },
        }
        if schedule_type == ScheduleType::Interval.as_str() {
            input.interval_minutes = Some(number(
                &mut errors,
                "interval_minutes",
                &self.interval_minutes,
            ));
        } else if schedule_type == ScheduleType::Cron.as_str() {
            input.cron_expr = Some(Some(self.cron_expr.trim().to_string()));
        } else if schedule_type == ScheduleType::OneShot.as_str() {
            input.run_at = Some(run_at(&mut errors, &self.run_at));
        }
        if errors.is_empty() {
            Ok(input)
        } else {
            Err(errors)
        }
    }
}

fn text_or(value: &str, default: &str) -> String {
    match value.trim() {
        "" => default.to_string(),
        value => value.to_string(),
    }
}

/// An optional whole number; empty is `None`.
fn number<T: std::str::FromStr>(errors: &mut FieldErrors, field: &str, raw: &str) -> Option<T> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let parsed = raw.parse().ok();
    if parsed.is_none() {
        errors.add(
            field,
            format!("{raw:?} is not a whole number; enter e.g. 15"),
        );
    }
    parsed
}

/// A UTC time as a browser's `datetime-local` sends it (`2026-05-01T09:30`, seconds optional)
/// or in RFC 3339 with its own offset.
fn run_at(errors: &mut FieldErrors, raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    if raw.is_empty() {
        errors.add(
            "run_at",
            "is required for a one-shot schedule: enter a future time",
        );
        return None;
    }
    let parsed = DateTime::parse_from_rfc3339(raw)
        .map(|at| at.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
                .iter()
                .find_map(|format| NaiveDateTime::parse_from_str(raw, format).ok())
                .map(|at| at.and_utc())
        });
    if parsed.is_none() {
        errors.add(
            "run_at",
            format!("{raw:?} is not a time; enter it as 2026-05-01T09:30 (UTC)"),
        );
    }
    parsed
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn optional_time(at: Option<DateTime<Utc>>) -> String {
    at.map(time).unwrap_or_else(|| "–".to_string())
}

/// Directive names by id, for the directive column (the catalogue is small: one page).
async fn directive_names(cb: &Cyberbrain) -> cyberbrain_core::Result<HashMap<i64, String>> {
    Ok(cb
        .list_directives(PageRequest::first(MAX_PAGE_SIZE))
        .await?
        .items
        .into_iter()
        .map(|d| (d.id, d.name))
        .collect())
}

impl ScheduleRow {
    fn new(schedule: &Schedule, directives: &HashMap<i64, String>) -> Self {
        let directive = match (&schedule.custom_directive_text, schedule.directive_id) {
            (Some(_), _) => "custom".to_string(),
            (None, Some(id)) => directives
                .get(&id)
                .cloned()
                .unwrap_or_else(|| format!("directive {id}")),
            (None, None) => "default".to_string(),
        };
        let timing = match schedule.schedule_type {
            ScheduleType::Interval => format!(
                "every {} min",
                schedule
                    .interval_minutes
                    .map(|m| m.to_string())
                    .unwrap_or_else(|| "?".to_string())
            ),
            ScheduleType::Cron => format!("cron {}", schedule.cron_expr.as_deref().unwrap_or("")),
            ScheduleType::OneShot => format!("once at {}", optional_time(schedule.run_at)),
        };
        Self {
            id: schedule.id,
            name: schedule.name.clone(),
            enabled: schedule.enabled,
            task_key: schedule.task_key.clone(),
            directive,
            timing: format!("{timing} ({})", schedule.timezone),
            next_run: optional_time(schedule.next_run_at),
            last_run: optional_time(schedule.last_run_at),
        }
    }
}

fn history_row(slot: &ScheduledRun) -> HistoryRow {
    HistoryRow {
        scheduled_for: time(slot.scheduled_for),
        status: slot.status.as_str(),
        status_class: match slot.status {
            ScheduledRunStatus::Finished => "on",
            ScheduledRunStatus::Failed => "bad",
            ScheduledRunStatus::Started => "warn",
            ScheduledRunStatus::Pending => "off",
        },
        run_id: slot.run_id,
        started: optional_time(slot.started_at),
        finished: optional_time(slot.finished_at),
        error: slot.error_summary.clone().unwrap_or_default(),
    }
}

async fn choices(cb: &Cyberbrain) -> cyberbrain_core::Result<Choices> {
    let directives = cb
        .list_directives(PageRequest::first(MAX_PAGE_SIZE))
        .await?
        .items
        .into_iter()
        .filter(|d| d.is_active)
        .map(|d| Choice {
            value: d.id.to_string(),
            label: format!("{} ({})", d.name, d.directive_type.as_str()),
        })
        .collect();
    Ok(Choices {
        tasks: active_tasks(cb).await?,
        directives,
        schedule_types: ScheduleType::ALL.iter().map(|t| t.as_str()).collect(),
        scopes: Task3Scope::ALL.iter().map(|s| s.as_str()).collect(),
        misfire_policies: MisfirePolicy::ALL.iter().map(|p| p.as_str()).collect(),
    })
}

async fn list_page(
    state: &AppState,
    status: StatusCode,
    flash: Flash,
    request: PageRequest,
    form: ScheduleForm,
    errors: FormErrors,
) -> Response {
    let cb = &state.cb;
    let (page, names, choices) = match (
        cb.list_schedules(request).await,
        directive_names(cb).await,
        choices(cb).await,
    ) {
        (Ok(page), Ok(names), Ok(choices)) => (page, names, choices),
        (Err(error), ..) | (_, Err(error), _) | (.., Err(error)) => {
            return engine_error(error, Back::DASHBOARD);
        }
    };
    let list = ListPage {
        layout: Layout::new("Schedules", "schedules", flash),
        schedules: page
            .items
            .iter()
            .map(|s| ScheduleRow::new(s, &names))
            .collect(),
        pager: Pager::new(request, &page),
        form,
        errors,
        choices,
    };
    render(status, &list)
}

/// A posted add or edit form, read once for both: the form as typed with either its engine
/// input or its field errors; `Err` is a body that could not be read at all.
fn posted(body: FormBody) -> Result<(ScheduleForm, Result<ScheduleInput, FormErrors>), Unreadable> {
    let fields = Fields::from_body(body, BACK)?;
    let form = ScheduleForm::read(&fields);
    let input = form
        .input()
        .map_err(|errors| FormErrors::fields(errors, SHOWN));
    Ok((form, input))
}

/// `GET /webui/schedules?page=`
pub(crate) async fn list(
    State(state): State<AppState>,
    flash: Flash,
    RawQuery(query): RawQuery,
) -> Response {
    let request = page_request(query.as_deref(), LIST_PAGE_SIZE);
    list_page(
        &state,
        StatusCode::OK,
        flash,
        request,
        ScheduleForm::blank(),
        FormErrors::none(SHOWN),
    )
    .await
}

/// `POST /webui/schedules`: adds a schedule; every problem comes back beside its field with
/// the input kept, and nothing is saved.
pub(crate) async fn create(State(state): State<AppState>, body: FormBody) -> Response {
    let first_page = page_request(None, LIST_PAGE_SIZE);
    let (form, input) = match posted(body) {
        Ok(read) => read,
        Err(unreadable) => return unreadable.into_response(),
    };
    let input = match input {
        Ok(input) => input,
        Err(errors) => {
            return list_page(
                &state,
                StatusCode::BAD_REQUEST,
                Flash::none(),
                first_page,
                form,
                errors,
            )
            .await;
        }
    };
    match state.cb.create_schedule(input).await {
        Ok(schedule) => redirect_with_notice(
            &format!("{LIST}/{}", schedule.id),
            &format!("Schedule \"{}\" created.", schedule.name),
        ),
        Err(error) => match Rejected::from_engine(error, SHOWN, BACK) {
            Rejected::Form(status, errors) => {
                list_page(&state, status, Flash::none(), first_page, form, errors).await
            }
            Rejected::Page(response) => response,
        },
    }
}

async fn edit_page(
    state: &AppState,
    status: StatusCode,
    schedule: &Schedule,
    form: ScheduleForm,
    errors: FormErrors,
) -> Response {
    let mut choices = match choices(&state.cb).await {
        Ok(choices) => choices,
        Err(error) => return engine_error(error, BACK),
    };
    keep_current(&mut choices, &form);
    let page = EditPage {
        layout: Layout::new(
            format!("Edit schedule: {}", schedule.name),
            "schedules",
            Flash::none(),
        ),
        id: schedule.id,
        name: schedule.name.clone(),
        form,
        errors,
        choices,
    };
    render(status, &page)
}

/// The selects offer only active tasks and directives; a schedule still naming one since
/// switched off gets it as an extra option, so that saving the form does not quietly pick
/// another.
fn keep_current(choices: &mut Choices, form: &ScheduleForm) {
    let task = form.task_key.trim();
    if !task.is_empty() && !choices.tasks.iter().any(|t| t.key == task) {
        choices.tasks.push(TaskChoice {
            key: task.to_string(),
            name: format!("{task} (inactive)"),
        });
    }
    if let Some(id) = parse_id(&form.directive)
        && !choices.directives.iter().any(|d| d.value == form.directive)
    {
        choices.directives.push(Choice {
            value: form.directive.clone(),
            label: format!("directive {id} (inactive)"),
        });
    }
}

/// `GET /webui/schedules/{id}/edit`: the add form's fields, filled with the schedule's values.
pub(crate) async fn edit_form(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
) -> Response {
    let schedule = match load(&state, &raw_id).await {
        Ok(schedule) => schedule,
        Err(response) => return response,
    };
    let form = ScheduleForm::of(&schedule);
    edit_page(
        &state,
        StatusCode::OK,
        &schedule,
        form,
        FormErrors::none(SHOWN),
    )
    .await
}

/// `POST /webui/schedules/{id}/edit`: replaces the schedule with the whole form; problems come
/// back beside their fields with the input kept, and nothing is saved.
pub(crate) async fn update(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    body: FormBody,
) -> Response {
    let schedule = match load(&state, &raw_id).await {
        Ok(schedule) => schedule,
        Err(response) => return response,
    };
    let (form, input) = match posted(body) {
        Ok(read) => read,
        Err(unreadable) => return unreadable.into_response(),
    };
    let mut input = match input {
        Ok(input) => input,
        Err(errors) => {
            return edit_page(&state, StatusCode::BAD_REQUEST, &schedule, form, errors).await;
        }
    };
    // The form has no enabled box (its own button sets that), and a replace would otherwise
    // switch a disabled schedule back on.
    input.enabled = Some(schedule.enabled);
    match state.cb.replace_schedule(schedule.id, input).await {
        Ok(saved) => redirect_with_notice(
            &format!("{LIST}/{}", saved.id),
            &format!("Schedule \"{}\" saved.", saved.name),
        ),
        Err(error) => match Rejected::from_engine(error, SHOWN, BACK) {
            Rejected::Form(status, errors) => {
                edit_page(&state, status, &schedule, form, errors).await
            }
            Rejected::Page(response) => response,
        },
    }
}

/// `GET /webui/schedules/{id}?page=`: the schedule and its fired slots, newest first.
pub(crate) async fn detail(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    flash: Flash,
    RawQuery(query): RawQuery,
) -> Response {
    let schedule = match load(&state, &raw_id).await {
        Ok(schedule) => schedule,
        Err(response) => return response,
    };
    let cb = &state.cb;
    let request = page_request(query.as_deref(), LIST_PAGE_SIZE);
    let (history, names) = match (
        cb.schedule_history(schedule.id, request).await,
        directive_names(cb).await,
    ) {
        (Ok(history), Ok(names)) => (history, names),
        (Err(error), _) | (_, Err(error)) => return engine_error(error, BACK),
    };
    let page = DetailPage {
        layout: Layout::new(format!("Schedule: {}", schedule.name), "schedules", flash),
        schedule: ScheduleRow::new(&schedule, &names),
        facts: facts(&schedule),
        history: history.items.iter().map(history_row).collect(),
        pager: Pager::new(request, &history),
    };
    render(StatusCode::OK, &page)
}

fn facts(schedule: &Schedule) -> Vec<(&'static str, String)> {
    let limit = |value: Option<i32>| {
        value
            .map(|v| v.to_string())
            .unwrap_or_else(|| "configured default".to_string())
    };
    let mut facts = vec![
        ("Type", schedule.schedule_type.as_str().to_string()),
        ("Container scope", schedule.task3_scope.as_str().to_string()),
        (
            "Uses RAG",
            if schedule.use_rag { "yes" } else { "no" }.to_string(),
        ),
        ("Max runs at once", limit(schedule.max_global)),
        ("Max runs of this task at once", limit(schedule.max_per_job)),
        ("Missed slots", schedule.misfire_policy.as_str().to_string()),
        ("Created", time(schedule.created_at)),
        ("Updated", time(schedule.updated_at)),
    ];
    if let Some(text) = &schedule.custom_directive_text {
        facts.insert(0, ("Custom directive", text.clone()));
    }
    facts
}

/// `POST /webui/schedules/{id}/toggle`: enables a disabled schedule and the reverse.
pub(crate) async fn toggle(State(state): State<AppState>, Path(raw_id): Path<String>) -> Response {
    let schedule = match load(&state, &raw_id).await {
        Ok(schedule) => schedule,
        Err(response) => return response,
    };
    match state
        .cb
        .set_schedule_enabled(schedule.id, !schedule.enabled)
        .await
    {
        Ok(saved) => {
            let verb = if saved.enabled { "enabled" } else { "disabled" };
            redirect_with_notice(LIST, &format!("Schedule \"{}\" {verb}.", saved.name))
        }
        Err(error) => engine_error(error, BACK),
    }
}

/// `POST /webui/schedules/{id}/run`: launches the schedule's task now and records the slot.
pub(crate) async fn run_now(State(state): State<AppState>, Path(raw_id): Path<String>) -> Response {
    let schedule = match load(&state, &raw_id).await {
        Ok(schedule) => schedule,
        Err(response) => return response,
    };
    match state.cb.run_schedule_now(schedule.id).await {
        Ok((run, _)) => redirect_with_notice(
            &format!("{LIST}/{}", schedule.id),
            &format!(
                "Run {} launched from schedule \"{}\".",
                run.id, schedule.name
            ),
        ),
        Err(error) => engine_error(error, BACK),
    }
}

/// `POST /webui/schedules/{id}/delete`
pub(crate) async fn delete(State(state): State<AppState>, Path(raw_id): Path<String>) -> Response {
    let schedule = match load(&state, &raw_id).await {
        Ok(schedule) => schedule,
        Err(response) => return response,
    };
    match state.cb.delete_schedule(schedule.id).await {
        Ok(()) => redirect_with_notice(LIST, &format!("Schedule \"{}\" deleted.", schedule.name)),
        Err(error) => engine_error(error, BACK),
    }
}

async fn load(state: &AppState, raw_id: &str) -> Result<Schedule, Response> {
    let Some(id) = parse_id(raw_id) else {
        return Err(not_found("schedule", raw_id, BACK));
    };
    state
        .cb
        .get_schedule(id)
        .await
        .map_err(|error| engine_error(error, BACK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_chosen_timing_field_is_sent() {
        let form = ScheduleForm {
            schedule_type: "cron".into(),
            cron_expr: " 0 * * * * ".into(),
            interval_minutes: "not a number".into(),
            ..ScheduleForm::blank()
        };
        let input = form.input().unwrap();
        assert_eq!(input.cron_expr, Some(Some("0 * * * *".to_string())));
        assert_eq!(input.interval_minutes, None);
    }

    #[test]
    fn unreadable_numbers_and_times_name_their_field() {
        let form = ScheduleForm {
            interval_minutes: "ten".into(),
            max_global: "-".into(),
            directive: "x".into(),
            ..ScheduleForm::blank()
        };
        let errors = form.input().unwrap_err();
        for field in ["interval_minutes", "max_global", "directive_id"] {
            assert!(errors.0.contains_key(field), "{field}: {errors:?}");
        }
        let mut errors = FieldErrors::new();
        assert_eq!(
            run_at(&mut errors, "2030-05-01T09:30"),
            Some("2030-05-01T09:30:00Z".parse().unwrap())
        );
        assert!(run_at(&mut errors, "tomorrow").is_none());
        assert!(errors.0["run_at"][0].contains("tomorrow"));
    }

    #[test]
    fn an_inactive_task_or_directive_stays_selectable_on_edit() {
        let form = ScheduleForm {
            task_key: "retired".into(),
            directive: "7".into(),
            ..ScheduleForm::blank()
        };
        let mut choices = Choices::default();
        keep_current(&mut choices, &form);
        keep_current(&mut choices, &form);
        assert_eq!(choices.tasks.len(), 1, "added once");
        assert_eq!(choices.tasks[0].key, "retired");
        assert_eq!(choices.directives.len(), 1);
        assert_eq!(choices.directives[0].value, "7");
        let mut untouched = Choices::default();
        keep_current(&mut untouched, &ScheduleForm::blank());
        assert!(untouched.tasks.is_empty() && untouched.directives.is_empty());
    }
}
