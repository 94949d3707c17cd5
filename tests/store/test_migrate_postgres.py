"""Upgrading a Postgres database written by schema-1 tmem (``tmem-schema1-postgres.sql``).

The dump (``pg_dump --inserts --no-owner --no-privileges --no-comments``) and what the old code
read back from it were made by ``tests/fixtures/make_schema1.py``; each test restores the dump
into a fresh database owned by the non-superuser test role.
"""

# The pg_* fixtures are imported from pg_server, so their names reappear as test parameters.
# ruff: noqa: F811

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from click.testing import CliRunner
from psycopg.conninfo import conninfo_to_dict

from tests.store.pg_server import PgServer, create_database, pg_server  # noqa: F401
from tests.store.test_migrate import (
    FIXTURES,
    assert_reads_like_schema1,
    assert_risk_flags_work,
    assert_service_tables_work,
    open_concurrently,
)
from tmem.cli.main import cli
from tmem.errors import StoreError
from tmem.store.api_keys import hash_secret
from tmem.store.migration import pending_migrations
from tmem.store.postgres import PostgresStore
from tmem.store.postgres import migrate as postgres_migrate
from tmem.store.postgres import schema as postgres_schema
from tmem.store.postgres.schema import Migration

pytestmark = pytest.mark.postgres

EXPECTED = "tmem-schema1-postgres.expected.json"
PENDING = (
    "0002_service",
    "0003_risk_flags",
    "0004_persona_entries",
    "0005_instructions",
    "0006_page_indexes",
)
LATEST = len(postgres_schema.MIGRATIONS)
"""What the schema-1 dump still has to run."""
_numbers = itertools.count()


@pytest.fixture
def old_url(pg_server: PgServer) -> Iterator[str]:
    """A new database holding the restored schema-1 dump."""
    name = f"schema1_{next(_numbers)}"
    url = create_database(pg_server, name)
    dump = (FIXTURES / "tmem-schema1-postgres.sql").read_text(encoding="utf-8")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(dump.encode("utf-8"))  # no parameters: sent as one multi-statement query
    yield url
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def relations(url: str, *names: str) -> list[bool]:
    """Whether each table exists."""
    with psycopg.connect(url) as conn:
        found = conn.execute(
            "SELECT to_regclass(name) IS NOT NULL FROM unnest(%s::text[]) WITH ORDINALITY"
            " AS t(name, n) ORDER BY n",
            (list(names),),
        ).fetchall()
    return [bool(row[0]) for row in found]


def test_the_dump_is_a_schema1_database(old_url: str) -> None:
    plan = pending_migrations(old_url)
    assert (plan.version, plan.latest, plan.pending) == (1, LATEST, PENDING)
    assert relations(old_url, "tmem_turns", "tmem_jobs", "tmem_api_keys") == [True, True, False]


def test_opening_a_restored_old_database_migrates_it_and_keeps_everything(old_url: str) -> None:
    with PostgresStore(old_url) as store:
        assert store.applied_migrations == PENDING
        assert_service_tables_work(store.service())
        assert_risk_flags_work(store)
    assert relations(old_url, "tmem_api_keys", "tmem_idempotency") == [True, True]
    assert_reads_like_schema1(old_url, EXPECTED)
    with PostgresStore(old_url) as again:
        assert again.applied_migrations == ()


def test_tmem_migrate_upgrades_a_restored_old_database(old_url: str) -> None:
    dry = CliRunner().invoke(cli, ["--db", old_url, "migrate", "--dry-run"])
    assert dry.output.splitlines() == [
        f"schema version 1 (this tmem: {LATEST})",
        *(f"pending {name}" for name in PENDING),
    ]
    assert relations(old_url, "tmem_api_keys") == [False]
    done = CliRunner().invoke(cli, ["--json", "--db", old_url, "migrate"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == {"before": 1, "after": LATEST, "applied": list(PENDING)}
    assert_reads_like_schema1(old_url, EXPECTED)


def test_a_migrated_database_pages_through_its_new_indexes(old_url: str) -> None:
    tables = ("turns", "scenes", "items", "triggers", "persona_entries", "history", "vectors")
    page_indexes = [f"tmem_{table}_page" for table in tables]
    assert relations(old_url, *page_indexes, "tmem_turns_seq") == [False] * 7 + [True]
    with PostgresStore(old_url) as store:
        assert relations(old_url, *page_indexes, "tmem_turns_seq") == [True] * 7 + [False]
        for user in store.users():
            rows, after = [], None
            while True:
                chunk = store.export_page(user, after, 5)
                rows += chunk.items
                if (after := chunk.after) is None:
                    break
            whole = list(store.export(user))
            assert sorted(map(repr, rows[1:])) == sorted(map(repr, whole[1:])) and whole[1:]


def test_tmem_keys_work_on_postgres(old_url: str) -> None:
    created = CliRunner().invoke(cli, ["--db", old_url, "keys", "create", "--tenant", "acme"])
    assert created.exit_code == 0, created.output
    (secret,) = created.stdout.splitlines()
    with PostgresStore(old_url) as store:
        key = store.service().api_key_by_hash(hash_secret(secret))
    assert key is not None and key.tenant == "acme"
    revoked = CliRunner().invoke(cli, ["--db", old_url, "keys", "revoke", key.id])
    assert revoked.exit_code == 0, revoked.output
    with PostgresStore(old_url) as store:
        assert store.service().api_key_by_hash(hash_secret(secret)) is None
        assert [k.id for k in store.service().api_keys("acme")] == [key.id]


def test_a_failing_migration_leaves_the_old_schema_and_all_data(
    old_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 0002 runs, then a third migration fails: the one transaction must take 0002 back too.
    boom = Migration(
        len(postgres_schema.MIGRATIONS) + 1,
        "boom",
        ("CREATE TABLE tmem_boom (x integer)", "SELECT * FROM no_such"),
    )
    monkeypatch.setattr(postgres_migrate, "MIGRATIONS", (*postgres_schema.MIGRATIONS, boom))
    with pytest.raises(StoreError, match="no_such"):
        PostgresStore(old_url)
    monkeypatch.undo()
    assert relations(old_url, "tmem_api_keys", "tmem_boom") == [False, False]
    assert pending_migrations(old_url).version == 1
    assert_reads_like_schema1(old_url, EXPECTED)


def test_concurrent_opens_of_an_old_database_migrate_it_once(old_url: str) -> None:
    applied = open_concurrently(lambda: PostgresStore(old_url, pool_size=1), 4)
    assert sorted(applied) == [(), (), (), PENDING]
    assert_reads_like_schema1(old_url, EXPECTED)


# The child runs 0002 and then a migration that sleeps, inside the one migration transaction;
# the server drops the session within 100 ms of the client's death and rolls it all back.
_STALLED_MIGRATION = """
import sys
from tmem.store.postgres import migrate as postgres_migrate
from tmem.store.postgres import schema as postgres_schema
from tmem.store.postgres import PostgresStore
n = len(postgres_schema.MIGRATIONS) + 1
stall = postgres_schema.Migration(n, "stall", ("SELECT pg_sleep(60)",))
postgres_migrate.MIGRATIONS = (*postgres_schema.MIGRATIONS, stall)
PostgresStore(sys.argv[1] + "&options=-cclient_connection_check_interval%3D100")
"""


def _sessions(pg_server: PgServer, database: str, query: str) -> int:
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND query = %s",
            (database, query),
        ).fetchone()
    return int(row[0]) if row else 0


def _wait_for(condition: Callable[[], bool]) -> None:
    for _ in range(300):
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_a_client_killed_mid_migration_leaves_the_old_schema(
    old_url: str, pg_server: PgServer
) -> None:
    database = str(conninfo_to_dict(old_url)["dbname"])
    child = subprocess.Popen([sys.executable, "-c", _STALLED_MIGRATION, old_url])
    sleeping = "SELECT pg_sleep(60)"
    _wait_for(lambda: _sessions(pg_server, database, sleeping) == 1)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    _wait_for(lambda: _sessions(pg_server, database, sleeping) == 0)
    assert relations(old_url, "tmem_api_keys", "tmem_idempotency") == [False, False]
    assert pending_migrations(old_url).pending == PENDING
    assert_reads_like_schema1(old_url, EXPECTED)
