"""A persistent response cache in front of any :class:`~tmem.llm.base.LLM`.

Benchmark runs make thousands of identical calls across reruns; with the cache a rerun costs
nothing and an interrupted run resumes where it stopped, because every response is committed
as soon as it arrives. Entries are plain JSON text in SQLite (no pickle), keyed by the SHA-256
of the canonical JSON of everything that shapes a reply.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tmem.llm.base import LLM, LLMRequest, LLMResponse

_SCHEMA = """
CREATE TABLE IF NOT EXISTS llm_cache (
    key TEXT PRIMARY KEY,
    prompt_id TEXT NOT NULL,
    model TEXT NOT NULL,
    request TEXT NOT NULL,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL
)
"""


def request_json(model: str, request: LLMRequest) -> str:
    """The canonical JSON of everything that shapes a reply (the cache key's preimage)."""
    data = {
        "model": model,
        "prompt_id": request.prompt_id,
        "messages": [[m.role, m.content] for m in request.messages],
        "schema": request.json_schema,
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def cache_key(model: str, request: LLMRequest) -> str:
    """SHA-256 hex digest of :func:`request_json`."""
    return hashlib.sha256(request_json(model, request).encode()).hexdigest()


class CachedLLM:
    """Answer repeated requests from a SQLite file; pass misses to ``inner`` and store them.

    Thread-safe. Concurrent requests for the same missing key make one inner call: the others
    wait for it and are served from the cache. Errors from ``inner`` are never cached.

    Args:
        inner: the LLM that answers misses.
        path: the SQLite file (created if missing).
    """

    def __init__(self, inner: LLM, path: str | Path) -> None:
        self.inner = inner
        self.path = Path(path)
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[threading.Lock, int]] = {}
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute(_SCHEMA)

    @property
    def model(self) -> str:
        return self.inner.model

    def __repr__(self) -> str:
        return f"CachedLLM({self.inner!r}, path={str(self.path)!r})"

    def complete(self, request: LLMRequest) -> LLMResponse:
        """A cached response (``cached=True``, with the tokens it cost when it was made) or the
        inner LLM's, then stored."""
        canonical = request_json(self.inner.model, request)
        key = hashlib.sha256(canonical.encode()).hexdigest()
        with self._key_lock(key):
            hit = self._lookup(key)
            if hit is not None:
                self._count(hit=True)
                return hit
            self._count(hit=False)
            response = self.inner.complete(request)
            self._store(key, request, canonical, response)
            return response

    @contextmanager
    def _key_lock(self, key: str) -> Iterator[None]:
        """Hold the lock of one key; the last holder removes it, so the map stays small."""
        with self._lock:
            lock, waiters = self._pending.get(key, (threading.Lock(), 0))
            self._pending[key] = (lock, waiters + 1)
        try:
            with lock:
                yield
        finally:
            with self._lock:
                lock, waiters = self._pending[key]
                if waiters == 1:
                    del self._pending[key]
                else:
                    self._pending[key] = (lock, waiters - 1)

    def _count(self, *, hit: bool) -> None:
        with self._lock:
            if hit:
                self.hits += 1
            else:
                self.misses += 1

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT count(*) FROM llm_cache").fetchone()
        return int(count)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> CachedLLM:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _lookup(self, key: str) -> LLMResponse | None:
        with self._lock:
            row = self._db.execute(
                "SELECT text, model, prompt_tokens, completion_tokens FROM llm_cache WHERE key = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        text, model, prompt_tokens, completion_tokens = row
        return LLMResponse(text, model, int(prompt_tokens), int(completion_tokens), cached=True)

    def _store(self, key: str, request: LLMRequest, canonical: str, reply: LLMResponse) -> None:
        row = (
            key,
            request.prompt_id,
            reply.model,
            canonical,
            reply.text,
            reply.prompt_tokens,
            reply.completion_tokens,
        )
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO llm_cache VALUES (?, ?, ?, ?, ?, ?, ?)", row)
