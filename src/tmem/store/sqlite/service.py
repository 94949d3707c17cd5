"""The service on SQLite: API keys and idempotency records, and :class:`SQLiteServiceStore`.

Every function runs inside a transaction the caller opened (the job queue is :mod:`.jobs`).
Times are stored as UTC ISO 8601 text with microseconds
(:func:`~tmem.store.sqlite.rows.service_time`), so comparing the text compares the instants.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from tmem.clock import Clock
from tmem.errors import StoreError
from tmem.store.base import DEFAULT_LEASE, ApiKey, IdempotencyRecord, Job
from tmem.store.sqlite import jobs
from tmem.store.sqlite.connection import Connection
from tmem.store.sqlite.rows import parse_time, service_json, service_time

_KEY_COLUMNS = "id, tenant, hash, created_at, revoked_at, label"
_IDEMPOTENCY_COLUMNS = "tenant, key, request_hash, status, response, created_at"


# --- API keys ---------------------------------------------------------------------------------
def _key(row: tuple[Any, ...]) -> ApiKey:
    return ApiKey(
        id=row[0],
        tenant=row[1],
        hash=row[2],
        created_at=datetime.fromisoformat(row[3]),
        revoked_at=parse_time(row[4]),
        label=row[5],
    )


def add_api_key(conn: sqlite3.Connection, key: ApiKey) -> None:
    revoked = None if key.revoked_at is None else service_time(key.revoked_at)
    conn.execute(
        f"INSERT INTO api_keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
        (key.id, key.tenant, key.hash, service_time(key.created_at), revoked, key.label),
    )


def api_key_by_hash(conn: sqlite3.Connection, hash: str) -> ApiKey | None:
    row = conn.execute(
        f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE hash = ? AND revoked_at IS NULL", (hash,)
    ).fetchone()
    return None if row is None else _key(row)


def revoke_api_key(conn: sqlite3.Connection, key_id: str, at: datetime) -> bool:
    cursor = conn.execute(
        "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        (service_time(at), key_id),
    )
    return cursor.rowcount == 1


def api_keys(conn: sqlite3.Connection, tenant: str | None) -> list[ApiKey]:
    rows = conn.execute(
        f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE ? IS NULL OR tenant = ?"
        " ORDER BY tenant, created_at, id",
        (tenant, tenant),
    ).fetchall()
    return [_key(row) for row in rows]


# --- idempotency ------------------------------------------------------------------------------
def _record(row: tuple[Any, ...]) -> IdempotencyRecord:
    return IdempotencyRecord(
        tenant=row[0],
        key=row[1],
        request_hash=row[2],
        status=int(row[3]),
        response=json.loads(row[4]),
        created_at=datetime.fromisoformat(row[5]),
    )


def idempotency_get(conn: sqlite3.Connection, tenant: str, key: str) -> IdempotencyRecord | None:
    row = conn.execute(
        f"SELECT {_IDEMPOTENCY_COLUMNS} FROM idempotency WHERE tenant = ? AND key = ?",
        (tenant, key),
    ).fetchone()
    return None if row is None else _record(row)


def idempotency_put(conn: sqlite3.Connection, record: IdempotencyRecord) -> IdempotencyRecord:
    conn.execute(
        f"INSERT INTO idempotency ({_IDEMPOTENCY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (tenant, key) DO NOTHING",
        (
            record.tenant,
            record.key,
            record.request_hash,
            record.status,
            service_json(record.response, "idempotent response"),
            service_time(record.created_at),
        ),
    )
    stored = idempotency_get(conn, record.tenant, record.key)
    if stored is None:  # the row was just written or already there, in this transaction
        raise StoreError(f"idempotency record {record.key!r} vanished")
    return stored


def idempotency_purge(conn: sqlite3.Connection, before: datetime) -> int:
    return conn.execute(
        "DELETE FROM idempotency WHERE created_at < ?", (service_time(before),)
    ).rowcount


class SQLiteServiceStore:
    """The :class:`~tmem.store.base.ServiceStore` of a :class:`~tmem.store.sqlite.SQLiteStore`:
    jobs, API keys and idempotency records in the same file, on the same connection.

    Get it from :meth:`SQLiteStore.service() <tmem.store.sqlite.SQLiteStore.service>`; it lives
    as long as the store (closing the store closes it).
    """

    def __init__(self, connection: Connection, clock: Clock) -> None:
        self._connection = connection
        self._clock = clock

    def __repr__(self) -> str:
        return f"SQLiteServiceStore({self._connection.path!r})"

    # --- background jobs ----------------------------------------------------------------------
    def enqueue_job(
        self, kind: str, payload: Mapping[str, Any], user_id: str, *, now: datetime | None = None
    ) -> str:
        """Queue a job for ``user_id``, due at ``now`` (the store's clock); return its id."""
        with self._connection.writing() as conn:
            return jobs.enqueue(conn, kind, payload, user_id, now or self._clock.now())

    def claim_job(
        self, worker_id: str, *, lease: timedelta = DEFAULT_LEASE, now: datetime | None = None
    ) -> Job | None:
        """Take the oldest due job (or one whose lease ran out) for ``worker_id``, if any.

        The claim is one ``BEGIN IMMEDIATE`` transaction, so workers in any thread or process
        on this host never receive the same job.
        """
        with self._connection.writing() as conn:
            return jobs.claim(conn, worker_id, lease, now or self._clock.now())

    def renew_job(self, job_id: str, worker_id: str, *, lease: timedelta = DEFAULT_LEASE) -> None:
        """Extend the lease ``worker_id`` holds on a running job to ``lease`` from now.

        Raises:
            NotFoundError: the worker no longer holds the job (another took it over).
        """
        with self._connection.writing() as conn:
            jobs.renew(conn, job_id, worker_id, lease, self._clock.now())

    def finish_job(
        self, job_id: str, result: Mapping[str, Any], *, worker_id: str | None = None
    ) -> None:
        """Mark a job done with its ``result``.

        With ``worker_id``, only while that worker still holds the job: a worker whose job
        another worker took over gets ``NotFoundError``, as for an unknown job.
        """
        with self._connection.writing() as conn:
            jobs.finish(conn, job_id, result, worker_id, self._clock.now())

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
        with self._connection.writing() as conn:
            jobs.fail(conn, job_id, error, retry_at, worker_id, self._clock.now())

    def get_job(self, job_id: str, user_id: str) -> Job | None:
        """The job as last recorded, if it exists and belongs to ``user_id``."""
        with self._connection.reading() as conn:
            return jobs.get_job(conn, job_id, user_id)

    def purge_jobs(self, before: datetime) -> int:
        """Delete finished jobs last updated before ``before``; return how many."""
        with self._connection.writing() as conn:
            return jobs.purge_jobs(conn, before)

    # --- API keys and idempotency ----------------------------------------------------------------
    def add_api_key(self, key: ApiKey) -> None:
        """Store ``key`` (its hash, never the secret); a duplicate id or hash is refused."""
        with self._connection.writing() as conn:
            add_api_key(conn, key)

    def api_key_by_hash(self, hash: str) -> ApiKey | None:
        """The live (not revoked) key with this hash, if any."""
        with self._connection.reading() as conn:
            return api_key_by_hash(conn, hash)

    def revoke_api_key(self, key_id: str, at: datetime) -> bool:
        """Revoke a live key; False if there is no such key or it was already revoked."""
        with self._connection.writing() as conn:
            return revoke_api_key(conn, key_id, at)

    def api_keys(self, tenant: str | None = None) -> list[ApiKey]:
        """Every key (of ``tenant``), revoked ones included, by tenant and age."""
        with self._connection.reading() as conn:
            return api_keys(conn, tenant)

    def idempotency_get(self, tenant: str, key: str) -> IdempotencyRecord | None:
        with self._connection.reading() as conn:
            return idempotency_get(conn, tenant, key)

    def idempotency_put(self, record: IdempotencyRecord) -> IdempotencyRecord:
        """Store ``record`` unless one exists for (tenant, key); return the stored one."""
        with self._connection.writing() as conn:
            return idempotency_put(conn, record)

    def idempotency_purge(self, before: datetime) -> int:
        """Forget idempotency records created before ``before``; return how many."""
        with self._connection.writing() as conn:
            return idempotency_purge(conn, before)
