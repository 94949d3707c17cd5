"""open_store: paths and ``:memory:`` give SQLite; Postgres URLs need the extra."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tmem.errors import ConfigError
from tmem.store.factory import is_postgres_url, open_store
from tmem.store.sqlite import SQLiteStore


def test_paths_and_memory_open_sqlite(tmp_path: Path) -> None:
    for target in (":memory:", tmp_path / "a.db", str(tmp_path / "b.db")):
        store = open_store(target)
        try:
            assert isinstance(store, SQLiteStore)
            assert store.users() == []
        finally:
            store.close()
    assert (tmp_path / "a.db").exists()


def test_postgres_urls_are_recognised() -> None:
    assert is_postgres_url("postgresql://localhost/db")
    assert is_postgres_url("POSTGRES://u@h/db")
    assert not is_postgres_url("postgres.db")
    assert not is_postgres_url(Path("postgresql://x"))


def test_missing_postgres_extra_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes the import fail as if the extra were not installed.
    monkeypatch.setitem(sys.modules, "tmem.store.postgres", None)
    with pytest.raises(ConfigError, match=r"pip install 'tmem\[postgres\]'") as caught:
        open_store("postgresql://127.0.0.1/tmem")
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
