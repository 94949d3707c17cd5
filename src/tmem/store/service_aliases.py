"""0.2.0's service methods on the store itself, kept for the callers of that API.

Since 0.3.0 jobs, API keys and idempotency records are reached through
:meth:`~tmem.store.base.Store.service`. Each method here warns (``DeprecationWarning``) and
passes the call on; they will be removed in 1.0.
"""

from __future__ import annotations

import builtins
import warnings
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from tmem.store.base import DEFAULT_LEASE, ApiKey, IdempotencyRecord, Job, ServiceStore


class _Serviced(Protocol):
    def service(self) -> ServiceStore: ...


def _deprecated(store: object, name: str) -> ServiceStore:
    """``store.service()``, after warning that ``store.<name>()`` is deprecated."""
    warnings.warn(
        f"store.{name}() is deprecated since tmem 0.3.0; call store.service().{name}()",
        DeprecationWarning,
        stacklevel=3,
    )
    return cast(_Serviced, store).service()


class ServiceAliases:
    """Mixed into the store classes, whose own ``service()`` each alias calls."""

    def enqueue_job(
        self, kind: str, payload: Mapping[str, Any], user_id: str, *, now: datetime | None = None
    ) -> str:
        return _deprecated(self, "enqueue_job").enqueue_job(kind, payload, user_id, now=now)

    def claim_job(
        self, worker_id: str, *, lease: timedelta = DEFAULT_LEASE, now: datetime | None = None
    ) -> Job | None:
        return _deprecated(self, "claim_job").claim_job(worker_id, lease=lease, now=now)

    def renew_job(self, job_id: str, worker_id: str, *, lease: timedelta = DEFAULT_LEASE) -> None:
        _deprecated(self, "renew_job").renew_job(job_id, worker_id, lease=lease)

    def finish_job(
        self, job_id: str, result: Mapping[str, Any], *, worker_id: str | None = None
    ) -> None:
        _deprecated(self, "finish_job").finish_job(job_id, result, worker_id=worker_id)

    def fail_job(
        self, job_id: str, error: str, retry_at: datetime | None, *, worker_id: str | None = None
    ) -> None:
        _deprecated(self, "fail_job").fail_job(job_id, error, retry_at, worker_id=worker_id)

    def get_job(self, job_id: str, user_id: str) -> Job | None:
        return _deprecated(self, "get_job").get_job(job_id, user_id)

    def add_api_key(self, key: ApiKey) -> None:
        _deprecated(self, "add_api_key").add_api_key(key)

    def api_key_by_hash(self, hash: str) -> ApiKey | None:
        return _deprecated(self, "api_key_by_hash").api_key_by_hash(hash)

    def revoke_api_key(self, key_id: str, at: datetime) -> bool:
        return _deprecated(self, "revoke_api_key").revoke_api_key(key_id, at)

    def idempotency_get(self, tenant: str, key: str) -> IdempotencyRecord | None:
        return _deprecated(self, "idempotency_get").idempotency_get(tenant, key)

    def idempotency_put(self, record: IdempotencyRecord) -> IdempotencyRecord:
        return _deprecated(self, "idempotency_put").idempotency_put(record)

    def idempotency_purge(self, before: datetime) -> int:
        return _deprecated(self, "idempotency_purge").idempotency_purge(before)

    def purge_jobs(self, before: datetime) -> int:
        return _deprecated(self, "purge_jobs").purge_jobs(before)

    def api_keys(self, tenant: str | None = None) -> builtins.list[ApiKey]:
        return _deprecated(self, "api_keys").api_keys(tenant)
