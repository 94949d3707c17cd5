"""``JobRunner`` on a real SQLite store: done, retried with backoff, given up."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tmem.config import Config, EmbedderConfig
from tmem.memory import Memory
from tmem.server.jobs import ADD_JOB, JobRunner, WorkerPool, add_payload
from tmem.server.service import service_store
from tmem.server.settings import ServiceSettings
from tmem.store.base import ServiceStore

USER = "acme/ana"


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[Memory]:
    with Memory.open(tmp_path / "jobs.db", Config(embedder=EmbedderConfig(kind="hash"))) as mem:
        yield mem


def _runner(memory: Memory, **settings: float) -> tuple[JobRunner, ServiceStore]:
    store = service_store(memory)
    return JobRunner(memory, store, ServiceSettings(**settings)), store  # type: ignore[arg-type]


def test_a_job_runs_add_and_records_the_report(memory: Memory) -> None:
    runner, store = _runner(memory)
    messages = [{"speaker": "Ana", "content": "I play the cello."}]
    job_id = store.enqueue_job(ADD_JOB, add_payload(USER, messages, "s1"), USER)
    assert runner.run_once() is True
    job = store.get_job(job_id, USER)
    assert job is not None and job.status == "done"
    assert job.result is not None and job.result["user_id"] == "ana" and job.result["turns"] == 1
    assert [t.content for t in memory.list(USER, "turn")] == ["I play the cello."]
    assert runner.run_once() is False  # the queue is empty


def test_a_failing_job_is_retried_later_with_backoff(memory: Memory) -> None:
    runner, store = _runner(memory, retry_base_seconds=30.0, retry_max_seconds=60.0)
    job_id = store.enqueue_job(ADD_JOB, {"user_id": USER}, USER)  # no messages: a KeyError
    before = datetime.now(UTC)
    assert runner.run_once() is True
    job = store.get_job(job_id, USER)
    assert job is not None and job.status == "queued" and "KeyError" in job.error
    assert job.run_at >= before + timedelta(seconds=29)
    assert runner.run_once() is False  # not due yet


def test_a_job_is_given_up_after_max_attempts(memory: Memory) -> None:
    runner, store = _runner(memory, max_attempts=1)
    job_id = store.enqueue_job(ADD_JOB, {"user_id": USER}, USER)
    runner.run_once()
    job = store.get_job(job_id, USER)
    assert job is not None and job.status == "failed" and job.attempts == 1


def test_bad_input_fails_at_once_without_retries(memory: Memory) -> None:
    runner, store = _runner(memory)
    bad = add_payload(USER, [{"speaker": "Ana", "content": "x", "timestamp": "soon"}], None)
    job_id = store.enqueue_job(ADD_JOB, bad, USER)
    unknown = store.enqueue_job("reticulate", {}, USER)
    runner.run_once()
    runner.run_once()
    for each in (job_id, unknown):
        job = store.get_job(each, USER)
        assert job is not None and job.status == "failed" and "InputError" in job.error


def test_the_pool_runs_queued_jobs_and_stops(memory: Memory) -> None:
    store = service_store(memory)
    pool = WorkerPool(memory, store, ServiceSettings(poll_seconds=0.05), 2)
    pool.start()
    try:
        ids = [
            store.enqueue_job(
                ADD_JOB, add_payload(USER, [{"speaker": "A", "content": f"m{i}"}], None), USER
            )
            for i in range(4)
        ]
        pool.notify()
        deadline = datetime.now(UTC) + timedelta(seconds=20)
        while any(store.get_job(i, USER).status != "done" for i in ids):  # type: ignore[union-attr]
            assert datetime.now(UTC) < deadline
            time.sleep(0.02)
    finally:
        pool.stop()
    assert len(memory.list(USER, "turn")) == 4
