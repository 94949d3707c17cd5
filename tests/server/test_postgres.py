"""The service on Postgres: a real ``tmem serve`` process on a pgvector database."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from tests.server.service import Server, create_key
from tests.store.pg_server import (  # noqa: F401 - fixtures
    pg_database_url,
    pg_new_url,
    pg_server,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_add_search_and_a_background_job_on_postgres(pg_new_url: Callable[[], str]) -> None:  # noqa: F811
    url = pg_new_url()
    key, other = create_key(url, "acme"), create_key(url, "globex")
    server = Server(url).start()
    try:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as api:
            message = {"speaker": "Ana", "content": "Our team dinner is at the harbour cafe."}
            added = api.post("/v1/memories", json={"user_id": "ana", "messages": [message]})
            assert added.status_code == 200, added.text
            hits = api.post("/v1/search", json={"user_id": "ana", "query": "team dinner"})
            assert hits.json()["hits"][0]["id"] == added.json()["turn_ids"][0]

            queued = api.post(
                "/v1/memories",
                params={"background": "true"},
                json={"user_id": "ana", "messages": [{"speaker": "Ana", "content": "Kayak day"}]},
            )
            job_id = queued.json()["job_id"]
            deadline = time.monotonic() + 20
            while (job := api.get(f"/v1/jobs/{job_id}").json())["status"] != "done":
                assert time.monotonic() < deadline, job
                time.sleep(0.05)
            assert job["result"]["turns"] == 1
        forbidden = httpx.post(
            f"{server.url}/v1/search",
            json={"user_id": "ana", "query": "team dinner"},
            headers={"Authorization": f"Bearer {other}"},
        )
        assert forbidden.status_code == 200 and forbidden.json()["hits"] == []
    finally:
        server.stop()
