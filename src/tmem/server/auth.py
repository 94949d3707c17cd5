"""API keys: how a request proves which tenant it acts for.

A key is a random secret shown once (``tmem keys create``); the store keeps only its SHA-256
hex digest (:func:`tmem.store.api_keys.hash_secret`) and looks keys up by that digest. A
request names no tenant itself: the tenant comes from the key, and :mod:`.tenancy` maps each
``user_id`` into the tenant's own namespace, so one tenant can never address another's
memories (BOLA).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from tmem.store.api_keys import hash_secret
from tmem.store.base import ServiceStore

from .errors import ApiError
from .tenancy import Tenant

audit_log = logging.getLogger("tmem.server.audit")

NO_AUTH_TENANT = "default"
"""The tenant every request acts for when the service runs with ``--insecure-no-auth``."""
_SCHEME = "bearer "
MAX_KEY_CHARS = 512


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant and the id of the key used (for rate limits)."""

    tenant: str
    key_id: str

    @property
    def scope(self) -> Tenant:
        """The caller's tenant: how its ids map into the store."""
        return Tenant(self.tenant)


def authenticate(store: ServiceStore, header: str | None) -> Principal:
    """The principal an ``Authorization`` header proves, or 401.

    Raises:
        ApiError: 401 when the header is missing or malformed or the key is unknown or revoked.
    """
    secret = _bearer(header)
    digest = hash_secret(secret)
    key = store.api_key_by_hash(digest)
    # The store found the row by digest; comparing again in constant time keeps a store
    # that matches loosely (collation, prefix index) from ever letting a wrong key through.
    if key is None or key.revoked_at is not None or not hmac.compare_digest(key.hash, digest):
        raise _unauthorized("unknown or revoked API key")
    return Principal(tenant=key.tenant, key_id=key.id)


def audit(principal: Principal, action: str, ids: Sequence[str], query: str = "") -> None:
    """Record a read: who, what kind, a hash of the query and the ids returned, never content
    (an audit log must not leak what it protects)."""
    if not audit_log.isEnabledFor(logging.INFO):
        return
    digest = hashlib.sha256(query.encode("utf-8")).hexdigest()[:16] if query else "-"
    audit_log.info(
        "%s tenant=%s key=%s query=%s ids=%s",
        action,
        principal.tenant,
        principal.key_id,
        digest,
        ",".join(ids[:100]),
    )


def _bearer(header: str | None) -> str:
    if not header:
        raise _unauthorized("missing Authorization header (expected: Bearer <key>)")
    if len(header) > MAX_KEY_CHARS or not header[: len(_SCHEME)].lower() == _SCHEME:
        raise _unauthorized("malformed Authorization header (expected: Bearer <key>)")
    secret = header[len(_SCHEME) :].strip()
    if not secret or not secret.isascii() or not secret.isprintable():
        raise _unauthorized("malformed API key")
    return secret


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, {"WWW-Authenticate": "Bearer"})
