"""Two store objects on one database (two connections, as two processes would have).

The contract suite shares one store object between threads; here each worker group has its
own connection, so only the database's own locking keeps claims and inserts apart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import pytest

from tests.store.test_service import NOW, record, run_workers
from tmem.store.base import IdempotencyRecord, ServiceStore, Store
from tmem.store.postgres import PostgresStore
from tmem.store.sqlite import SQLiteStore


def _sqlite_pair(request: pytest.FixtureRequest) -> tuple[Store, Store]:
    path: Path = request.getfixturevalue("tmp_path") / "shared.db"
    return SQLiteStore(path), SQLiteStore(path)


def _postgres_pair(request: pytest.FixtureRequest) -> tuple[Store, Store]:
    url = cast(Callable[[], str], request.getfixturevalue("pg_new_url"))()
    return PostgresStore(url, pool_size=2), PostgresStore(url, pool_size=2)


@pytest.fixture(
    params=[
        pytest.param(_sqlite_pair, id="sqlite-file"),
        pytest.param(_postgres_pair, id="postgres", marks=pytest.mark.postgres),
    ]
)
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[ServiceStore, ServiceStore]]:
    opened: tuple[Store, Store] = request.param(request)
    yield opened[0].service(), opened[1].service()
    for each in opened:
        each.close()


def test_workers_on_two_connections_never_claim_the_same_job(
    pair: tuple[ServiceStore, ServiceStore],
) -> None:
    first, second = pair
    job_ids = {first.enqueue_job("ingest", {"n": n}, "u", now=NOW) for n in range(40)}
    job_ids |= {second.enqueue_job("ingest", {"n": n}, "v", now=NOW) for n in range(40)}
    claimed = run_workers([first, second], threads_per_store=2)
    flat = [job_id for each in claimed for job_id in each]
    assert len(flat) == len(set(flat)) == 80
    assert set(flat) == job_ids


def test_idempotent_inserts_racing_on_two_connections_store_one_record(
    pair: tuple[ServiceStore, ServiceStore],
) -> None:
    results: list[IdempotencyRecord] = []
    barrier = threading.Barrier(6)

    def put(n: int) -> None:
        barrier.wait()
        results.append(pair[n % 2].idempotency_put(record("race", f"body{n}")))

    threads = [threading.Thread(target=put, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6 and len(set(map(repr, results))) == 1
    assert pair[1].idempotency_get("acme", "race") == results[0]
