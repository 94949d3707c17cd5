"""Open a store from a target string: a file path, ``:memory:`` or a Postgres URL."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import cast

from tmem.errors import ConfigError
from tmem.store.base import Store
from tmem.store.sqlite import SQLiteStore

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(target: str | Path) -> bool:
    return isinstance(target, str) and target.lower().startswith(_POSTGRES_SCHEMES)


def open_store(target: str | Path, *, durable: bool = False) -> Store:
    """Open the store ``target`` names.

    Args:
        target: a SQLite file path (created when missing), ``":memory:"``, or a
            ``postgresql://`` / ``postgres://`` URL.
        durable: SQLite only: ``synchronous=FULL``, so acknowledged writes survive power loss.

    Raises:
        ConfigError: a Postgres URL was given but the ``postgres`` extra is not installed.
        StoreError: the store cannot be opened.
    """
    if is_postgres_url(target):
        return _open_postgres(str(target))
    return SQLiteStore(target, durable=durable)


def _open_postgres(url: str) -> Store:
    try:
        module = importlib.import_module("tmem.store.postgres")
    except ImportError:
        raise ConfigError(
            "a Postgres store needs the postgres extra: pip install 'tmem[postgres]'"
        ) from None
    return cast(Store, module.PostgresStore(url))
