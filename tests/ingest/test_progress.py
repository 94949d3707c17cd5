"""Progress while full mode derives: one step per LLM call, the plan growing after segmentation.

The real HTTP LLM client talks to the fake OpenAI-compatible server, which replays the
hand-authored replies of ``tests/test_full_mode.py``.
"""

from __future__ import annotations

from pathlib import Path

from tests.fakes.openai_server import FakeOpenAIServer
from tests.test_full_mode import (
    ALLERGY_TURNS,
    CELLO_TURNS,
    config_for,
    extract_reply,
    segment_reply,
)
from tmem import Config, EmbedderConfig, Memory


def test_full_mode_reports_each_llm_call_and_ends_at_the_plan(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    with FakeOpenAIServer() as server:
        server.script_chat("segment", segment_reply)
        server.script_chat("extract", extract_reply)
        with Memory.open(tmp_path / "p.db", config_for(server)) as mem:
            report = mem.add(
                [*ALLERGY_TURNS, *CELLO_TURNS],
                "maya",
                "s1",
                progress=lambda done, planned: seen.append((done, planned)),
            )
        calls = len(server.chat_requests())
    assert report.ok and report.llm_calls == calls
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[-1] == calls
    assert seen[-1] == (calls, calls)
    assert seen[0] == (1, 1)  # the segmentation window, before extraction was planned
    assert all(d <= p for d, p in seen)


def test_llm_free_progress_counts_embedded_texts(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    config = Config(embedder=EmbedderConfig(kind="hash"))
    with Memory.open(tmp_path / "f.db", config) as mem:
        mem.add(ALLERGY_TURNS, "maya", "s1", progress=lambda d, p: seen.append((d, p)))
    assert seen[-1] == (4, 4)  # a turn vector and a context vector per turn
