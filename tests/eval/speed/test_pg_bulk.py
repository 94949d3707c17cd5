"""The bulk loader writes what Memory.add writes: same rows, same indexes, same search results.

Each comparison loads one seeded workload twice, through ``Memory.add`` into one schema and
through :func:`tmem.eval.speed.pg_bulk.bulk_load` into another, then reads both back. Turn
and scene ids are random (``uuid4``) on both paths, so rows are compared with every id replaced
by a name derived from the turn's ``seq`` (a scene is named after its first turn); the searches
run on a workload whose messages carry ids, so that ties break the same way in both stores.
"""

# The pg_* fixtures are imported from pg_server (tests/store/conftest.py is the contract
# suite's), so their names reappear as test parameters.
# ruff: noqa: F811

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from click.testing import CliRunner

from tests.store.pg_server import pg_database_url, pg_new_url, pg_server  # noqa: F401
from tmem.cli.bench import bench
from tmem.clock import FixedClock
from tmem.config import Config
from tmem.embed.hashing import HashEmbedder
from tmem.errors import InputError, StoreError
from tmem.eval.speed.pg_bulk import Messages, bulk_load
from tmem.eval.speed.run import run_speed
from tmem.eval.speed.workload import SpeedParams, Workload
from tmem.memory import Memory
from tmem.models import Record, Scene, Turn
from tmem.store.base import Store, VectorRow, WriteBatch
from tmem.store.postgres import PostgresStore
from tmem.store.postgres.bulk import COPY_COLUMNS, user_rows
from tmem.store.postgres.rows import vector_from_text
from tmem.store.postgres.schema import TENANT_TABLES, VECTOR_TABLE

pytestmark = pytest.mark.postgres

PARAMS = SpeedParams(users=3, memories=126, session_turns=20)  # 40 turns per user, 2 sessions
QUERIES = ("When did Ana go hiking?", "a vintage camera in Lisbon", "Lisbon", "pottery")
Sessions = Callable[[str], list[tuple[str, Messages]]]


def _workload_sessions(user_id: str) -> list[tuple[str, Messages]]:
    """The speed benchmark's sessions and session ids, exactly as ``bench speed`` adds them."""
    return [(f"s{i}", s) for i, s in enumerate(Workload(PARAMS).sessions(user_id))]


def _with_ids(user_id: str) -> list[tuple[str, Messages]]:
    return [
        (sid, [{**m, "id": f"{user_id}-{sid}-{n}"} for n, m in enumerate(messages)])
        for sid, messages in _workload_sessions(user_id)
    ]


def _clock() -> FixedClock:
    return FixedClock(datetime(2024, 5, 1, 12, tzinfo=UTC))


def _load_both(make_url: Callable[[], str], sessions: Sessions) -> tuple[str, str]:
    """(Memory.add URL, bulk URL) holding the same workload."""
    added, bulk = make_url(), make_url()
    users = Workload(PARAMS).users()
    memory = Memory(PostgresStore(added), HashEmbedder(), None, Config(), _clock())
    try:
        for user_id in users:
            for session_id, messages in sessions(user_id):
                memory.add(messages, user_id, session_id=session_id)
    finally:
        memory.close()
    bulk_load(bulk, HashEmbedder(), users, sessions, now=_clock().now, maintenance_work_mem="64MB")
    return added, bulk


@pytest.fixture
def loaded(pg_new_url: Callable[[], str]) -> tuple[str, str]:
    return _load_both(pg_new_url, _with_ids)


# --- reading a store back -------------------------------------------------------------------
_DUMPED = {
    "tmem_turns": (*COPY_COLUMNS["tmem_turns"], "tsv::text"),
    "tmem_scenes": (*COPY_COLUMNS["tmem_scenes"], "tsv::text"),
    "tmem_history": COPY_COLUMNS["tmem_history"],
    VECTOR_TABLE: ("user_id", "space", "owner_id", "embedding::text"),
}
_EMPTY = (
    "tmem_items",
    "tmem_triggers",
    "tmem_trigger_targets",
    "tmem_persona_entries",
    "tmem_instructions",
)


def _dump(url: str, user_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of ``user_id``, sorted, ids replaced by names derived from turn seqs."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT set_config('tmem.user_id', %s, false)", (user_id,))
        tables = {
            table: conn.execute(
                f"SELECT {', '.join(columns)} FROM {table} WHERE user_id = %s", (user_id,)
            ).fetchall()
            for table, columns in {**_DUMPED, **{t: ("*",) for t in _EMPTY}}.items()
        }
        tables["tmem_users"] = conn.execute(
            "SELECT user_id, next_seq FROM tmem_users WHERE user_id = %s", (user_id,)
        ).fetchall()
    names = {row[1]: f"turn:{row[3]}" for row in tables["tmem_turns"]}
    names.update({row[1]: f"scene:{names[row[7][0]]}" for row in tables["tmem_scenes"]})
    return {table: sorted(_renamed(row, names) for row in rows) for table, rows in tables.items()}


def _renamed(row: tuple[Any, ...], names: dict[str, str]) -> tuple[Any, ...]:
    def one(value: Any) -> Any:
        if isinstance(value, list):
            return [names.get(v, v) for v in value]
        return names.get(value, value) if isinstance(value, str) else value

    return tuple(one(value) for value in row)


def _catalog(url: str) -> tuple[list[str], list[tuple[str, bool]], list[tuple[str, str]]]:
    """Index definitions (schema removed), RLS flags per table, and ``tmem_meta``."""
    with psycopg.connect(url, autocommit=True) as conn:
        schema = conn.execute("SELECT current_schema()").fetchone()
        assert schema is not None
        indexes = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()"
        ).fetchall()
        rls = conn.execute(
            "SELECT relname, relforcerowsecurity FROM pg_class"
            " WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'"
        ).fetchall()
        meta = conn.execute("SELECT key, value FROM tmem_meta").fetchall()
    return (
        sorted(str(d).replace(f"{schema[0]}.", "") for (d,) in indexes),
        sorted((str(name), bool(forced)) for name, forced in rls),
        sorted((str(k), str(v)) for k, v in meta),
    )


# --- the same rows ----------------------------------------------------------------------------
def _assert_same_rows(added: str, bulk: str) -> None:
    for user_id in Workload(PARAMS).users():
        want, got = _dump(added, user_id), _dump(bulk, user_id)
        assert len(want["tmem_turns"]) == PARAMS.turns_per_user
        assert len(want["tmem_scenes"]) >= 2 and len(want[VECTOR_TABLE]) == 2 * 40
        for table in (*_DUMPED, *_EMPTY, "tmem_users"):
            if table != VECTOR_TABLE:
                assert got[table] == want[table], table
        _assert_same_vectors(want[VECTOR_TABLE], got[VECTOR_TABLE])


def _assert_same_vectors(want: list[tuple[Any, ...]], got: list[tuple[Any, ...]]) -> None:
    assert [row[:3] for row in got] == [row[:3] for row in want]
    np.testing.assert_allclose(
        np.stack([vector_from_text(row[3]) for row in got]),
        np.stack([vector_from_text(row[3]) for row in want]),
        rtol=0,
        atol=1e-7,
    )


def test_bulk_rows_equal_memory_add_rows(loaded: tuple[str, str]) -> None:
    _assert_same_rows(*loaded)


def test_bulk_rows_equal_for_the_benchmark_workload_as_is(
    pg_new_url: Callable[[], str],
) -> None:
    # No message ids: every turn and scene id is a fresh uuid on both sides.
    _assert_same_rows(*_load_both(pg_new_url, _workload_sessions))


def test_bulk_rebuilds_every_index_and_forces_rls_again(loaded: tuple[str, str]) -> None:
    added, bulk = loaded
    want, got = _catalog(added), _catalog(bulk)
    assert got == want
    assert any("USING hnsw" in d for d in got[0]) and any("USING gin" in d for d in got[0])
    forced = dict(got[1])
    assert all(forced[table] for table in (*TENANT_TABLES, VECTOR_TABLE))


# --- the same searches --------------------------------------------------------------------------
def _records(store: Store, user_id: str) -> list[Record]:
    """The user's records, each scene's random id replaced by its first turn's (given) id."""
    return [
        replace(r, id=f"scene:{r.source_turns[0]}") if isinstance(r, Scene) else r
        for r in store.list(user_id)
    ]


def _searches(url: str) -> Iterator[tuple[str, str, Any]]:
    memory = Memory(PostgresStore(url), HashEmbedder(), None, Config(), _clock())
    try:
        for user_id in Workload(PARAMS).users():
            yield user_id, "records", _records(memory.store, user_id)
            for query in QUERIES:
                vector = memory.embedder.embed([query])[0]
                for space in ("turn", "context"):
                    found = memory.store.search_vectors(user_id, space, vector, 10)
                    yield user_id, f"{space}:{query}", [(s.id, round(s.score, 6)) for s in found]
                found = memory.store.search_text(user_id, "turn", query, 10)
                yield user_id, f"bm25:{query}", [(s.id, round(s.score, 6)) for s in found]
                hits = memory.search(query, user_id, 10)
                yield user_id, f"search:{query}", [(h.id, round(h.score, 6)) for h in hits]
    finally:
        memory.close()


def test_bulk_store_answers_searches_as_memory_add_store(loaded: tuple[str, str]) -> None:
    added, bulk = loaded
    want, got = list(_searches(added)), list(_searches(bulk))
    assert got == want
    assert all(found for _, name, found in want if name.startswith(("search:", "turn:")))
    assert any(found for _, name, found in want if name.startswith("bm25:"))


# --- guards and the benchmark hook -----------------------------------------------------------
def test_bulk_load_refuses_a_database_with_users(pg_new_url: Callable[[], str]) -> None:
    url = pg_new_url()
    with Memory(PostgresStore(url), HashEmbedder(), None, Config(), _clock()) as memory:
        memory.add([{"speaker": "Ana", "content": "hello"}], "someone")
    with pytest.raises(StoreError, match="without users"):
        bulk_load(url, HashEmbedder(), ["user-00000"], _workload_sessions)


def test_copy_rows_refuse_an_update_of_a_written_scene() -> None:
    at = datetime(2024, 1, 1, tzinfo=UTC)
    turn = Turn("t0", "u", "s", 0, "Ana", "hi", at)
    scene = Scene("sc", "u", "title", "summary", "Ana: hi", at, ("t0",), ("s",))
    vector = VectorRow("t0", "turn", np.ones(4, dtype=np.float32) / 2)
    first = WriteBatch("u", at, turns=(turn,), scenes=(scene,), vectors=(vector,))
    rows = user_rows("u", [first], 4, iter(range(1, 100)))
    assert rows.tables["tmem_turns"][0][-2:] == (None, False)
    assert rows.tables["tmem_scenes"][0][-2:] == (1, 1) and len(rows) == 5
    with pytest.raises(InputError, match="written twice"):
        user_rows("u", [first, WriteBatch("u", at, scenes=(scene,))], 4, iter(range(1, 100)))


def test_speed_run_with_bulk_loads_postgres(pg_new_url: Callable[[], str], tmp_path: Path) -> None:
    params = SpeedParams(users=2, memories=84, store="postgres", pg_url=pg_new_url(),
                         bulk=True, queries=10, query_model=False)  # fmt: skip
    results = run_speed(params, tmp_path, HashEmbedder)
    tmem = results["systems"]["tmem"]
    assert tmem["load_method"] == "bulk" and tmem["turns"] == 80 and tmem["rows"] == 84
    assert tmem["bulk"]["vectors"] == 160 and tmem["bulk"]["index_s"]
    assert len(tmem.get("search_ms", {})) and results["params"]["bulk"] is True


def test_cli_refuses_bulk_without_postgres(tmp_path: Path) -> None:
    result = CliRunner().invoke(bench, ["speed", "--bulk", "--out", str(tmp_path)])
    assert result.exit_code != 0 and "--bulk" in result.output
