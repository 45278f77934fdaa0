//! The one place where errors become HTTP responses.
//!
//! Every handler and extractor fails with [`ApiError`]; [`cyberbrain_core::Error`] is mapped to a
//! status code here and nowhere else. Bodies follow SPEC §4: `{"field": ["message", …]}` for
//! validation (400), `{"detail": "…"}` for everything else. Internal failures are logged with
//! their context and answered with a body that leaks nothing.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cyberbrain_core::{Error, FieldErrors};
use serde::Serialize;
use utoipa::ToSchema;

/// A failed request: a status code plus the JSON body the client sees.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

#[derive(Debug)]
enum ErrorBody {
    Detail(String),
    Fields(FieldErrors),
}

/// `{"detail": "…"}`: what went wrong, in words a client can act on.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub detail: String,
}

/// `{"field": ["message", …]}`: every rule the input broke, by field name. Problems with the
/// body as a whole (malformed JSON) are reported under `body`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(example = json!({"name": ["this field is required"]}))]
pub struct ValidationErrors(pub BTreeMap<String, Vec<String>>);

impl ApiError {
    /// A `{"detail": …}` error with any status.
    pub fn detail(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody::Detail(detail.into()),
        }
    }

    /// A 400 with field-level messages.
    pub fn fields(errors: FieldErrors) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body: ErrorBody::Fields(errors),
        }
    }

    /// A 400 with one message for one field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::fields(FieldErrors::single(field, message))
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::detail(StatusCode::NOT_FOUND, detail)
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        match error {
            Error::NotFound { .. } => Self::detail(StatusCode::NOT_FOUND, error.to_string()),
            Error::Conflict(message) => Self::detail(StatusCode::CONFLICT, message),
            Error::InvalidInput(errors) => Self::fields(errors),
            Error::Forbidden(message) => Self::detail(StatusCode::FORBIDDEN, message),
            Error::TooLarge { .. } => {
                Self::detail(StatusCode::PAYLOAD_TOO_LARGE, error.to_string())
            }
            Error::UnsupportedType(_) => {
                Self::detail(StatusCode::UNSUPPORTED_MEDIA_TYPE, error.to_string())
            }
            Error::Unavailable { .. } => {
                tracing::warn!(error = %error, "a component is unavailable");
                Self::detail(StatusCode::SERVICE_UNAVAILABLE, error.to_string())
            }
            Error::Backend {
                ref message,
                ref source,
            } => {
                tracing::error!(error = %message, source = ?source, "internal error");
                Self::internal()
            }
            // `Error` is non-exhaustive: a variant added later is treated as internal until it
            // gets its own mapping here.
            other => {
                tracing::error!(error = %other, "unmapped error");
                Self::internal()
            }
        }
    }
}

impl ApiError {
    fn internal() -> Self {
        Self::detail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; the server log has the details",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = match self.body {
            ErrorBody::Detail(detail) => {
                (self.status, Json(ErrorDetail { detail })).into_response()
            }
            ErrorBody::Fields(errors) => {
                (self.status, Json(ValidationErrors(errors.0))).into_response()
            }
        };
        // Error bodies describe one request; never let a cache keep them.
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_map_to_their_status() {
        let cases = [
            (Error::not_found("directive", 99), StatusCode::NOT_FOUND),
            (Error::conflict("name taken"), StatusCode::CONFLICT),
            (
                Error::invalid("name", "must not be empty"),
                StatusCode::BAD_REQUEST,
            ),
            (Error::Forbidden("allowlist".into()), StatusCode::FORBIDDEN),
            (
                Error::TooLarge {
                    what: "upload".into(),
                    limit_bytes: 10,
                },
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
            (
                Error::UnsupportedType(".exe".into()),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            (
                Error::unavailable("database", "locked"),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                Error::backend("disk I/O error at /secret/path"),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (error, status) in cases {
            assert_eq!(ApiError::from(error).status(), status);
        }
    }

    #[test]
    fn internal_errors_do_not_leak_their_message() {
        let error = ApiError::from(Error::backend("disk I/O error at /secret/path"));
        match error.body {
            ErrorBody::Detail(detail) => assert!(!detail.contains("/secret/path"), "{detail}"),
            ErrorBody::Fields(_) => panic!("internal errors are details"),
        }
    }
}
