"""Full mode through the service: a ``tmem serve`` process whose LLM is a fake OpenAI server.

Scenes and items cross the wire and come back through ``tmem.Client`` as the same objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tests.server.service import Server, create_key
from tests.test_full_mode import ALLERGY_TURNS, extract_reply, segment_reply
from tmem.client import Client
from tmem.models import Item, Scene

pytestmark = pytest.mark.slow  # starts a tmem serve process


@pytest.fixture
def llm() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        fake.script_chat("segment@2", segment_reply)
        fake.script_chat("extract@2", extract_reply)
        fake.script_chat("answer@2", json.dumps({"reasoning": "Fact 1.", "answer": "Priya"}))
        yield fake


def test_full_mode_add_search_answer_through_the_client(
    tmp_path: Path, llm: FakeOpenAIServer
) -> None:
    db = str(tmp_path / "full.db")
    key = create_key(db, "acme")
    env = {"TMEM_LLM_BASE_URL": llm.base_url, "TMEM_LLM_MODEL": "fake-model"}
    server = Server(db, env=env, log=tmp_path / "server.log").start()
    try:
        with Client(server.url, key) as client:
            report = client.add(ALLERGY_TURNS, "maya", "s1")
            assert report.mode == "full" and (report.scenes, report.items) == (1, 1)
            hits = client.search("Who carries an epinephrine pen?", "maya")
            assert hits and {"scene", "item"} <= {h.kind for h in hits}
            # a1 is stated by its item; a2, which no item states, may follow as a turn.
            assert not [h for h in hits if h.kind == "turn" and h.id == "a1"]
            scene = next(r for r in client.list("maya", "scene") if isinstance(r, Scene))
            item = next(r for r in client.list("maya", "item") if isinstance(r, Item))
            assert scene.provenance.model == "fake-model" and scene.source_turns == ("a1", "a2")
            assert item.scene_ids == (scene.id,) and client.get(item.id, "maya") == item
            answer = client.answer("Who carries an epinephrine pen?", "maya")
            assert answer.text == "Priya" and answer.hits
    finally:
        server.stop()


def test_instructions_set_over_rest_reach_the_extraction_request(
    tmp_path: Path, llm: FakeOpenAIServer
) -> None:
    db = str(tmp_path / "full.db")
    key = create_key(db, "acme")
    env = {
        "TMEM_LLM_BASE_URL": llm.base_url,
        "TMEM_LLM_MODEL": "fake-model",
        "TMEM_EXTRACT_INSTRUCTIONS": "Remember allergies.",
    }
    server = Server(db, env=env, log=tmp_path / "server.log").start()
    try:
        with Client(server.url, key) as client:
            client.set_instructions("maya", "Ignore small talk.")
            job = client.add(ALLERGY_TURNS, "maya", "s1", background=True)
            assert client.wait(job, timeout=30).status == "done"
    finally:
        server.stop()
    (request,) = llm.chat_requests("extract@2")
    sent = request.messages[-1]["content"]
    assert '<instructions from="operator">\nRemember allergies.\n</instructions>' in sent
    assert '<instructions from="user">\nIgnore small talk.\n</instructions>' in sent
