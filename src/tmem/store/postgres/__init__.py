"""The Postgres wing: a store in PostgreSQL with pgvector (``pip install 'tmem[postgres]'``).

The modules have the same names as in the SQLite wing (:mod:`tmem.store.sqlite`), plus
``bulk`` (loading many users' rows with ``COPY``, which SQLite has no counterpart of). They
hold dialect SQL and connection handling only; what a write, an update or a deletion does is
decided above the wings (:mod:`tmem.store.plan`, :mod:`tmem.store.policy`).
"""

from tmem.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
