"""Key-value items kept as tmem turns: the mapping behind :mod:`tmem.integrations.langgraph`.

An item (a namespace of labels, a key, a JSON object) is one turn of the tmem user its
namespace names. What tmem embeds and indexes is a turn's speaker and content, so the content
is the value and nothing else; what locates the item lives in fields tmem does not index:

- **content**: the value's text when it is one non-empty string field (``{"text": "Ben is
  allergic to shellfish"}`` is stored as that sentence: the shape LangGraph's examples use,
  and the one embedders read best), else the value as JSON;
- **id**: ``lg-`` and 40 hex digits of SHA-256 over the namespace and key, so reading an item
  is one lookup and ids never collide across namespaces;
- **session**: ``lg~<created_at>~<form>~<labels>~<key>``: when the key was first put, which
  content form it is (``j`` JSON, ``t<field>`` the text of ``field``), the namespace and the
  key, each percent-escaped where an id could not carry a character. So every item is its own
  session: in LLM-free mode its own scene, its context vector itself (items are independent
  documents; a neighbour's text would only blur them), and deleting one never sends another
  back to waiting. The session must fit an id (:data:`~tmem.validate.MAX_ID_CHARS`);
- **speaker**: :data:`SPEAKER`; **timestamp**: when the item was last put (``updated_at``).

Pure functions: no store, no clock, no framework import.
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from tmem.errors import InputError
from tmem.models import Record, Turn
from tmem.validate import MAX_ID_CHARS

SPEAKER = "langgraph"
"""The speaker of every stored item."""
PREFIX = "lg-"
"""How the id of every stored item begins."""
SESSION_PREFIX = "lg~"
"""How the session of every stored item begins."""
_ESCAPED = frozenset("%~./\\")


@dataclass(frozen=True)
class KeyValue:
    """One stored item as a key-value store shows it."""

    namespace: tuple[str, ...]
    key: str
    value: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Stored:
    """The turn fields an item is written as."""

    id: str
    session: str
    content: str


def item_id(namespace: Sequence[str], key: str) -> str:
    """The turn id of the item at ``namespace`` / ``key``."""
    text = json.dumps(["item", list(namespace), key], ensure_ascii=False, separators=(",", ":"))
    return PREFIX + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def encode(
    namespace: Sequence[str], key: str, value: Mapping[str, Any], created_at: datetime
) -> Stored:
    """How the item is stored.

    Raises:
        InputError: ``value`` is not a mapping or cannot be written as JSON, or the namespace
            and key are too long for a session id.
    """
    if not isinstance(value, Mapping):
        raise InputError(f"a value must be a mapping (a JSON object), got {type(value).__name__}")
    field = _text_field(value)
    if field is not None:
        form, content = "t" + _escape(field), value[field]
    else:
        form, content = "j", _json(key, value)
    stamp = created_at.astimezone(UTC).isoformat(timespec="microseconds")
    labels = ".".join(_escape(label) for label in namespace)
    session = "~".join((SESSION_PREFIX[:-1], stamp, form, labels, _escape(key)))
    if len(session) > MAX_ID_CHARS:
        raise InputError(
            f"the namespace and key of {key!r} take {len(session)} characters in the tmem "
            f"session that locates the item; at most {MAX_ID_CHARS} fit"
        )
    return Stored(item_id(namespace, key), session, content)


def decode(record: Record) -> KeyValue | None:
    """The item ``record`` stores, or None when it is not one (another turn, a scene, an
    item, or a turn whose JSON text was edited into something else)."""
    if not (
        isinstance(record, Turn)
        and record.id.startswith(PREFIX)
        and record.session_id.startswith(SESSION_PREFIX)
    ):
        return None
    parts = record.session_id.split("~", 4)
    if len(parts) != 5:
        return None
    _, stamp, form, labels, key_text = parts
    namespace = tuple(_unescape(label) for label in labels.split("."))
    key = _unescape(key_text)
    if record.id != item_id(namespace, key):
        return None
    try:
        created_at = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    value = _value(form, record.content)
    if value is None or created_at.tzinfo is None:
        return None
    return KeyValue(namespace, key, value, created_at, record.timestamp)


def _text_field(value: Mapping[str, Any]) -> str | None:
    """The one field whose string can be the content itself, if the value is just that."""
    if len(value) != 1:
        return None
    ((name, text),) = value.items()
    if not (isinstance(name, str) and isinstance(text, str) and text.strip()):
        return None
    return name if "\x00" not in text and _is_unicode(text) else None


def _json(key: str, value: Mapping[str, Any]) -> str:
    try:
        return json.dumps(dict(value), ensure_ascii=False)
    except (TypeError, ValueError) as error:
        raise InputError(f"the value of key {key!r} is not JSON-serializable: {error}") from None


def _value(form: str, content: str) -> dict[str, Any] | None:
    if form.startswith("t"):
        return {_unescape(form[1:]): content}
    if form != "j":
        return None
    try:
        value = json.loads(content)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _escape(text: str) -> str:
    """``text`` with every character an id refuses, and the separators, percent-escaped."""
    return "".join(
        "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
        if char in _ESCAPED or char.isspace() or not char.isprintable()
        else char
        for char in text
    )


def _unescape(text: str) -> str:
    return unquote(text, errors="surrogatepass")


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --- namespaces --------------------------------------------------------------------------------
def starts_with(namespace: Sequence[str], prefix: Sequence[str]) -> bool:
    """Whether ``namespace`` begins with the pattern ``prefix`` (``"*"`` matches any label)."""
    return len(namespace) >= len(prefix) and all(
        want in ("*", label) for label, want in zip(namespace, prefix, strict=False)
    )


def ends_with(namespace: Sequence[str], suffix: Sequence[str]) -> bool:
    """Whether ``namespace`` ends with the pattern ``suffix`` (``"*"`` matches any label)."""
    return starts_with(namespace[::-1], suffix[::-1])


# --- filters -----------------------------------------------------------------------------------
_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}
OPERATORS = frozenset({"$eq", "$ne", *_ORDERINGS})
"""The comparison operators a filter may use (LangGraph's set)."""


def check_filter(conditions: Mapping[str, Any]) -> None:
    """Refuse a filter :func:`matches` cannot apply as LangGraph defines it.

    Raises:
        InputError: an operator outside :data:`OPERATORS`, or operators mixed with field
            names in one mapping.
    """
    if not isinstance(conditions, Mapping):
        raise InputError(f"a filter must be a mapping, got {type(conditions).__name__}")
    for condition in conditions.values():
        _check_condition(condition)


def _check_condition(condition: Any) -> None:
    if isinstance(condition, Mapping):
        if any(str(name).startswith("$") for name in condition):
            unknown = sorted(str(name) for name in condition if name not in OPERATORS)
            if unknown:
                raise InputError(
                    f"unsupported filter operator(s) {unknown}: use {sorted(OPERATORS)}"
                )
        else:
            check_filter(condition)
    elif isinstance(condition, (list, tuple)):
        for each in condition:
            _check_condition(each)


def matches(value: Mapping[str, Any], conditions: Mapping[str, Any]) -> bool:
    """Whether a stored value meets every condition of a filter :func:`check_filter` passed.

    A condition is a value to equal, a list to equal element by element, a mapping of
    conditions on a nested object, or a mapping of operators (``{"$gte": 3}``). The ordering
    operators compare two numbers, or two strings (ISO dates order correctly); any other pair,
    a missing field included, does not match.
    """
    return all(_meets(value.get(name), condition) for name, condition in conditions.items())


def _meets(found: Any, condition: Any) -> bool:
    if isinstance(condition, Mapping):
        if any(str(name).startswith("$") for name in condition):
            return all(_compare(found, op, operand) for op, operand in condition.items())
        return isinstance(found, Mapping) and matches(found, condition)
    if isinstance(condition, (list, tuple)):
        return (
            isinstance(found, (list, tuple))
            and len(found) == len(condition)
            and all(_meets(f, c) for f, c in zip(found, condition, strict=True))
        )
    return bool(found == condition)


def _compare(found: Any, op: str, operand: Any) -> bool:
    if op == "$eq":
        return bool(found == operand)
    if op == "$ne":
        return bool(found != operand)
    return _orderable(found, operand) and _ORDERINGS[op](found, operand)


def _orderable(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return True
    return _number(a) and _number(b)


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and not math.isnan(x)
