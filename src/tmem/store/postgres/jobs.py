"""The background-job queue on Postgres: claim with ``FOR UPDATE SKIP LOCKED``.

A job moves ``queued -> running -> done``; a failure either ends it (``failed``) or puts it back
in the queue with a later ``run_at``. A claim holds a lease: a ``running`` job whose lease ran out
(its worker died) can be claimed again, and every claim counts an attempt.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from psycopg.types.json import Jsonb

from tmem.errors import NotFoundError
from tmem.store.base import JOB_COLUMNS, Job, JobStatus
from tmem.store.postgres.connection import Cursor


def _job(row: tuple[Any, ...]) -> Job:
    return Job(
        id=row[0],
        user_id=row[1],
        kind=row[2],
        payload=row[3],
        status=cast(JobStatus, row[4]),
        attempts=row[5],
        run_at=row[6],
        created_at=row[7],
        updated_at=row[8],
        worker_id=row[9],
        lease_until=row[10],
        result=row[11],
        error=row[12],
    )


def enqueue(
    cursor: Cursor, kind: str, payload: Mapping[str, Any], user_id: str, now: datetime | None
) -> str:
    job_id = uuid.uuid4().hex
    cursor.execute(
        "INSERT INTO tmem_jobs (user_id, id, kind, payload, status, run_at, created_at, "
        "updated_at) SELECT %(user)s, %(id)s, %(kind)s, %(payload)s, 'queued', t, t, t "
        "FROM (SELECT coalesce(%(now)s::timestamptz, now()) AS t) AS clock",
        {"user": user_id, "id": job_id, "kind": kind, "payload": Jsonb(dict(payload)), "now": now},
    )
    return job_id


_CLAIM = f"""
WITH clock AS (SELECT coalesce(%(now)s::timestamptz, now()) AS t),
next AS (
    SELECT user_id, id FROM tmem_jobs, clock
    WHERE (status = 'queued' AND run_at <= clock.t)
       OR (status = 'running' AND lease_until < clock.t)
    ORDER BY run_at, seq
    LIMIT 1
    FOR UPDATE OF tmem_jobs SKIP LOCKED)
UPDATE tmem_jobs AS job
SET status = 'running', worker_id = %(worker)s, attempts = job.attempts + 1,
    lease_until = clock.t + %(lease)s, updated_at = clock.t
FROM next, clock
WHERE job.user_id = next.user_id AND job.id = next.id
RETURNING {", ".join(f"job.{column}" for column in JOB_COLUMNS.split(", "))}
"""


def claim(cursor: Cursor, worker_id: str, lease: timedelta, now: datetime | None) -> Job | None:
    cursor.execute(_CLAIM, {"now": now, "worker": worker_id, "lease": lease})
    row = cursor.fetchone()
    return _job(row) if row else None


def _holder(worker_id: str | None) -> str:
    """Extra condition: the job is still running under ``worker_id`` (when one is named)."""
    return "" if worker_id is None else " AND status = 'running' AND worker_id = %(worker)s"


def renew(cursor: Cursor, job_id: str, worker_id: str, lease: timedelta) -> None:
    cursor.execute(
        "UPDATE tmem_jobs SET lease_until = now() + %(lease)s WHERE id = %(id)s"
        " AND status = 'running' AND worker_id = %(worker)s",
        {"lease": lease, "id": job_id, "worker": worker_id},
    )
    _require_one(cursor, job_id, worker_id)


def finish(
    cursor: Cursor, job_id: str, result: Mapping[str, Any], worker_id: str | None = None
) -> None:
    cursor.execute(
        # A finished job needs its messages no more; keeping them would outlive a deletion.
        "UPDATE tmem_jobs SET status = 'done', result = %(result)s, lease_until = NULL,"
        " payload = '{}'::jsonb,"
        f" updated_at = now() WHERE id = %(id)s{_holder(worker_id)}",
        {"result": Jsonb(dict(result)), "id": job_id, "worker": worker_id},
    )
    _require_one(cursor, job_id, worker_id)


def fail(
    cursor: Cursor,
    job_id: str,
    error: str,
    retry_at: datetime | None,
    worker_id: str | None = None,
) -> None:
    cursor.execute(
        "UPDATE tmem_jobs SET error = %(error)s, lease_until = NULL, updated_at = now(),"
        " status = CASE WHEN %(retry)s::timestamptz IS NULL THEN 'failed' ELSE 'queued' END,"
        " payload = CASE WHEN %(retry)s::timestamptz IS NULL THEN '{}'::jsonb ELSE payload END,"
        f" run_at = coalesce(%(retry)s::timestamptz, run_at) WHERE id = %(id)s{_holder(worker_id)}",
        {"error": error, "retry": retry_at, "id": job_id, "worker": worker_id},
    )
    _require_one(cursor, job_id, worker_id)


def purge(cursor: Cursor, before: datetime) -> int:
    """Delete finished (done or failed) jobs last updated before ``before``; return how many."""
    cursor.execute(
        "DELETE FROM tmem_jobs WHERE status IN ('done', 'failed') AND updated_at < %s", (before,)
    )
    return cursor.rowcount


def get(cursor: Cursor, job_id: str, user_id: str) -> Job | None:
    cursor.execute(
        f"SELECT {JOB_COLUMNS} FROM tmem_jobs WHERE user_id = %s AND id = %s", (user_id, job_id)
    )
    row = cursor.fetchone()
    return _job(row) if row else None


def _require_one(cursor: Cursor, job_id: str, worker_id: str | None) -> None:
    if cursor.rowcount != 1:
        held = "" if worker_id is None else f" running under worker {worker_id!r}"
        raise NotFoundError(f"no job {job_id!r}{held}")
