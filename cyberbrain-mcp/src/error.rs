//! The one place where failures become MCP tool errors.
//!
//! Every failure a tool can meet (arguments that do not parse, rules the engine enforces, missing
//! rows, unavailable components) becomes a *tool error result* (`isError: true`) rather than a
//! JSON-RPC protocol error: MCP clients show a tool error's text to the agent, so the agent can
//! read which field was wrong and try again, while protocol errors are usually rendered opaquely.

use cyberbrain_core::{Error, FieldErrors};
use rmcp::ErrorData;
use rmcp::handler::server::tool::IntoCallToolResult;
use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock};
use serde_json::json;

/// What every tool returns: a success result, or a [`ToolError`] that rmcp turns into a tool
/// error result.
pub(crate) type ToolResult = Result<CallToolResult, ToolError>;

/// A failed tool call, shaped for the caller: a machine-readable kind, a message that names the
/// field and the rule, and the field-level messages when the input broke a rule.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolError {
    kind: &'static str,
    message: String,
    fields: Option<FieldErrors>,
    retryable: bool,
}

impl ToolError {
    /// Input that breaks a rule; `fields` names each offending argument.
    pub(crate) fn invalid(fields: FieldErrors) -> Self {
        Self {
            kind: "invalid_input",
            message: fields.to_string(),
            fields: Some(fields),
            retryable: false,
        }
    }

    /// One offending argument.
    pub(crate) fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid(FieldErrors::single(field, message))
    }

    /// Arguments that do not deserialize into the tool's input type. serde's own message says
    /// what was expected but not where, so the path of the offending value is added as the
    /// field name (`container_id: invalid type: integer `42`, expected a string`).
    pub(crate) fn from_arguments(error: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let path = error.path().to_string();
        let inner = error.inner().to_string();
        let (field, message) = match missing_or_unknown_field(&inner) {
            Some((name, true)) => (name.to_string(), "is required".to_string()),
            Some((name, false)) => (name.to_string(), inner.clone()),
            None if path.is_empty() || path == "." => ("arguments".to_string(), inner),
            None => (path, inner),
        };
        Self::invalid_field(field, message)
    }

    /// A result that could not be turned into JSON. Domain types always serialise, so this only
    /// reports a bug; it still reaches the caller as a tool error instead of a dropped response.
    pub(crate) fn serialization(error: &serde_json::Error) -> Self {
        tracing::error!(%error, "an MCP tool result did not serialise");
        Self {
            kind: "internal",
            message: format!("the result could not be encoded as JSON: {error}"),
            fields: None,
            retryable: false,
        }
    }

    #[cfg(test)]
    fn message(&self) -> &str {
        &self.message
    }

    /// The tool error result: the message as text (what clients show) and the details as
    /// structured content (what programs read).
    pub(crate) fn into_result(self) -> CallToolResult {
        let mut details = json!({
            "kind": self.kind,
            "message": self.message,
            "retryable": self.retryable,
        });
        if let Some(fields) = &self.fields {
            details["fields"] = json!(fields);
        }
        let mut result = CallToolResult::error(vec![ContentBlock::text(self.message)]);
        result.structured_content = Some(json!({ "error": details }));
        result
    }
}

impl From<Error> for ToolError {
    fn from(error: Error) -> Self {
        let retryable = error.is_retryable();
        let (kind, fields) = match &error {
            Error::NotFound { .. } => ("not_found", None),
            Error::Conflict(_) => ("conflict", None),
            Error::InvalidInput(fields) => ("invalid_input", Some(fields.clone())),
            Error::Forbidden(_) => ("forbidden", None),
            Error::TooLarge { .. } => ("too_large", None),
            Error::UnsupportedType(_) => ("unsupported_type", None),
            Error::Unavailable { .. } => ("unavailable", None),
            Error::Backend { .. } => {
                tracing::error!(error = %error, "an MCP tool call failed in a backend");
                ("internal", None)
            }
            _ => ("error", None),
        };
        let message = match &fields {
            // The field list alone reads better than `invalid input: …` in a tool result.
            Some(fields) => fields.to_string(),
            None => error.to_string(),
        };
        Self {
            kind,
            message,
            fields,
            retryable,
        }
    }
}

impl IntoCallToolResult for ToolError {
    fn into_call_tool_result(self) -> Result<CallToolResponse, ErrorData> {
        Ok(self.into_result().into())
    }
}

/// `Some((name, true))` for serde's "missing field `name`", `Some((name, false))` for
/// "unknown field `name`, expected …".
fn missing_or_unknown_field(message: &str) -> Option<(&str, bool)> {
    let (rest, missing) = if let Some(rest) = message.strip_prefix("missing field `") {
        (rest, true)
    } else if let Some(rest) = message.strip_prefix("unknown field `") {
        (rest, false)
    } else {
        return None;
    };
    rest.split_once('`').map(|(name, _)| (name, missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> ToolError {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(_) => panic!("expected the arguments to be refused"),
            Err(error) => ToolError::from_arguments(error),
        }
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // only deserialised
    struct Sample {
        container_id: String,
        #[serde(default)]
        tags: Vec<String>,
    }

    #[test]
    fn argument_errors_name_the_field() {
        let wrong_type = parse::<Sample>(json!({"container_id": 42}));
        assert_eq!(
            wrong_type.message(),
            "container_id: invalid type: integer `42`, expected a string"
        );

        let missing = parse::<Sample>(json!({}));
        assert_eq!(missing.message(), "container_id: is required");

        let unknown = parse::<Sample>(json!({"container_id": "web", "colour": "red"}));
        assert!(
            unknown
                .message()
                .starts_with("colour: unknown field `colour`"),
            "{}",
            unknown.message()
        );

        let nested = parse::<Sample>(json!({"container_id": "web", "tags": ["a", 1]}));
        assert!(
            nested.message().starts_with("tags[1]: invalid type"),
            "{}",
            nested.message()
        );
    }

    #[test]
    fn core_errors_keep_their_kind_and_fields() {
        let invalid: ToolError = Error::invalid("container_id", "must not be empty").into();
        let result = invalid.into_result();
        assert_eq!(result.is_error, Some(true));
        let details = &result.structured_content.as_ref().expect("details")["error"];
        assert_eq!(details["kind"], "invalid_input");
        assert_eq!(details["message"], "container_id: must not be empty");
        assert_eq!(details["fields"]["container_id"][0], "must not be empty");

        let missing: ToolError = Error::not_found("directive", 99).into();
        assert_eq!(missing.message(), "directive 99 not found");
        assert_eq!(missing.kind, "not_found");

        let down: ToolError = Error::unavailable("database", "locked").into();
        assert!(down.retryable);
    }
}
