"""API keys and idempotency records on Postgres (the job queue is :mod:`postgres_jobs`).

Both tables are keyed by tenant, not user, and stay outside Row-Level Security: a key is
looked up before the request's tenant is known. Every query names its tenant or key itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from tmem.errors import StoreError
from tmem.store.base import ApiKey, IdempotencyRecord
from tmem.store.postgres_pool import Cursor

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
