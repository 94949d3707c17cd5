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
from typing import Any

from tmem.store.base import DEFAULT_LEASE, ApiKey, IdempotencyRecord, Job, ServiceStore


class ServiceAliases:
    """Mixed into the store classes; ``service()`` is the store's own."""

    def service(self) -> ServiceStore:
        raise NotImplementedError

    def _deprecated(self, name: str) -> ServiceStore:
        warnings.warn(
            f"store.{name}() is deprecated since tmem 0.3.0; call store.service().{name}()",
            DeprecationWarning,
            stacklevel=3,
        )
        return self.service()

    def enqueue_job(
        self, kind: str, payload: Mapping[str, Any], user_id: str, *, now: datetime | None = None
    ) -> str:
        return self._deprecated("enqueue_job").enqueue_job(kind, payload, user_id, now=now)

    def claim_job(
        self, worker_id: str, *, lease: timedelta = DEFAULT_LEASE, now: datetime | None = None
    ) -> Job | None:
        return self._deprecated("claim_job").claim_job(worker_id, lease=lease, now=now)

    def renew_job(self, job_id: str, worker_id: str, *, lease: timedelta = DEFAULT_LEASE) -> None:
        self._deprecated("renew_job").renew_job(job_id, worker_id, lease=lease)

    def finish_job(
        self, job_id: str, result: Mapping[str, Any], *, worker_id: str | None = None
    ) -> None:
        self._deprecated("finish_job").finish_job(job_id, result, worker_id=worker_id)

    def fail_job(
        self, job_id: str, error: str, retry_at: datetime | None, *, worker_id: str | None = None
    ) -> None:
        self._deprecated("fail_job").fail_job(job_id, error, retry_at, worker_id=worker_id)

    def get_job(self, job_id: str, user_id: str) -> Job | None:
        return self._deprecated("get_job").get_job(job_id, user_id)

    def add_api_key(self, key: ApiKey) -> None:
        self._deprecated("add_api_key").add_api_key(key)

    def api_key_by_hash(self, hash: str) -> ApiKey | None:
        return self._deprecated("api_key_by_hash").api_key_by_hash(hash)

    def revoke_api_key(self, key_id: str, at: datetime) -> bool:
        return self._deprecated("revoke_api_key").revoke_api_key(key_id, at)

    def idempotency_get(self, tenant: str, key: str) -> IdempotencyRecord | None:
        return self._deprecated("idempotency_get").idempotency_get(tenant, key)

    def idempotency_put(self, record: IdempotencyRecord) -> IdempotencyRecord:
        return self._deprecated("idempotency_put").idempotency_put(record)

    def idempotency_purge(self, before: datetime) -> int:
        return self._deprecated("idempotency_purge").idempotency_purge(before)

    def purge_jobs(self, before: datetime) -> int:
        return self._deprecated("purge_jobs").purge_jobs(before)

    def api_keys(self, tenant: str | None = None) -> builtins.list[ApiKey]:
        return self._deprecated("api_keys").api_keys(tenant)
