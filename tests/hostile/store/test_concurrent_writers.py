"""Issue 12, defect 3: several processes writing one user keep order and scene links intact.

Each writer is a separate OS process with its own ``Memory`` on the same SQLite file or
Postgres database, adding batches to one shared user and session as fast as it can (all within
the time gap, so most batches extend the scene another process just wrote). Afterwards: no
turn lost, no ``seq`` shared, every turn listed by the scene it links to and the reverse,
and each writer's turns in the order it added them.
"""

from __future__ import annotations

import multiprocessing
from typing import Any

from tmem import Memory

from .conftest import HASH, SCALE
from .integrity import check

PROCESSES = 6
BATCHES = 8 * SCALE
BATCH_SIZE = 3
USER = "shared"


def _writer(url: str, writer: int, batches: int, ready: Any, start: Any) -> None:
    with Memory.open(url, HASH) as mem:
        ready.release()
        start.wait()
        for batch in range(batches):
            messages = [
                {
                    "id": f"w{writer}-b{batch}-m{i}",
                    "speaker": f"writer {writer}",
                    "content": f"writer {writer} batch {batch} message {i}",
                }
                for i in range(BATCH_SIZE)
            ]
            mem.add(messages, user_id=USER, session_id="one-session")


def _run_writers(url: str) -> None:
    with Memory.open(url, HASH):
        pass  # create the schema once, before the writers race to
    context = multiprocessing.get_context("spawn")
    ready, start = context.Semaphore(0), context.Event()
    procs = [
        context.Process(target=_writer, args=(url, w, BATCHES, ready, start))
        for w in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        assert ready.acquire(timeout=120)
    start.set()
    for proc in procs:
        proc.join(timeout=600)
        assert proc.exitcode == 0, f"writer exited with {proc.exitcode}"


def test_writer_processes_lose_nothing_and_keep_seq_and_scenes_consistent(store_url: str) -> None:
    _run_writers(store_url)
    with Memory.open(store_url, HASH) as mem:
        records = list(mem.export(USER))
    found = check(records)
    assert found.turns == PROCESSES * BATCHES * BATCH_SIZE
    assert (found.duplicate_seq, found.detached, found.stray_sources) == (0, 0, 0), found
    turns = sorted((r for r in records if r["type"] == "turn"), key=lambda r: r["seq"])
    for writer in range(PROCESSES):
        mine = [r["id"] for r in turns if r["id"].startswith(f"w{writer}-")]
        sent = [f"w{writer}-b{b}-m{i}" for b in range(BATCHES) for i in range(BATCH_SIZE)]
        assert mine == sent
