//! Input types of the tools. Their JSON schemas are what `tools/list` advertises, so the doc
//! comments here are the argument descriptions agents read.

use cyberbrain_core::domain::{NewAllowlistEntry, PageRequest};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::ToolError;

/// Which page of a collection to return.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageArgs {
    /// 1-based page number (default 1).
    #[schemars(range(min = 1))]
    pub page: Option<u32>,
    /// Items per page, 1 to 200 (default 50).
    #[schemars(range(min = 1, max = 200))]
    pub page_size: Option<u32>,
}

impl PageArgs {
    /// The validated page request; messages name `page` or `page_size`.
    pub(crate) fn page_request(&self) -> Result<PageRequest, ToolError> {
        let defaults = PageRequest::default();
        Ok(PageRequest::new(
            self.page.unwrap_or(defaults.page),
            self.page_size.unwrap_or(defaults.page_size),
        )?)
    }
}

/// Names one row by its id.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdArgs {
    /// The row's id, as listed by the matching list tool.
    #[schemars(range(min = 1))]
    pub id: i64,
}

impl IdArgs {
    /// The id, refused when it cannot name a row (ids start at 1).
    pub(crate) fn id(&self) -> Result<i64, ToolError> {
        if self.id < 1 {
            return Err(ToolError::invalid_field(
                "id",
                format!(
                    "{} is not a valid id: ids are whole numbers from 1",
                    self.id
                ),
            ));
        }
        Ok(self.id)
    }
}

/// One allowlist entry, added or replaced as a whole.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetAllowlistArgs {
    /// A container name or a full or short (12+ hex digits) id: letters, digits, `_`, `.`, `-`.
    pub container_id: String,
    /// A display label (optional).
    #[serde(default)]
    pub name: String,
    /// Why the container is allowed (optional).
    #[serde(default)]
    pub description: String,
    /// Whether Cyberbrain may touch the container (default true); disabled entries never match.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Free-form labels; duplicates are dropped.
    #[serde(default)]
    pub tags: Vec<String>,
}

impl From<SetAllowlistArgs> for NewAllowlistEntry {
    fn from(args: SetAllowlistArgs) -> Self {
        NewAllowlistEntry {
            container_id: args.container_id,
            name: args.name,
            description: args.description,
            enabled: args.enabled,
            tags: args.tags,
        }
    }
}

fn enabled_by_default() -> bool {
    true
}
