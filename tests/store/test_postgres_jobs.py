"""The Postgres job queue: claims never collide, failures retry, dead workers' leases expire."""

# The pg_* fixtures are imported from pg_server (tests/store/conftest.py is the contract
# suite's), so their names reappear as test parameters.
# ruff: noqa: F811

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.store.pg_server import pg_database_url, pg_new_url, pg_server, pg_store_url  # noqa: F401
from tmem.errors import NotFoundError
from tmem.store.postgres import PostgresStore

pytestmark = pytest.mark.postgres

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(pg_store_url: str) -> Iterator[PostgresStore]:
    opened = PostgresStore(pg_store_url, pool_size=4)
    yield opened
    opened.close()


def test_a_job_goes_from_queued_to_done(store: PostgresStore) -> None:
    job_id = store.service().enqueue_job("ingest", {"messages": ["hi"]}, "alice", now=NOW)
    queued = store.service().get_job(job_id, "alice")
    assert queued is not None and queued.status == "queued" and queued.attempts == 0
    claimed = store.service().claim_job("w1", now=NOW)
    assert claimed is not None
    assert (claimed.id, claimed.status, claimed.worker_id, claimed.attempts) == (
        job_id, "running", "w1", 1,
    )  # fmt: skip
    assert claimed.payload == {"messages": ["hi"]}
    store.service().finish_job(job_id, {"turns": 1})
    done = store.service().get_job(job_id, "alice")
    assert done is not None and done.status == "done" and done.result == {"turns": 1}
    assert store.service().claim_job("w1", now=NOW) is None


def test_jobs_are_scoped_to_their_user(store: PostgresStore) -> None:
    job_id = store.service().enqueue_job("ingest", {}, "alice", now=NOW)
    assert store.service().get_job(job_id, "bob") is None
    assert store.service().get_job(job_id, "alice") is not None


def test_jobs_are_claimed_oldest_first(store: PostgresStore) -> None:
    first = store.service().enqueue_job("a", {}, "u", now=NOW)
    second = store.service().enqueue_job("b", {}, "u", now=NOW)
    later = store.service().enqueue_job("c", {}, "u", now=NOW + timedelta(minutes=5))
    claims = [store.service().claim_job("w", now=NOW + timedelta(minutes=1)) for _ in range(3)]
    assert [job.id if job else None for job in claims] == [first, second, None]
    assert later != first


def test_a_claim_skips_a_job_another_transaction_holds(
    store: PostgresStore, pg_store_url: str
) -> None:
    first = store.service().enqueue_job("a", {}, "u", now=NOW)
    second = store.service().enqueue_job("b", {}, "u", now=NOW)
    with psycopg.connect(pg_store_url) as holder:
        holder.execute("SELECT 1 FROM tmem_jobs WHERE id = %s FOR UPDATE", (first,))
        claimed = store.service().claim_job("w", now=NOW)  # must not wait for ``holder``
        assert claimed is not None and claimed.id == second
        assert store.service().claim_job("w", now=NOW) is None
    reclaimed = store.service().claim_job("w", now=NOW)
    assert reclaimed is not None and reclaimed.id == first


def test_two_concurrent_workers_never_claim_the_same_job(pg_store_url: str) -> None:
    stores = [PostgresStore(pg_store_url, pool_size=1) for _ in range(2)]
    job_ids = {stores[0].service().enqueue_job("ingest", {"n": n}, "u", now=NOW) for n in range(60)}
    claimed: list[list[str]] = [[], []]
    barrier = threading.Barrier(2)

    def work(index: int) -> None:
        barrier.wait()
        while (job := stores[index].service().claim_job(f"w{index}", now=NOW)) is not None:
            claimed[index].append(job.id)
            stores[index].service().finish_job(job.id, {})

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for each in stores:
        each.close()
    assert sorted(claimed[0] + claimed[1]) == sorted(job_ids)
    assert not set(claimed[0]) & set(claimed[1])


def test_a_failed_job_is_retried_at_its_time_or_ends(store: PostgresStore) -> None:
    job_id = store.service().enqueue_job("ingest", {}, "u", now=NOW)
    assert store.service().claim_job("w", now=NOW) is not None
    store.service().fail_job(job_id, "LLM timed out", NOW + timedelta(minutes=10))
    assert store.service().claim_job("w", now=NOW + timedelta(minutes=9)) is None
    retried = store.service().claim_job("w", now=NOW + timedelta(minutes=10))
    assert retried is not None and retried.attempts == 2 and retried.error == "LLM timed out"
    store.service().fail_job(job_id, "still failing", None)
    ended = store.service().get_job(job_id, "u")
    assert ended is not None and ended.status == "failed"
    assert store.service().claim_job("w", now=NOW + timedelta(days=1)) is None


def test_a_dead_workers_job_is_claimed_again_after_its_lease(store: PostgresStore) -> None:
    job_id = store.service().enqueue_job("ingest", {}, "u", now=NOW)
    assert store.service().claim_job("dead", lease=timedelta(minutes=1), now=NOW) is not None
    assert store.service().claim_job("alive", now=NOW + timedelta(seconds=59)) is None
    again = store.service().claim_job("alive", now=NOW + timedelta(minutes=2))
    assert again is not None and again.id == job_id
    assert (again.worker_id, again.attempts) == ("alive", 2)


def test_finishing_an_unknown_job_raises(store: PostgresStore) -> None:
    with pytest.raises(NotFoundError):
        store.service().finish_job("nope", {})
    with pytest.raises(NotFoundError):
        store.service().fail_job("nope", "x", None)


def test_deleting_a_user_drops_their_jobs(store: PostgresStore) -> None:
    job_id = store.service().enqueue_job("ingest", {"text": "private"}, "alice", now=NOW)
    kept = store.service().enqueue_job("ingest", {}, "bob", now=NOW)
    assert store.delete_user("alice") == 1
    assert store.service().get_job(job_id, "alice") is None
    assert store.service().get_job(kept, "bob") is not None


def test_a_worker_that_lost_its_lease_cannot_finish_the_job(store: PostgresStore) -> None:
    job_id = store.service().enqueue_job("ingest", {}, "u", now=NOW)
    assert store.service().claim_job("slow", lease=timedelta(minutes=1), now=NOW) is not None
    assert store.service().claim_job("fast", now=NOW + timedelta(minutes=2)) is not None
    with pytest.raises(NotFoundError, match="slow"):
        store.service().finish_job(job_id, {"by": "slow"}, worker_id="slow")
    with pytest.raises(NotFoundError):
        store.service().fail_job(job_id, "late", None, worker_id="slow")
    store.service().finish_job(job_id, {"by": "fast"}, worker_id="fast")
    done = store.service().get_job(job_id, "u")
    assert done is not None and done.status == "done" and done.result == {"by": "fast"}
