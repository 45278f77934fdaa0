//! Container allowlist pages: list with an add form, edit, enable/disable, delete.

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cyberbrain_core::FieldErrors;
use cyberbrain_core::domain::{AllowlistEntry, AllowlistPatch, NewAllowlistEntry, PageRequest};

use super::form::{Fields, FormErrors, LIST_PAGE_SIZE, Pager, Rejected, page_request};
use super::page::{
    Back, Flash, Layout, engine_error, not_found, parse_id, redirect_with_notice, render, screen,
};
use crate::state::AppState;

type FormBody = Result<axum::Form<Vec<(String, String)>>, FormRejection>;

const LIST: &str = "/webui/allowlist";
const BACK: Back = Back::ALLOWLIST;
const SHOWN: &[&str] = &["container_id", "name", "description", "tags", "enabled"];

#[derive(Debug, Template)]
#[template(path = "allowlist/list.html")]
pub(crate) struct ListPage {
    layout: Layout,
    entries: Vec<AllowlistEntry>,
    pager: Pager,
    form: EntryForm,
    errors: FormErrors,
}

#[derive(Debug, Template)]
#[template(path = "allowlist/form.html")]
pub(crate) struct FormPage {
    layout: Layout,
    entry: AllowlistEntry,
    form: EntryForm,
    errors: FormErrors,
}

screen!(ListPage, FormPage);

/// The entry form as the user typed it; tags are one comma-separated line.
#[derive(Debug, Clone)]
pub(crate) struct EntryForm {
    container_id: String,
    name: String,
    description: String,
    tags: String,
    enabled: bool,
}

impl EntryForm {
    fn blank() -> Self {
        Self {
            container_id: String::new(),
            name: String::new(),
            description: String::new(),
            tags: String::new(),
            enabled: true,
        }
    }

    fn of(entry: &AllowlistEntry) -> Self {
        Self {
            container_id: entry.container_id.clone(),
            name: entry.name.clone(),
            description: entry.description.clone(),
            tags: entry.tags.join(", "),
            enabled: entry.enabled,
        }
    }

    fn read(fields: &Fields) -> Self {
        Self {
            container_id: fields.text("container_id"),
            name: fields.text("name"),
            description: fields.multiline("description"),
            tags: fields.text("tags"),
            enabled: fields.checked("enabled"),
        }
    }

    /// Tags from the comma- or line-separated text; blanks between separators are dropped, the
    /// engine checks the rest.
    fn tag_list(&self) -> Vec<String> {
        self.tags
            .split([',', '\n'])
            .map(str::trim)
            .filter(|tag| !tag.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// An empty container id is the one mistake worth catching before the engine, so the message
    /// reads as a form message rather than a rule about characters.
    fn check(&self) -> Result<(), FieldErrors> {
        if self.container_id.trim().is_empty() {
            return Err(FieldErrors::single(
                "container_id",
                "must not be empty: enter a container name (e.g. web-1) or id",
            ));
        }
        Ok(())
    }

    fn new_entry(&self) -> NewAllowlistEntry {
        NewAllowlistEntry {
            container_id: self.container_id.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            enabled: self.enabled,
            tags: self.tag_list(),
        }
    }

    fn patch(&self) -> AllowlistPatch {
        AllowlistPatch {
            container_id: Some(self.container_id.clone()),
            name: Some(self.name.clone()),
            description: Some(self.description.clone()),
            enabled: Some(self.enabled),
            tags: Some(self.tag_list()),
        }
    }
}

/// A label for messages: the entry's name, else its container id.
fn label(entry: &AllowlistEntry) -> &str {
    if entry.name.is_empty() {
        &entry.container_id
    } else {
        &entry.name
    }
}

async fn list_page(
    state: &AppState,
    status: StatusCode,
    flash: Flash,
    request: PageRequest,
    form: EntryForm,
    errors: FormErrors,
) -> Response {
    match state.cb.list_allowlist(request).await {
        Ok(page) => {
            let pager = Pager::new(request, &page);
            let list = ListPage {
                layout: Layout::new("Container allowlist", "allowlist", flash),
                entries: page.items,
                pager,
                form,
                errors,
            };
            render(status, &list)
        }
        Err(error) => engine_error(error, Back::DASHBOARD),
    }
}

/// `GET /webui/allowlist`
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
        EntryForm::blank(),
        FormErrors::none(SHOWN),
    )
    .await
}

/// `POST /webui/allowlist`: adds an entry. A container already listed is a conflict shown on
/// the form (edit the existing entry instead).
pub(crate) async fn create(State(state): State<AppState>, body: FormBody) -> Response {
    let fields = match Fields::from_body(body, BACK) {
        Ok(fields) => fields,
        Err(unreadable) => return unreadable.into_response(),
    };
    let form = EntryForm::read(&fields);
    let first_page = page_request(None, LIST_PAGE_SIZE);
    if let Err(errors) = form.check() {
        let errors = FormErrors::fields(errors, SHOWN);
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
    match state.cb.create_allowlist_entry(form.new_entry()).await {
        Ok(entry) => redirect_with_notice(
            LIST,
            &format!(
                "Container \"{}\" added to the allowlist.",
                entry.container_id
            ),
        ),
        Err(error) => match Rejected::from_engine(error, SHOWN, BACK) {
            Rejected::Form(status, errors) => {
                list_page(&state, status, Flash::none(), first_page, form, errors).await
            }
            Rejected::Page(response) => response,
        },
    }
}

fn form_page(
    status: StatusCode,
    flash: Flash,
    entry: AllowlistEntry,
    form: EntryForm,
    errors: FormErrors,
) -> Response {
    let page = FormPage {
        layout: Layout::new(
            format!("Edit allowlist entry: {}", label(&entry)),
            "allowlist",
            flash,
        ),
        entry,
        form,
        errors,
    };
    render(status, &page)
}

/// `GET /webui/allowlist/{id}`
pub(crate) async fn edit_form(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    flash: Flash,
) -> Response {
    match load(&state, &raw_id).await {
        Ok(entry) => {
            let form = EntryForm::of(&entry);
            form_page(StatusCode::OK, flash, entry, form, FormErrors::none(SHOWN))
        }
        Err(response) => response,
    }
}

/// `POST /webui/allowlist/{id}`
pub(crate) async fn update(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    body: FormBody,
) -> Response {
    let entry = match load(&state, &raw_id).await {
        Ok(entry) => entry,
        Err(response) => return response,
    };
    let fields = match Fields::from_body(body, BACK) {
        Ok(fields) => fields,
        Err(unreadable) => return unreadable.into_response(),
    };
    let form = EntryForm::read(&fields);
    if let Err(errors) = form.check() {
        let errors = FormErrors::fields(errors, SHOWN);
        return form_page(StatusCode::BAD_REQUEST, Flash::none(), entry, form, errors);
    }
    match state
        .cb
        .update_allowlist_entry(entry.id, form.patch())
        .await
    {
        Ok(saved) => redirect_with_notice(
            LIST,
            &format!("Allowlist entry \"{}\" saved.", label(&saved)),
        ),
        Err(error) => match Rejected::from_engine(error, SHOWN, BACK) {
            Rejected::Form(status, errors) => form_page(status, Flash::none(), entry, form, errors),
            Rejected::Page(response) => response,
        },
    }
}

/// `POST /webui/allowlist/{id}/toggle`: enables a disabled entry and the reverse.
pub(crate) async fn toggle(State(state): State<AppState>, Path(raw_id): Path<String>) -> Response {
    let entry = match load(&state, &raw_id).await {
        Ok(entry) => entry,
        Err(response) => return response,
    };
    let patch = AllowlistPatch::default().with_enabled(!entry.enabled);
    match state.cb.update_allowlist_entry(entry.id, patch).await {
        Ok(saved) => {
            let verb = if saved.enabled { "enabled" } else { "disabled" };
            redirect_with_notice(
                LIST,
                &format!("Allowlist entry \"{}\" {verb}.", label(&saved)),
            )
        }
        Err(error) => engine_error(error, BACK),
    }
}

/// `POST /webui/allowlist/{id}/delete`
pub(crate) async fn delete(State(state): State<AppState>, Path(raw_id): Path<String>) -> Response {
    let entry = match load(&state, &raw_id).await {
        Ok(entry) => entry,
        Err(response) => return response,
    };
    match state.cb.delete_allowlist_entry(entry.id).await {
        Ok(()) => redirect_with_notice(
            LIST,
            &format!(
                "Container \"{}\" removed from the allowlist.",
                entry.container_id
            ),
        ),
        Err(error) => engine_error(error, BACK),
    }
}

async fn load(state: &AppState, raw_id: &str) -> Result<AllowlistEntry, Response> {
    let Some(id) = parse_id(raw_id) else {
        return Err(not_found("allowlist entry", raw_id, BACK));
    };
    state
        .cb
        .get_allowlist_entry(id)
        .await
        .map_err(|error| engine_error(error, BACK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_on_commas_and_lines() {
        let form = EntryForm {
            tags: " gpu, db ,,\nweb ".into(),
            ..EntryForm::blank()
        };
        assert_eq!(form.tag_list(), ["gpu", "db", "web"]);
        assert!(EntryForm::blank().tag_list().is_empty());
    }

    #[test]
    fn empty_container_id_is_caught() {
        let errors = EntryForm::blank().check().unwrap_err();
        assert!(errors.0["container_id"][0].starts_with("must not be empty"));
    }
}
