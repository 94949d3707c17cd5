"""The REST service: :func:`create_app` builds a FastAPI application around one ``Memory``.

Everything the app needs is opened in its lifespan and kept on ``app.state.service``; nothing
happens at import and nothing is read from the environment (``tmem serve`` builds the config
and passes it in). Endpoints are plain functions, so the synchronous ``Memory`` runs in
Starlette's threadpool; LLM calls are bounded by ``config.llm.concurrency`` inside the one
shared LLM client.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import cast

from fastapi import FastAPI

from tmem.config import Config
from tmem.errors import ConfigError
from tmem.memory import Memory
from tmem.store.base import ServiceStore

from . import errors
from .gate import AuthGate
from .idempotency import KeyLocks
from .jobs import WorkerPool
from .limits import BodyLimit, TokenBucket
from .paths import PathGuard
from .routes import router
from .settings import ServiceSettings

logger = logging.getLogger("tmem.server")

_SERVICE_METHODS = ("enqueue_job", "claim_job", "api_key_by_hash", "idempotency_put")


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
    """The memory's store as a :class:`ServiceStore` (jobs, keys, idempotency).

    Raises:
        ConfigError: the store cannot back the service.
    """
    store = memory.store
    missing = [name for name in _SERVICE_METHODS if not hasattr(store, name)]
    if missing:
        raise ConfigError(f"{type(store).__name__} cannot back the service (no {missing[0]})")
    return cast(ServiceStore, store)


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


def create_app(db: str, config: Config, settings: ServiceSettings | None = None) -> FastAPI:
    """The tmem REST application for the store at ``db`` (a SQLite path or Postgres URL).

    Args:
        db: where the memories live, as for :meth:`tmem.Memory.open`.
        config: tmem's configuration (embedder, LLM, retrieval).
        settings: the service's own settings; defaults to :class:`ServiceSettings`.
    """
    settings = (settings or ServiceSettings()).validate()
    if not settings.auth:
        logger.warning("AUTH IS OFF: every request acts for tenant 'default' without a key")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.service = open_service(db, config, settings)
        try:
            yield
        finally:
            app.state.service.close()

    app = FastAPI(
        title="tmem",
        summary="Long-term memory for conversational agents",
        version=_version(),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
    )
    errors.install(app)
    # Added last runs first: the target is checked, then the key, before the body is read.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(AuthGate)
    app.add_middleware(PathGuard)
    app.include_router(router)
    return app


def _version() -> str:
    from tmem import __version__

    return __version__
