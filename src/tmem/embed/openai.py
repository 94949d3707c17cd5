"""Embeddings from any OpenAI-compatible ``/embeddings`` endpoint (hosted or local)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

from tmem.errors import EmbedderError

_RETRYABLE = frozenset({408, 409, 429, 500, 502, 503, 504})
_MAX_RETRY_AFTER_S = 60.0


class OpenAIEmbedder:
    """Calls ``POST {base_url}/embeddings`` in batches and returns unit-length rows.

    Rate limits (429), server errors (5xx), timeouts and dropped connections are retried
    with exponential backoff, honouring a numeric ``Retry-After``. Other client errors fail
    at once. The client holds a connection pool: call :meth:`close` (or use ``with``).

    Args:
        base_url: for example ``https://api.openai.com/v1``.
        model: the model name the endpoint expects.
        api_key: sent as a bearer token when given.
        dim: the dimension every returned vector must have.
        timeout_s: per-request timeout.
        batch_size: texts per request.
        max_retries: retries after the first attempt of each request.
        backoff_s: the first retry delay; it doubles on each further retry.
        transport: an httpx transport, for custom networking.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        dim: int = 1536,
        timeout_s: float = 30.0,
        batch_size: int = 64,
        *,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if dim < 1 or batch_size < 1 or max_retries < 0:
            raise EmbedderError("dim and batch_size must be positive and max_retries >= 0")
        self._url = base_url.rstrip("/") + "/embeddings"
        self._model = model
        self._dim = dim
        self._batch_size = batch_size
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout_s, headers=headers, transport=transport)

    @property
    def name(self) -> str:
        return f"openai:{self._model}@{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed ``texts``; see :class:`tmem.embed.base.Embedder`.

        Empty strings are sent as a single space, since OpenAI rejects empty inputs.

        Raises:
            EmbedderError: the endpoint failed after retries, refused the request, or
                returned malformed vectors.
        """
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        for start in range(0, len(texts), self._batch_size):
            batch = [text or " " for text in texts[start : start + self._batch_size]]
            out[start : start + len(batch)] = self._embed_batch(batch)
        return out

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> OpenAIEmbedder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _embed_batch(self, batch: list[str]) -> npt.NDArray[np.float32]:
        payload = {"model": self._model, "input": batch}
        failure, retry_after = "", 0.0
        for attempt in range(self._max_retries + 1):
            if attempt:
                time.sleep(max(self._backoff_s * 2 ** (attempt - 1), retry_after))
            try:
                response = self._client.post(self._url, json=payload)
            except httpx.TransportError as exc:  # timeouts, refused or dropped connections
                failure, retry_after = f"{type(exc).__name__}: {exc}", 0.0
                continue
            if response.status_code == 200:
                return _parse_vectors(response, len(batch), self._dim)
            failure = f"HTTP {response.status_code}: {response.text[:200]}"
            if response.status_code not in _RETRYABLE:
                raise EmbedderError(
                    f"embedding endpoint {self._url} refused the request: {failure}"
                )
            retry_after = _retry_after_s(response)
        raise EmbedderError(
            f"embedding endpoint {self._url} failed {self._max_retries + 1} times; last: {failure}"
        )


def _retry_after_s(response: httpx.Response) -> float:
    try:
        seconds = float(response.headers.get("retry-after", "0"))
    except ValueError:  # an HTTP date; fall back to our own backoff
        return 0.0
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER_S)


def _parse_vectors(response: httpx.Response, count: int, dim: int) -> npt.NDArray[np.float32]:
    try:
        body: Any = response.json()
        items = sorted(body["data"], key=lambda item: int(item["index"]))
        vectors = np.asarray([item["embedding"] for item in items], dtype=np.float32)
    except (ValueError, KeyError, TypeError) as exc:
        raise EmbedderError(f"malformed embeddings response: {exc}") from None
    if vectors.shape != (count, dim):
        raise EmbedderError(
            f"embedding endpoint returned shape {vectors.shape}, expected ({count}, {dim}); "
            "check the configured model and dim"
        )
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if not np.all(np.isfinite(norms)) or np.any(norms == 0.0):
        raise EmbedderError("embedding endpoint returned a zero or non-finite vector")
    return np.asarray(vectors / norms, dtype=np.float32)
