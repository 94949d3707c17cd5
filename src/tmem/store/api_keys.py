"""Making and checking service API keys: the secret is shown once, only its hash is stored.

A key reads ``tmem_`` followed by 43 URL-safe characters (32 random bytes). The store keeps
the SHA-256 hex digest of the whole key. A plain hash is enough here: the secret carries 256
bits of randomness, so there is nothing to brute-force that a salt or HMAC would slow down,
and a plain hash lets any server find a key with one indexed lookup, with no per-store salt to
distribute. The service looks keys up by hash (:func:`hash_secret`), so comparing secrets in
constant time is the database index's job, not Python's.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime

from tmem.errors import InputError
from tmem.store.base import ApiKey

KEY_PREFIX = "tmem_"
TENANT_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
"""Tenant names: 1-64 ASCII letters, digits, ``_``, ``.`` or ``-``."""
MAX_LABEL = 200


def check_tenant(name: str) -> str:
    """Return ``name`` if it is a valid tenant name.

    Raises:
        InputError: it is empty, longer than 64 characters or has other characters.
    """
    if not TENANT_PATTERN.fullmatch(name):
        raise InputError(f"invalid tenant {name!r}: use 1-64 characters from A-Z a-z 0-9 _ . -")
    return name


def hash_secret(secret: str) -> str:
    """The stored form of a key: the SHA-256 hex digest of its UTF-8 bytes."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_api_key(tenant: str, created_at: datetime, label: str = "") -> tuple[str, ApiKey]:
    """A fresh key for ``tenant``: the secret (show it once) and the record to store.

    Raises:
        InputError: an invalid tenant name, or a label that is too long or has control
            characters.
    """
    check_tenant(tenant)
    if len(label) > MAX_LABEL or not label.isprintable():
        raise InputError(f"a key label has at most {MAX_LABEL} printable characters")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        id="key_" + secrets.token_hex(8),
        tenant=tenant,
        hash=hash_secret(secret),
        created_at=created_at,
        label=label,
    )
    return secret, key
