"""Issue 12, defect 3 in full mode: derivations racing across processes keep scenes consistent.

Writer processes add batches with an LLM (segmentation and extraction through the real HTTP
client, answered by the fake OpenAI-compatible server with hand-authored replies that always
continue the open scene), one more adds with ``derive=False`` (plain scenes), and another runs
``reindex`` in a loop, so derivations of the same turns and extensions of the same open scene
collide. Afterwards a final ``reindex`` places any turn left waiting, and every turn must be in
exactly the scene it links to, with no ``seq`` shared and nothing lost.
"""

from __future__ import annotations

import json
import multiprocessing
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tmem import Config, LLMConfig, Memory

from .conftest import HASH, SCALE
from .integrity import check

FULL_WRITERS = 3
BATCHES = 4 * SCALE
BATCH_SIZE = 2
USER = "shared"


def _segment(body: dict[str, Any]) -> str:
    """Hand-authored: the whole window is one scene, continuing the open scene if shown."""
    text = body["messages"][-1]["content"]
    count = max(int(n) for n in re.findall(r"^\[(\d+)\]", text, flags=re.M))
    scene = {
        "start": 1,
        "end": count,
        "continues_open_scene": "Open scene: none." not in text,
        "title": "The writers keep adding to one long exchange",
        "summary": "Several writers add messages to one conversation.",
        "narrative": "The writers add messages to the same conversation.",
    }
    return json.dumps({"scenes": [scene]})


def _extract(body: dict[str, Any]) -> str:
    """Hand-authored: one item citing the first turn of the chunk, no triggers."""
    item = {"content": "A writer added a message.", "keywords": ["writer"], "source_turns": [1],
            "triggers": []}  # fmt: skip
    facets = {"situation": "a busy exchange", "object": "a message", "event": "adding",
              "emotion": "calm"}  # fmt: skip
    return json.dumps({"items": [item], "scene": facets, "horizon": {}, "persona": []})


def _config(base_url: str) -> Config:
    return replace(HASH, llm=LLMConfig(base_url=base_url, model="fake-model", max_retries=1))


def _messages(writer: int, batch: int) -> list[dict[str, str]]:
    return [
        {
            "id": f"w{writer}-b{batch}-m{i}",
            "speaker": f"writer {writer}",
            "content": f"writer {writer} batch {batch} message {i}",
        }
        for i in range(BATCH_SIZE)
    ]


def _full_writer(url: str, base_url: str, writer: int, batches: int, start: Any) -> None:
    with Memory.open(url, _config(base_url)) as mem:
        start.wait()
        for batch in range(batches):
            mem.add(_messages(writer, batch), user_id=USER, session_id="one-session")


def _deferred_writer(url: str, base_url: str, writer: int, batches: int, start: Any) -> None:
    with Memory.open(url, _config(base_url)) as mem:
        start.wait()
        for batch in range(batches):
            mem.add(_messages(writer, batch), user_id=USER, session_id="one-session", derive=False)


def _reindexer(url: str, base_url: str, writer: int, batches: int, start: Any) -> None:
    with Memory.open(url, _config(base_url)) as mem:
        start.wait()
        for _ in range(batches):
            mem.reindex(USER)


@pytest.fixture
def fake_llm() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        server.script_chat("segment@2", _segment)
        server.script_chat("extract@2", _extract)
        yield server


def test_racing_derivations_keep_every_turn_in_its_scene(
    store_url: str, fake_llm: FakeOpenAIServer
) -> None:
    config = _config(fake_llm.base_url)
    with Memory.open(store_url, config):
        pass  # create the schema once, before the writers race to
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    roles = [_full_writer] * FULL_WRITERS + [_deferred_writer, _reindexer]
    procs = [
        context.Process(target=role, args=(store_url, fake_llm.base_url, n, BATCHES, start))
        for n, role in enumerate(roles)
    ]
    for proc in procs:
        proc.start()
    start.set()
    for proc in procs:
        proc.join(timeout=600)
        assert proc.exitcode == 0, f"{proc.name} exited with {proc.exitcode}"
    with Memory.open(store_url, config) as mem:
        before = check(mem.export(USER))
        mem.reindex(USER)
        after = check(mem.export(USER))
    writers = FULL_WRITERS + 1
    assert after.turns == writers * BATCHES * BATCH_SIZE
    assert (before.duplicate_seq, before.detached, before.stray_sources) == (0, 0, 0), before
    assert (after.duplicate_seq, after.detached, after.stray_sources, after.waiting) == (
        0, 0, 0, 0), after  # fmt: skip
