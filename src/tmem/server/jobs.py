"""Background ingestion: jobs queued in the store, run by worker threads.

``POST /v1/memories?background=true`` queues an ``add`` job; worker threads (inside the server,
or ``tmem worker`` processes on any machine sharing the store) claim jobs atomically, run
:meth:`tmem.Memory.add` and record the result. A failed job is retried with exponential
backoff until ``max_attempts``; a worker that dies mid-job loses its lease and another worker
takes the job over. Jobs live in the store, so they survive restarts.

A job belongs to the store user its messages are for, so deleting the user deletes its queued
jobs too. The job id the API hands out also names that user (:func:`public_job_id`), which is
how ``GET /v1/jobs/{id}`` finds the job while staying inside the caller's tenant.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from tmem.errors import InputError, NotFoundError
from tmem.memory import Memory
from tmem.serialize import to_dict
from tmem.store.base import Job, ServiceStore

from .settings import ServiceSettings
from .tenancy import caller_user_id

logger = logging.getLogger("tmem.server.jobs")

ADD_JOB = "add"
REINDEX_JOB = "reindex"


def add_payload(
    user_id: str, messages: list[dict[str, Any]], session_id: str | None, *, derive: bool = True
) -> dict[str, Any]:
    """The payload of an ``add`` job (``user_id`` is the store's user id)."""
    return {"user_id": user_id, "messages": messages, "session_id": session_id, "derive": derive}


def public_job_id(job_id: str, user_id: str) -> str:
    """The id the API shows: the store's job id and the caller's user id, base64url-coded."""
    coded = base64.urlsafe_b64encode(user_id.encode("utf-8")).decode("ascii").rstrip("=")
    return f"{job_id}.{coded}"


def parse_job_id(public_id: str) -> tuple[str, str] | None:
    """The store's job id and the caller's user id in a :func:`public_job_id`, if well formed."""
    job_id, dot, coded = public_id.partition(".")
    if not (dot and job_id.isalnum() and job_id.isascii() and coded.isascii()):
        return None
    try:
        raw = base64.b64decode(coded + "=" * (-len(coded) % 4), altchars=b"-_", validate=True)
        user_id = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return (job_id, user_id) if user_id else None


def run_add(memory: Memory, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Do an ``add`` job; the result is the ingest report as the API shows it."""
    internal = str(payload["user_id"])
    messages = list(payload["messages"])
    derive = bool(payload.get("derive", True))  # jobs queued by an older tmem have no flag
    report = memory.add(messages, internal, payload.get("session_id"), derive=derive)
    result: dict[str, Any] = to_dict(report)
    result["user_id"] = caller_user_id(internal)
    return result


def run_reindex(memory: Memory, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Do a ``reindex`` job; the result is the ingest report as the API shows it."""
    internal = str(payload["user_id"])
    result: dict[str, Any] = to_dict(memory.reindex(internal))
    result["user_id"] = caller_user_id(internal)
    return result


class JobRunner:
    """Claims and runs one job at a time for one worker id."""

    def __init__(
        self,
        memory: Memory,
        store: ServiceStore,
        settings: ServiceSettings,
        worker_id: str | None = None,
    ) -> None:
        self.memory = memory
        self.store = store
        self.settings = settings
        self.worker_id = worker_id or f"worker-{uuid.uuid4().hex[:12]}"

    def run_once(self) -> bool:
        """Run the next due job, if any; return whether there was one."""
        lease = timedelta(seconds=self.settings.lease_seconds)
        job = self.store.claim_job(self.worker_id, lease=lease)
        if job is None:
            return False
        try:
            with self._renewing(job.id, lease):
                result = self._execute(job)
        except Exception as error:  # a worker must outlive any one job's failure
            self._failed(job, error)
            return True
        try:
            self.store.finish_job(job.id, result, worker_id=self.worker_id)
        except NotFoundError:
            logger.warning("job %s was taken over by another worker; result dropped", job.id)
        return True

    @contextmanager
    def _renewing(self, job_id: str, lease: timedelta) -> Iterator[None]:
        """Renew the job's lease every third of it while the block runs: only a worker that
        stopped (crashed, killed) lets its lease run out, so the lease can be short."""
        done = threading.Event()

        def renew() -> None:
            while not done.wait(lease.total_seconds() / 3):
                try:
                    self.store.renew_job(job_id, self.worker_id, lease=lease)
                except NotFoundError:
                    return  # taken over: finishing will say so
                except Exception:  # the store is briefly down: try again next period
                    logger.warning("could not renew the lease on job %s", job_id)

        thread = threading.Thread(target=renew, name=f"{self.worker_id}-lease", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def _execute(self, job: Job) -> dict[str, Any]:
        if job.kind == ADD_JOB:
            return run_add(self.memory, job.payload)
        if job.kind == REINDEX_JOB:
            return run_reindex(self.memory, job.payload)
        raise InputError(f"unknown job kind {job.kind!r}")

    def _failed(self, job: Job, error: Exception) -> None:
        # Bad input fails the same way every time: retrying it only wastes attempts.
        final = isinstance(error, InputError) or job.attempts >= self.settings.max_attempts
        retry_at = None
        if not final:
            delay = self.settings.retry_delay(job.attempts)
            retry_at = datetime.now(UTC) + timedelta(seconds=delay)
        message = f"{type(error).__name__}: {error}"[:1000]
        logger.warning("job %s attempt %d failed: %s", job.id, job.attempts, message)
        try:
            self.store.fail_job(job.id, message, retry_at, worker_id=self.worker_id)
        except NotFoundError:
            logger.warning("job %s was taken over by another worker", job.id)


class WorkerPool:
    """``count`` threads running :class:`JobRunner` until :meth:`stop`."""

    def __init__(
        self, memory: Memory, store: ServiceStore, settings: ServiceSettings, count: int
    ) -> None:
        self._runners = [JobRunner(memory, store, settings) for _ in range(count)]
        self._poll = settings.poll_seconds
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for runner in self._runners:
            thread = threading.Thread(
                target=self._loop, args=(runner,), name=runner.worker_id, daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def notify(self) -> None:
        """Tell idle workers a job was just queued (they would find it at the next poll)."""
        with self._wake:
            self._wake.notify_all()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the jobs in hand finish; a job still running at ``timeout`` keeps its
        lease and is retried elsewhere once the lease runs out."""
        self._stop.set()
        self.notify()
        for thread in self._threads:
            thread.join(timeout)

    def wait(self) -> None:
        """Block until :meth:`stop` is called (``tmem worker`` in the foreground)."""
        while not self._stop.wait(1.0):
            pass

    def _loop(self, runner: JobRunner) -> None:
        while not self._stop.is_set():
            try:
                busy = runner.run_once()
            except Exception:  # the store is down: keep the thread, try again later
                logger.exception("worker %s could not claim a job", runner.worker_id)
                busy = False
            if not busy:
                with self._wake:
                    if not self._stop.is_set():
                        self._wake.wait(self._poll)
