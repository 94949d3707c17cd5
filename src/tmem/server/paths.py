"""The request target is checked before anything routes on it.

- **Dot segments** (``.``, ``..``, also percent-encoded as ``%2e%2e``) are refused: a proxy that
  normalises paths would otherwise turn ``DELETE /v1/users/ana/../bob`` into another request
  than the one this service sees. No id can be ``.`` or ``..`` (:mod:`tmem.ids`), so no valid
  request needs one.
- **Encoded slashes** (``%2F``) are refused: the server decodes them into separators, so a path
  segment holding one would silently address something else.
- **Invalid UTF-8** in the path or the query string is refused instead of being decoded into
  U+FFFD replacement characters (which would address a user named ``"\\ufffd..."``).

Each refusal is a 400 in the service's JSON error shape.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import error_response

_DOT_SEGMENTS = frozenset({b".", b".."})


def target_problem(raw_path: bytes, query: bytes) -> str | None:
    """Why a request target is refused, or None when it is acceptable."""
    for segment in raw_path.split(b"/"):
        decoded = unquote_to_bytes(segment)
        if decoded in _DOT_SEGMENTS:
            return "the path contains a '.' or '..' segment"
        if b"/" in decoded or b"\\" in decoded:
            return "the path contains an encoded '/' or backslash inside a segment"
    if not _is_utf8(unquote_to_bytes(raw_path)):
        return "the path is not valid UTF-8 once percent-decoded"
    for pair in query.split(b"&"):
        if not _is_utf8(unquote_to_bytes(pair.replace(b"+", b" "))):
            return "the query string is not valid UTF-8 once percent-decoded"
    return None


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class PathGuard:
    """Refuse requests whose target :func:`target_problem` finds fault with."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
            problem = target_problem(raw, scope.get("query_string", b""))
            if problem is not None:
                await error_response(400, "bad_request", problem)(scope, receive, send)
                return
        await self.app(scope, receive, send)
