"""``Idempotency-Key`` on add: a retried request never ingests twice.

The first request with a key stores its response (status and body) with a hash of the request;
a retry with the same key and the same request gets that stored response back, and a retry
with the same key but a different request gets 422. Three layers keep a key from ingesting
twice: the stored response, a per-key lock inside one process, and message ids derived from
the key (re-adding a message whose id is stored is a no-op in tmem), which also covers two
processes racing on one key.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tmem.validate import MAX_IDEMPOTENCY_KEY_CHARS

from .errors import ApiError

MAX_KEY_CHARS = MAX_IDEMPOTENCY_KEY_CHARS


def check_key(key: str) -> str:
    """Validate an ``Idempotency-Key`` header value: 1 to MAX_KEY_CHARS printable ASCII."""
    if not (0 < len(key) <= MAX_KEY_CHARS and key.isascii() and key.isprintable()):
        raise ApiError(
            422,
            "invalid_input",
            f"Idempotency-Key must be 1-{MAX_KEY_CHARS} printable ASCII characters",
        )
    return key


def request_hash(body: dict[str, Any], background: bool) -> str:
    """A hash of the request's meaning: canonical JSON of the parsed body plus the mode."""
    canonical = json.dumps(
        {"body": body, "background": background},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def with_message_ids(messages: list[dict[str, Any]], tenant: str, key: str) -> list[dict[str, Any]]:
    """Give every message without an ``id`` one derived from the idempotency key."""
    base = hashlib.sha256(f"{tenant}\x00{key}".encode()).hexdigest()[:20]
    return [m if "id" in m else {**m, "id": f"idem_{base}_{i}"} for i, m in enumerate(messages)]


class KeyLocks:
    """One lock per (tenant, key) while a request with that key is in flight."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, str], tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, tenant: str, key: str) -> Iterator[None]:
        name = (tenant, key)
        with self._guard:
            lock, users = self._locks.get(name, (threading.Lock(), 0))
            self._locks[name] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[name]
                if users == 1:
                    del self._locks[name]
                else:
                    self._locks[name] = (lock, users - 1)
