"""The background-job queue on SQLite: claims inside ``BEGIN IMMEDIATE``.

Every function runs inside a transaction the caller opened; writes need ``BEGIN IMMEDIATE``,
which takes the database's write lock up front, so a claim's read and its update cannot
interleave with another process's claim.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from tmem.errors import NotFoundError
from tmem.store.base import JOB_COLUMNS, Job, JobStatus
from tmem.store.sqlite.rows import parse_time, service_json, service_time


def _job(row: tuple[Any, ...]) -> Job:
    return Job(
        id=row[0],
        user_id=row[1],
        kind=row[2],
        payload=json.loads(row[3]),
        status=cast(JobStatus, row[4]),
        attempts=int(row[5]),
        run_at=datetime.fromisoformat(row[6]),
        created_at=datetime.fromisoformat(row[7]),
        updated_at=datetime.fromisoformat(row[8]),
        worker_id=row[9],
        lease_until=parse_time(row[10]),
        result=None if row[11] is None else json.loads(row[11]),
        error=row[12],
    )


def enqueue(
    conn: sqlite3.Connection, kind: str, payload: Mapping[str, Any], user_id: str, now: datetime
) -> str:
    job_id = uuid.uuid4().hex
    at = service_time(now)
    conn.execute(
        "INSERT INTO jobs (user_id, id, seq, kind, payload, status, run_at, created_at,"
        " updated_at) SELECT ?, ?, coalesce(max(seq), 0) + 1, ?, ?, 'queued', ?, ?, ? FROM jobs",
        (user_id, job_id, kind, service_json(payload, "job payload"), at, at, at),
    )
    return job_id


# Due queued jobs, and running jobs whose lease ran out (their worker is presumed dead).
_CLAIM = f"""
UPDATE jobs SET status = 'running', worker_id = :worker, attempts = attempts + 1,
    lease_until = :lease_until, updated_at = :now
WHERE id = (
    SELECT id FROM jobs
    WHERE (status = 'queued' AND run_at <= :now) OR (status = 'running' AND lease_until < :now)
    ORDER BY run_at, seq LIMIT 1)
RETURNING {JOB_COLUMNS}
"""


def claim(conn: sqlite3.Connection, worker_id: str, lease: timedelta, now: datetime) -> Job | None:
    row = conn.execute(
        _CLAIM,
        {"worker": worker_id, "now": service_time(now), "lease_until": service_time(now + lease)},
    ).fetchone()
    return None if row is None else _job(row)


def _holder(worker_id: str | None) -> str:
    """Extra condition: the job is still running under ``worker_id`` (when one is named)."""
    return "" if worker_id is None else " AND status = 'running' AND worker_id = :worker"


def finish(
    conn: sqlite3.Connection,
    job_id: str,
    result: Mapping[str, Any],
    worker_id: str | None,
    now: datetime,
) -> None:
    cursor = conn.execute(
        # A finished job needs its messages no more; keeping them would outlive a deletion.
        "UPDATE jobs SET status = 'done', result = :result, lease_until = NULL, payload = '{}',"
        f" updated_at = :now WHERE id = :id{_holder(worker_id)}",
        {
            "result": service_json(result, "job result"),
            "now": service_time(now),
            "id": job_id,
            "worker": worker_id,
        },
    )
    _require_one(cursor.rowcount, job_id, worker_id)


def fail(
    conn: sqlite3.Connection,
    job_id: str,
    error: str,
    retry_at: datetime | None,
    worker_id: str | None,
    now: datetime,
) -> None:
    cursor = conn.execute(
        "UPDATE jobs SET error = :error, lease_until = NULL, updated_at = :now,"
        " status = CASE WHEN :retry IS NULL THEN 'failed' ELSE 'queued' END,"
        " payload = CASE WHEN :retry IS NULL THEN '{}' ELSE payload END,"
        f" run_at = coalesce(:retry, run_at) WHERE id = :id{_holder(worker_id)}",
        {
            "error": error,
            "now": service_time(now),
            "retry": None if retry_at is None else service_time(retry_at),
            "id": job_id,
            "worker": worker_id,
        },
    )
    _require_one(cursor.rowcount, job_id, worker_id)


def renew(
    conn: sqlite3.Connection, job_id: str, worker_id: str, lease: timedelta, now: datetime
) -> None:
    cursor = conn.execute(
        "UPDATE jobs SET lease_until = :lease_until WHERE id = :id"
        " AND status = 'running' AND worker_id = :worker",
        {"lease_until": service_time(now + lease), "id": job_id, "worker": worker_id},
    )
    _require_one(cursor.rowcount, job_id, worker_id)


def _require_one(rowcount: int, job_id: str, worker_id: str | None) -> None:
    if rowcount != 1:
        held = "" if worker_id is None else f" running under worker {worker_id!r}"
        raise NotFoundError(f"no job {job_id!r}{held}")


def get_job(conn: sqlite3.Connection, job_id: str, user_id: str) -> Job | None:
    row = conn.execute(
        f"SELECT {JOB_COLUMNS} FROM jobs WHERE user_id = ? AND id = ?", (user_id, job_id)
    ).fetchone()
    return None if row is None else _job(row)


def purge_jobs(conn: sqlite3.Connection, before: datetime) -> int:
    """Delete finished (done or failed) jobs last updated before ``before``; return how many."""
    return conn.execute(
        "DELETE FROM jobs WHERE status IN ('done', 'failed') AND updated_at < ?",
        (service_time(before),),
    ).rowcount


def delete_jobs(conn: sqlite3.Connection, user_id: str) -> int:
    return conn.execute("DELETE FROM jobs WHERE user_id = ?", (user_id,)).rowcount
