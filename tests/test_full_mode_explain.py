"""A memory only a Horizon trigger reached says so, with the trigger's text and cosine, in the
library, on the command line (``tmem search --explain``) and over REST (``tmem.Client``).

Full mode runs the real HTTP LLM client against the fake OpenAI-compatible server, whose
replies are the hand-authored ones of ``tests/test_full_mode.py``: the allergy scene carries
the Horizon sentence ``HORIZON``, and the query shares words with that sentence only (the hash
embedder makes similarity a matter of shared words), so nothing but the trigger reaches it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.fakes.openai_server import FakeOpenAIServer
from tests.server.service import Server, create_key
from tests.test_full_mode import (
    ALLERGY_TURNS,
    CELLO_TURNS,
    HORIZON,
    QUERIES,
    config_for,
    extract_reply,
    segment_reply,
)
from tmem import Memory
from tmem.cli.main import cli
from tmem.client import Client
from tmem.embed.hashing import HashEmbedder
from tmem.models import Hit

QUERY, LABEL = QUERIES["horizon"]
CONFIDENCE = 0.8  # what extract_reply gives the GOAL_ARC channel


def expected_cosine() -> float:
    query, trigger = HashEmbedder().embed([QUERY, HORIZON])
    return float(np.dot(query, trigger))


@pytest.fixture
def llm() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        fake.script_chat("segment@2", segment_reply)
        fake.script_chat("extract@2", extract_reply)
        yield fake


def only_horizon(hits: list[Hit]) -> Hit:
    """The allergy memory among ``hits``, checked to be reached by its Horizon trigger alone."""
    (hit,) = [h for h in hits if "a1" in h.source_turns]
    assert hit.kind == "scene" and hit.reached_by == (LABEL,)
    return hit


def assert_explained(hit: Hit) -> None:
    (evidence,) = hit.explain
    assert (evidence.channel, evidence.rank) == ("horizon", 1)
    (match,) = evidence.triggers
    assert (match.label, match.text) == (LABEL, HORIZON)
    assert match.cosine == pytest.approx(expected_cosine(), abs=1e-6)
    assert match.confidence == pytest.approx(CONFIDENCE)
    assert evidence.score == pytest.approx(match.cosine * CONFIDENCE)


def test_library(tmp_path: Path, llm: FakeOpenAIServer) -> None:
    with Memory.open(tmp_path / "lib.db", config_for(llm)) as mem:
        assert mem.add(ALLERGY_TURNS, "maya", "s1").ok and mem.add(CELLO_TURNS, "maya", "s2").ok
        hit = only_horizon(mem.search(QUERY, "maya"))
    assert_explained(hit)
    assert 0.3 < expected_cosine() < 0.9  # a partial match: the test would see a wrong value


def test_cli_explain(tmp_path: Path, llm: FakeOpenAIServer) -> None:
    env = {
        "TMEM_EMBEDDER": "hash",
        "TMEM_LLM_BASE_URL": llm.base_url,
        "TMEM_LLM_MODEL": "fake-model",
    }
    db = str(tmp_path / "cli.db")
    runner = CliRunner()
    for session, turns in (("s1", ALLERGY_TURNS), ("s2", CELLO_TURNS)):
        path = tmp_path / f"{session}.json"
        path.write_text(json.dumps(turns))
        added = runner.invoke(
            cli, ["--db", db, "-q", "add", "--user", "maya", "--session", session, str(path)],
            env=env,
        )  # fmt: skip
        assert added.exit_code == 0, added.output
    result = runner.invoke(
        cli, ["--db", db, "search", "--user", "maya", "--explain", QUERY], env=env
    )
    assert result.exit_code == 0, result.output
    block = result.output.split("\n 2. ")[0]  # the first hit: the allergy scene, rank 1
    assert "[scene " in block and f"via {LABEL}" in block
    cosine = expected_cosine()
    assert "why (fused 0.0164 among scenes, 1 channel):" in block
    assert f"horizon, rank 1: cosine x confidence {cosine * CONFIDENCE:.4f}, adds 0.0164" in block
    assert f'{LABEL} "{HORIZON}" cosine {cosine:.2f}, confidence {CONFIDENCE:.2f}' in block


@pytest.mark.slow  # starts a tmem serve process
def test_rest_through_the_client(tmp_path: Path, llm: FakeOpenAIServer) -> None:
    db = str(tmp_path / "rest.db")
    key = create_key(db, "acme")
    env = {"TMEM_LLM_BASE_URL": llm.base_url, "TMEM_LLM_MODEL": "fake-model"}
    server = Server(db, env=env, log=tmp_path / "server.log").start()
    try:
        with Client(server.url, key) as client:
            assert client.add(ALLERGY_TURNS, "maya", "s1").ok
            assert client.add(CELLO_TURNS, "maya", "s2").ok
            hit = only_horizon(client.search(QUERY, "maya"))
            cosine = hit.explain[0].triggers[0].cosine
            assert only_horizon(client.search(QUERY, "maya", min_similarity=cosine)) == hit
            assert not [
                h
                for h in client.search(QUERY, "maya", min_similarity=cosine + 1e-6)
                if "a1" in h.source_turns
            ]
    finally:
        server.stop()
    assert_explained(hit)
