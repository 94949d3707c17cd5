"""Every page query is an index range scan in key order, on both stores: no full read of the
user, no sort. Read from the databases' own plans (SQLite ``EXPLAIN QUERY PLAN``, Postgres
``EXPLAIN``) for each section, first page and later pages alike.
"""

# The pg_* fixtures are imported from pg_server (tests/store/conftest.py is the contract
# suite's), so their names reappear as test parameters.
# ruff: noqa: F811

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import psycopg
import pytest

from tests.store.pg_server import (  # noqa: F401
    create_schema,
    drop_schema,
    pg_database_url,
    pg_server,
)
from tests.store.records import DIM, at, batch, item, scene, trigger, turn, unit
from tmem.paging import Key
from tmem.persona import PersonaDelta
from tmem.store.base import Store, VectorRow
from tmem.store.keyset import KEY_TYPES
from tmem.store.postgres import PostgresStore
from tmem.store.postgres import pages as pg_pages
from tmem.store.postgres.schema import TENANT_SETTING
from tmem.store.sqlite import SQLiteStore
from tmem.store.sqlite import pages as sqlite_pages

SECTIONS = sorted(set(KEY_TYPES) - {"header"})
ONE_ROW = frozenset({"instructions"})
"""Sections of one row per user, found by the user's equality alone: no key bound to scan by."""
USERS = ("u1", "u2", "u3")


def _fill(store: Store, rows: int) -> None:
    """``rows`` rows of every section for each of three users."""
    store.bind_embedder("minilm", DIM)
    for user in USERS:
        turns = tuple(replace(turn(user, i, f"turn {i}"), timestamp=at(-i)) for i in range(rows))
        ids = [t.id for t in turns]
        store.write(
            batch(
                user,
                turns=turns,
                scenes=tuple(scene(user, f"{user}-s{i}", (ids[i],), "s") for i in range(rows)),
                items=tuple(item(user, f"{user}-i{i}", "f", turns=(ids[i],)) for i in range(rows)),
                triggers=tuple(
                    trigger(user, f"{user}-g{i}", "c", f"{user}-i{i}") for i in range(rows)
                ),
                vectors=tuple(VectorRow(t.id, "turn", unit(1.0)) for t in turns),
                persona_deltas=tuple(
                    PersonaDelta(f"speaker {i}", (("age", str(i)),), (), (), (), (ids[i],))
                    for i in range(rows)
                ),
            )
        )
        store.set_instructions(user, "keep travel plans", at(0))
        for i in range(0, rows, 7):
            store.update_memory(user, ids[i], "edited", (), at(1000))


def _after(section: str) -> Key:
    """A key of ``section``'s shape, to plan a later page with."""
    return tuple(1 if kind is int else "u2-x" for kind in KEY_TYPES[section])


def _where(section: str, marker: str) -> tuple[str, tuple[str, ...]]:
    """The filter a section's walk adds (history of one memory; list's active items)."""
    if section == "version":
        return f"{marker}memory_id = {'?' if marker == '' else '%s'}", ("u2-t0",)
    return ("status = 'active'", ()) if section == "item" else ("", ())


# --- SQLite ------------------------------------------------------------------------------------
SQLITE_INDEX = {
    "turn": "turns_by_seq",
    "scene": "scenes_by_ord",
    "item": "items_by_ord",
    "trigger": "sqlite_autoindex_triggers_1",
    "vector": "sqlite_autoindex_vectors_1",
    "persona_entry": "persona_entries_by_page",
    "instructions": "sqlite_autoindex_instructions_1",
    "history": "sqlite_autoindex_history_1",
    "version": "sqlite_autoindex_history_1",
}


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path_factory.mktemp("plan") / "plan.db")
    _fill(store, 60)
    store._connection.raw.execute("ANALYZE")  # plans as a store that has been used would get
    yield store
    store.close()


@pytest.mark.parametrize("later", [False, True], ids=["first", "later"])
@pytest.mark.parametrize("section", SECTIONS)
def test_sqlite_page_queries_are_index_range_scans(
    sqlite_store: SQLiteStore, section: str, later: bool
) -> None:
    where, params = _where(section, "")
    sql, args = sqlite_pages.page_query(
        section, "u2", _after(section) if later else None, 11, where, params
    )
    plan = [
        str(row[-1])
        for row in sqlite_store._connection.raw.execute(f"EXPLAIN QUERY PLAN {sql}", args)
    ]
    table = sqlite_pages.TABLES[sqlite_pages.RECORD_TYPE.get(section, section)].name
    assert len(plan) == 1, plan  # one step: no temp B-tree for ORDER BY, no second scan
    assert plan[0].startswith(f"SEARCH {table} USING INDEX {SQLITE_INDEX[section]} (user_id=?")
    keys = sqlite_pages.KEY_COLUMNS[section]
    if later and section not in ONE_ROW:  # the key bound is part of the index search
        bound = keys[0] if len(keys) == 1 else f"({','.join(keys)})"
        assert f"{bound}>?" in re.sub(r"\(\?(,\?)+\)", "?", plan[0]), plan


def test_sqlite_page_work_does_not_grow_with_the_user(sqlite_store: SQLiteStore) -> None:
    """The plan says range scan; the VM agrees: a late page costs what the first one does,
    a fraction of reading the user's rows."""
    conn = sqlite_store._connection.raw

    def steps(sql: str, args: list[Any]) -> int:
        counted: list[int] = []
        conn.set_progress_handler(lambda: counted.append(1), 1)  # type: ignore[arg-type, func-returns-value]
        try:
            conn.execute(sql, args).fetchall()
        finally:
            conn.set_progress_handler(None, 1)
        return len(counted)

    first = steps(*sqlite_pages.page_query("turn", "u2", None, 5))
    late = steps(*sqlite_pages.page_query("turn", "u2", (50, "u2-t50"), 5))
    whole = steps(*sqlite_pages.page_query("turn", "u2", None, 1000))
    assert late < 2 * first and whole > 5 * late, (first, late, whole)


# --- Postgres ----------------------------------------------------------------------------------
POSTGRES_INDEX = {
    "turn": "tmem_turns_page",
    "scene": "tmem_scenes_page",
    "item": "tmem_items_page",
    "trigger": "tmem_triggers_page",
    "vector": "tmem_vectors_page",
    "persona_entry": "tmem_persona_entries_page",
    "instructions": "tmem_instructions_pkey",
    "history": "tmem_history_page",
    "version": "tmem_history_pkey",
}


@pytest.fixture(scope="module")
def postgres_url(pg_database_url: str) -> Iterator[str]:
    name, url = create_schema(pg_database_url)
    with PostgresStore(url) as store:
        _fill(store, 60)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")
    yield url
    drop_schema(pg_database_url, name)


def _pg_plan(url: str, sql: str, args: list[Any], *, priced_out: bool) -> str:
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT set_config('{TENANT_SETTING}', 'u2', true)")
        if priced_out:  # tiny tables: make any plan that reads the table whole or sorts cost more
            for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
                cursor.execute(f"SET LOCAL {setting} = off")
        cursor.execute(f"EXPLAIN {sql}", args)
        return "\n".join(str(row[0]) for row in cursor.fetchall())


@pytest.mark.postgres
@pytest.mark.parametrize("later", [False, True], ids=["first", "later"])
@pytest.mark.parametrize("section", SECTIONS)
def test_postgres_page_queries_are_index_range_scans(
    postgres_url: str, section: str, later: bool
) -> None:
    where, params = _where(section, "t.")
    after = _after(section) if later else None
    sql, args = pg_pages.page_query(section, "u2", after, 11, where, params)
    plan = _pg_plan(postgres_url, sql, args, priced_out=True)
    assert "Sort" not in plan, plan  # the index gives the key order
    assert f"Index Scan using {POSTGRES_INDEX[section]} on " in plan or (
        f"Index Only Scan using {POSTGRES_INDEX[section]} on " in plan
    ), plan
    cond = plan[plan.index("Index Cond:") :].splitlines()[0]
    assert "user_id = " in cond, plan
    if later and section not in ONE_ROW:  # the key bound is an index condition
        bound = cond.split(" AND ", 1)[-1]  # e.g. ROW(seq, (id)::text) > ROW(1, 'u2-x'::text)
        assert pg_pages.SECTIONS[section].keys[0] in bound and " > " in bound, plan


@pytest.mark.postgres
def test_postgres_prefers_the_page_index_unprompted_on_a_used_table(postgres_url: str) -> None:
    """With the planner left alone (statistics from ANALYZE), later pages of the big sections
    still come from their page indexes."""
    for section in ("turn", "scene", "item", "history"):
        sql, args = pg_pages.page_query(section, "u2", _after(section), 11)
        plan = _pg_plan(postgres_url, sql, args, priced_out=False)
        assert f"using {POSTGRES_INDEX[section]} on" in plan and "Sort" not in plan, plan


def test_plans_cover_every_section() -> None:
    assert set(SQLITE_INDEX) == set(POSTGRES_INDEX) == set(SECTIONS)
    assert set(sqlite_pages.KEY_COLUMNS) == set(pg_pages.SECTIONS) == set(SECTIONS)
