"""Postgres-only behaviour: migrations under concurrency, Row-Level Security, HNSW search.

The shared behaviour (writes, cascades, search, export) is the contract suite's; these tests
cover what only the Postgres store has. They run against the real server of ``pg_server``.
"""

# The pg_* fixtures are imported from pg_server (tests/store/conftest.py is the contract
# suite's), so their names reappear as test parameters.
# ruff: noqa: F811

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import numpy as np
import psycopg
import pytest

from tests.store.pg_server import (  # noqa: F401  (fixtures)
    OWNER_ROLE,
    PgServer,
    pg_database_url,
    pg_new_url,
    pg_server,
    pg_store_url,
)
from tests.store.records import T0, batch, turn, unit
from tmem.errors import EmbedderMismatchError, InputError, SchemaVersionError, StoreError
from tmem.store.base import VectorRow
from tmem.store.postgres import PostgresStore
from tmem.store.postgres.rows import vector_literal
from tmem.store.postgres.schema import MIGRATIONS, TENANT_SETTING
from tmem.store.postgres.search import search_vectors

pytestmark = pytest.mark.postgres


def test_server_runs_unprivileged_and_tests_connect_as_a_plain_role(
    pg_server: PgServer, pg_store_url: str
) -> None:
    if os.geteuid() == 0:
        assert pg_server.run_as is not None and pg_server.run_as.pw_name == "nobody"
    with psycopg.connect(pg_store_url) as conn:
        row = conn.execute("SELECT current_user, current_setting('is_superuser')").fetchone()
    assert row == (OWNER_ROLE, "off")


def test_concurrent_openers_apply_each_migration_once(pg_store_url: str) -> None:
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def open_store() -> None:
        barrier.wait()
        try:
            PostgresStore(pg_store_url, pool_size=1).close()
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=open_store) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with psycopg.connect(pg_store_url) as conn:
        rows = conn.execute("SELECT version, name FROM tmem_migrations ORDER BY version").fetchall()
    assert rows == [(m.version, m.name) for m in MIGRATIONS]


def test_reopening_is_idempotent_and_keeps_data(pg_store_url: str) -> None:
    with PostgresStore(pg_store_url) as store:
        store.write(batch("u", turns=(turn("u", 0, "kept"),)))
    with PostgresStore(pg_store_url) as store:
        assert [t.content for t in store.recent_turns("u", 5)] == ["kept"]
        assert store.next_seq("u") == 1


def test_a_newer_schema_is_refused(pg_store_url: str) -> None:
    PostgresStore(pg_store_url).close()
    with psycopg.connect(pg_store_url) as conn:
        conn.execute("INSERT INTO tmem_migrations (version, name) VALUES (99, 'from_the_future')")
    with pytest.raises(SchemaVersionError, match="from_the_future"):
        PostgresStore(pg_store_url)


def test_embedder_binding_persists_across_openers(pg_store_url: str) -> None:
    with PostgresStore(pg_store_url) as store:
        store.bind_embedder("minilm", 8)
    with PostgresStore(pg_store_url) as store:
        assert store.embedder() == ("minilm", 8)
        with pytest.raises(EmbedderMismatchError):
            store.bind_embedder("other", 8)


def _alice_and_bob(url: str) -> None:
    with PostgresStore(url) as store:
        store.write(batch("alice", turns=(turn("alice", 0, "alice secret"),)))
        store.write(batch("bob", turns=(turn("bob", 0, "bob note"),)))


def test_row_level_security_hides_other_users_rows(pg_store_url: str) -> None:
    _alice_and_bob(pg_store_url)
    # The owner role is bound by the policies too (FORCE ROW LEVEL SECURITY).
    with psycopg.connect(pg_store_url) as conn:
        assert conn.execute("SELECT count(*) FROM tmem_turns").fetchone() == (0,)
        conn.execute("SELECT set_config(%s, 'bob', false)", (TENANT_SETTING,))
        assert conn.execute("SELECT content FROM tmem_turns").fetchall() == [("bob note",)]
        cross = conn.execute("SELECT content FROM tmem_turns WHERE user_id = 'alice'").fetchall()
        assert cross == []


def test_row_level_security_refuses_writes_for_another_user(pg_store_url: str) -> None:
    _alice_and_bob(pg_store_url)
    with psycopg.connect(pg_store_url) as conn:
        conn.execute("SELECT set_config(%s, 'bob', false)", (TENANT_SETTING,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO tmem_instructions (user_id, text, updated_at, updated_at_offset)"
                " VALUES ('alice', 'x', now(), 0)"
            )


def test_text_with_nul_is_refused_and_nothing_is_written(pg_store_url: str) -> None:
    with PostgresStore(pg_store_url) as store:
        with pytest.raises(InputError, match=r"NUL|0x00"):
            store.write(batch("u", turns=(turn("u", 0, "a\x00b"),)))
        assert store.list("u") == []
        assert store.users() == []


def test_vector_table_has_an_hnsw_index_per_space(pg_store_url: str) -> None:
    with PostgresStore(pg_store_url) as store:
        store.bind_embedder("hash", 8)
    with psycopg.connect(pg_store_url) as conn:
        rows = conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'tmem_vectors'"
            " AND indexdef LIKE '%USING hnsw%vector_cosine_ops%'"
        ).fetchone()
    assert rows == (9,)


def _spread(count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(count, 8)).astype(np.float32)
    return [v / np.linalg.norm(v) for v in vectors]


def test_vector_search_matches_brute_force_for_a_small_user_in_a_big_graph(
    pg_store_url: str,
) -> None:
    """Bob's 7 vectors are a sliver of the shared HNSW graph; he still gets all of them."""
    with PostgresStore(pg_store_url) as store:
        for user, count, seed in (("alice", 400, 1), ("bob", 7, 2)):
            turns = tuple(turn(user, i, f"{user} {i}") for i in range(count))
            vectors = tuple(
                VectorRow(t.id, "turn", v) for t, v in zip(turns, _spread(count, seed), strict=True)
            )
            store.write(batch(user, turns=turns, vectors=vectors))
        query = unit(1, 1)
        found = store.search_vectors("bob", "turn", query, 10)
        expected = sorted(
            ((f"bob-t{i}", float(v @ query)) for i, v in enumerate(_spread(7, 2))),
            key=lambda pair: (-pair[1], pair[0]),
        )
        assert [s.id for s in found] == [owner for owner, _ in expected]
        assert [s.score for s in found] == pytest.approx([score for _, score in expected])
        alice = store.search_vectors("alice", "turn", query, 5)
        assert len(alice) == 5 and all(s.id.startswith("alice-") for s in alice)


def test_store_is_shared_by_threads(pg_store_url: str) -> None:
    with PostgresStore(pg_store_url, pool_size=2) as store:

        def writer(user: str) -> Callable[[], None]:
            def run() -> None:
                for seq in range(10):
                    store.write(batch(user, turns=(turn(user, seq, f"{user} {seq}"),)))

            return run

        threads = [threading.Thread(target=writer(f"u{i}")) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert store.users() == ["u0", "u1", "u2", "u3"]
        assert all(store.next_seq(f"u{i}") == 10 for i in range(4))
        assert [t.seq for t in store.recent_turns("u0", 3)] == [7, 8, 9]


def test_vector_search_falls_back_to_exact_when_the_graph_comes_back_short(
    pg_store_url: str,
) -> None:
    """Force the HNSW path (no sorting allowed): the user filter starves it, the scan refills."""
    with PostgresStore(pg_store_url) as store:
        for user, count, seed in (("alice", 300, 3), ("bob", 12, 4)):
            turns = tuple(turn(user, i, f"{user} {i}") for i in range(count))
            vectors = tuple(
                VectorRow(t.id, "turn", v) for t, v in zip(turns, _spread(count, seed), strict=True)
            )
            store.write(batch(user, turns=turns, vectors=vectors))
    query = unit(0, 1)
    with psycopg.connect(pg_store_url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, 'bob', false)", (TENANT_SETTING,))
        cursor.execute("SET enable_sort = off")
        cursor.execute(
            "EXPLAIN SELECT owner_id FROM tmem_vectors WHERE user_id = 'bob' AND space = 'turn'"
            " ORDER BY embedding <=> %s::vector LIMIT 10",
            (vector_literal(query),),
        )
        plan = " ".join(row[0] for row in cursor.fetchall())
        found = search_vectors(cursor, "bob", "turn", query, 10, 8)
    assert "tmem_vectors_turn_hnsw" in plan
    expected = sorted(range(12), key=lambda i: -float(_spread(12, 4)[i] @ query))[:10]
    assert [s.id for s in found] == [f"bob-t{i}" for i in expected]


def test_a_dropped_connection_fails_one_call_and_the_next_reconnects(
    pg_store_url: str, pg_server: PgServer
) -> None:
    url = f"{pg_store_url}&application_name=tmem_dropped"
    with PostgresStore(url, pool_size=1) as store:
        store.write(batch("u", turns=(turn("u", 0, "before"),)))
        with psycopg.connect(pg_server.url(), autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'tmem_dropped'"
            )
        with pytest.raises(StoreError):
            store.next_seq("u")
        assert store.next_seq("u") == 1


def test_a_deleted_vector_is_never_returned_before_or_after_vacuum(pg_store_url: str) -> None:
    with PostgresStore(pg_store_url) as store:
        turns = tuple(turn("u", i, f"turn {i}") for i in range(50))
        vectors = tuple(
            VectorRow(t.id, "turn", v) for t, v in zip(turns, _spread(50, 5), strict=True)
        )
        store.write(batch("u", turns=turns, vectors=vectors))
        target = vectors[7]
        assert store.search_vectors("u", "turn", target.vector, 1)[0].id == target.owner_id
        store.delete_memory("u", target.owner_id, T0)
        assert target.owner_id not in {
            s.id for s in store.search_vectors("u", "turn", target.vector, 50)
        }
        with psycopg.connect(pg_store_url, autocommit=True) as conn:
            conn.execute("VACUUM tmem_vectors")
        after = store.search_vectors("u", "turn", target.vector, 50)
        assert len(after) == 49 and target.owner_id not in {s.id for s in after}
