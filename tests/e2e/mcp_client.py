"""Talks to a running Cyberbrain server's /mcp endpoint with the official MCP Python SDK
(Streamable HTTP client + ClientSession) and prints one JSON report on stdout.

    python tests/e2e/mcp_client.py http://127.0.0.1:PORT/mcp CONTAINER_ID
    python tests/e2e/mcp_client.py runs http://127.0.0.1:PORT/mcp

The first form initializes, lists the tools, reads the directives, upserts an allowlist entry
with set_allowlist, reads it back with get_allowlist, and sends set_allowlist a wrong-typed
argument. The `runs` form launches a gpu_report run with launch_run, follows it with get_run
until it ended (the server's executor runs it), reads get_run_report, lists runs, sends
launch_run refused arguments, and takes two runs of a D3 directive through
list_pending_approvals, approve_run and deny_run.

The Rust test (tests/e2e/mcp.rs) asserts on the report and checks the effects through REST.
Exit status 0 means every MCP exchange completed; a protocol failure exits non-zero with the
reason on stderr.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
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


ENDED = ("completed", "failed", "cancelled")


async def until_ended(session: ClientSession, run_id: int, timeout_s: float = 60) -> dict[str, Any]:
    """Polls get_run until the run ended (or `timeout_s` passed); returns the last reply."""
    deadline = time.monotonic() + timeout_s
    while True:
        reply = await call(session, "get_run", {"id": run_id})
        if reply["is_error"] or reply["payload"].get("status") in ENDED:
            return reply
        if time.monotonic() > deadline:
            return reply
        await asyncio.sleep(0.2)


async def runs(url: str) -> dict[str, Any]:
    async with streamable_http_client(url) as (read, write, _session_id):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = (await session.list_tools()).tools
            report: dict[str, Any] = {"tools": {tool.name: tool.inputSchema for tool in tools}}

            launched = await call(session, "launch_run", {"tasks": ["gpu_report"]})
            report["launch_run"] = launched
            if launched["is_error"]:
                return report
            run_id = launched["payload"]["id"]
            report["get_run"] = await until_ended(session, run_id)
            report["get_run_report"] = await call(session, "get_run_report", {"id": run_id})
            report["list_runs_completed"] = await call(
                session, "list_runs", {"status": "completed", "limit": 5}
            )
            report["token_stats"] = await call(session, "token_stats", {})
            report["launch_run_refused"] = await call(
                session, "launch_run", {"tasks": ["log_triage"], "task_ids": [1]}
            )
            report["launch_run_wrong_type"] = await call(
                session, "launch_run", {"tasks": "gpu_report", "use_rag": "yes"}
            )
            report["list_runs_bad_status"] = await call(session, "list_runs", {"status": "done"})

            # Approvals: two runs of the built-in D3 directive wait; one is approved (and then
            # executed), the other denied (and cancelled).
            directives = await call(session, "list_directives", {"page_size": 200})
            d3 = next(
                d["id"]
                for d in directives["payload"]["items"]
                if d["directive_type"] == "D3" and d["is_builtin"]
            )
            held = await call(session, "launch_run", {"tasks": ["gpu_report"], "directive_id": d3})
            denied = await call(session, "launch_run", {"tasks": ["gpu_report"], "directive_id": d3})
            report["held"] = held
            report["pending_before"] = await call(session, "list_pending_approvals", {})
            held_id = held["payload"]["id"]
            denied_id = denied["payload"]["id"]
            report["approve_run"] = await call(session, "approve_run", {"id": held_id})
            report["approved_run"] = await until_ended(session, held_id)
            report["deny_run"] = await call(session, "deny_run", {"id": denied_id})
            report["approve_denied"] = await call(session, "approve_run", {"id": denied_id})
            report["pending_after"] = await call(session, "list_pending_approvals", {})
            report["denied_id"] = denied_id
            return report


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "runs":
        report = asyncio.run(runs(sys.argv[2]))
    elif len(sys.argv) == 3:
        report = asyncio.run(run(sys.argv[1], sys.argv[2]))
    else:
        print(
            "usage: mcp_client.py <mcp-url> <container-id> | mcp_client.py runs <mcp-url>",
            file=sys.stderr,
        )
        return 2
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
