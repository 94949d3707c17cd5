"""The ``store_url`` fixture: a fresh store on each backend, as ``Memory.open`` takes it.

Every test using it runs on a SQLite file and on the local Postgres the fixtures start.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.store.pg_server import (  # noqa: F401 - fixtures that pg_new_url needs
    pg_database_url,
    pg_new_url,
    pg_server,
)
from tmem import Config, EmbedderConfig

HASH = Config(embedder=EmbedderConfig(kind="hash"))

SCALE = max(1, int(os.environ.get("TMEM_HOSTILE_SCALE", "1")))
"""Multiplies examples, processes' batches and rounds: 1 (the default) is the bounded run CI
makes; a long run sets ``TMEM_HOSTILE_SCALE`` (e.g. 20)."""


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A SQLite file path or the URL of a fresh Postgres schema."""
    if request.param == "sqlite":
        return str(tmp_path / "memory.db")
    make: Callable[[], str] = request.getfixturevalue("pg_new_url")
    return make()
