"""SQLite-only behaviour: settings, refusal of wrong files, schema versions, erasure on disk,
cache invalidation across connections, and concurrent use."""

from __future__ import annotations

import secrets
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from tmem.clock import FixedClock
from tmem.errors import EmbedderMismatchError, SchemaVersionError, StoreError
from tmem.persona import PersonaDelta
from tmem.store.base import VectorRow
from tmem.store.sqlite import SQLiteStore
from tmem.store.sqlite.schema import FTS5_SECURE_DELETE, MIGRATIONS, fts_table, fts_tables

from .records import T0, batch, item, scene, trigger, turn, unit


def _pragma(store: SQLiteStore, name: str) -> object:
    conn = store._connection.raw  # white-box: per-connection settings are visible only on it
    assert conn is not None
    return conn.execute(f"PRAGMA {name}").fetchone()[0]


def test_connection_settings(db_path: Path) -> None:
    with SQLiteStore(db_path) as store:
        assert _pragma(store, "journal_mode") == "wal"
        assert _pragma(store, "synchronous") == 1  # NORMAL
        assert _pragma(store, "foreign_keys") == 1
        assert _pragma(store, "secure_delete") == 1
        assert _pragma(store, "busy_timeout") == 5000
    with SQLiteStore(db_path, durable=True) as store:
        assert _pragma(store, "synchronous") == 2  # FULL


def test_meta_and_migrations_are_recorded(db_path: Path) -> None:
    SQLiteStore(db_path, clock=FixedClock(T0)).close()
    conn = sqlite3.connect(db_path)
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    names = [n for (n,) in conn.execute("SELECT name FROM migrations ORDER BY seq")]
    conn.close()
    assert meta["schema_version"] == str(len(MIGRATIONS))
    assert meta["created_at"] == T0.isoformat() and meta["tmem_version"]
    assert names == [name for name, _ in MIGRATIONS]


def test_reopening_keeps_data_and_embedder(db_path: Path) -> None:
    with SQLiteStore(db_path) as store:
        store.bind_embedder("minilm", 8)
        store.write(batch("u1", turns=(turn("u1", 0, "persisted"),)))
    with SQLiteStore(db_path) as store:
        assert [t.content for t in store.recent_turns("u1", 5)] == ["persisted"]
        assert store.embedder() == ("minilm", 8)
        with pytest.raises(EmbedderMismatchError):
            store.bind_embedder("bge-m3", 1024)


def test_newer_schema_is_refused(db_path: Path) -> None:
    SQLiteStore(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaVersionError):
        SQLiteStore(db_path)


def test_unknown_migration_is_refused(db_path: Path) -> None:
    SQLiteStore(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute("INSERT INTO migrations VALUES (99, '0099_from_the_future', 'x')")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaVersionError):
        SQLiteStore(db_path)


def test_wrong_files_are_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "notes.txt"
    garbage.write_bytes(b"this is not a database at all " * 200)
    with pytest.raises(StoreError):
        SQLiteStore(garbage)
    foreign = tmp_path / "other.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError):
        SQLiteStore(foreign)
    with pytest.raises(StoreError):
        SQLiteStore(tmp_path)
    assert garbage.read_bytes().startswith(b"this is not")


def test_closed_store_refuses_work() -> None:
    store = SQLiteStore(":memory:")
    store.close()
    store.close()
    with pytest.raises(StoreError):
        store.users()


def _disk_bytes(path: Path) -> bytes:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    conn.close()
    siblings = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    return b"".join(p.read_bytes() for p in siblings if p.exists())


def _write_canaries(store: SQLiteStore, user: str, canary: str, vector: np.ndarray) -> None:
    t0 = turn(user, 0, f"my secret is {canary}")
    store.write(
        batch(
            user,
            turns=(t0, turn(user, 1, "harmless neighbour")),
            scenes=(scene(user, f"{user}-sc", (t0.id,), f"they shared {canary}"),),
            items=(item(user, f"{user}-it", canary, turns=(t0.id,), keywords=(canary,)),),
            triggers=(trigger(user, f"{user}-tr", f"concept {canary}", f"{user}-it"),),
            vectors=(
                VectorRow(t0.id, "turn", vector),
                VectorRow(f"{user}-it", "item", vector),
                VectorRow(f"{user}-tr", "entity", vector),
            ),
        )
    )


def test_deleted_text_and_vectors_are_gone_from_disk(db_path: Path) -> None:
    canary = secrets.token_hex(16)
    vector = np.random.default_rng(7).standard_normal(64).astype(np.float32)
    with SQLiteStore(db_path) as store:
        _write_canaries(store, "u1", canary, vector)
        for i in range(30):  # enough churn to spread rows over several FTS segments
            store.write(batch("u1", turns=(turn("u1", 2 + i, f"filler words {i}"),)))
        before = _disk_bytes(db_path)
        assert canary.encode() in before and vector.tobytes() in before
        store.delete_memory("u1", "u1-t0", T0)
        after = _disk_bytes(db_path)
        assert canary.encode() not in after
        assert vector.tobytes() not in after
        assert store.get("u1", "u1-t1") is not None
    _assert_intact(db_path)


def _users_in_two_shards() -> tuple[str, str]:
    first = "u1"
    other = next(f"u{i}" for i in range(2, 200) if fts_table(f"u{i}") != fts_table(first))
    return first, other


def test_each_user_is_indexed_in_one_shard_and_a_delete_compacts_only_that_one(
    db_path: Path,
) -> None:
    mine, theirs = _users_in_two_shards()
    with SQLiteStore(db_path) as store:
        for user in (mine, theirs):
            for i in range(20):  # several segments per shard
                store.write(batch(user, turns=(turn(user, i, f"garden notes {user} {i}"),)))
        conn = store._connection.raw
        assert conn is not None
        for user in (mine, theirs):
            owners = {
                str(owner) for (owner,) in conn.execute(f"SELECT owner_id FROM {fts_table(user)}")
            }
            assert owners == {f"{user}-t{i}" for i in range(20)}
        their_index = conn.execute(f"SELECT id, block FROM {fts_table(theirs)}_data").fetchall()
        store.delete_memory(mine, f"{mine}-t3", T0)
        assert conn.execute(f"SELECT id, block FROM {fts_table(theirs)}_data").fetchall() == (
            their_index
        )
        assert [hit.id for hit in store.search_text(theirs, "turn", "garden", 30)]
        assert f"{mine}-t3" not in {hit.id for hit in store.search_text(mine, "turn", "garden", 30)}


def _assert_intact(path: Path) -> None:
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    for table in fts_tables():  # raises if a shard is corrupt
        conn.execute(f"INSERT INTO {table} ({table}, rank) VALUES ('integrity-check', 1)")
    conn.close()


def test_deleted_user_is_gone_from_disk(db_path: Path) -> None:
    canary = secrets.token_hex(16)
    vector = np.random.default_rng(8).standard_normal(64).astype(np.float32)
    with SQLiteStore(db_path) as store:
        _write_canaries(store, "u1", canary, vector)
        persona = PersonaDelta("alice", identity=(("occupation", canary),))
        store.write(batch("u1", persona_deltas=(persona,)))
        store.set_instructions("u1", f"keep {canary}", T0)
        store.write(batch("u2", turns=(turn("u2", 0, "bystander"),)))
        store.delete_user("u1")
        after = _disk_bytes(db_path)
        assert canary.encode() not in after and vector.tobytes() not in after
        assert b"bystander" in after
    _assert_intact(db_path)


def test_cache_sees_writes_from_another_connection(db_path: Path) -> None:
    with SQLiteStore(db_path) as first, SQLiteStore(db_path) as second:
        first.write(
            batch("u1", turns=(turn("u1", 0, "a"),), vectors=(VectorRow("u1-t0", "turn", unit(1)),))
        )
        assert [h.id for h in first.search_vectors("u1", "turn", unit(1), 5)] == ["u1-t0"]
        second.write(
            batch("u1", turns=(turn("u1", 1, "b"),), vectors=(VectorRow("u1-t1", "turn", unit(1)),))
        )
        assert [h.id for h in first.search_vectors("u1", "turn", unit(1), 5)] == ["u1-t0", "u1-t1"]
        second.delete_user("u1")
        assert first.search_vectors("u1", "turn", unit(1), 5) == []
        second.write(
            batch(
                "u1", turns=(turn("u1", 0, "c"),), vectors=(VectorRow("u1-t0", "turn", unit(0, 1)),)
            )
        )
        assert first.search_vectors("u1", "turn", unit(1), 5)[0].score == pytest.approx(0.0)


def test_threads_share_one_store(db_path: Path) -> None:
    errors: list[BaseException] = []

    def worker(store: SQLiteStore, user: str) -> None:
        try:
            for seq in range(15):
                t = turn(user, seq, f"note {seq} from {user}")
                store.write(
                    batch(user, turns=(t,), vectors=(VectorRow(t.id, "turn", unit(1, seq)),))
                )
                assert store.search_text(user, "turn", "note", 100)
                assert store.search_vectors(user, "turn", unit(1), 3)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    with SQLiteStore(db_path) as shared, SQLiteStore(db_path) as other:
        threads = [
            threading.Thread(target=worker, args=(shared if i % 2 else other, f"user{i}"))
            for i in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(shared.users()) == 8
        assert all(shared.next_seq(f"user{i}") == 15 for i in range(8))
        assert [len(other.search_vectors(f"user{i}", "turn", unit(1), 99)) for i in range(8)] == [
            15
        ] * 8
    _assert_intact(db_path)


def _process_writer(path: str, user: str, count: int) -> None:
    with SQLiteStore(path) as store:
        for seq in range(count):
            t = turn(user, seq, f"entry {seq}")
            store.write(batch(user, turns=(t,), vectors=(VectorRow(t.id, "turn", unit(1, seq)),)))
            store.search_vectors(user, "turn", unit(1), 3)


def test_processes_share_one_file(db_path: Path) -> None:
    import multiprocessing

    SQLiteStore(db_path).close()
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_process_writer, args=(str(db_path), f"p{i}", 20)) for i in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    with SQLiteStore(db_path) as store:
        assert [store.next_seq(f"p{i}") for i in range(4)] == [20] * 4
        assert [len(store.recent_turns(f"p{i}", 99)) for i in range(4)] == [20] * 4
    _assert_intact(db_path)


@pytest.mark.skipif(FTS5_SECURE_DELETE, reason="this SQLite reads secure-delete indexes")
def test_a_store_indexed_by_a_newer_sqlite_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    SQLiteStore(path).close()
    with sqlite3.connect(path) as conn:  # what SQLite 3.44+ records once secure-delete is on
        conn.execute(f"UPDATE {fts_table('someone')}_config SET v = 5 WHERE k = 'version'")
    conn.close()
    with pytest.raises(StoreError, match=r"3\.44 or newer"):
        SQLiteStore(path)
