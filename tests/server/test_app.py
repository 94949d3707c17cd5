"""The app in-process: rate limits, auth off, refusal to start exposed without keys."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from tmem.cli.main import cli
from tmem.config import Config, EmbedderConfig
from tmem.server.app import create_app
from tmem.server.jobs import run_add
from tmem.server.settings import ServiceSettings
from tmem.store.api_keys import new_api_key
from tmem.store.base import IdempotencyRecord
from tmem.store.sqlite import SQLiteStore

CONFIG = Config(embedder=EmbedderConfig(kind="hash"))


def _key(db: Path, tenant: str = "acme") -> str:
    secret, key = new_api_key(tenant, datetime.now(UTC))
    store = SQLiteStore(db)
    store.service().add_api_key(key)
    store.close()
    return secret


def test_over_the_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    db = tmp_path / "rate.db"
    secret = _key(db)
    settings = ServiceSettings(rate_per_second=0.01, rate_burst=2, workers=0)
    with TestClient(create_app(str(db), CONFIG, settings)) as http:
        headers = {"Authorization": f"Bearer {secret}"}
        body = {"user_id": "u", "query": "x"}
        codes = [http.post("/v1/search", json=body, headers=headers).status_code for _ in range(3)]
        refused = http.post("/v1/search", json=body, headers=headers)
        assert http.get("/healthz").status_code == 200  # not rate-limited
    assert codes == [200, 200, 429]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1


def test_without_auth_every_request_is_tenant_default(tmp_path: Path) -> None:
    db = tmp_path / "open.db"
    settings = ServiceSettings(auth=False, workers=0)
    with TestClient(create_app(str(db), CONFIG, settings)) as http:
        message = {"speaker": "Ana", "content": "hello there"}
        added = http.post("/v1/memories", json={"user_id": "u", "messages": [message]})
        assert added.status_code == 200
    store = SQLiteStore(db)
    try:
        assert store.users() == ["default/u"]
    finally:
        store.close()


def test_serve_refuses_a_public_bind_without_a_key(tmp_path: Path) -> None:
    db = str(tmp_path / "empty.db")
    result = CliRunner().invoke(cli, ["--db", db, "serve", "--host", "0.0.0.0"])
    assert result.exit_code != 0
    assert "refusing to serve on 0.0.0.0" in result.output


def test_serve_refuses_a_public_bind_when_every_key_is_revoked(tmp_path: Path) -> None:
    db = tmp_path / "revoked.db"
    _key(db)
    store = SQLiteStore(db)
    try:
        for key in store.service().api_keys():
            store.service().revoke_api_key(key.id, datetime.now(UTC))
    finally:
        store.close()
    result = CliRunner().invoke(cli, ["--db", str(db), "serve", "--host", "192.0.2.1"])
    assert result.exit_code != 0 and "refusing" in result.output


def test_reads_are_audited_without_content(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "audit.db"
    secret = _key(db)
    with TestClient(create_app(str(db), CONFIG, ServiceSettings(workers=0))) as http:
        headers = {"Authorization": f"Bearer {secret}"}
        message = {"speaker": "Ana", "content": "The safe word is marmalade."}
        added = http.post(
            "/v1/memories", json={"user_id": "u", "messages": [message]}, headers=headers
        )
        turn_id = added.json()["turn_ids"][0]
        with caplog.at_level(logging.INFO, logger="tmem.server.audit"):
            http.post("/v1/search", json={"user_id": "u", "query": "marmalade"}, headers=headers)
    (line,) = [r.getMessage() for r in caplog.records if r.name == "tmem.server.audit"]
    assert line.startswith("search tenant=acme") and turn_id in line
    assert "marmalade" not in line and "safe word" not in line


def test_old_idempotency_records_are_forgotten_at_startup(tmp_path: Path) -> None:
    db = tmp_path / "ttl.db"
    store = SQLiteStore(db)
    old = datetime.now(UTC) - timedelta(hours=25)
    store.service().idempotency_put(IdempotencyRecord("acme", "old", "h", 200, {"a": 1}, old))
    store.service().idempotency_put(
        IdempotencyRecord("acme", "new", "h", 200, {"a": 1}, datetime.now(UTC))
    )
    store.close()
    with TestClient(create_app(str(db), CONFIG, ServiceSettings(workers=0))):
        pass
    store = SQLiteStore(db)
    try:
        assert store.service().idempotency_get("acme", "old") is None
        assert store.service().idempotency_get("acme", "new") is not None
    finally:
        store.close()


def test_a_background_job_run_twice_stores_its_messages_once(tmp_path: Path) -> None:
    db = tmp_path / "rerun.db"
    secret = _key(db)
    app = create_app(str(db), CONFIG, ServiceSettings(workers=0))
    with TestClient(app) as http:
        message = {"speaker": "Ana", "content": "Only once, please."}
        accepted = http.post(
            "/v1/memories?background=true",
            json={"user_id": "u", "messages": [message]},
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert accepted.status_code == 202
        service = app.state.service
        job = service.store.claim_job("w1")
        assert job is not None and all("id" in m for m in job.payload["messages"])
        # The worker died after adding; its lease ran out and another worker runs it again.
        run_add(service.memory, job.payload)
        again = run_add(service.memory, job.payload)
        assert again["turns"] == 0
        assert len(service.memory.list("acme/u", "turn")) == 1
