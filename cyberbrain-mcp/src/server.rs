//! The MCP server identity (name, version, instructions) and tool dispatch.

use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, tool_handler};

use crate::tools::CyberbrainMcp;

/// The name MCP clients see in `serverInfo`.
pub(crate) const SERVER_NAME: &str = "cyberbrain";

/// Sent to clients in `initialize`; agents read it before choosing tools.
pub(crate) const INSTRUCTIONS: &str = "\
Cyberbrain is a local-first operations assistant for a self-hosted server: it runs diagnostic \
tasks over the machine's logs, GPUs and containers under a directive (autonomy level D1-D4) and \
asks a local LLM to explain the findings. These tools launch runs (launch_run), follow them \
(list_runs, get_run) and read their reports (get_run_report); cancel runs; approve or deny runs \
whose directive requires approval (list_pending_approvals, approve_run, deny_run); report token \
use (token_stats); read the directives and task definitions; read the container allowlist \
and add or replace its entries (set_allowlist); and search the private knowledge base of \
uploaded documents (rag_search, rag_list_documents, rag_upload_status).

Privacy guardrails, enforced by the server whatever a tool is asked: LLM endpoints must be local \
(loopback or private network); no prompt text or raw LLM response is ever stored or returned, \
only findings and token counts; container operations touch only enabled allowlisted \
containers; secrets, IP and e-mail addresses and user names are redacted from logs and reports; a \
knowledge-base search's text is never stored, only its SHA-256. \
Lists are paginated: pass page and page_size (at most 200) and follow next_page.";

#[tool_handler(router = Self::all_tools())]
impl ServerHandler for CyberbrainMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(SERVER_NAME, env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }
}
