//! Tool arguments: our own `Parameters<T>` extractor.
//!
//! rmcp's `Parameters<T>` reports a bad argument with serde's message alone ("invalid type:
//! integer `42`, expected a string"), which does not say *which* argument was wrong. This one
//! deserialises through `serde_path_to_error`, so the tool error names the field, and it never
//! fails extraction: the outcome is handed to the tool, which returns it as a tool error through
//! [`ToolError`]. The `#[tool]` macro finds the input schema of any argument type named
//! `Parameters`, so `tools/list` still shows `T`'s schema.

use std::borrow::Cow;

use rmcp::handler::server::common::FromContextPart;
use rmcp::handler::server::tool::ToolCallContext;
use serde::de::DeserializeOwned;

use crate::error::ToolError;

/// The arguments of a tool call, deserialised into `T`, or the error naming the bad field.
#[derive(Debug)]
pub(crate) struct Parameters<T>(Result<T, ToolError>);

impl<T> Parameters<T> {
    pub(crate) fn into_inner(self) -> Result<T, ToolError> {
        self.0
    }
}

impl<S, T: DeserializeOwned> FromContextPart<ToolCallContext<'_, S>> for Parameters<T> {
    fn from_context_part(context: &mut ToolCallContext<'_, S>) -> Result<Self, rmcp::ErrorData> {
        // A call without `arguments` is a call with no arguments: required fields then say so.
        let arguments = serde_json::Value::Object(context.arguments.take().unwrap_or_default());
        Ok(Self(
            serde_path_to_error::deserialize(arguments).map_err(ToolError::from_arguments),
        ))
    }
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for Parameters<T> {
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}
