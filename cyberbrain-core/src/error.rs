//! The one public error type. Backends convert their private errors into it at their boundary;
//! each host maps it to its own surface (HTTP status, MCP tool error, Python exception) in one place.

use std::collections::BTreeMap;
use std::fmt;

/// Shorthand used across the crate and by every backend.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Field-level validation messages: `{"field": ["message", …]}`, the shape the REST API returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct FieldErrors(pub BTreeMap<String, Vec<String>>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    /// One message for one field.
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, message);
        errors
    }

    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.entry(field.into()).or_default().push(message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was recorded, else the collected messages as [`Error::InvalidInput`].
    pub fn into_result(self) -> Result<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidInput(self))
        }
    }

    pub fn fields(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.0
            .iter()
            .map(|(field, messages)| (field.as_str(), messages.as_slice()))
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (field, messages) in &self.0 {
            for message in messages {
                if !first {
                    f.write_str("; ")?;
                }
                first = false;
                write!(f, "{field}: {message}")?;
            }
        }
        Ok(())
    }
}

/// Everything that can go wrong, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The named entity does not exist.
    #[error("{entity} {key} not found")]
    NotFound { entity: &'static str, key: String },

    /// The request collides with existing state (a unique name, a protected row, a reference).
    #[error("{0}")]
    Conflict(String),

    /// The input breaks a rule; every message names the field, the rule and what to do.
    #[error("invalid input: {0}")]
    InvalidInput(FieldErrors),

    /// The input is larger than a configured limit (an upload over `rag.max_upload_bytes`).
    #[error("{what} is larger than the limit of {limit_bytes} bytes")]
    TooLarge { what: String, limit_bytes: u64 },

    /// The input is of a type this operation does not accept; the message names what was found
    /// and what is accepted.
    #[error("unsupported type: {0}")]
    UnsupportedType(String),

    /// The caller is not allowed to do this (a guardrail or a role).
    #[error("forbidden: {0}")]
    Forbidden(String),

    /// A component (database, LLM, embedder, container engine) cannot be reached right now.
    #[error("{component} unavailable: {message}")]
    Unavailable { component: String, message: String },

    /// A backend failed in a way the caller cannot fix; the message carries the context.
    #[error("{message}")]
    Backend {
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl Error {
    pub fn not_found(entity: &'static str, key: impl fmt::Display) -> Self {
        Self::NotFound {
            entity,
            key: key.to_string(),
        }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict(message.into())
    }

    /// A single-field validation error.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidInput(FieldErrors::single(field, message))
    }

    pub fn unavailable(component: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Unavailable {
            component: component.into(),
            message: message.into(),
        }
    }

    pub fn backend(message: impl Into<String>) -> Self {
        Self::Backend {
            message: message.into(),
            source: None,
        }
    }

    pub fn backend_with(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Backend {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// Whether retrying the same call later may succeed (transient unavailability).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_collect_and_display() {
        let mut errors = FieldErrors::new();
        errors.add("name", "must not be empty");
        errors.add("name", "must be at most 200 characters");
        errors.add("directive_type", "must be one of D1, D2, D3, D4");
        assert_eq!(
            errors.to_string(),
            "directive_type: must be one of D1, D2, D3, D4; name: must not be empty; \
             name: must be at most 200 characters"
        );
        assert!(matches!(errors.into_result(), Err(Error::InvalidInput(_))));
        assert!(FieldErrors::new().into_result().is_ok());
    }

    #[test]
    fn only_unavailable_is_retryable() {
        assert!(Error::unavailable("llm", "connection refused").is_retryable());
        assert!(!Error::conflict("duplicate").is_retryable());
        assert!(!Error::not_found("directive", 7).is_retryable());
        assert_eq!(
            Error::not_found("directive", 7).to_string(),
            "directive 7 not found"
        );
    }
}
