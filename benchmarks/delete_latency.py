"""What deleting one turn costs a 400-turn full-mode user, and what it costs other tenants.

Builds a SQLite store holding one full-mode user (``--turns`` turns derived through the real
HTTP client against the test suite's fake OpenAI-compatible server, whose hand-authored
replies give an item per turn, all four trigger families and persona entries) and
``--tenants`` LLM-free tenants of ``--tenant-turns`` turns each. Then a writer thread on its
own connection (as another process would have) adds one turn at a time for another tenant
while the main thread deletes ``--deletes`` turns of the full-mode user, one by one.

Reported: per delete, the wall time of ``Memory.delete`` (plan, embedding of the turns sent
back to waiting, the write transaction and the WAL checkpoint), of the store's part alone,
and how many write transactions it opened; for the other tenant's writes, the latency of
every write overlapping a delete, of the writes no delete overlapped (the control, at the same
load), and of all writes. Run from the repository root::

    PYTHONPATH=src:. python benchmarks/delete_latency.py \
        --out benchmarks/results/delete-latency/stdlib.json

``--driver pysqlite3`` runs the same with the SQLite that the ``pysqlite3-binary`` wheel
bundles (3.51: FTS5 ``secure-delete``) in place of the standard library's, to measure what a
newer SQLite changes; tmem itself always uses the standard library's ``sqlite3``.
"""

from __future__ import annotations

import sys

if "--driver" in sys.argv and sys.argv[sys.argv.index("--driver") + 1] == "pysqlite3":
    from pysqlite3 import dbapi2

    sys.modules["sqlite3"] = dbapi2  # before tmem imports it

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.fakes.openai_server import FakeOpenAIServer
from tests.store.test_contract_forget import extract_reply, segment_reply

from tmem import Config, EmbedderConfig, LLMConfig, Memory
from tmem.llm.prompts import extract, segment
from tmem.store.sqlite import SQLiteStore
from tmem.store.sqlite import connection as connection_module

WORDS = [
    "garden",
    "weekend",
    "train",
    "museum",
    "budget",
    "bike",
    "lunch",
    "office",
    "sister",
    "photos",
    "review",
    "thursday",
    "recipe",
    "flight",
    "hotel",
    "doctor",
    "running",
    "knee",
    "project",
    "deadline",
    "concert",
    "tickets",
    "cello",
    "lesson",
]
FULL_USER = "full"
WRITER_USER = "writer"


def _messages(n: int, session_size: int, salt: int) -> list[tuple[str, list[dict[str, str]]]]:
    sessions = []
    for start in range(0, n, session_size):
        batch = []
        for i in range(start, min(n, start + session_size)):
            words = " ".join(WORDS[(i * 7 + k * 3 + salt) % len(WORDS)] for k in range(9))
            day, minute = 1 + i // session_size, i % session_size
            batch.append(
                {
                    "id": f"u{salt}t{i}",
                    "speaker": "Maya" if i % 2 == 0 else "Leo",
                    "content": f"we talked about {words} number {i}",
                    "timestamp": f"2025-01-{day:02d}T10:{minute:02d}:00Z",
                }
            )
        sessions.append((f"s{start // session_size}", batch))
    return sessions


def _build(path: Path, server: FakeOpenAIServer, args: argparse.Namespace) -> None:
    free = Config(embedder=EmbedderConfig(kind="hash"))
    with Memory.open(path, free) as mem:
        for tenant in range(args.tenants):
            for session, batch in _messages(args.tenant_turns, 40, tenant + 1):
                mem.add(batch, f"tenant{tenant}", session)
    full = Config(
        llm=LLMConfig(base_url=server.base_url, model="fake-model"),
        embedder=EmbedderConfig(kind="hash"),
    )
    with Memory.open(path, full) as mem:
        for session, batch in _messages(args.turns, 40, 0):
            report = mem.add(batch, FULL_USER, session)
            assert report.ok, report.failures


class Writer(threading.Thread):
    """Adds one turn at a time for another tenant on its own store connection."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.stop = threading.Event()
        self.writes: list[tuple[float, float]] = []  # (start, end), perf_counter seconds

    def run(self) -> None:
        with Memory.open(self.path, Config(embedder=EmbedderConfig(kind="hash"))) as mem:
            n = 0
            while not self.stop.is_set():
                message = {"speaker": "Ana", "content": f"note number {n} about the garden"}
                started = time.perf_counter()
                mem.add([message], WRITER_USER, "live")
                self.writes.append((started, time.perf_counter()))
                n += 1
                time.sleep(0.002)


def _counting_transactions(store: SQLiteStore) -> list[str]:
    """Record each write transaction the store opens (not each try at the write lock)."""
    seen: list[str] = []
    connection = store._connection
    inner = connection.writing

    def counted() -> Any:
        seen.append("write")
        return inner()

    connection.writing = counted  # type: ignore[method-assign]
    return seen


def _timed_lock_waits(writer: threading.Thread) -> list[tuple[float, float]]:
    """Time every ``BEGIN IMMEDIATE`` the ``writer`` thread runs: its wait for the write lock."""
    waits: list[tuple[float, float]] = []  # (start, end), perf_counter seconds
    inner = connection_module.begin_immediate

    def timed(conn: Any, budget_s: float) -> None:
        started = time.perf_counter()
        try:
            inner(conn, budget_s)
        finally:
            if threading.current_thread() is writer:
                waits.append((started, time.perf_counter()))

    connection_module.begin_immediate = timed  # type: ignore[assignment]
    return waits


def _timed_store_delete(store: SQLiteStore) -> list[float]:
    """Wrap ``store.delete_memory`` to record its wall time (transaction + checkpoint)."""
    spent: list[float] = []
    inner = store.delete_memory

    def timed(*a: Any, **k: Any) -> int:
        started = time.perf_counter()
        try:
            return inner(*a, **k)
        finally:
            spent.append(time.perf_counter() - started)

    store.delete_memory = timed  # type: ignore[method-assign]
    return spent


def _timed_checkpoint(store: SQLiteStore) -> list[float]:
    """Wrap the store's WAL checkpoint to record its wall time."""
    spent: list[float] = []
    connection = store._connection
    inner = connection.checkpoint

    def timed() -> None:
        started = time.perf_counter()
        try:
            inner()
        finally:
            spent.append(time.perf_counter() - started)

    connection.checkpoint = timed  # type: ignore[method-assign]
    return spent


def _ms(values: list[float]) -> dict[str, float]:
    ms = sorted(v * 1000 for v in values)
    if not ms:
        return {}
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 2),
        "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 2),
        "max_ms": round(ms[-1], 2),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAIServer() as server:
        server.script_chat(segment.SPEC.key, segment_reply)
        server.script_chat(extract.SPEC.key, extract_reply)
        path = Path(tmp) / "bench.db"
        _build(path, server, args)
        writer = Writer(path)
        lock_waits = _timed_lock_waits(writer)
        with Memory.open(path, Config(embedder=EmbedderConfig(kind="hash"))) as mem:
            store = mem.store
            assert isinstance(store, SQLiteStore)
            rows = {k: len(mem.store.list(FULL_USER, k)) for k in ("turn", "scene", "item")}
            writer.start()
            time.sleep(0.5)
            begins = _counting_transactions(store)
            store_spent = _timed_store_delete(store)
            checkpoints = _timed_checkpoint(store)
            windows, totals, transactions = [], [], []
            for i in range(args.deletes):
                turn_id = f"u0t{(i * 37 + 11) % args.turns}"
                before = len(begins)
                started = time.perf_counter()
                mem.delete(turn_id, FULL_USER)
                ended = time.perf_counter()
                windows.append((started, ended))
                totals.append(ended - started)
                transactions.append(len(begins) - before)
                time.sleep(0.2)
            writer.stop.set()
            writer.join()
        size = path.stat().st_size

    def overlaps(start: float, end: float) -> bool:
        return any(start < w_end and end > w_start for w_start, w_end in windows)

    overlapping = [end - start for start, end in writer.writes if overlaps(start, end)]
    # The control, measured in the same run and at the same load: writes no deletion overlapped.
    alone = [end - start for start, end in writer.writes if not overlaps(start, end)]
    return {
        "sqlite_version": sys.modules["sqlite3"].sqlite_version,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "full_user_rows": rows,
        "tenants": args.tenants,
        "tenant_turns": args.tenant_turns,
        "file_bytes": size,
        "delete_total": _ms(totals),
        "delete_store_transaction_and_checkpoint": _ms(store_spent),
        "delete_checkpoint_only": _ms(checkpoints),
        "write_transactions_per_delete": sorted(set(transactions)),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "other_tenant_writes_overlapping_a_delete": _ms(overlapping),
        "other_tenant_writes_not_overlapping": _ms(alone),
        "other_tenant_writes_all": _ms([end - start for start, end in writer.writes]),
        # The part of the other tenant's writes spent waiting for the file's write lock: what a
        # deletion (or anything else holding the lock) makes another tenant wait.
        "other_tenant_lock_waits_overlapping_a_delete": _ms(
            [end - start for start, end in lock_waits if overlaps(start, end)]
        ),
        "other_tenant_lock_waits_not_overlapping": _ms(
            [end - start for start, end in lock_waits if not overlaps(start, end)]
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=400)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--tenant-turns", type=int, default=400)
    parser.add_argument("--deletes", type=int, default=20)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--driver", choices=("sqlite3", "pysqlite3"), default="sqlite3")
    args = parser.parse_args()
    results = {"driver": args.driver, **run(args)}
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
