"""The front door: every request but the public ones must carry a valid API key.

A pure ASGI middleware rather than a route dependency, so authentication comes before
everything else the framework does (body parsing, validation, routing): without a key, every
route answers 401 and nothing about the request is looked at. The principal it establishes is
handed to the routes in ``scope["state"]``.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio.to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

from tmem.errors import TmemError

from .auth import NO_AUTH_TENANT, Principal, authenticate
from .errors import ApiError, error_response, status_of
from .limits import retry_after
from .service import Service

logger = logging.getLogger("tmem.server")

PUBLIC_PATHS = frozenset({"/healthz", "/openapi.json"})
"""Paths that need no key: the liveness probe and the API schema (no data in either)."""
PRINCIPAL = "principal"


class AuthGate:
    """Authenticate and rate-limit each request before the application sees it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        service: Service = scope["app"].state.service
        header = _header(scope, b"authorization")
        client = scope.get("client")
        address = str(client[0]) if client else "-"
        try:
            principal = await anyio.to_thread.run_sync(_admit, service, header, address)
        except ApiError as error:
            response = error_response(error.status, error.code, error.message, error.headers)
            await response(scope, receive, send)
            return
        except TmemError as error:
            logger.error("authentication failed", exc_info=error)
            status, code = status_of(error)
            await error_response(status, code, "cannot check the API key now")(scope, receive, send)
            return
        scope.setdefault("state", {})[PRINCIPAL] = principal
        await self.app(scope, receive, send)


def _admit(service: Service, header: str | None, address: str) -> Principal:
    if service.settings.auth:
        principal = _authenticate(service, header, address)
    else:
        principal = Principal(tenant=NO_AUTH_TENANT, key_id="no-auth")
    wait = service.limiter.take(principal.key_id)
    if wait > 0:
        raise ApiError(
            429,
            "rate_limited",
            "too many requests for this API key; retry later",
            {"Retry-After": retry_after(wait)},
        )
    return principal


def _authenticate(service: Service, header: str | None, address: str) -> Principal:
    """The principal, unless ``address`` failed too often lately (then 429 before any check,
    so keys cannot be guessed at speed)."""
    wait = service.auth_failures.wait(address)
    if wait > 0:
        raise ApiError(
            429,
            "rate_limited",
            "too many failed authentications from this address; retry later",
            {"Retry-After": retry_after(wait)},
        )
    try:
        return authenticate(service.store, header)
    except ApiError:
        service.auth_failures.take(address)
        raise


def _header(scope: Scope, name: bytes) -> str | None:
    headers: Any = scope.get("headers", ())
    for key, value in headers:
        if key == name:
            return str(value.decode("latin-1"))
    return None
