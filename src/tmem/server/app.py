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

from fastapi import FastAPI

from tmem.config import Config

from . import errors
from .gate import AuthGate
from .limits import BodyLimit
from .paths import PathGuard
from .routes import router
from .service import Service, open_service, service_store
from .settings import ServiceSettings

logger = logging.getLogger("tmem.server")

__all__ = ["Service", "create_app", "open_service", "service_store"]


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
