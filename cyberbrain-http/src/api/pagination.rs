//! `?page=` / `?page_size=` in, `{count, next, previous, results}` out.
//!
//! Links are absolute paths with the query string: the path exactly as the client asked for it
//! (with or without its trailing slash), every other query parameter kept, `page` and
//! `page_size` set. They are `null` at the ends.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use cyberbrain_core::domain::{MAX_PAGE_SIZE, Page, PageRequest};
use cyberbrain_core::{Error, FieldErrors};
use serde::{Deserialize, Serialize};
use url::form_urlencoded;
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

/// The pagination query parameters, as documented in the OpenAPI document.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1-based page number (default 1).
    #[param(minimum = 1)]
    pub page: Option<u32>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub page_size: Option<u32>,
}

/// One page of a collection.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paginated<T> {
    /// Items in the whole collection.
    pub count: u64,
    /// The next page, or null on the last page.
    pub next: Option<String>,
    /// The previous page, or null on the first page.
    pub previous: Option<String>,
    pub results: Vec<T>,
}

/// A short collection returned whole (one row per task, model or directive), counted like a
/// page so clients read both the same way.
#[derive(Debug, Serialize, ToSchema)]
pub struct Listing<T> {
    /// Items in the collection.
    pub count: u64,
    pub results: Vec<T>,
}

impl<T> Listing<T> {
    pub fn new(results: Vec<T>) -> Self {
        Self {
            count: results.len() as u64,
            results,
        }
    }
}

/// The validated page request plus what it takes to build the links.
#[derive(Debug, Clone)]
pub struct Pagination {
    request: PageRequest,
    path: String,
    other_params: Vec<(String, String)>,
}

impl<S: Send + Sync> FromRequestParts<S> for Pagination {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Self::parse(parts.uri.path(), parts.uri.query()).map_err(ApiError::from)
    }
}

impl Pagination {
    /// Reads `page` and `page_size` from a raw query string; the last occurrence wins, and an
    /// empty value means "use the default".
    pub fn parse(path: &str, query: Option<&str>) -> Result<Self, Error> {
        let mut query_values = PageQuery::default();
        let mut other_params = Vec::new();
        let mut errors = FieldErrors::new();
        for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match key.as_ref() {
                "page" => query_values.page = parse_number(&mut errors, "page", &value),
                "page_size" => {
                    query_values.page_size = parse_number(&mut errors, "page_size", &value)
                }
                _ => other_params.push((key.into_owned(), value.into_owned())),
            }
        }
        let defaults = PageRequest::default();
        let page = query_values.page.unwrap_or(defaults.page);
        let page_size = query_values.page_size.unwrap_or(defaults.page_size);
        match PageRequest::new(page, page_size) {
            Ok(request) if errors.is_empty() => Ok(Self {
                request,
                path: path.to_string(),
                other_params,
            }),
            Ok(_) => Err(Error::InvalidInput(errors)),
            Err(Error::InvalidInput(range_errors)) => {
                for (field, messages) in range_errors.fields() {
                    if !errors.0.contains_key(field) {
                        for message in messages {
                            errors.add(field, message.clone());
                        }
                    }
                }
                Err(Error::InvalidInput(errors))
            }
            Err(other) => Err(other),
        }
    }

    pub fn request(&self) -> PageRequest {
        self.request
    }

    /// Wraps a page of results with its count and links.
    pub fn respond<T>(&self, page: Page<T>) -> Paginated<T> {
        let PageRequest {
            page: number,
            page_size,
        } = self.request;
        let last_page = page.count.div_ceil(u64::from(page_size)).max(1);
        let next = page
            .has_next(self.request)
            .then(|| self.link(u64::from(number) + 1));
        // Past the end, "previous" leads back to the last page that has rows.
        let previous = (number > 1).then(|| self.link((u64::from(number) - 1).min(last_page)));
        Paginated {
            count: page.count,
            next,
            previous,
            results: page.items,
        }
    }

    fn link(&self, page: u64) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (key, value) in &self.other_params {
            query.append_pair(key, value);
        }
        query.append_pair("page", &page.to_string());
        query.append_pair("page_size", &self.request.page_size.to_string());
        format!("{}?{}", self.path, query.finish())
    }
}

fn parse_number(errors: &mut FieldErrors, field: &str, value: &str) -> Option<u32> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    match value.parse::<u32>() {
        Ok(number) => Some(number),
        Err(_) => {
            let rule = if field == "page_size" {
                format!("must be between 1 and {MAX_PAGE_SIZE}")
            } else {
                "must be 1 or more".to_string()
            };
            errors.add(
                field,
                format!("{rule}; got {value:?}, which is not a whole number"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_of(count: u64, len: usize) -> Page<u32> {
        Page {
            count,
            items: vec![0; len],
        }
    }

    #[test]
    fn links_keep_the_path_and_other_parameters() {
        let p = Pagination::parse("/api/directives", Some("page=2&page_size=2&status=ok")).unwrap();
        let out = p.respond(page_of(5, 2));
        assert_eq!(
            out.next.as_deref(),
            Some("/api/directives?status=ok&page=3&page_size=2")
        );
        assert_eq!(
            out.previous.as_deref(),
            Some("/api/directives?status=ok&page=1&page_size=2")
        );
        let last = Pagination::parse("/api/tasks/", Some("page=3&page_size=2")).unwrap();
        let out = last.respond(page_of(5, 1));
        assert_eq!(out.next, None);
        assert_eq!(
            out.previous.as_deref(),
            Some("/api/tasks/?page=2&page_size=2")
        );
    }

    #[test]
    fn first_page_has_no_previous_and_past_the_end_points_back() {
        let first = Pagination::parse("/api/tasks/", None).unwrap();
        assert_eq!(first.request(), PageRequest::default());
        let out = first.respond(page_of(3, 3));
        assert_eq!((out.next, out.previous), (None, None));
        let beyond = Pagination::parse("/api/tasks/", Some("page=9&page_size=2")).unwrap();
        let out = beyond.respond(page_of(3, 0));
        assert_eq!(
            out.previous.as_deref(),
            Some("/api/tasks/?page=2&page_size=2")
        );
    }

    #[test]
    fn bad_values_name_the_parameter() {
        for (query, field, message) in [
            ("page_size=0", "page_size", "must be between 1 and 200"),
            ("page_size=201", "page_size", "must be between 1 and 200"),
            (
                "page_size=abc",
                "page_size",
                "must be between 1 and 200; got \"abc\"",
            ),
            ("page=0", "page", "must be 1 or more"),
            ("page=-1", "page", "must be 1 or more; got \"-1\""),
            ("page=99999999999", "page", "must be 1 or more; got"),
        ] {
            let Err(Error::InvalidInput(errors)) = Pagination::parse("/x", Some(query)) else {
                panic!("{query} must be refused");
            };
            let messages = &errors.0[field];
            assert_eq!(messages.len(), 1, "{query}: {messages:?}");
            assert!(messages[0].starts_with(message), "{query}: {messages:?}");
        }
        assert!(
            Pagination::parse("/x", Some("page=&page_size=")).is_ok(),
            "empty = default"
        );
    }
}
