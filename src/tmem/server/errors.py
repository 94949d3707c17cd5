"""Every error the service answers is JSON: ``{"error": {"code": ..., "message": ...}}``.

tmem's exceptions map to HTTP statuses here, in one table; anything unexpected becomes a 500
whose body says nothing about internals (the traceback goes to the log only).

=========================  ======  =====================
exception                  status  code
=========================  ======  =====================
InputError                 422     invalid_input
NotFoundError              404     not_found
LLMUnavailableError        501     llm_unavailable
LLMError (others)          503     llm_error
EmbedderMismatchError      500     internal
StoreError (others)        503     store_unavailable
anything else              500     internal
=========================  ======  =====================

``LLMUnavailableError`` is 501 rather than 409: nothing the client can change in its request
or in the server's state makes it succeed; the deployment lacks the capability.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from tmem.errors import (
    EmbedderMismatchError,
    InputError,
    LLMError,
    LLMUnavailableError,
    NotFoundError,
    StoreError,
    TmemError,
)

logger = logging.getLogger("tmem.server")

MAX_MESSAGE_CHARS = 500
"""Error messages are cut to this length so a hostile input is never echoed back in full."""

_TMEM_STATUS: tuple[tuple[type[TmemError], int, str], ...] = (
    (InputError, 422, "invalid_input"),
    (NotFoundError, 404, "not_found"),
    (LLMUnavailableError, 501, "llm_unavailable"),
    (LLMError, 503, "llm_error"),
    (EmbedderMismatchError, 500, "internal"),
    (StoreError, 503, "store_unavailable"),
)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


class ApiError(Exception):
    """An error answer decided by the service itself (auth, limits, idempotency)."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"code": code, "message": _short(message)}}
    return JSONResponse(body, status_code=status, headers=headers)


def status_of(error: TmemError) -> tuple[int, str]:
    """The HTTP status and error code for one of tmem's exceptions."""
    for kind, status, code in _TMEM_STATUS:
        if isinstance(error, kind):
            return status, code
    return 500, "internal"


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into the JSON error shape."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(TmemError, _tmem_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RecursionError, _too_deep)
    app.add_exception_handler(Exception, _unexpected)


async def _api_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return error_response(error.status, error.code, error.message, error.headers)


async def _tmem_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, TmemError)
    status, code = status_of(error)
    if status >= 500 and status != 501:
        logger.error("%s %s failed", request.method, request.url.path, exc_info=error)
        if code == "internal":
            return error_response(500, "internal", "internal error (logged on the server)")
    return error_response(status, code, str(error))


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return error_response(422, "invalid_input", describe_validation(error.errors()))


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    code = _HTTP_CODES.get(error.status_code, "http_error")
    headers = dict(error.headers) if error.headers else None
    return error_response(error.status_code, code, str(error.detail), headers)


async def _too_deep(request: Request, error: Exception) -> JSONResponse:
    # The JSON decoder recurses once per nesting level; a 10k-deep body exhausts the stack.
    return error_response(422, "invalid_input", "the JSON body is nested too deeply")


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    logger.error("%s %s failed unexpectedly", request.method, request.url.path, exc_info=error)
    return error_response(500, "internal", "internal error (logged on the server)")


def describe_validation(errors: Any) -> str:
    """One readable line per problem (``body.messages.0.timestamp: ...``), without the input."""
    parts = []
    for entry in list(errors)[:5]:
        where = ".".join(str(step) for step in entry.get("loc", ()))
        parts.append(f"{where}: {entry.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _short(message: str) -> str:
    # A message may quote hostile input: lone surrogates would make the JSON unencodable.
    message = message.encode("utf-8", "replace").decode("utf-8")
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return message[: MAX_MESSAGE_CHARS - 3] + "..."
