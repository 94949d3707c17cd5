"""Stores: the :class:`Store` protocol, SQLite (default) and Postgres + pgvector."""

from tmem.store.base import Scored, Store, Supersession, VectorRow, WriteBatch

__all__ = ["Scored", "Store", "Supersession", "VectorRow", "WriteBatch"]
