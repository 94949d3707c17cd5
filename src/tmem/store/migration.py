"""Schema migrations of any store, by target: what is pending, and applying it explicitly.

Opening a store migrates it already (one transaction; a crash leaves the old schema and all its
data). These functions serve operators who want to do it as a step of its own, e.g. before
rolling out servers of a new tmem version, and to see first what would run (``tmem migrate``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tmem.store.factory import is_postgres_url
from tmem.store.sqlite import SQLiteStore
from tmem.store.sqlite import migrate as sqlite_migrate
from tmem.store.sqlite import schema as sqlite_schema
from tmem.store.version import tmem_version


@dataclass(frozen=True)
class MigrationPlan:
    """Where a store's schema stands.

    Attributes:
        version: migrations the store has run (0 for a new store).
        latest: migrations this tmem knows.
        pending: names of the migrations an open would apply, in order.
    """

    version: int
    latest: int
    pending: tuple[str, ...]


@dataclass(frozen=True)
class MigrationResult:
    """What :func:`migrate` did: the schema version before and after, and the names applied."""

    before: int
    after: int
    applied: tuple[str, ...]


def pending_migrations(target: str | Path) -> MigrationPlan:
    """The store's schema version and pending migrations; changes nothing.

    Args:
        target: a SQLite file path or a ``postgresql://`` URL (as for ``open_store``).

    Raises:
        SchemaVersionError: the store was written by a newer tmem.
        StoreError: the store cannot be read or is not a tmem store.
    """
    if is_postgres_url(target):
        from tmem.store.postgres import migrate as postgres_migrate  # needs the postgres extra
        from tmem.store.postgres import schema as postgres_schema

        version, pending = postgres_migrate.inspect_database(str(target), tmem_version())
        return MigrationPlan(version, len(postgres_schema.MIGRATIONS), tuple(pending))
    version, pending = sqlite_migrate.inspect_file(str(target))
    return MigrationPlan(version, len(sqlite_schema.MIGRATIONS), tuple(pending))


def migrate(target: str | Path, *, durable: bool = False) -> MigrationResult:
    """Open the store (which applies every pending migration in one transaction) and close it.

    Raises:
        SchemaVersionError: the store was written by a newer tmem.
        StoreError: the store cannot be opened, or a migration failed (nothing was changed).
    """
    applied: tuple[str, ...]
    if is_postgres_url(target):
        from tmem.store.postgres import PostgresStore  # needs the postgres extra
        from tmem.store.postgres import schema as postgres_schema

        with PostgresStore(str(target), pool_size=1) as pg_store:
            applied = pg_store.applied_migrations
        latest = len(postgres_schema.MIGRATIONS)
    else:
        with SQLiteStore(target, durable=durable) as sqlite_store:
            applied = sqlite_store.applied_migrations
        latest = len(sqlite_schema.MIGRATIONS)
    return MigrationResult(before=latest - len(applied), after=latest, applied=applied)
