"""Tenant isolation with same-named users and hostile ids, on SQLite and Postgres (reliability S1).

Two tenants write the same user names, each message carrying a canary unique to its tenant.
Every read path (list, get, history, search, export, answer-free paths, jobs) is then called
by each tenant with its own user names, the other tenant's store ids spelled out
(``globex/ana``), path tricks and lookalikes; no response may carry the other tenant's canary,
and the other tenant's memory ids are 404.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.hostile.conftest import SCALE, UNLIMITED
from tests.hostile.figures import record
from tests.server.service import Server, create_key
from tests.store.pg_server import (  # noqa: F401 - fixtures
    pg_database_url,
    pg_new_url,
    pg_server,
)

pytestmark = pytest.mark.slow  # starts tmem serve processes

SHARED_USERS = ["ana", "Ana", "ünï 日本", "100%", "a.b", "_", "*", "' OR 1=1 --", "аna"]
PROBES = [
    "globex/ana",
    "acme/ana",
    "../globex/ana",
    "ana/../../globex/ana",
    "%",
    "%25",
    "ana ",
    " ana",
    "ANA",
    "a\u0301na",
    "ana\u200b",
    "\\globex\\ana",
    "globex%2Fana",
    "*/*",
]
TENANTS = ("acme", "globex")


def _random_ids(count: int) -> list[str]:
    rng = random.Random(12)
    alphabet = string.printable + "ünï日本аΑ%/\\.\u202e\u200b"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(count)]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "tenants.db")
    make: Callable[[], str] = request.getfixturevalue("pg_new_url")
    return make()


@pytest.fixture
def clients(db: str, tmp_path: Path) -> Iterator[dict[str, httpx.Client]]:
    keys = {tenant: create_key(db, tenant) for tenant in TENANTS}
    server = Server(db, args=UNLIMITED, log=tmp_path / "server.log").start()
    made = {
        t: httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {k}"}, timeout=30)
        for t, k in keys.items()
    }
    try:
        yield made
    finally:
        for client in made.values():
            client.close()
        server.stop()


def _canary(tenant: str, user: str) -> str:
    return f"canary-{tenant}-{abs(hash(user)) % 10**9}"


def _reads(http: httpx.Client, user: str, ids: list[str], query: str) -> list[httpx.Response]:
    """Every read path for ``user``, plus look-ups of ``ids`` (another tenant's ids)."""
    params = {"user_id": user}
    responses = [
        http.get("/v1/memories", params=params),
        http.get("/v1/export", params=params),
        http.post("/v1/search", json={"user_id": user, "query": query, "limit": 50}),
    ]
    for memory_id in ids:
        segment = quote(memory_id, safe="")
        responses.append(http.get(f"/v1/memories/{segment}", params=params))
        responses.append(http.get(f"/v1/memories/{segment}/history", params=params))
    return responses


def test_no_tenant_reads_another_tenants_memories(clients: dict[str, httpx.Client]) -> None:
    turn_ids: dict[str, list[str]] = {t: [] for t in TENANTS}
    jobs: dict[str, list[str]] = {t: [] for t in TENANTS}
    for tenant, http in clients.items():
        for user in SHARED_USERS:
            body = {
                "user_id": user,
                "messages": [
                    {"speaker": "A", "content": f"{_canary(tenant, user)} secret of {tenant}"}
                ],
            }
            added = http.post("/v1/memories", json=body)
            assert added.status_code == 200, added.text
            turn_ids[tenant] += added.json()["turn_ids"]
            queued = http.post("/v1/memories", params={"background": "true"}, json=body)
            jobs[tenant].append(queued.json()["job_id"])
    requests = cross = server_errors = 0
    for tenant, http in clients.items():
        other = next(t for t in TENANTS if t != tenant)
        for user in SHARED_USERS + PROBES + _random_ids(20 * SCALE):
            for response in _reads(http, user, turn_ids[other], f"canary-{other} secret"):
                requests += 1
                server_errors += response.status_code >= 500
                cross += f"canary-{other}" in response.text
        for memory_id in turn_ids[other]:
            for user in SHARED_USERS:
                segment = quote(memory_id, safe="")
                deleted = http.delete(f"/v1/memories/{segment}", params={"user_id": user})
                requests += 1
                assert deleted.status_code == 404, deleted.text
        for job_id in jobs[other]:
            requests += 1
            assert http.get(f"/v1/jobs/{job_id}").status_code == 404
    record(
        "tenants",
        {"requests": requests, "cross_tenant_reads": cross, "server_errors": server_errors},
    )
    assert (cross, server_errors) == (0, 0)
    for tenant, http in clients.items():  # and each tenant still has all of its own
        for user in SHARED_USERS:
            listed = http.get("/v1/memories", params={"user_id": user, "kind": "turn"}).json()
            assert [m["text"].split()[1] for m in listed["memories"]] == [
                _canary(tenant, user)
            ] * len(listed["memories"]) and listed["memories"]
