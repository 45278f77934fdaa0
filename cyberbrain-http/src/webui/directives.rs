//! Directive pages: list, create, edit, activate/deactivate, delete.

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cyberbrain_core::FieldErrors;
use cyberbrain_core::domain::{Directive, DirectivePatch, DirectiveType, NewDirective};
use serde_json::{Map, Value};

use super::form::{Fields, FormErrors, LIST_PAGE_SIZE, Pager, Rejected, page_request};
use super::page::{
    Back, Flash, Layout, engine_error, not_found, parse_id, redirect_with_notice, render, screen,
};
use crate::state::AppState;

type FormBody = Result<axum::Form<Vec<(String, String)>>, FormRejection>;

const LIST: &str = "/webui/directives";
const BACK: Back = Back::DIRECTIVES;

/// The fields the directive form draws; engine messages for any other field go to the top.
const SHOWN: &[&str] = &[
    "name",
    "directive_type",
    "description",
    "directive_text",
    "task_config",
    "approval_required",
    "is_active",
];

/// One choice of the type select.
#[derive(Debug)]
pub(crate) struct TypeChoice {
    value: &'static str,
    label: &'static str,
}

const TYPES: &[TypeChoice] = &[
    TypeChoice {
        value: "D1",
        label: "D1 — Read-only diagnostics",
    },
    TypeChoice {
        value: "D2",
        label: "D2 — Conservative recommendations",
    },
    TypeChoice {
        value: "D3",
        label: "D3 — Change planning (approval by default)",
    },
    TypeChoice {
        value: "D4",
        label: "D4 — Admin override (approval by default)",
    },
];

#[derive(Debug, Template)]
#[template(path = "directives/list.html")]
pub(crate) struct ListPage {
    layout: Layout,
    directives: Vec<Directive>,
    pager: Pager,
}

#[derive(Debug, Template)]
#[template(path = "directives/form.html")]
pub(crate) struct FormPage {
    layout: Layout,
    form: DirectiveForm,
    errors: FormErrors,
    types: &'static [TypeChoice],
    /// The stored directive when editing; `None` on the new-directive form.
    existing: Option<Meta>,
    action: String,
}

screen!(ListPage, FormPage);

/// What the edit form shows about the stored row besides its fields.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    id: i64,
    name: String,
    version: i32,
    is_builtin: bool,
    is_active: bool,
    created_at: String,
    updated_at: String,
}

impl Meta {
    fn of(directive: &Directive) -> Self {
        Self {
            id: directive.id,
            name: directive.name.clone(),
            version: directive.version,
            is_builtin: directive.is_builtin,
            is_active: directive.is_active,
            created_at: directive
                .created_at
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string(),
            updated_at: directive
                .updated_at
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string(),
        }
    }
}

/// The directive form as text, exactly as the user typed it, so a rejected form comes back
/// unchanged.
#[derive(Debug, Clone)]
pub(crate) struct DirectiveForm {
    name: String,
    directive_type: String,
    description: String,
    directive_text: String,
    task_config: String,
    approval_required: bool,
    is_active: bool,
}

/// The values of a form that passed the web UI's own checks; the engine checks the rest.
struct Parsed {
    directive_type: DirectiveType,
    task_config: Map<String, Value>,
}

impl DirectiveForm {
    fn blank() -> Self {
        Self {
            name: String::new(),
            directive_type: DirectiveType::D1.as_str().to_string(),
            description: String::new(),
            directive_text: String::new(),
            task_config: "{}".to_string(),
            approval_required: DirectiveType::D1.requires_approval_by_default(),
            is_active: true,
        }
    }

    fn of(directive: &Directive) -> Self {
        Self {
            name: directive.name.clone(),
            directive_type: directive.directive_type.as_str().to_string(),
            description: directive.description.clone(),
            directive_text: directive.directive_text.clone(),
            task_config: pretty_json(&directive.task_config),
            approval_required: directive.approval_required,
            is_active: directive.is_active,
        }
    }

    fn read(fields: &Fields) -> Self {
        Self {
            name: fields.text("name"),
            directive_type: fields.text("directive_type").trim().to_string(),
            description: fields.multiline("description"),
            directive_text: fields.multiline("directive_text"),
            task_config: fields.multiline("task_config"),
            approval_required: fields.checked("approval_required"),
            is_active: fields.checked("is_active"),
        }
    }

    /// The checks only a form needs (text into a type and a JSON object), plus an empty name so
    /// that every problem shows in one round trip; the engine applies the full rules.
    fn parse(&self) -> Result<Parsed, FieldErrors> {
        let mut errors = FieldErrors::new();
        if self.name.trim().is_empty() {
            errors.add("name", "must not be empty");
        }
        let directive_type = match self.directive_type.parse::<DirectiveType>() {
            Ok(directive_type) => Some(directive_type),
            Err(message) => {
                errors.add("directive_type", message);
                None
            }
        };
        let task_config = match parse_task_config(&self.task_config) {
            Ok(config) => Some(config),
            Err(message) => {
                errors.add("task_config", message);
                None
            }
        };
        match (directive_type, task_config) {
            (Some(directive_type), Some(task_config)) if errors.is_empty() => Ok(Parsed {
                directive_type,
                task_config,
            }),
            _ => Err(errors),
        }
    }
}

/// An empty box means no overrides; anything else must be a JSON object.
fn parse_task_config(text: &str) -> Result<Map<String, Value>, String> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(
            "must be a JSON object such as {\"max_lines\": 500}; use {} for no overrides".into(),
        ),
        Err(error) => Err(format!(
            "is not valid JSON ({error}); write an object such as {{\"max_lines\": 500}} or leave \
             it empty"
        )),
    }
}

fn pretty_json(map: &Map<String, Value>) -> String {
    serde_json::to_string_pretty(map).unwrap_or_else(|_| "{}".to_string())
}

fn form_page(
    status: StatusCode,
    flash: Flash,
    form: DirectiveForm,
    errors: FormErrors,
    existing: Option<Meta>,
) -> Response {
    let (title, action) = match &existing {
        Some(meta) => (
            format!("Edit directive: {}", meta.name),
            format!("{LIST}/{}", meta.id),
        ),
        None => ("New directive".to_string(), LIST.to_string()),
    };
    let page = FormPage {
        layout: Layout::new(title, "directives", flash),
        form,
        errors,
        types: TYPES,
        existing,
        action,
    };
    render(status, &page)
}

/// `GET /webui/directives`
pub(crate) async fn list(
    State(state): State<AppState>,
    flash: Flash,
    RawQuery(query): RawQuery,
) -> Response {
    let request = page_request(query.as_deref(), LIST_PAGE_SIZE);
    match state.cb.list_directives(request).await {
        Ok(page) => {
            let pager = Pager::new(request, &page);
            let list = ListPage {
                layout: Layout::new("Directives", "directives", flash),
                directives: page.items,
                pager,
            };
            render(StatusCode::OK, &list)
        }
        Err(error) => engine_error(error, Back::DASHBOARD),
    }
}

/// `GET /webui/directives/new`
pub(crate) async fn new_form(flash: Flash) -> Response {
    form_page(
        StatusCode::OK,
        flash,
        DirectiveForm::blank(),
        FormErrors::none(SHOWN),
        None,
    )
}

/// `POST /webui/directives`
pub(crate) async fn create(State(state): State<AppState>, body: FormBody) -> Response {
    let fields = match Fields::from_body(body, BACK) {
        Ok(fields) => fields,
        Err(unreadable) => return unreadable.into_response(),
    };
    let form = DirectiveForm::read(&fields);
    let parsed = match form.parse() {
        Ok(parsed) => parsed,
        Err(errors) => {
            let errors = FormErrors::fields(errors, SHOWN);
            return form_page(StatusCode::BAD_REQUEST, Flash::none(), form, errors, None);
        }
    };
    let new = NewDirective {
        name: form.name.clone(),
        directive_type: parsed.directive_type,
        description: form.description.clone(),
        directive_text: form.directive_text.clone(),
        task_config: parsed.task_config,
        is_active: form.is_active,
        approval_required: Some(form.approval_required),
    };
    match state.cb.create_directive(new).await {
        Ok(directive) => {
            redirect_with_notice(LIST, &format!("Directive \"{}\" created.", directive.name))
        }
        Err(error) => match Rejected::from_engine(error, SHOWN, BACK) {
            Rejected::Form(status, errors) => form_page(status, Flash::none(), form, errors, None),
            Rejected::Page(response) => response,
        },
    }
}

/// `GET /webui/directives/{id}`
pub(crate) async fn edit_form(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    flash: Flash,
) -> Response {
    let directive = match load(&state, &raw_id).await {
        Ok(directive) => directive,
        Err(unreadable) => return unreadable.into_response(),
    };
    let form = DirectiveForm::of(&directive);
    form_page(
        StatusCode::OK,
        flash,
        form,
        FormErrors::none(SHOWN),
        Some(Meta::of(&directive)),
    )
}

/// `POST /webui/directives/{id}`: saves every field of the form.
pub(crate) async fn update(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    body: FormBody,
) -> Response {
    let directive = match load(&state, &raw_id).await {
        Ok(directive) => directive,
        Err(response) => return response,
    };
    let fields = match Fields::from_body(body, BACK) {
        Ok(fields) => fields,
        Err(unreadable) => return unreadable.into_response(),
    };
    let meta = Meta::of(&directive);
    let form = DirectiveForm::read(&fields);
    let parsed = match form.parse() {
        Ok(parsed) => parsed,
        Err(errors) => {
            let errors = FormErrors::fields(errors, SHOWN);
            return form_page(
                StatusCode::BAD_REQUEST,
                Flash::none(),
                form,
                errors,
                Some(meta),
            );
        }
    };
    let patch = DirectivePatch {
        name: Some(form.name.clone()),
        directive_type: Some(parsed.directive_type),
        description: Some(form.description.clone()),
        directive_text: Some(form.directive_text.clone()),
        task_config: Some(parsed.task_config),
        is_active: Some(form.is_active),
        approval_required: Some(form.approval_required),
    };
    match state.cb.update_directive(directive.id, patch).await {
        Ok(saved) => redirect_with_notice(
            LIST,
            &format!(
                "Directive \"{}\" saved (version {}).",
                saved.name, saved.version
            ),
        ),
        Err(error) => match Rejected::from_engine(error, SHOWN, BACK) {
            Rejected::Form(status, errors) => {
                form_page(status, Flash::none(), form, errors, Some(meta))
            }
            Rejected::Page(response) => response,
        },
    }
}

/// `POST /webui/directives/{id}/toggle`: activates an inactive directive and the reverse.
pub(crate) async fn toggle(State(state): State<AppState>, Path(raw_id): Path<String>) -> Response {
    let directive = match load(&state, &raw_id).await {
        Ok(directive) => directive,
        Err(response) => return response,
    };
    let patch = DirectivePatch::default().with_active(!directive.is_active);
    match state.cb.update_directive(directive.id, patch).await {
        Ok(saved) => {
            let verb = if saved.is_active {
                "activated"
            } else {
                "deactivated"
            };
            redirect_with_notice(LIST, &format!("Directive \"{}\" {verb}.", saved.name))
        }
        Err(error) => engine_error(error, BACK),
    }
}

/// `POST /webui/directives/{id}/delete`. Built-in directives cannot be deleted; the engine's
/// conflict message says so (and suggests deactivating).
pub(crate) async fn delete(State(state): State<AppState>, Path(raw_id): Path<String>) -> Response {
    let directive = match load(&state, &raw_id).await {
        Ok(directive) => directive,
        Err(response) => return response,
    };
    match state.cb.delete_directive(directive.id).await {
        Ok(()) => redirect_with_notice(LIST, &format!("Directive \"{}\" deleted.", directive.name)),
        Err(error) => engine_error(error, BACK),
    }
}

/// The directive named by the path, or the page to answer instead (404 for an unknown or
/// malformed id).
async fn load(state: &AppState, raw_id: &str) -> Result<Directive, Response> {
    let Some(id) = parse_id(raw_id) else {
        return Err(not_found("directive", raw_id, BACK));
    };
    state
        .cb
        .get_directive(id)
        .await
        .map_err(|error| engine_error(error, BACK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_config_must_be_an_object() {
        assert_eq!(parse_task_config("  ").unwrap(), Map::new());
        assert_eq!(parse_task_config(r#"{"a": 1}"#).unwrap()["a"], 1);
        assert!(
            parse_task_config("[1]")
                .unwrap_err()
                .contains("must be a JSON object")
        );
        assert!(
            parse_task_config("{nope")
                .unwrap_err()
                .contains("is not valid JSON")
        );
    }

    #[test]
    fn form_checks_collect_every_problem() {
        let form = DirectiveForm {
            name: " ".into(),
            directive_type: "D9".into(),
            task_config: "{".into(),
            ..DirectiveForm::blank()
        };
        let errors = form.parse().err().unwrap();
        let fields: Vec<&str> = errors.fields().map(|(field, _)| field).collect();
        assert_eq!(fields, ["directive_type", "name", "task_config"]);
    }
}
