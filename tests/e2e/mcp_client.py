"""Talks to a running Cyberbrain server's /mcp endpoint with the official MCP Python SDK
(Streamable HTTP client + ClientSession) and prints one JSON report on stdout.

    python tests/e2e/mcp_client.py http://127.0.0.1:PORT/mcp CONTAINER_ID

It initializes, lists the tools, reads the directives, upserts an allowlist entry with
set_allowlist, reads it back with get_allowlist, and sends set_allowlist a wrong-typed argument.
The Rust test (tests/e2e/mcp.rs) asserts on the report and checks the write through REST.
Exit status 0 means every MCP exchange completed; a protocol failure exits non-zero with the
reason on stderr.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

try:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.exceptions import McpError
except ImportError as error:  # pragma: no cover - a setup problem, reported plainly
    print(f"the mcp package is not installed ({error}); run ./scripts/test", file=sys.stderr)
    sys.exit(3)


def tool_payload(result: Any) -> Any:
    """A tool result as JSON: structured content when the server sends it, else the text
    content parsed as JSON (or kept as text)."""
    if getattr(result, "structuredContent", None) is not None:
        return result.structuredContent
    texts = [block.text for block in result.content if getattr(block, "type", None) == "text"]
    joined = "\n".join(texts)
    try:
        return json.loads(joined)
    except ValueError:
        return joined


async def call(session: ClientSession, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Calls a tool and records whether it failed as a tool error or as a protocol error."""
    try:
        result = await session.call_tool(name, arguments)
    except McpError as error:
        return {"is_error": True, "kind": "protocol", "message": str(error.error.message)}
    return {
        "is_error": bool(result.isError),
        "kind": "tool",
        "payload": tool_payload(result),
    }


async def run(url: str, container_id: str) -> dict[str, Any]:
    async with streamable_http_client(url) as (read, write, _session_id):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = (await session.list_tools()).tools
            report: dict[str, Any] = {
                "server_name": init.serverInfo.name,
                "protocol_version": str(init.protocolVersion),
                "tools": {tool.name: tool.inputSchema for tool in tools},
            }
            report["list_directives"] = await call(session, "list_directives", {})
            report["set_allowlist"] = await call(
                session,
                "set_allowlist",
                {
                    "container_id": container_id,
                    "name": "set through MCP",
                    "enabled": True,
                    "tags": ["mcp", "e2e"],
                },
            )
            report["get_allowlist"] = await call(session, "get_allowlist", {})
            report["set_allowlist_wrong_type"] = await call(
                session, "set_allowlist", {"container_id": 42, "enabled": "yes"}
            )
            # The session must still work after the bad call.
            report["tools_after_bad_call"] = len((await session.list_tools()).tools)
            return report


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: mcp_client.py <mcp-url> <container-id>", file=sys.stderr)
        return 2
    report = asyncio.run(run(sys.argv[1], sys.argv[2]))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
