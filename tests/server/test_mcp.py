"""``tmem mcp`` as an agent host runs it: a child process speaking MCP over stdio."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.server.service import service_env
from tmem.config import Config, EmbedderConfig
from tmem.memory import Memory

pytestmark = pytest.mark.slow  # starts a tmem mcp process


def _structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result
    if result.structured_content is not None:
        data: dict[str, Any] = result.structured_content
        return data
    loaded: dict[str, Any] = json.loads(result.content[0].text)
    return loaded


async def _session_run(db: str) -> dict[str, Any]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-c", "from tmem.cli.main import main; main()", "--db", db, "mcp", "--user", "ana"],
        env=service_env(),
    )
    out: dict[str, Any] = {}
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        out["tools"] = sorted(tool.name for tool in (await session.list_tools()).tools)
        out["remembered"] = _structured(
            await session.call_tool(
                "remember",
                {"messages": [{"speaker": "Ana", "content": "My sister Lea lives in Oslo."}]},
            )
        )
        await session.call_tool("remember", {"text": "I prefer window seats."})
        out["recalled"] = _structured(
            await session.call_tool("recall", {"query": "Where does Lea live?", "limit": 3})
        )
        turn_id = out["remembered"]["turn_ids"][0]
        out["forgot"] = _structured(await session.call_tool("forget", {"id": turn_id}))
        out["bad"] = await session.call_tool("remember", {})
    return out


def test_mcp_remember_recall_forget_over_stdio(tmp_path: Path) -> None:
    db = str(tmp_path / "mcp.db")
    out = anyio.run(_session_run, db)
    assert out["tools"] == ["forget", "recall", "remember"]
    assert out["remembered"]["turns"] == 1
    top = out["recalled"]["hits"][0]
    assert "Oslo" in top["text"] and top["id"] == out["remembered"]["turn_ids"][0]
    assert out["forgot"]["rows"] >= 1
    assert out["bad"].is_error  # nothing to remember: an error result, not a crash

    # Every tool acted for user "ana" only: the forgotten turn is gone, the other stays.
    with Memory.open(db, Config(embedder=EmbedderConfig(kind="hash"))) as memory:
        texts = [r.text for r in memory.list("ana", "turn")]
    assert texts == ["user: I prefer window seats."]
