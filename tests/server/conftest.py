"""Fixtures: one real ``tmem serve`` on a temporary SQLite file, shared by the whole session,
with API keys for two tenants."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.server.service import Server, create_key


@dataclass(frozen=True)
class Running:
    server: Server
    key_a: str
    key_b: str

    @property
    def url(self) -> str:
        return self.server.url

    def http(self, key: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0)


@pytest.fixture(scope="session")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    root: Path = tmp_path_factory.mktemp("service")
    db = str(root / "service.db")
    key_a, key_b = create_key(db, "acme"), create_key(db, "globex")
    # Generous limits: this server is shared by many tests, some sending no or bad keys on
    # purpose (the limits themselves: test_limits.py, tests/hostile/test_edges.py).
    args = ("--rate-limit", "1000", "--rate-burst", "1000", "--auth-failure-burst", "100000")
    server = Server(db, args=args, log=root / "server.log")
    server.start()
    try:
        yield Running(server, key_a, key_b)
    finally:
        server.stop()


@pytest.fixture
def api_a(running: Running) -> Iterator[httpx.Client]:
    with running.http(running.key_a) as client:
        yield client


@pytest.fixture
def api_b(running: Running) -> Iterator[httpx.Client]:
    with running.http(running.key_b) as client:
        yield client
