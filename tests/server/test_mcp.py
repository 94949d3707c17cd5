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


CUT = 0.45


async def _recall_explained(db: str) -> dict[str, Any]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-c", "from tmem.cli.main import main; main()", "--db", db, "mcp", "--user", "ana"],
        env=service_env(),
    )
    query = "Where does my sister Lea live?"
    out: dict[str, Any] = {}
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        out["recall_arguments"] = sorted(tools["recall"].input_schema["properties"])
        for text in ("My sister Lea lives in Oslo.", "I prefer window seats."):
            await session.call_tool("remember", {"text": text})
        out["plain"] = _structured(await session.call_tool("recall", {"query": query}))
        out["explained"] = _structured(
            await session.call_tool("recall", {"query": query, "explain": True})
        )
        out["cut"] = _structured(
            await session.call_tool("recall", {"query": query, "min_similarity": CUT})
        )
        out["bad"] = await session.call_tool("recall", {"query": query, "min_similarity": 2})
    return out


def test_mcp_recall_explains_on_request_and_cuts_by_similarity(tmp_path: Path) -> None:
    out = anyio.run(_recall_explained, str(tmp_path / "mcp.db"))
    assert out["recall_arguments"] == ["explain", "limit", "min_similarity", "query"]
    # Unasked, no explanation: the reader is a model and pays for every token.
    assert out["plain"]["hits"] and all("explain" not in h for h in out["plain"]["hits"])
    explained = out["explained"]["hits"]
    assert [h["id"] for h in explained] == [h["id"] for h in out["plain"]["hits"]]
    for hit in explained:
        assert {e["channel"] for e in hit["explain"]} == set(hit["reached_by"])
    best = {
        h["text"]: max(e["score"] for e in h["explain"] if e["channel"] != "bm25")
        for h in explained
    }
    # The window-seat turn comes back through its context (its neighbour is the Lea turn).
    assert best["user: My sister Lea lives in Oslo."] >= CUT > best["user: I prefer window seats."]
    assert [h["text"] for h in out["cut"]["hits"]] == ["user: My sister Lea lives in Oslo."]
    assert out["bad"].is_error and "min_similarity" in out["bad"].content[0].text
