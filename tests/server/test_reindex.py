"""Deferred derivation over the API: ``derive: false`` adds, then ``POST /v1/reindex``.

The LLM is the fake OpenAI-compatible server on 127.0.0.1 with the hand-authored segment and
extract replies of ``tests/test_full_mode.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.fakes.openai_server import FakeOpenAIServer
from tests.test_full_mode import ALLERGY_TURNS, extract_reply, segment_reply
from tmem.config import Config, EmbedderConfig, LLMConfig
from tmem.server.app import create_app
from tmem.server.jobs import JobRunner
from tmem.server.settings import ServiceSettings
from tmem.store.api_keys import new_api_key
from tmem.store.sqlite import SQLiteStore


def _key(db: Path) -> dict[str, str]:
    secret, key = new_api_key("acme", datetime.now(UTC))
    store = SQLiteStore(db)
    store.service().add_api_key(key)
    store.close()
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def llm() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        fake.script_chat("segment@2", segment_reply)
        fake.script_chat("extract@2", extract_reply)
        yield fake


def test_deferred_adds_then_a_background_reindex(tmp_path: Path, llm: FakeOpenAIServer) -> None:
    db = tmp_path / "r.db"
    headers = _key(db)
    config = Config(
        llm=LLMConfig(base_url=llm.base_url, model="fake-model", max_retries=1),
        embedder=EmbedderConfig(kind="hash"),
    )
    app = create_app(str(db), config, ServiceSettings(workers=0))
    with TestClient(app) as http:
        for message in ALLERGY_TURNS:
            body = {"user_id": "maya", "messages": [message], "derive": False}
            added = http.post("/v1/memories", json=body, headers=headers)
            assert added.status_code == 200 and added.json()["usage"]["calls"] == 0
        assert llm.chat_requests() == []
        found = http.post(
            "/v1/search", json={"user_id": "maya", "query": "epinephrine pen"}, headers=headers
        )
        assert "a1" in found.json()["hits"][0]["source_turns"]

        accepted = http.post(
            "/v1/reindex?background=true", json={"user_id": "maya"}, headers=headers
        )
        assert accepted.status_code == 202
        service = app.state.service
        assert JobRunner(service.memory, service.store, ServiceSettings()).run_once()
        job = http.get(f"/v1/jobs/{accepted.json()['job_id']}", headers=headers).json()
        assert job["status"] == "done" and job["result"]["user_id"] == "maya"
        assert job["result"]["turns"] == 2 and job["result"]["items"] == 1
        assert len(llm.chat_requests("segment@2")) == 1  # both turns in one window

        again = http.post("/v1/reindex", json={"user_id": "maya"}, headers=headers)
        assert again.status_code == 200 and again.json()["turns"] == 0


def test_reindex_without_an_llm_is_501_and_queues_nothing(tmp_path: Path) -> None:
    db = tmp_path / "n.db"
    headers = _key(db)
    app = create_app(
        str(db), Config(embedder=EmbedderConfig(kind="hash")), ServiceSettings(workers=0)
    )
    with TestClient(app) as http:
        for query in ("", "?background=true"):
            refused = http.post(f"/v1/reindex{query}", json={"user_id": "u"}, headers=headers)
            assert refused.status_code == 501
            assert refused.json()["error"]["code"] == "llm_unavailable"
        assert app.state.service.store.claim_job("w1") is None
