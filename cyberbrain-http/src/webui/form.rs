//! Lenient form and query reading. Browsers send every field as text, omit unchecked checkboxes
//! and may repeat a name; the web UI reads what it knows, ignores the rest, and leaves judging
//! the values to the form structs and the engine, so a strange submission gets messages, never
//! an extractor's plain-text rejection.

use axum::extract::rejection::FormRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cyberbrain_core::FieldErrors;
use cyberbrain_core::domain::{MAX_PAGE_SIZE, PageRequest};

use super::page::{Back, error_page};

/// The fields of one submitted form, in the order they were sent.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fields(Vec<(String, String)>);

impl Fields {
    /// Unwraps the extractor result; a body that is not a form becomes [`Unreadable`].
    pub fn from_body(
        body: Result<axum::Form<Vec<(String, String)>>, FormRejection>,
        back: Back,
    ) -> Result<Self, Unreadable> {
        match body {
            Ok(axum::Form(pairs)) => Ok(Self(pairs)),
            Err(rejection) => Err(Unreadable { rejection, back }),
        }
    }

    /// The last value sent under `name` (the one a user edited when a page repeats a field), or
    /// an empty string.
    pub fn text(&self, name: &str) -> String {
        self.0
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// Every non-empty value sent under `name`, trimmed, in order (a group of checkboxes).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.trim().to_string())
            .filter(|value| !value.is_empty())
            .collect()
    }

    /// A multi-line text field with browser line endings (`\r\n`) turned into `\n`, so saving an
    /// unchanged text never counts as a change.
    pub fn multiline(&self, name: &str) -> String {
        self.text(name).replace("\r\n", "\n")
    }

    /// A checkbox: checked when any value sent under `name` reads as true (`on`, the browser
    /// default, or `true`/`1`/`yes`); an unchecked box is simply absent.
    pub fn checked(&self, name: &str) -> bool {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .any(|(_, value)| {
                matches!(
                    value.trim().to_ascii_lowercase().as_str(),
                    "on" | "true" | "1" | "yes"
                )
            })
    }
}

/// A request body that is not a readable form; answered with a 4xx page in the layout.
#[derive(Debug)]
pub(crate) struct Unreadable {
    rejection: FormRejection,
    back: Back,
}

impl IntoResponse for Unreadable {
    fn into_response(self) -> Response {
        let status = self.rejection.status();
        let status = if status.is_client_error() {
            status
        } else {
            StatusCode::BAD_REQUEST
        };
        error_page(
            status,
            "The form could not be read",
            vec![
                self.rejection.body_text(),
                "Submit the form from this site's pages (content type \
                 application/x-www-form-urlencoded)."
                    .to_string(),
            ],
            self.back,
        )
    }
}

/// Validation messages as a form draws them: beside the field they name, and the rest at the
/// top.
#[derive(Debug, Clone, Default)]
pub(crate) struct FormErrors {
    errors: FieldErrors,
    /// The fields the form draws; messages for any other field are shown at the top.
    shown: &'static [&'static str],
    /// Messages that belong to no field (a conflict such as a taken name).
    general: Vec<String>,
}

impl FormErrors {
    pub fn none(shown: &'static [&'static str]) -> Self {
        Self {
            errors: FieldErrors::new(),
            shown,
            general: Vec::new(),
        }
    }

    pub fn fields(errors: FieldErrors, shown: &'static [&'static str]) -> Self {
        Self {
            errors,
            shown,
            general: Vec::new(),
        }
    }

    pub fn general(message: String, shown: &'static [&'static str]) -> Self {
        Self {
            errors: FieldErrors::new(),
            shown,
            general: vec![message],
        }
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty() && self.general.is_empty()
    }

    /// Whether `field` has a message (the template marks the input).
    pub fn has(&self, field: &str) -> bool {
        self.errors
            .0
            .get(field)
            .is_some_and(|messages| !messages.is_empty())
    }

    /// The messages for one field.
    pub fn get(&self, field: &str) -> &[String] {
        self.errors
            .0
            .get(field)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Messages shown at the top of the form: general ones, and those for fields the form does
    /// not draw (prefixed with the field name so they still say what they are about).
    pub fn top(&self) -> Vec<String> {
        let mut messages = self.general.clone();
        for (field, field_messages) in self.errors.fields() {
            if !self.shown.contains(&field) {
                messages.extend(field_messages.iter().map(|m| format!("{field}: {m}")));
            }
        }
        messages
    }
}

/// The page requested in a list's query string (`?page=2`); anything unreadable is page 1.
pub(crate) fn page_request(raw_query: Option<&str>, page_size: u32) -> PageRequest {
    let page = raw_query
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(key, _)| *key == "page")
        .find_map(|(_, value)| value.trim().parse::<u32>().ok())
        .unwrap_or(1);
    PageRequest::first(page_size.min(MAX_PAGE_SIZE)).with_page(page)
}

/// Previous/next links for a list page.
#[derive(Debug, Clone)]
pub(crate) struct Pager {
    pub page: u32,
    pub total: u64,
    pub prev: Option<u32>,
    pub next: Option<u32>,
    /// The list's other query parameters (its filters), encoded and ending in `&` when there
    /// are any, so moving between pages keeps them.
    pub query: String,
}

impl Pager {
    pub fn new<T>(request: PageRequest, page: &cyberbrain_core::domain::Page<T>) -> Self {
        Self {
            page: request.page,
            total: page.count,
            prev: (request.page > 1).then(|| request.page - 1),
            next: page.has_next(request).then(|| request.page + 1),
            query: String::new(),
        }
    }

    /// Keeps these (non-empty) filters in the page links.
    pub fn with_filters(mut self, filters: &[(&str, &str)]) -> Self {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in filters.iter().filter(|(_, value)| !value.is_empty()) {
            query.append_pair(name, value);
        }
        let query = query.finish();
        self.query = if query.is_empty() {
            query
        } else {
            format!("{query}&")
        };
        self
    }

    /// Whether there is more than one page to move between.
    pub fn shown(&self) -> bool {
        self.prev.is_some() || self.next.is_some()
    }
}

/// The default number of rows a list page shows.
pub(crate) const LIST_PAGE_SIZE: u32 = 50;

/// What to do with an engine error after a form submission.
#[derive(Debug)]
pub(crate) enum Rejected {
    /// Draw the form again with these messages and this status (400 for field rules, 409 for
    /// a conflict such as a taken name).
    Form(StatusCode, FormErrors),
    /// Anything else (a row that vanished, an unavailable database) gets its own page.
    Page(Response),
}

impl Rejected {
    pub fn from_engine(
        error: cyberbrain_core::Error,
        shown: &'static [&'static str],
        back: Back,
    ) -> Self {
        match error {
            cyberbrain_core::Error::InvalidInput(errors) => {
                Self::Form(StatusCode::BAD_REQUEST, FormErrors::fields(errors, shown))
            }
            cyberbrain_core::Error::Conflict(message) => {
                Self::Form(StatusCode::CONFLICT, FormErrors::general(message, shown))
            }
            other => Self::Page(super::page::engine_error(other, back)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        Fields(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn checkboxes_and_repeated_fields() {
        let f = fields(&[
            ("a", "on"),
            ("b", "false"),
            ("name", "first"),
            ("name", "second"),
        ]);
        assert!(f.checked("a"));
        assert!(!f.checked("b"));
        assert!(!f.checked("missing"));
        assert_eq!(f.text("name"), "second");
        assert_eq!(f.text("missing"), "");
        assert_eq!(fields(&[("t", "a\r\nb")]).multiline("t"), "a\nb");
    }

    #[test]
    fn page_numbers_are_read_leniently() {
        assert_eq!(page_request(Some("page=3"), 50).page, 3);
        assert_eq!(page_request(Some("x=1&page=abc"), 50).page, 1);
        assert_eq!(page_request(Some("page=0"), 50).page, 1);
        assert_eq!(page_request(None, 50).page, 1);
    }

    #[test]
    fn page_links_keep_the_filters() {
        let page = cyberbrain_core::domain::Page {
            count: 120,
            items: vec![(); 50],
        };
        let pager = Pager::new(PageRequest::first(50).with_page(2), &page).with_filters(&[
            ("status", "pending"),
            ("task", "a&b"),
            ("empty", ""),
        ]);
        assert_eq!(pager.query, "status=pending&task=a%26b&");
        assert_eq!((pager.prev, pager.next), (Some(1), Some(3)));
        assert_eq!(
            Pager::new(PageRequest::first(50), &page)
                .with_filters(&[])
                .query,
            ""
        );
    }

    #[test]
    fn unknown_fields_go_to_the_top() {
        let mut errors = FieldErrors::new();
        errors.add("name", "must not be empty");
        errors.add("default_directive_id", "directive 9 does not exist");
        let form = FormErrors::fields(errors, &["name"]);
        assert!(form.has("name"));
        assert_eq!(form.get("name"), ["must not be empty"]);
        assert_eq!(
            form.top(),
            ["default_directive_id: directive 9 does not exist"]
        );
    }
}
