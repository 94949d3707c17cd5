"""A client for the rerank endpoint that vLLM, llama.cpp's server, TEI, Jina and Cohere share.

``POST {base_url}/rerank`` with ``{"model", "query", "documents"}`` answers
``{"results": [{"index", "relevance_score"}, ...]}``. tmem sends each document once and reads
every score back by index, so servers that sort or cut the results are fine.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import httpx

from tmem.errors import TmemError

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class RerankError(TmemError):
    """The rerank endpoint failed or answered something unreadable."""


class HTTPReranker:
    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        timeout_s: float = 30.0,
        max_retries: int = 2,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._url = base_url.rstrip("/") + "/rerank"
        self._model = model
        self._retries = max_retries
        self._client = httpx.Client(headers=headers, timeout=timeout_s, transport=transport)

    def __repr__(self) -> str:
        return f"HTTPReranker({self._url!r}, {self._model!r})"

    @property
    def name(self) -> str:
        return f"rerank:{self._model}"

    def rerank(self, query: str, documents: Sequence[str]) -> list[float]:
        if not documents:
            return []
        body = {"model": self._model, "query": query, "documents": list(documents)}
        return _scores(self._post(body), len(documents))

    def close(self) -> None:
        self._client.close()

    def _post(self, body: dict[str, Any]) -> Any:
        for attempt in range(self._retries + 1):
            try:
                response = self._client.post(self._url, json=body)
            except httpx.HTTPError as error:
                if attempt == self._retries:
                    raise RerankError(f"rerank endpoint unreachable: {error}") from None
            else:
                if response.status_code < 400:
                    return response.json()
                if response.status_code not in RETRY_STATUSES or attempt == self._retries:
                    raise RerankError(f"rerank endpoint answered HTTP {response.status_code}")
            time.sleep(0.2 * 2**attempt)
        raise RerankError("rerank endpoint failed")  # the loop always returns or raises


def _scores(payload: Any, count: int) -> list[float]:
    results = payload.get("results") if isinstance(payload, dict) else None
    if not isinstance(results, list):
        raise RerankError("rerank reply has no results list")
    scores = [float("-inf")] * count
    for entry in results:
        try:
            index = int(entry["index"])
            score = float(entry.get("relevance_score", entry.get("score")))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise RerankError(f"malformed rerank result: {entry!r}") from None
        if 0 <= index < count:
            scores[index] = score
    return scores
