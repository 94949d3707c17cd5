"""``tmem mcp`` for agents: errors the model can read, and deferred (batched) derivation.

A child process speaks MCP over stdio, as an agent host runs it. Full mode drives the real
HTTP LLM client against the fake OpenAI-compatible server, replaying the hand-authored replies
of ``tests/test_full_mode.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.fakes.openai_server import FakeOpenAIServer
from tests.server.service import service_env
from tests.test_full_mode import extract_reply, segment_reply
from tmem.config import Config, EmbedderConfig
from tmem.memory import Memory
from tmem.models import Scene

pytestmark = pytest.mark.slow  # starts a tmem mcp process


def _params(db: str, *args: str, **env: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-c", "from tmem.cli.main import main; main()", "--db", db, "mcp", *args],
        env=service_env(**env),
    )


async def _errors(db: str) -> list[Any]:
    params = _params(db, "--user", "ana")
    both = {"text": "x", "messages": [{"speaker": "a", "content": "b"}]}
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        return [
            await session.call_tool("forget", {"id": "no-such-id"}),
            await session.call_tool("remember", both),
            await session.call_tool("recall", {"query": 5}),
        ]


def test_tool_errors_reach_the_model_as_readable_text(tmp_path: Path) -> None:
    forget, both, bad_query = anyio.run(_errors, str(tmp_path / "e.db"))
    for result in (forget, both, bad_query):
        assert result.is_error
        assert "Traceback" not in result.content[0].text
    assert "NotFoundError: no memory 'no-such-id'" in forget.content[0].text
    assert "InputError: give either messages or text, not both" in both.content[0].text


async def _remember_three(db: str, server: FakeOpenAIServer) -> list[Any]:
    env = {"TMEM_LLM_BASE_URL": server.base_url, "TMEM_LLM_MODEL": "fake-model"}
    params = _params(db, "--user", "maya", "--derive", "batched", "--batch-turns", "2", **env)
    results = []
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        for text in (
            "Priya carries an epinephrine pen because shellfish makes her throat swell.",
            "Good that she said it on day one.",
            "I started cello lessons with a teacher called Ines.",
        ):
            results.append(await session.call_tool("remember", {"text": text}))
        # Stored at once: searchable before any derivation has finished.
        results.append(await session.call_tool("recall", {"query": "cello lessons"}))
    return results


def test_batched_derivation_stores_at_once_and_derives_in_batches(tmp_path: Path) -> None:
    db = str(tmp_path / "b.db")
    with FakeOpenAIServer() as server:
        server.script_chat("segment", segment_reply)
        server.script_chat("extract", extract_reply)
        *remembered, recalled = anyio.run(_remember_three, db, server)
        segment_calls = len(server.chat_requests("segment@2"))
    assert all(not r.is_error for r in [*remembered, recalled])
    assert "cello" in recalled.content[0].text
    # One pass after the first two turns, one for the last turn when the server stopped:
    # never the two calls per remember of immediate derivation.
    assert 1 <= segment_calls <= 2
    with Memory.open(db, Config(embedder=EmbedderConfig(kind="hash"))) as memory:
        turns = memory.list("maya", "turn")
        scenes = [s for s in memory.list("maya", "scene") if isinstance(s, Scene)]
        assert not memory.store.pending_turns("maya")
    assert len({t.session_id for t in turns}) == 1  # type: ignore[union-attr]
    assert scenes and all(s.provenance.method == "segment@2" for s in scenes)
