"""Tenancy: how a caller's ids map into the one store all tenants share, and back.

A request names no tenant: the tenant comes from the API key (:mod:`.auth`). Each ``user_id``
a caller gives lives in the tenant's own namespace in the store, ``tenant/user_id``, so one
tenant can never address another's memories (BOLA). This module is the only place that builds
or takes apart such store user ids: ids are checked as the caller gave them (the length limit
and the id grammar of :mod:`tmem.validate` hold for the caller's own id, whatever the tenant's
name), and every answer speaks of the caller's ids again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tmem.errors import InputError
from tmem.serialize import to_dict
from tmem.validate import check_id, check_lookup_id

SEPARATOR = "/"
"""Tenant names contain no '/', so the first '/' always ends the tenant: "a" + "b/c" and
"a/b" + "c" cannot both exist."""


@dataclass(frozen=True)
class Tenant:
    """One tenant's view of the store."""

    name: str

    def store_user(self, user_id: str, *, new: bool = False) -> str:
        """The store's user id for the caller's ``user_id``.

        Args:
            user_id: the id as the caller gave it.
            new: the request may create the user (an add), so the full id grammar applies;
                otherwise any id the store may hold from earlier versions is accepted.

        Raises:
            InputError: the caller's id is unusable (the message names the caller's id only).
        """
        if new:
            check_id(user_id, "user_id")
        else:
            check_lookup_id(user_id, "user_id")
            if not user_id.strip() or _has_control(user_id):
                raise InputError("user_id must not be blank or contain control characters")
        return store_user_id(self.name, user_id)


def store_user_id(tenant: str, user_id: str) -> str:
    return f"{tenant}{SEPARATOR}{user_id}"


def caller_user_id(store_user: str) -> str:
    """The caller's ``user_id`` back from a store user id."""
    return store_user.split(SEPARATOR, 1)[1] if SEPARATOR in store_user else store_user


def to_caller(obj: Any, store_user: str, user_id: str) -> Any:
    """``obj`` as JSON with the store's user id replaced by the caller's ``user_id``."""
    return _rename(to_dict(obj), store_user, user_id)


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def _rename(data: Any, store_user: str, user_id: str) -> Any:
    if isinstance(data, dict):
        return {
            k: user_id if k == "user_id" and v == store_user else _rename(v, store_user, user_id)
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [_rename(v, store_user, user_id) for v in data]
    return data
