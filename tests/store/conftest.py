"""The ``store`` fixture: every contract test runs once per backend in :data:`BACKENDS`.

Adding a backend is one entry: a name, a function that opens a fresh, empty store for a test
(``index`` tells apart several stores in one test), and the marks it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.store.pg_server import (  # noqa: F401 - fixtures used by open_postgres_store
    open_postgres_store,
    pg_database_url,
    pg_new_url,
    pg_server,
)
from tmem.store.base import Store
from tmem.store.sqlite import SQLiteStore


@dataclass(frozen=True)
class Backend:
    name: str
    open: Callable[[pytest.FixtureRequest, int], Store]
    marks: tuple[Any, ...] = field(default=())


def _sqlite_file(request: pytest.FixtureRequest, index: int) -> Store:
    tmp_path: Path = request.getfixturevalue("tmp_path")
    return SQLiteStore(tmp_path / f"store{index}.db")


BACKENDS: list[Backend] = [
    Backend("sqlite-memory", lambda request, index: SQLiteStore(":memory:")),
    Backend("sqlite-file", _sqlite_file),
    Backend("postgres", open_postgres_store, (pytest.mark.postgres,)),
]


@pytest.fixture(params=[pytest.param(b, id=b.name, marks=b.marks) for b in BACKENDS])
def backend(request: pytest.FixtureRequest) -> Backend:
    chosen: Backend = request.param
    return chosen


@pytest.fixture
def make_store(backend: Backend, request: pytest.FixtureRequest) -> Iterator[Callable[[], Store]]:
    """Open further fresh stores of the backend under test (closed after the test)."""
    opened: list[Store] = []

    def make() -> Store:
        opened.append(backend.open(request, len(opened)))
        return opened[-1]

    yield make
    for each in opened:
        each.close()


@pytest.fixture
def store(make_store: Callable[[], Store]) -> Store:
    return make_store()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A file path for SQLite-only tests."""
    return tmp_path / "memory.db"
