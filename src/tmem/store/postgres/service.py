"""The service on Postgres: API keys and idempotency records, and :class:`PostgresServiceStore`.

The job queue's SQL is :mod:`.jobs`.

Both tables are keyed by tenant, not user, and stay outside Row-Level Security: a key is
looked up before the request's tenant is known. Every query names its tenant or key itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

from psycopg.types.json import Jsonb

from tmem.errors import StoreError
from tmem.store.base import DEFAULT_LEASE, ApiKey, IdempotencyRecord, Job
from tmem.store.postgres import jobs
from tmem.store.postgres.connection import ConnectionPool, Cursor, run

T = TypeVar("T")

_KEY_COLUMNS = "id, tenant, hash, created_at, revoked_at, label"
_IDEMPOTENCY_COLUMNS = "tenant, key, request_hash, status, response, created_at"


def _key(row: tuple[Any, ...]) -> ApiKey:
    return ApiKey(
        id=row[0], tenant=row[1], hash=row[2], created_at=row[3], revoked_at=row[4], label=row[5]
    )


def add_api_key(cursor: Cursor, key: ApiKey) -> None:
    cursor.execute(
        f"INSERT INTO tmem_api_keys ({_KEY_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)",
        (key.id, key.tenant, key.hash, key.created_at, key.revoked_at, key.label),
    )


def api_key_by_hash(cursor: Cursor, hash: str) -> ApiKey | None:
    cursor.execute(
        f"SELECT {_KEY_COLUMNS} FROM tmem_api_keys WHERE hash = %s AND revoked_at IS NULL",
        (hash,),
    )
    row = cursor.fetchone()
    return None if row is None else _key(row)


def revoke_api_key(cursor: Cursor, key_id: str, at: datetime) -> bool:
    cursor.execute(
        "UPDATE tmem_api_keys SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL",
        (at, key_id),
    )
    return cursor.rowcount == 1


def api_keys(cursor: Cursor, tenant: str | None) -> list[ApiKey]:
    cursor.execute(
        f"SELECT {_KEY_COLUMNS} FROM tmem_api_keys WHERE %(t)s::text IS NULL OR tenant = %(t)s"
        ' ORDER BY tenant COLLATE "C", created_at, id COLLATE "C"',
        {"t": tenant},
    )
    return [_key(row) for row in cursor.fetchall()]


def _record(row: tuple[Any, ...]) -> IdempotencyRecord:
    return IdempotencyRecord(
        tenant=row[0],
        key=row[1],
        request_hash=row[2],
        status=int(row[3]),
        response=row[4],
        created_at=row[5],
    )


def idempotency_get(cursor: Cursor, tenant: str, key: str) -> IdempotencyRecord | None:
    cursor.execute(
        f"SELECT {_IDEMPOTENCY_COLUMNS} FROM tmem_idempotency WHERE tenant = %s AND key = %s",
        (tenant, key),
    )
    row = cursor.fetchone()
    return None if row is None else _record(row)


def idempotency_put(cursor: Cursor, record: IdempotencyRecord) -> IdempotencyRecord:
    # A racing insert of the same key makes this one wait for it, then do nothing; the SELECT
    # that follows is a new statement, so under Read Committed it sees the winner's row.
    cursor.execute(
        f"INSERT INTO tmem_idempotency ({_IDEMPOTENCY_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (tenant, key) DO NOTHING",
        (
            record.tenant,
            record.key,
            record.request_hash,
            record.status,
            Jsonb(dict(record.response)),
            record.created_at,
        ),
    )
    stored = idempotency_get(cursor, record.tenant, record.key)
    if stored is None:  # the row was just written or committed by the racing writer
        raise StoreError(f"idempotency record {record.key!r} vanished")
    return stored


def idempotency_purge(cursor: Cursor, before: datetime) -> int:
    cursor.execute("DELETE FROM tmem_idempotency WHERE created_at < %s", (before,))
    return cursor.rowcount


class PostgresServiceStore:
    """The :class:`~tmem.store.base.ServiceStore` of a :class:`~tmem.store.postgres.PostgresStore`:
    jobs, API keys and idempotency records in the same database, on the same pool.

    Get it from :meth:`PostgresStore.service() <tmem.store.postgres.PostgresStore.service>`;
    it lives as long as the store (closing the store closes its pool).
    """

    def __init__(self, pool: ConnectionPool, where: str) -> None:
        self._pool = pool
        self._where = where

    def __repr__(self) -> str:
        return f"PostgresServiceStore({self._where!r})"

    def _run(self, work: Callable[[Cursor], T]) -> T:
        return run(self._pool, None, work)

    # --- background jobs ----------------------------------------------------------------------
    def enqueue_job(
        self, kind: str, payload: Mapping[str, Any], user_id: str, *, now: datetime | None = None
    ) -> str:
        """Queue a job for ``user_id``; return its id. ``now`` defaults to the database clock."""
        return self._run(lambda cursor: jobs.enqueue(cursor, kind, payload, user_id, now))

    def claim_job(
        self, worker_id: str, *, lease: timedelta = DEFAULT_LEASE, now: datetime | None = None
    ) -> Job | None:
        """Take the oldest due job (or one whose lease ran out) for ``worker_id``, if any.

        Concurrent workers never receive the same job: the claim skips rows another
        transaction holds (``FOR UPDATE SKIP LOCKED``).
        """
        return self._run(lambda cursor: jobs.claim(cursor, worker_id, lease, now))

    def renew_job(self, job_id: str, worker_id: str, *, lease: timedelta = DEFAULT_LEASE) -> None:
        """Extend the lease ``worker_id`` holds on a running job to ``lease`` from now.

        Raises:
            NotFoundError: the worker no longer holds the job (another took it over).
        """
        self._run(lambda cursor: jobs.renew(cursor, job_id, worker_id, lease))

    def finish_job(
        self, job_id: str, result: Mapping[str, Any], *, worker_id: str | None = None
    ) -> None:
        """Mark a job done with its ``result``.

        With ``worker_id``, only while that worker still holds the job: a worker whose lease
        ran out (and whose job another worker took over) gets ``NotFoundError`` instead of
        overwriting the new claim. ``NotFoundError`` too if there is no such job.
        """
        self._run(lambda cursor: jobs.finish(cursor, job_id, result, worker_id))

    def fail_job(
        self,
        job_id: str,
        error: str,
        retry_at: datetime | None,
        *,
        worker_id: str | None = None,
    ) -> None:
        """Record a failure: requeue for ``retry_at``, or end the job when it is None.

        ``worker_id`` guards as in :meth:`finish_job`.
        """
        self._run(lambda cursor: jobs.fail(cursor, job_id, error, retry_at, worker_id))

    def get_job(self, job_id: str, user_id: str) -> Job | None:
        """The job as last recorded, if it exists and belongs to ``user_id``."""
        return self._run(lambda cursor: jobs.get(cursor, job_id, user_id))

    def purge_jobs(self, before: datetime) -> int:
        """Delete finished jobs last updated before ``before``; return how many."""
        return self._run(lambda cursor: jobs.purge(cursor, before))

    # --- API keys and idempotency ----------------------------------------------------------------
    def add_api_key(self, key: ApiKey) -> None:
        """Store ``key`` (its hash, never the secret); a duplicate id or hash is refused."""
        self._run(lambda cursor: add_api_key(cursor, key))

    def api_key_by_hash(self, hash: str) -> ApiKey | None:
        """The live (not revoked) key with this hash, if any."""
        return self._run(lambda cursor: api_key_by_hash(cursor, hash))

    def revoke_api_key(self, key_id: str, at: datetime) -> bool:
        """Revoke a live key; False if there is no such key or it was already revoked."""
        return self._run(lambda cursor: revoke_api_key(cursor, key_id, at))

    def api_keys(self, tenant: str | None = None) -> list[ApiKey]:
        """Every key (of ``tenant``), revoked ones included, by tenant and age."""
        return self._run(lambda cursor: api_keys(cursor, tenant))

    def idempotency_get(self, tenant: str, key: str) -> IdempotencyRecord | None:
        return self._run(lambda cursor: idempotency_get(cursor, tenant, key))

    def idempotency_put(self, record: IdempotencyRecord) -> IdempotencyRecord:
        """Store ``record`` unless one exists for (tenant, key); return the stored one."""
        return self._run(lambda cursor: idempotency_put(cursor, record))

    def idempotency_purge(self, before: datetime) -> int:
        """Forget idempotency records created before ``before``; return how many."""
        return self._run(lambda cursor: idempotency_purge(cursor, before))
