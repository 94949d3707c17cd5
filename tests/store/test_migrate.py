"""Upgrading a SQLite store written by schema-1 tmem (tests/fixtures/tmem-schema1.db).

The fixture and ``tmem-schema1.expected.json`` (what the old code read back) were made by
``tests/fixtures/make_schema1.py`` with the code as of commit dd283d5; the checks here re-read
the same things with the current code and compare.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.fixtures.make_schema1 import expected
from tests.store.fts_stats import recomputed_lengths, stored_lengths
from tmem.cli.main import cli
from tmem.clock import FixedClock
from tmem.config import Config, EmbedderConfig
from tmem.errors import SchemaVersionError, StoreError
from tmem.memory import Memory
from tmem.models import RiskFlag, RiskReason, Scene
from tmem.store.api_keys import hash_secret, new_api_key
from tmem.store.base import IdempotencyRecord, ServiceStore, Store, WriteBatch
from tmem.store.migration import migrate, pending_migrations
from tmem.store.postgres import PostgresStore
from tmem.store.sqlite import SQLiteStore
from tmem.store.sqlite import connection as sqlite_connection
from tmem.store.sqlite import migrate as sqlite_migrate
from tmem.store.sqlite import schema as sqlite_schema

FIXTURES = Path(__file__).parents[1] / "fixtures"
CONFIG = Config(embedder=EmbedderConfig(kind="hash", dim=64))
NOW = datetime(2025, 6, 1, tzinfo=UTC)
SCHEMA1_TABLES = {
    "migrations", "meta", "users", "turns", "scenes", "items", "memory_sources", "triggers",
    "trigger_targets", "vectors", "history", "personas",
}  # fmt: skip
"""Schema 1's tables, leaving out the full-text index's (``fts*``)."""


def assert_reads_like_schema1(target: str, expected_file: str) -> None:
    """Exports, histories and search hits equal what the old code read from the fixture."""
    want = json.loads((FIXTURES / expected_file).read_text(encoding="utf-8"))
    with Memory.open(target, CONFIG, clock=FixedClock()) as mem:
        got = json.loads(json.dumps(expected(mem), ensure_ascii=False))
    for user in want:
        assert got[user]["export"] == want[user]["export"]
        assert got[user]["history"].keys() == want[user]["history"].keys()
        for memory_id, entries in want[user]["history"].items():
            now = got[user]["history"][memory_id]
            if entries:
                assert now == entries
            else:  # schema-1 code showed no history for an unedited turn; now its creation
                assert [(e["event"], e["version"]) for e in now] == [("created", 1)]
        for query, hits in want[user]["search"].items():
            assert [_without_score(hit) for hit in got[user]["search"][query]] == [
                _without_score(hit) for hit in hits
            ], query
            assert [hit["score"] for hit in got[user]["search"][query]] == pytest.approx(
                [hit["score"] for hit in hits], rel=1e-4
            )
            for hit in got[user]["search"][query]:  # a migrated store explains its hits too
                channels = {name.split(":")[0] for name in hit["reached_by"]}
                assert {e["channel"] for e in hit["explain"]} == channels


def _without_score(hit: dict[str, Any]) -> dict[str, Any]:
    # ``risk`` came after schema 1 (issue 20); a schema-1 store's memories carry no flags.
    # ``explain`` came later still; it restates ``reached_by``, which is compared, with the
    # ranks and raw scores behind ``score``.
    return {key: value for key, value in hit.items() if key not in {"score", "risk", "explain"}}


def assert_service_tables_work(store: ServiceStore) -> None:
    job_id = store.enqueue_job("ingest", {"n": 1}, "alice", now=NOW)
    claimed = store.claim_job("w1", now=NOW)
    assert claimed is not None and claimed.id == job_id
    store.finish_job(job_id, {"ok": True}, worker_id="w1")
    secret, key = new_api_key("acme", NOW)
    store.add_api_key(key)
    found = store.api_key_by_hash(hash_secret(secret))
    assert found is not None and found.id == key.id
    record = IdempotencyRecord("acme", "k", "h", 202, {"job_id": job_id}, NOW)
    assert store.idempotency_put(record) == record


def assert_risk_flags_work(store: Store) -> None:
    """A migrated store records and reviews flags on its old memories; they had none."""
    user = "alice"
    assert store.risk_flags(user) == {}
    memory_id = store.list(user)[0].id
    flag = RiskFlag(memory_id, "confirmed", (RiskReason("operator", 0, 0),), NOW, "operator")
    assert store.review_risk(user, flag).version == 1
    assert store.risk_flags(user)[memory_id].status == "confirmed"


def batch_for_new_scene(user: str) -> WriteBatch:
    """A scene written after the migration (over no turn: only its place in order matters)."""
    scene = Scene("new-scene", user, "t", "s", "n", NOW, source_turns=(), session_ids=())
    return WriteBatch(user_id=user, at=NOW, scenes=(scene,))


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    conn.close()
    return {str(name) for (name,) in rows if not str(name).startswith("fts")}


PENDING = tuple(name for name, _ in sqlite_schema.MIGRATIONS[1:])
LATEST = len(sqlite_schema.MIGRATIONS)
"""What the schema-1 fixture still has to run."""


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def old_db(tmp_path: Path) -> Path:
    path = tmp_path / "schema1.db"
    shutil.copyfile(FIXTURES / "tmem-schema1.db", path)
    return path


def test_the_fixture_is_a_schema1_store(old_db: Path) -> None:
    assert tables(old_db) == SCHEMA1_TABLES
    plan = pending_migrations(old_db)
    assert (plan.version, plan.latest, plan.pending) == (1, LATEST, PENDING)


def test_opening_an_old_store_migrates_it_and_keeps_every_record(old_db: Path) -> None:
    with SQLiteStore(old_db) as store:
        assert store.applied_migrations == PENDING
        assert_service_tables_work(store.service())
    assert {"jobs", "api_keys", "idempotency", "risk_flags"} <= tables(old_db)
    with sqlite3.connect(old_db) as conn:  # 0007 counted the rows 0006 moved into the shards
        assert stored_lengths(conn) == recomputed_lengths(conn) != {}
    conn.close()
    with SQLiteStore(old_db) as migrated:
        assert_risk_flags_work(migrated)
    assert_reads_like_schema1(str(old_db), "tmem-schema1.expected.json")
    with SQLiteStore(old_db) as again:
        assert again.applied_migrations == ()


def test_a_migrated_store_pages_every_record_once_in_the_order_it_was_stored(
    old_db: Path,
) -> None:
    with sqlite3.connect(old_db) as conn:  # schema 1: rowids are the insertion order
        inserted = [r[0] for r in conn.execute("SELECT id FROM scenes ORDER BY rowid")]
    conn.close()
    with SQLiteStore(old_db) as store:
        users = store.users()
        assert users and inserted
        for user in users:
            records, after = [], None
            while True:
                chunk = store.list_page(user, None, after, 3)
                records += chunk.items
                if (after := chunk.after) is None:
                    break
            assert sorted(r.id for r in records) == sorted(r.id for r in store.list(user))
            scenes = [r.id for r in records if r.kind == "scene"]
            assert scenes == [i for i in inserted if i in set(scenes)]
        last = max(int(r[0]) for r in store._connection.raw.execute("SELECT ord FROM scenes"))
        store.write(batch_for_new_scene(users[0]))
        fresh = store._connection.raw.execute("SELECT ord FROM scenes WHERE id = 'new-scene'")
        assert fresh.fetchone()[0] > last  # the counter starts past every migrated row


def test_tmem_migrate_lists_then_applies_pending_migrations(old_db: Path) -> None:
    before = digest(old_db)
    dry = CliRunner().invoke(cli, ["--db", str(old_db), "migrate", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert dry.output.splitlines() == [
        f"schema version 1 (this tmem: {LATEST})",
        *(f"pending {name}" for name in PENDING),
    ]
    assert digest(old_db) == before and tables(old_db) == SCHEMA1_TABLES
    done = CliRunner().invoke(cli, ["--db", str(old_db), "migrate"])
    assert done.exit_code == 0, done.output
    assert done.output.splitlines() == [
        f"schema version 1 -> {LATEST}",
        *(f"applied {name}" for name in PENDING),
    ]
    assert pending_migrations(old_db).pending == ()
    assert_reads_like_schema1(str(old_db), "tmem-schema1.expected.json")
    again = CliRunner().invoke(cli, ["--json", "--db", str(old_db), "migrate"])
    assert json.loads(again.output) == {"before": LATEST, "after": LATEST, "applied": []}


def test_a_new_store_runs_every_migration(tmp_path: Path) -> None:
    result = migrate(tmp_path / "new.db")
    assert (result.before, result.after) == (0, LATEST)
    assert result.applied == ("0001_initial", *PENDING)


def test_a_failing_migration_leaves_the_old_schema_and_all_data(
    old_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 0002 runs, then a third migration fails: the one transaction must take 0002 back too.
    boom = ("0003_boom", ("CREATE TABLE boom (x)", "INSERT INTO no_such_table VALUES (1)"))
    monkeypatch.setattr(sqlite_schema, "MIGRATIONS", (*sqlite_schema.MIGRATIONS, boom))
    with pytest.raises(StoreError, match="no_such_table"):
        SQLiteStore(old_db)
    monkeypatch.undo()
    assert tables(old_db) == SCHEMA1_TABLES
    assert pending_migrations(old_db).version == 1
    assert_reads_like_schema1(str(old_db), "tmem-schema1.expected.json")


def test_an_exception_after_the_migration_statements_rolls_them_back(
    old_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("crash between the DDL and the commit")

    monkeypatch.setattr(sqlite_migrate, "_write_meta_defaults", crash)
    with pytest.raises(RuntimeError, match="crash"):
        SQLiteStore(old_db)
    monkeypatch.undo()
    assert tables(old_db) == SCHEMA1_TABLES
    assert_reads_like_schema1(str(old_db), "tmem-schema1.expected.json")


# The child applies the pending migrations before number ``argv[2]`` (1: 0002, 2: 0003) in
# full, then that one's first ``argv[3]`` statements, says so and waits to be killed inside the
# open transaction.
_STALLED_MIGRATION = """
import sys, time
from tmem.store.sqlite import migrate as sqlite_migrate
from tmem.store.sqlite import SQLiteStore
original = sqlite_migrate._apply
calls = []
def stall(conn, statements):
    calls.append(1)
    if len(calls) < int(sys.argv[2]):
        return original(conn, statements)
    original(conn, statements[: int(sys.argv[3])])
    print("half-way", flush=True)
    time.sleep(60)
sqlite_migrate._apply = stall
SQLiteStore(sys.argv[1])
"""

_KILL_POINTS = [
    (1, 0),
    (1, 3),
    (1, len(sqlite_schema.MIGRATIONS[1][1])),
    (2, 2),  # the scoped FTS table is filled, the old one not dropped yet
    (2, 4),  # the old FTS table is dropped and the new one renamed
]


@pytest.mark.parametrize(("migration", "statements_run"), _KILL_POINTS)
def test_a_process_killed_mid_migration_leaves_the_old_schema(
    old_db: Path, migration: int, statements_run: int
) -> None:
    args = [str(old_db), str(migration), str(statements_run)]
    child = subprocess.Popen(
        [sys.executable, "-c", _STALLED_MIGRATION, *args], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "half-way"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()
    assert tables(old_db) == SCHEMA1_TABLES
    assert pending_migrations(old_db).pending == PENDING
    assert_reads_like_schema1(str(old_db), "tmem-schema1.expected.json")  # migrates on open
    assert pending_migrations(old_db).pending == ()


def test_a_store_from_a_newer_tmem_is_refused(old_db: Path) -> None:
    migrate(old_db)
    with sqlite3.connect(old_db) as conn:
        conn.execute("INSERT INTO migrations VALUES (?, '9999_future', 'later')", (LATEST,))
    conn.close()
    with pytest.raises(SchemaVersionError):
        SQLiteStore(old_db)
    with pytest.raises(SchemaVersionError):
        pending_migrations(old_db)
    refused = CliRunner().invoke(cli, ["--db", str(old_db), "migrate", "--dry-run"])
    assert refused.exit_code == 1 and "upgrade tmem" in refused.output


def open_concurrently(
    open_store: Callable[[], SQLiteStore | PostgresStore], n: int
) -> list[tuple[str, ...]]:
    """Open ``n`` stores at once from ``n`` threads; return what each open applied."""
    barrier = threading.Barrier(n)
    applied: list[tuple[str, ...]] = []
    failures: list[BaseException] = []

    def open_one() -> None:
        barrier.wait()
        try:
            with open_store() as store:
                applied.append(store.applied_migrations)
        except BaseException as exc:  # reported below, with its message
            failures.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, [repr(f) for f in failures]
    return applied


def test_wal_conversion_waits_out_a_lock_the_busy_handler_does_not(tmp_path: Path) -> None:
    """SQLite fails a WAL conversion blocked by another connection at once; tmem retries it."""
    path = tmp_path / "new.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    opener = sqlite3.connect(path, isolation_level=None, timeout=0)  # no busy handler at all
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        opener.execute("PRAGMA journal_mode = WAL")
    release = threading.Timer(0.2, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        sqlite_connection.enable_wal(opener, budget_s=5.0)
    finally:
        release.join()
        holder.close()
    assert opener.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    opener.close()


def test_wal_conversion_gives_up_when_the_budget_runs_out(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    opener = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            sqlite_connection.enable_wal(opener, budget_s=0.05)
    finally:
        holder.close()
        opener.close()


def test_concurrent_opens_of_an_old_store_migrate_it_once(old_db: Path) -> None:
    applied = open_concurrently(lambda: SQLiteStore(old_db), 4)
    assert sorted(applied) == [(), (), (), PENDING]
    assert_reads_like_schema1(str(old_db), "tmem-schema1.expected.json")


def test_concurrent_first_opens_of_a_new_file_create_it_once(tmp_path: Path) -> None:
    applied = open_concurrently(lambda: SQLiteStore(tmp_path / "new.db"), 8)
    assert sorted(applied) == [()] * 7 + [("0001_initial", *PENDING)]
