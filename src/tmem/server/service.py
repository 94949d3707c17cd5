"""What the routes share: :class:`Service`, opened once per application by :func:`open_service`.

Kept apart from :mod:`tmem.server.app` so the middleware (:mod:`.gate`) and the routes
(:mod:`.routes`), which the app assembles, can name it without importing the app back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tmem.config import Config
from tmem.errors import ConfigError
from tmem.memory import Memory
from tmem.store.base import ServiceStore

from .idempotency import KeyLocks
from .jobs import WorkerPool
from .limits import TokenBucket
from .settings import ServiceSettings

logger = logging.getLogger("tmem.server")


@dataclass
class Service:
    """What the routes share: the memory, its store's service side, limits and workers."""

    memory: Memory
    store: ServiceStore
    settings: ServiceSettings
    limiter: TokenBucket
    auth_failures: TokenBucket
    locks: KeyLocks = field(default_factory=KeyLocks)
    workers: WorkerPool | None = None

    def job_queued(self) -> None:
        if self.workers is not None:
            self.workers.notify()

    def close(self) -> None:
        if self.workers is not None:
            self.workers.stop()
        self.memory.close()


def service_store(memory: Memory) -> ServiceStore:
    """The memory's store's :class:`ServiceStore` (jobs, keys, idempotency).

    Raises:
        ConfigError: the store cannot back the service.
    """
    return memory.store.service()


def open_service(db: str, config: Config, settings: ServiceSettings) -> Service:
    """Open the memory at ``db`` and start the in-process workers."""
    memory = Memory.open(db, config)
    try:
        store = service_store(memory)
    except ConfigError:
        memory.close()
        raise
    _purge_idempotency(store, settings)
    _purge_jobs(store, settings)
    limiter = TokenBucket(settings.rate_per_second, settings.rate_burst)
    auth_failures = TokenBucket(settings.auth_failures_per_minute / 60, settings.auth_failure_burst)
    service = Service(memory, store, settings, limiter, auth_failures)
    if settings.workers:
        service.workers = WorkerPool(memory, store, settings, settings.workers)
        service.workers.start()
    return service


def _purge_idempotency(store: ServiceStore, settings: ServiceSettings) -> None:
    before = datetime.now(UTC) - timedelta(hours=settings.idempotency_ttl_hours)
    forgotten = store.idempotency_purge(before)
    if forgotten:
        logger.info("forgot %d idempotency records older than %s", forgotten, before)


def _purge_jobs(store: ServiceStore, settings: ServiceSettings) -> None:
    before = datetime.now(UTC) - timedelta(hours=settings.job_retention_hours)
    purged = store.purge_jobs(before)
    if purged:
        logger.info("deleted %d finished jobs older than %s", purged, before)
