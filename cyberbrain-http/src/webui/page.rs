//! What every page shares: the layout data, the one-shot flash message, rendering with safe
//! headers, redirects, and the error pages (404, 409, …) drawn inside the layout.

use askama::Template;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cyberbrain_core::Error;

/// The product version shown in the footer.
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The cookie that carries a flash message across one redirect.
const FLASH_COOKIE: &str = "cyberbrain_flash";

/// Longest flash message kept; anything longer is cut, so a cookie never grows without bound.
const MAX_FLASH_CHARS: usize = 300;

/// Pages only load their own stylesheet and script; forms only post back to this server; no
/// other site may frame them.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; script-src 'self'; \
     img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The data the shared layout (`base.html`) draws: title, active navigation entry, flash
/// message and version.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub title: String,
    /// Which navigation entry is highlighted: `dashboard`, `runs`, `approvals`, `directives`,
    /// `tasks`, `allowlist`, `schedules`.
    pub nav: &'static str,
    pub notice: Option<String>,
    pub version: &'static str,
}

impl Layout {
    pub fn new(title: impl Into<String>, nav: &'static str, flash: Flash) -> Self {
        Self {
            title: title.into(),
            nav,
            notice: flash.0,
            version: VERSION,
        }
    }
}

/// A page template drawn inside the layout.
pub(crate) trait Screen: Template {
    fn layout(&self) -> &Layout;
}

/// Implements [`Screen`] for template structs that hold their layout in a `layout` field.
macro_rules! screen {
    ($($page:ty),+ $(,)?) => {
        $(impl $crate::webui::page::Screen for $page {
            fn layout(&self) -> &$crate::webui::page::Layout {
                &self.layout
            }
        })+
    };
}
pub(crate) use screen;

/// Renders a page with the given status. A page that showed the flash message also clears its
/// cookie, so the message appears exactly once.
pub(crate) fn render<S: Screen>(status: StatusCode, screen: &S) -> Response {
    let html = match screen.render() {
        Ok(html) => html,
        Err(error) => {
            // A template failing at run time is a bug in this crate, never the user's input.
            tracing::error!(%error, "web UI template failed to render");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response();
        }
    };
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    if screen.layout().notice.is_some() {
        headers.append(SET_COOKIE, HeaderValue::from_static(CLEAR_FLASH));
    }
    response
}

const CLEAR_FLASH: &str = "cyberbrain_flash=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict";

/// The flash message a previous redirect left, read from its cookie.
#[derive(Debug, Clone, Default)]
pub(crate) struct Flash(pub Option<String>);

impl Flash {
    pub fn none() -> Self {
        Self(None)
    }

    pub fn from_headers(headers: &HeaderMap) -> Self {
        let value = headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|header| header.to_str().ok())
            .flat_map(|header| header.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == FLASH_COOKIE)
            .map(|(_, value)| percent_decode(value))
            .map(|message| truncate(message.trim()))
            .filter(|message| !message.is_empty());
        Self(value)
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Flash {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::from_headers(&parts.headers))
    }
}

/// 303 See Other to `location`, leaving `notice` for the next page to show.
pub(crate) fn redirect_with_notice(location: &str, notice: &str) -> Response {
    let cookie = format!(
        "{FLASH_COOKIE}={}; Path=/; Max-Age=60; HttpOnly; SameSite=Strict",
        percent_encode(&truncate(notice))
    );
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(location) {
        headers.insert(LOCATION, location);
    }
    // Percent-encoding leaves only visible ASCII, so this always succeeds.
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        headers.insert(SET_COOKIE, cookie);
    }
    response
}

fn truncate(message: &str) -> String {
    message.chars().take(MAX_FLASH_CHARS).collect()
}

/// Cookie values may not hold spaces, quotes, `;` or non-ASCII: keep unreserved characters and
/// encode every other byte as `%XX`.
fn percent_encode(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// The inverse of [`percent_encode`]; malformed escapes are kept as written and invalid UTF-8 is
/// replaced, because the value comes from the client.
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = if bytes[i] == b'%' {
            bytes
                .get(i + 1..i + 3)
                .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        } else {
            None
        };
        match escape {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// A status page inside the layout: not found, conflict, bad request, unavailable.
#[derive(Debug, Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    pub layout: Layout,
    pub status: u16,
    pub heading: String,
    pub messages: Vec<String>,
    pub back_href: String,
    pub back_label: String,
}

screen!(ErrorPage);

/// Where an error page sends the user back to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Back {
    pub nav: &'static str,
    pub href: &'static str,
    pub label: &'static str,
}

impl Back {
    pub const DASHBOARD: Self = Self {
        nav: "dashboard",
        href: "/webui/",
        label: "Dashboard",
    };
    pub const DIRECTIVES: Self = Self {
        nav: "directives",
        href: "/webui/directives",
        label: "Directives",
    };
    pub const TASKS: Self = Self {
        nav: "tasks",
        href: "/webui/tasks",
        label: "Tasks",
    };
    pub const ALLOWLIST: Self = Self {
        nav: "allowlist",
        href: "/webui/allowlist",
        label: "Allowlist",
    };
    pub const RUNS: Self = Self {
        nav: "runs",
        href: "/webui/runs",
        label: "Runs",
    };
    pub const SCHEDULES: Self = Self {
        nav: "schedules",
        href: "/webui/schedules",
        label: "Schedules",
    };
    pub const APPROVALS: Self = Self {
        nav: "approvals",
        href: "/webui/approvals",
        label: "Approvals",
    };
}

/// An error page with the given status, heading and messages.
pub(crate) fn error_page(
    status: StatusCode,
    heading: &str,
    messages: Vec<String>,
    back: Back,
) -> Response {
    let page = ErrorPage {
        layout: Layout::new(heading, back.nav, Flash::none()),
        status: status.as_u16(),
        heading: heading.to_string(),
        messages,
        back_href: back.href.to_string(),
        back_label: back.label.to_string(),
    };
    render(status, &page)
}

/// The 404 page for an id in the path that is not a number or names no row.
pub(crate) fn not_found(entity: &str, id: &str, back: Back) -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "Not found",
        vec![format!(
            "There is no {entity} with id \"{id}\". It may have been deleted."
        )],
        back,
    )
}

/// Maps an engine error to a page. Input problems and missing rows are the user's to fix and
/// get 4xx pages; only a backend failure is a 500, and its details go to the log.
pub(crate) fn engine_error(error: Error, back: Back) -> Response {
    match error {
        Error::NotFound { entity, key } => not_found(entity, &key, back),
        Error::Conflict(message) => error_page(
            StatusCode::CONFLICT,
            "This change is not possible",
            vec![message],
            back,
        ),
        Error::InvalidInput(fields) => error_page(
            StatusCode::BAD_REQUEST,
            "The input was not accepted",
            fields
                .fields()
                .flat_map(|(field, messages)| messages.iter().map(move |m| format!("{field}: {m}")))
                .collect(),
            back,
        ),
        Error::Forbidden(message) => {
            error_page(StatusCode::FORBIDDEN, "Not allowed", vec![message], back)
        }
        Error::Unavailable { component, message } => error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            vec![format!(
                "{component} is unavailable: {message}. Try again in a moment."
            )],
            back,
        ),
        other => {
            tracing::error!(error = %other, "web UI request failed in the backend");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                vec![
                    "The server could not complete this request; the details are in its log."
                        .to_string(),
                ],
                back,
            )
        }
    }
}

/// Parses an id from the path; anything that is not a positive integer names no row.
pub(crate) fn parse_id(raw: &str) -> Option<i64> {
    raw.trim().parse::<i64>().ok().filter(|id| *id > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flash_round_trips_through_the_cookie() {
        let message = "Directive \"<b>ü; x=1\" saved.";
        let encoded = percent_encode(message);
        assert!(
            encoded
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b';' && b != b'"')
        );
        assert_eq!(percent_decode(&encoded), message);

        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_str(&format!("a=b; {FLASH_COOKIE}={encoded}")).unwrap(),
        );
        assert_eq!(Flash::from_headers(&headers).0.as_deref(), Some(message));
    }

    #[test]
    fn malformed_escapes_are_kept() {
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%+F"), "%+F");
        assert_eq!(percent_decode("%FF"), "\u{FFFD}");
    }

    #[test]
    fn ids_must_be_positive_integers() {
        assert_eq!(parse_id("12"), Some(12));
        assert_eq!(parse_id("0"), None);
        assert_eq!(parse_id("-3"), None);
        assert_eq!(parse_id("abc"), None);
    }
}
