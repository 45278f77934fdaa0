//! Task definition pages: list, edit (name, description, default directive, active), toggle.

use std::collections::HashMap;

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cyberbrain_core::domain::{
    Directive, MAX_PAGE_SIZE, PageRequest, TaskDefinition, TaskDefinitionPatch,
};
use cyberbrain_core::{Cyberbrain, FieldErrors};

use super::form::{Fields, FormErrors, LIST_PAGE_SIZE, Pager, Rejected, page_request};
use super::page::{
    Back, Flash, Layout, engine_error, not_found, parse_id, redirect_with_notice, render, screen,
};
use crate::state::AppState;

type FormBody = Result<axum::Form<Vec<(String, String)>>, FormRejection>;

const LIST: &str = "/webui/tasks";
const BACK: Back = Back::TASKS;
const SHOWN: &[&str] = &["name", "description", "default_directive_id", "is_active"];

#[derive(Debug, Template)]
#[template(path = "tasks/list.html")]
pub(crate) struct ListPage {
    layout: Layout,
    tasks: Vec<TaskRow>,
    pager: Pager,
}

#[derive(Debug, Template)]
#[template(path = "tasks/form.html")]
pub(crate) struct FormPage {
    layout: Layout,
    task: TaskRow,
    config_json: String,
    form: TaskForm,
    errors: FormErrors,
    directives: Vec<DirectiveChoice>,
}

screen!(ListPage, FormPage);

/// A task as the list shows it, with its default directive's name resolved.
#[derive(Debug, Clone)]
pub(crate) struct TaskRow {
    id: i64,
    task_key: String,
    name: String,
    description: String,
    is_active: bool,
    /// The default directive's name, or its id when it cannot be read.
    default_directive: Option<String>,
}

/// One option of the default-directive select.
#[derive(Debug, Clone)]
pub(crate) struct DirectiveChoice {
    value: String,
    label: String,
}

/// The task form as the user typed it.
#[derive(Debug, Clone)]
pub(crate) struct TaskForm {
    name: String,
    description: String,
    /// A directive id, or empty for none.
    default_directive_id: String,
    is_active: bool,
}

impl TaskForm {
    fn of(task: &TaskDefinition) -> Self {
        Self {
            name: task.name.clone(),
            description: task.description.clone(),
            default_directive_id: task
                .default_directive_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
            is_active: task.is_active,
        }
    }

    fn read(fields: &Fields) -> Self {
        Self {
            name: fields.text("name"),
            description: fields.multiline("description"),
            default_directive_id: fields.text("default_directive_id").trim().to_string(),
            is_active: fields.checked("is_active"),
        }
    }

    /// The patch this form asks for; the engine checks names and that the directive exists.
    fn patch(&self) -> Result<TaskDefinitionPatch, FieldErrors> {
        let mut errors = FieldErrors::new();
        if self.name.trim().is_empty() {
            errors.add("name", "must not be empty");
        }
        let default_directive_id = if self.default_directive_id.is_empty() {
            Some(None)
        } else {
            match parse_id(&self.default_directive_id) {
                Some(id) => Some(Some(id)),
                None => {
                    errors.add(
                        "default_directive_id",
                        format!(
                            "\"{}\" is not a directive id; choose a directive from the list or \
                             \"none\"",
                            self.default_directive_id
                        ),
                    );
                    None
                }
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(TaskDefinitionPatch {
            name: Some(self.name.clone()),
            description: Some(self.description.clone()),
            default_directive_id,
            config: None,
            is_active: Some(self.is_active),
        })
    }
}

/// Every directive (the catalogue is small), for names in the list and the select.
async fn all_directives(cb: &Cyberbrain) -> cyberbrain_core::Result<Vec<Directive>> {
    let mut request = PageRequest::first(MAX_PAGE_SIZE);
    let mut all = Vec::new();
    // Bounded: a catalogue beyond 20 000 directives shows its first part.
    for _ in 0..100 {
        let page = cb.list_directives(request).await?;
        let more = page.has_next(request);
        all.extend(page.items);
        if !more {
            break;
        }
        request = request.with_page(request.page + 1);
    }
    Ok(all)
}

fn row(task: &TaskDefinition, names: &HashMap<i64, String>) -> TaskRow {
    TaskRow {
        id: task.id,
        task_key: task.task_key.clone(),
        name: task.name.clone(),
        description: task.description.clone(),
        is_active: task.is_active,
        default_directive: task.default_directive_id.map(|id| {
            names
                .get(&id)
                .cloned()
                .unwrap_or_else(|| format!("directive {id}"))
        }),
    }
}

fn names_of(directives: &[Directive]) -> HashMap<i64, String> {
    directives.iter().map(|d| (d.id, d.name.clone())).collect()
}

fn choices(directives: &[Directive]) -> Vec<DirectiveChoice> {
    directives
        .iter()
        .map(|d| DirectiveChoice {
            value: d.id.to_string(),
            label: format!(
                "{} ({}){}",
                d.name,
                d.directive_type.as_str(),
                if d.is_active { "" } else { " — inactive" }
            ),
        })
        .collect()
}

/// `GET /webui/tasks`
pub(crate) async fn list(
    State(state): State<AppState>,
    flash: Flash,
    RawQuery(query): RawQuery,
) -> Response {
    let request = page_request(query.as_deref(), LIST_PAGE_SIZE);
    let page = match state.cb.list_tasks(request).await {
        Ok(page) => page,
        Err(error) => return engine_error(error, Back::DASHBOARD),
    };
    let directives = match all_directives(&state.cb).await {
        Ok(directives) => directives,
        Err(error) => return engine_error(error, Back::DASHBOARD),
    };
    let names = names_of(&directives);
    let list = ListPage {
        layout: Layout::new("Tasks", "tasks", flash),
        tasks: page.items.iter().map(|task| row(task, &names)).collect(),
        pager: Pager::new(request, &page),
    };
    render(StatusCode::OK, &list)
}

async fn form_page(
    state: &AppState,
    status: StatusCode,
    flash: Flash,
    task: &TaskDefinition,
    form: TaskForm,
    errors: FormErrors,
) -> Response {
    let directives = match all_directives(&state.cb).await {
        Ok(directives) => directives,
        Err(error) => return engine_error(error, BACK),
    };
    let page = FormPage {
        layout: Layout::new(format!("Edit task: {}", task.name), "tasks", flash),
        task: row(task, &names_of(&directives)),
        config_json: serde_json::to_string_pretty(&task.config).unwrap_or_else(|_| "{}".into()),
        form,
        errors,
        directives: choices(&directives),
    };
    render(status, &page)
}

/// `GET /webui/tasks/{id}`
pub(crate) async fn edit_form(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    flash: Flash,
) -> Response {
    let task = match load(&state, &raw_id).await {
        Ok(task) => task,
        Err(unreadable) => return unreadable.into_response(),
    };
    let form = TaskForm::of(&task);
    form_page(
        &state,
        StatusCode::OK,
        flash,
        &task,
        form,
        FormErrors::none(SHOWN),
    )
    .await
}

/// `POST /webui/tasks/{id}`
pub(crate) async fn update(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    body: FormBody,
) -> Response {
    let task = match load(&state, &raw_id).await {
        Ok(task) => task,
        Err(response) => return response,
    };
    let fields = match Fields::from_body(body, BACK) {
        Ok(fields) => fields,
        Err(unreadable) => return unreadable.into_response(),
    };
    let form = TaskForm::read(&fields);
    let patch = match form.patch() {
        Ok(patch) => patch,
        Err(errors) => {
            let errors = FormErrors::fields(errors, SHOWN);
            return form_page(
                &state,
                StatusCode::BAD_REQUEST,
                Flash::none(),
                &task,
                form,
                errors,
            )
            .await;
        }
    };
    match state.cb.update_task(task.id, patch).await {
        Ok(saved) => redirect_with_notice(LIST, &format!("Task \"{}\" saved.", saved.name)),
        Err(error) => match Rejected::from_engine(error, SHOWN, BACK) {
            Rejected::Form(status, errors) => {
                form_page(&state, status, Flash::none(), &task, form, errors).await
            }
            Rejected::Page(response) => response,
        },
    }
}

/// `POST /webui/tasks/{id}/toggle`
pub(crate) async fn toggle(State(state): State<AppState>, Path(raw_id): Path<String>) -> Response {
    let task = match load(&state, &raw_id).await {
        Ok(task) => task,
        Err(response) => return response,
    };
    let patch = TaskDefinitionPatch::default().with_active(!task.is_active);
    match state.cb.update_task(task.id, patch).await {
        Ok(saved) => {
            let verb = if saved.is_active {
                "activated"
            } else {
                "deactivated"
            };
            redirect_with_notice(LIST, &format!("Task \"{}\" {verb}.", saved.name))
        }
        Err(error) => engine_error(error, BACK),
    }
}

async fn load(state: &AppState, raw_id: &str) -> Result<TaskDefinition, Response> {
    let Some(id) = parse_id(raw_id) else {
        return Err(not_found("task", raw_id, BACK));
    };
    state
        .cb
        .get_task(id)
        .await
        .map_err(|error| engine_error(error, BACK))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(default_directive_id: &str) -> TaskForm {
        TaskForm {
            name: "Log triage".into(),
            description: String::new(),
            default_directive_id: default_directive_id.into(),
            is_active: true,
        }
    }

    #[test]
    fn default_directive_select() {
        assert_eq!(form("").patch().unwrap().default_directive_id, Some(None));
        assert_eq!(
            form("4").patch().unwrap().default_directive_id,
            Some(Some(4))
        );
        let errors = form("four").patch().unwrap_err();
        assert!(errors.0["default_directive_id"][0].contains("\"four\" is not a directive id"));
    }
}
