"""Turn caller input into validated :class:`~tmem.models.Message` objects, all or nothing.

Validation happens before anything is written, so a bad message in a batch loses nothing and
writes nothing. Pure functions: no store, no clock. Limits, ids, user ids and timestamps are
checked by :mod:`tmem.validate` (re-exported here under their old names).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from tmem.errors import InputError
from tmem.models import Message
from tmem.validate import (
    MAX_CONTENT_CHARS,
    MAX_SPEAKER_CHARS,
    MAX_STORE_USER_CHARS,
    check_id,
    check_user_id,
    parse_timestamp,
)

__all__ = [
    "MAX_CONTENT_CHARS",
    "MAX_SPEAKER_CHARS",
    "MAX_STORE_USER_CHARS",
    "check_user_id",
    "parse_timestamp",
    "to_message",
    "to_messages",
]

_ALLOWED_KEYS = frozenset({"speaker", "content", "timestamp", "id", "role"})


def to_message(raw: Message | Mapping[str, Any], index: int = 0) -> Message:
    """Validate one message given as a :class:`Message` or a dict.

    A dict may use ``role`` instead of ``speaker`` (OpenAI-style chat logs).
    """
    if isinstance(raw, Message):
        fields: dict[str, Any] = {
            "speaker": raw.speaker,
            "content": raw.content,
            "timestamp": raw.timestamp,
            "id": raw.id,
        }
    elif isinstance(raw, Mapping):
        unknown = sorted(set(map(str, raw)) - _ALLOWED_KEYS)
        if unknown:
            raise InputError(f"message {index}: unknown field(s) {unknown}")
        fields = dict(raw)
        if "speaker" not in fields and "role" in fields:
            fields["speaker"] = fields["role"]
        fields.pop("role", None)
    else:
        raise InputError(f"message {index}: expected a dict or Message, got {type(raw).__name__}")
    return Message(
        speaker=_text(fields.get("speaker"), "speaker", index, MAX_SPEAKER_CHARS),
        content=_text(fields.get("content"), "content", index, MAX_CONTENT_CHARS),
        timestamp=_optional_timestamp(fields.get("timestamp"), index),
        id=_optional_id(fields.get("id"), index),
    )


def to_messages(raw: Sequence[Message | Mapping[str, Any]]) -> list[Message]:
    """Validate a batch; duplicate ids within the batch are an error."""
    if isinstance(raw, (str, bytes, Mapping)) or not isinstance(raw, Sequence):
        raise InputError("messages must be a list of message dicts")
    messages = [to_message(m, i) for i, m in enumerate(raw)]
    seen: set[str] = set()
    for i, message in enumerate(messages):
        if message.id is None:
            continue
        if message.id in seen:
            raise InputError(f"message {i}: duplicate id {message.id!r} in one batch")
        seen.add(message.id)
    return messages


def _text(value: object, name: str, index: int, limit: int) -> str:
    if not isinstance(value, str):
        raise InputError(f"message {index}: {name} must be a string")
    if "\x00" in value:
        raise InputError(f"message {index}: {name} contains a NUL character")
    if not _is_unicode(value):
        raise InputError(f"message {index}: {name} contains a lone surrogate (not Unicode text)")
    if not value.strip():
        raise InputError(f"message {index}: {name} is empty")
    if len(value) > limit:
        raise InputError(f"message {index}: {name} is longer than {limit} characters")
    return value


def _is_unicode(value: str) -> bool:
    """False for a str holding a lone UTF-16 surrogate, which no store can encode."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _optional_timestamp(value: object, index: int) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, (str, datetime)):
        raise InputError(f"message {index}: timestamp must be an ISO 8601 string")
    try:
        return parse_timestamp(value)
    except InputError as error:
        raise InputError(f"message {index}: {error}") from None


def _optional_id(value: object, index: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return check_id(value, f"message {index}: id")
