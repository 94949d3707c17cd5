"""Error responses of the service as tmem's exceptions, and :class:`ServiceError` for the rest."""

from __future__ import annotations

import httpx

from tmem.errors import (
    InputError,
    LLMError,
    LLMUnavailableError,
    NotFoundError,
    StoreError,
    TmemError,
)


class ServiceError(TmemError):
    """The service refused or failed a request for a reason with no library equivalent
    (401 unauthorized, 429 rate limited, 413 too large, 5xx, unreachable, an answer that is
    not JSON).

    Attributes:
        status: the HTTP status (0 when the service could not be reached).
        code: the service's error code, e.g. ``unauthorized`` or ``rate_limited``.
        retry_after: seconds to wait before retrying, when the service said so.
    """

    def __init__(
        self, message: str, *, status: int, code: str, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after = retry_after


_ERRORS: dict[str, type[TmemError]] = {
    "invalid_input": InputError,
    "idempotency_key_reused": InputError,
    "not_found": NotFoundError,
    "llm_unavailable": LLMUnavailableError,
    "llm_error": LLMError,
    "store_unavailable": StoreError,
}


def error_from(response: httpx.Response) -> TmemError:
    """The exception an error response stands for."""
    try:
        detail = response.json()["error"]
        code, message = str(detail["code"]), str(detail["message"])
    except (ValueError, KeyError, TypeError):
        code, message = "http_error", response.text[:500] or response.reason_phrase
    kind = _ERRORS.get(code)
    if kind is not None:
        return kind(message)
    retry = response.headers.get("Retry-After")
    return ServiceError(
        f"{response.status_code} {code}: {message}",
        status=response.status_code,
        code=code,
        retry_after=float(retry) if retry and retry.isdigit() else None,
    )


def unreachable(error: httpx.HTTPError) -> ServiceError:
    """The exception for a request that got no response (refused, timed out, cut off)."""
    return ServiceError(f"cannot reach the tmem service: {error}", status=0, code="unreachable")


def not_json(response: httpx.Response) -> ServiceError:
    """The exception for a success status whose body is not JSON (a proxy's page, say)."""
    return ServiceError(
        f"{response.status_code}: the service's answer is not JSON: {response.text[:200]!r}",
        status=response.status_code,
        code="invalid_response",
    )
