"""Fixtures for the hostile battery: real ``tmem serve`` processes on 127.0.0.1.

``TMEM_HOSTILE_SCALE`` (read by the tests only, never by tmem, at import: the suite's autouse
fixture hides ``TMEM_*`` variables from the tests themselves) multiplies loop sizes and
example counts: 1 in CI, larger for ``make hostile``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.server.service import Server, create_key
from tests.store.pg_server import (  # noqa: F401 - fixtures
    create_schema,
    drop_schema,
    pg_database_url,
    pg_server,
)

SCALE = max(1, int(os.environ.get("TMEM_HOSTILE_SCALE", "1")))
UNLIMITED = ("--rate-limit", "100000", "--rate-burst", "100000", "--auth-failure-burst", "100000")


@dataclass(frozen=True)
class Service:
    server: Server
    db: str
    key_a: str
    key_b: str

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """A ``tmem serve`` with keys for tenants ``acme`` and ``globex``, once per store."""
    root: Path = tmp_path_factory.mktemp("hostile")
    schema = ""
    if request.param == "sqlite":
        db = str(root / "hostile.db")
    else:
        database: str = request.getfixturevalue("pg_database_url")
        schema, db = create_schema(database)
    key_a, key_b = create_key(db, "acme"), create_key(db, "globex")
    server = Server(db, args=UNLIMITED, log=root / "server.log").start()
    try:
        yield Service(server, db, key_a, key_b)
    finally:
        server.stop()
        if schema:
            drop_schema(request.getfixturevalue("pg_database_url"), schema)
