"""The SQLite wing: the default store, one SQLite file (or ``:memory:``) for every user.

The modules have the same names in both wings (:mod:`tmem.store.postgres`): ``store`` (the
:class:`SQLiteStore`), ``service`` (the :class:`SQLiteServiceStore`), ``connection``, ``schema``,
``migrate``, ``rows``, ``read``, ``write``, ``delete``, ``search``, ``risk``, ``jobs`` and
``export``. They hold dialect SQL and connection handling only; what a write, an update or a
deletion does is decided above the wings (:mod:`tmem.store.plan`, :mod:`tmem.store.policy`).
"""

from tmem.store.sqlite.store import SQLiteStore

__all__ = ["SQLiteStore"]
