//! `cyberbrain mcp --stdio`: MCP over stdin/stdout for desktop clients that launch the binary.
//! stdout carries the protocol, which is why logging goes to stderr.

use cyberbrain_core::Config;

use super::{CliError, open};

pub(crate) async fn run(config: Config, stdio: bool) -> Result<(), CliError> {
    if !stdio {
        return Err(CliError::usage(
            "`cyberbrain mcp` needs --stdio; MCP over HTTP is served by `cyberbrain serve` at /mcp",
        ));
    }
    let cb = open::migrated(config).await?;
    tracing::info!("serving MCP on stdin/stdout");
    cyberbrain_mcp::serve_stdio(cb)
        .await
        .map_err(|e| CliError::failed(format!("MCP over stdio stopped: {e}")))
}
