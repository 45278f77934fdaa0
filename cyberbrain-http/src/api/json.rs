//! The JSON body extractor every REST handler uses, so bad input is answered the same way
//! everywhere: 415 without a JSON content type, 413 past the body limit, and 400 with
//! field-level messages for anything that does not deserialize into the request type. Parsing
//! happens before a handler runs, so a rejected body can never cause a write.

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use cyberbrain_core::FieldErrors;
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use crate::error::ApiError;

/// The body limit in force, put into request extensions by the router so rejections can name it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimit(pub usize);

/// A JSON request body deserialized into `T` (the domain request types deny unknown fields).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        require_json_content_type(req.headers())?;
        let limit = req.extensions().get::<BodyLimit>().copied();
        let max = limit.map_or(usize::MAX, |BodyLimit(bytes)| bytes);
        let bytes = read_body_draining_excess(req.into_body(), max).await?;
        match bytes {
            Some(bytes) => parse(&bytes).map(ApiJson),
            None => Err(too_large(limit)),
        }
    }
}

/// Past the limit the rest of the body is still read (and dropped), up to this many bytes: a
/// server that answers 413 and closes while the client is still sending makes the client's
/// kernel see a reset, and the client never reads the 413.
pub(crate) const DRAIN_AFTER_LIMIT: usize = 16 << 20;

/// The body, or `None` when it is larger than `max` bytes.
pub(crate) async fn read_body_draining_excess(
    body: axum::body::Body,
    max: usize,
) -> Result<Option<Vec<u8>>, ApiError> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut bytes = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::detail(
                StatusCode::BAD_REQUEST,
                format!("could not read the request body: {e}"),
            )
        })?;
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(chunk.len());
        if seen <= max {
            bytes.extend_from_slice(&chunk);
        } else if seen > max.saturating_add(DRAIN_AFTER_LIMIT) {
            break;
        }
    }
    Ok((seen <= max).then_some(bytes))
}

/// The 413 answer; also used by the router for bodies refused before extraction.
pub(crate) fn too_large(limit: Option<BodyLimit>) -> ApiError {
    let detail = match limit {
        Some(BodyLimit(bytes)) => format!(
            "request body is larger than {bytes} bytes; send less, or raise server.max_body_bytes"
        ),
        None => "request body is too large; raise server.max_body_bytes".to_string(),
    };
    ApiError::detail(StatusCode::PAYLOAD_TOO_LARGE, detail)
}

/// `application/json`, with or without parameters, or any `application/*+json` type.
fn require_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(unsupported("no Content-Type header"));
    };
    let Ok(value) = value.to_str() else {
        return Err(unsupported("an unreadable Content-Type header"));
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let is_json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if is_json {
        Ok(())
    } else {
        Err(unsupported(&format!("Content-Type {value:?}")))
    }
}

fn unsupported(got: &str) -> ApiError {
    ApiError::detail(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!("expected a JSON body with Content-Type: application/json, got {got}"),
    )
}

/// Deserializes `bytes` into `T`, turning every failure into a field-level 400.
///
/// Request bodies are JSON objects. serde would also fill a struct from an array, by position,
/// which no client means; an array is refused as a whole instead.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::field(
            "body",
            "expected a JSON object, got an array",
        ));
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        ApiError::fields(field_errors(&path, error.inner(), bytes.is_empty()))
    })?;
    Ok(value)
}

fn field_errors(path: &str, error: &serde_json::Error, empty_body: bool) -> FieldErrors {
    let message = message_without_position(error);
    match error.classify() {
        Category::Eof if empty_body => {
            FieldErrors::single("body", "request body is empty; send a JSON object")
        }
        Category::Syntax | Category::Eof | Category::Io => FieldErrors::single(
            "body",
            format!(
                "malformed JSON at line {} column {}: {message}",
                error.line(),
                error.column()
            ),
        ),
        Category::Data => data_error(path, &message),
    }
}

/// A JSON value of the wrong shape: report it under the field it belongs to.
fn data_error(path: &str, message: &str) -> FieldErrors {
    // Missing and unknown fields are reported by serde at the enclosing object, with the
    // field's name only in the message: move them to the field itself.
    if let Some(name) = backticked_after(message, "missing field `") {
        return FieldErrors::single(join(path, name), "this field is required");
    }
    if let Some(name) = backticked_after(message, "unknown field `") {
        let allowed = message
            .split_once(", expected ")
            .map(|(_, expected)| format!("; expected {}", expected.replace('`', "")))
            .unwrap_or_default();
        return FieldErrors::single(join(path, name), format!("unknown field{allowed}"));
    }
    if let Some(name) = backticked_after(message, "duplicate field `") {
        return FieldErrors::single(join(path, name), "this field is given more than once");
    }
    let field = if path == "." || path.contains('?') {
        "body"
    } else {
        path
    };
    FieldErrors::single(field, message)
}

/// The text between `prefix` and the next backtick, when `message` starts with `prefix`.
fn backticked_after<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    message.strip_prefix(prefix)?.split('`').next()
}

/// The field's full path: serde reports unknown fields at the field itself but missing ones at
/// the enclosing object, so append the name only when the path does not already end with it.
fn join(path: &str, name: &str) -> String {
    if path == "." || path.contains('?') {
        name.to_string()
    } else if path == name || path.ends_with(&format!(".{name}")) {
        path.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// serde_json appends " at line L column C" to every message; the position is reported
/// separately (or not at all, for field errors), so drop it.
fn message_without_position(error: &serde_json::Error) -> String {
    let full = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    full.strip_suffix(&suffix).unwrap_or(&full).to_string()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        #[serde(default)]
        tags: Vec<String>,
        #[serde(default)]
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        port: u16,
    }

    #[test]
    fn arrays_are_not_objects() {
        for body in [&b"[\"x\"]"[..], b"  \n[1, 2]", b"["] {
            let error = parse::<Sample>(body).unwrap_err();
            assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        }
        assert!(parse::<Sample>(br#"{"name": "x"}"#).is_ok());
    }

    fn errors_of(body: &str) -> BTreeMap<String, Vec<String>> {
        let deserializer = &mut serde_json::Deserializer::from_str(body);
        let error = serde_path_to_error::deserialize::<_, Sample>(deserializer).unwrap_err();
        field_errors(&error.path().to_string(), error.inner(), body.is_empty()).0
    }

    fn one(body: &str) -> (String, String) {
        let errors = errors_of(body);
        assert_eq!(errors.len(), 1, "{errors:?}");
        let (field, messages) = errors.into_iter().next().unwrap();
        (field, messages.join(" | "))
    }

    #[test]
    fn each_failure_class_names_its_field() {
        let table: &[(&str, &str, &str)] = &[
            ("", "body", "request body is empty; send a JSON object"),
            (
                r#"{"name": }"#,
                "body",
                "malformed JSON at line 1 column 10: expected value",
            ),
            (
                r#"{"name": "x""#,
                "body",
                "malformed JSON at line 1 column 12: EOF while parsing",
            ),
            (
                r#"{"name": 5}"#,
                "name",
                "invalid type: integer `5`, expected a string",
            ),
            (r#"{}"#, "name", "this field is required"),
            (
                r#"{"name": "x", "colour": 1}"#,
                "colour",
                "unknown field; expected one of name, tags, inner",
            ),
            (
                r#"{"name": "x", "tags": [1]}"#,
                "tags[0]",
                "invalid type: integer `1`",
            ),
            (
                r#"{"name": "x", "inner": {}}"#,
                "inner.port",
                "this field is required",
            ),
            (
                r#"{"name": "x", "inner": {"port": 70000}}"#,
                "inner.port",
                "invalid value",
            ),
            (
                r#"{"name": "x", "inner": {"p": 1}}"#,
                "inner.p",
                "unknown field",
            ),
            (
                r#""text""#,
                "body",
                "invalid type: string \"text\", expected struct Sample",
            ),
            (
                r#"{"name": "a", "name": "b"}"#,
                "name",
                "this field is given more than once",
            ),
        ];
        for (body, field, message) in table {
            let (got_field, got_message) = one(body);
            assert_eq!(&got_field, field, "body {body:?}: {got_message}");
            assert!(
                got_message.starts_with(message),
                "body {body:?}: {got_message}"
            );
        }
    }

    #[test]
    fn content_type_must_be_json() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            require_json_content_type(&headers).unwrap_err().status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        for (value, ok) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("Application/JSON", true),
            ("application/merge-patch+json", true),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
            ("application/jsonx", false),
        ] {
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            assert_eq!(require_json_content_type(&headers).is_ok(), ok, "{value}");
        }
    }
}
