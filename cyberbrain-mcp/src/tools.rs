//! The tools: thin adapters from MCP arguments to [`Cyberbrain`] engine calls.
//!
//! Each tool parses its arguments (errors name the field), calls exactly one engine method (which
//! validates once for every host) and returns the domain value as JSON, both as text content and
//! as structured content.

use cyberbrain_core::Cyberbrain;
use cyberbrain_core::domain::{Page, PageRequest};
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use serde::Serialize;

use crate::error::{ToolError, ToolResult};
use crate::inputs::{IdArgs, PageArgs, SetAllowlistArgs};
use crate::params::Parameters;

/// The MCP server: one per session, each holding a clone of the engine handle.
#[derive(Debug, Clone)]
pub(crate) struct CyberbrainMcp {
    cb: Cyberbrain,
}

#[tool_router(vis = "pub(crate)")]
impl CyberbrainMcp {
    pub(crate) fn new(cb: Cyberbrain) -> Self {
        Self { cb }
    }

    #[tool(
        description = "List directives, ordered by id, one page at a time. A directive is the \
                       instructions and autonomy level (D1 read-only diagnostics, D2 conservative \
                       recommendations, D3 change planning, D4 admin override) a run executes \
                       under. Returns {count, page, page_size, next_page, items}.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_directives(&self, args: Parameters<PageArgs>) -> ToolResult {
        let request = args.into_inner()?.page_request()?;
        paged(request, self.cb.list_directives(request).await?)
    }

    #[tool(
        description = "Get one directive by id: its name, type (D1-D4), text, task configuration, \
                       version, and whether runs under it need approval.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_directive(&self, args: Parameters<IdArgs>) -> ToolResult {
        let id = args.into_inner()?.id()?;
        structured(&self.cb.get_directive(id).await?)
    }

    #[tool(
        description = "List task definitions (the diagnostics a run can execute: log_triage, \
                       gpu_report, service_map and any added ones), ordered by id, one page at a \
                       time. Returns {count, page, page_size, next_page, items}.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_tasks(&self, args: Parameters<PageArgs>) -> ToolResult {
        let request = args.into_inner()?.page_request()?;
        paged(request, self.cb.list_tasks(request).await?)
    }

    #[tool(
        description = "List the container allowlist, ordered by id, one page at a time. \
                       Cyberbrain reads logs from, inspects and maps GPU processes to enabled \
                       allowlisted containers only. Returns {count, page, page_size, next_page, \
                       items}.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_allowlist(&self, args: Parameters<PageArgs>) -> ToolResult {
        let request = args.into_inner()?.page_request()?;
        paged(request, self.cb.list_allowlist(request).await?)
    }

    #[tool(
        description = "Add a container to the allowlist, or replace the entry with the same \
                       container_id (upsert). name, description, enabled and tags are set exactly \
                       as given; omitted ones take their defaults (empty name and description, \
                       enabled, no tags). Returns the stored entry.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn set_allowlist(&self, args: Parameters<SetAllowlistArgs>) -> ToolResult {
        let entry = args.into_inner()?.into();
        structured(&self.cb.set_allowlist_entry(entry).await?)
    }
}

/// One page of a collection as the list tools return it.
#[derive(Serialize)]
struct PageOutput<T> {
    count: u64,
    page: u32,
    page_size: u32,
    /// The next page number, or `null` on the last page.
    next_page: Option<u32>,
    items: Vec<T>,
}

fn paged<T: Serialize>(request: PageRequest, page: Page<T>) -> ToolResult {
    let next_page = page
        .has_next(request)
        .then(|| request.page.saturating_add(1));
    structured(&PageOutput {
        count: page.count,
        page: request.page,
        page_size: request.page_size,
        next_page,
        items: page.items,
    })
}

fn structured<T: Serialize>(value: &T) -> ToolResult {
    let value = serde_json::to_value(value).map_err(|error| ToolError::serialization(&error))?;
    Ok(CallToolResult::structured(value))
}
