"""tmem's message files: a JSON array, JSONL, or ``{"messages": [...]}``.

Messages are tmem-style ``{"speaker", "content", "timestamp"?, "id"?}`` or OpenAI-style
``{"role", "content", "name"?}``; OpenAI content given as a list of parts keeps its text parts.
System, developer and tool messages are not conversation and are skipped (and counted).
Every error names the line the bad message starts on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tmem.errors import InputError
from tmem.ingest.normalize import to_message

SKIPPED_ROLES = frozenset({"system", "developer", "tool", "function"})
_FIELDS = frozenset({"speaker", "role", "name", "content", "timestamp", "id"})
_SHAPES = (
    'expected a JSON array of messages, JSON lines (one message per line) or {"messages": [...]}; '
    'a message is {"speaker": ..., "content": ..., "timestamp"?: ..., "id"?: ...} '
    'or {"role": ..., "content": ...}'
)
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class ParsedMessages:
    """Valid messages, the line each starts on, and how many were skipped."""

    messages: tuple[dict[str, Any], ...]
    lines: tuple[int, ...]
    skipped: int = 0


def parse_messages(text: str) -> ParsedMessages:
    """Messages from a JSON array, JSON lines, or ``{"messages": [...]}``, all validated.

    Raises:
        InputError: ``line N: ...`` naming the first bad line and why; nothing is returned.
    """
    stripped = text.lstrip()
    if not stripped:
        raise InputError(f"the file is empty; {_SHAPES}")
    located = _json_document(text) if stripped.startswith("[") else None
    if located is None and stripped.startswith("{"):
        located = _single_object(text)
    if located is None:
        located = _json_lines(text)
    return _normalise(located)


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t\r\n":
        index += 1
    return index


def _json_document(text: str) -> list[tuple[Any, int]]:
    """Elements of a top-level array (or the ``messages`` array of an object) with lines."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"line {error.lineno}: not valid JSON ({error.msg})") from None
    start = _skip_space(text, 0)
    if isinstance(data, dict):
        if "messages" not in data:
            raise InputError(f'line 1: a JSON object without a "messages" array; {_SHAPES}')
        start = _member_offset(text, start, "messages")
        data = data["messages"]
    if not isinstance(data, list):
        raise InputError(f"line {_line_of(text, start)}: {_SHAPES}")
    return list(zip(data, _element_lines(text, start), strict=True))


def _single_object(text: str) -> list[tuple[Any, int]] | None:
    """A whole-file JSON object (``{"messages": ...}``, pretty-printed), or None for JSONL."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    if isinstance(data, dict) and "messages" not in data and _FIELDS.isdisjoint(data):
        raise InputError(f'line 1: a JSON object without a "messages" array; {_SHAPES}')
    if not isinstance(data, dict) or "messages" not in data:
        return None  # one message on one line: JSON lines
    return _json_document(text)


def _member_offset(text: str, start: int, key: str) -> int:
    """Offset of the value of top-level ``key`` in the JSON object starting at ``start``."""
    index = _skip_space(text, start + 1)
    while index < len(text) and text[index] != "}":
        name, index = _DECODER.raw_decode(text, index)
        index = _skip_space(text, _skip_space(text, index) + 1)  # past the colon
        if name == key:
            return index
        _, index = _DECODER.raw_decode(text, index)
        index = _skip_space(text, index)
        if text[index] == ",":
            index = _skip_space(text, index + 1)
    raise InputError(f"line 1: no {key!r} member")  # unreachable for a parsed object


def _element_lines(text: str, start: int) -> list[int]:
    """The line on which each element of the JSON array at ``start`` begins."""
    lines = []
    line, counted = _line_of(text, start), start  # lines counted incrementally: large files
    index = _skip_space(text, start + 1)
    while index < len(text) and text[index] != "]":
        line += text.count("\n", counted, index)
        counted = index
        lines.append(line)
        _, index = _DECODER.raw_decode(text, index)
        index = _skip_space(text, index)
        if text[index] == ",":
            index = _skip_space(text, index + 1)
    return lines


def _json_lines(text: str) -> list[tuple[Any, int]]:
    rows = []
    # "\n" alone ends a JSON line: str.splitlines() also breaks at U+2028, U+0085 and the like,
    # which JSON carries raw inside strings (issue 12).
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            rows.append((json.loads(line), number))
        except json.JSONDecodeError as error:
            raise InputError(
                f"line {number}: not a JSON message ({error.msg} at column {error.colno}); "
                f"{_SHAPES}"
            ) from None
    return rows


def _normalise(rows: list[tuple[Any, int]]) -> ParsedMessages:
    messages: list[dict[str, Any]] = []
    lines: list[int] = []
    skipped = 0
    seen: dict[str, int] = {}
    for index, (raw, line) in enumerate(rows):
        try:
            message = to_tmem_message(raw, index)
        except InputError as error:
            raise InputError(f"line {line}: {error}") from None
        if message is None:
            skipped += 1
            continue
        if "id" in message:
            if message["id"] in seen:
                raise InputError(
                    f"line {line}: id {message['id']!r} repeats the message on line "
                    f"{seen[message['id']]}"
                )
            seen[message["id"]] = line
        messages.append(message)
        lines.append(line)
    return ParsedMessages(tuple(messages), tuple(lines), skipped)


def to_tmem_message(raw: object, index: int) -> dict[str, Any] | None:
    """One message as ``{"speaker", "content", "timestamp"?, "id"?}``, validated; None for a
    system, developer or tool message."""
    if not isinstance(raw, Mapping):
        raise InputError(f"message {index + 1} is a JSON {_json_type(raw)}, not an object")
    unknown = sorted(set(map(str, raw)) - _FIELDS)
    if unknown:
        raise InputError(
            f"message {index + 1}: unknown field(s) {unknown}; a message has speaker (or role "
            "and name), content, and optionally timestamp and id"
        )
    role = raw.get("role")
    if isinstance(role, str) and role in SKIPPED_ROLES and "speaker" not in raw:
        return None
    fields: dict[str, Any] = {
        "speaker": raw.get("speaker") or raw.get("name") or role,
        "content": _content_text(raw.get("content")),
    }
    for key in ("timestamp", "id"):
        if raw.get(key) is not None:
            fields[key] = raw[key]
    checked = to_message(fields, index + 1)  # the library's own validation, nothing else
    message: dict[str, Any] = {"speaker": checked.speaker, "content": checked.content}
    if checked.timestamp is not None:
        message["timestamp"] = checked.timestamp.isoformat()
    if checked.id is not None:
        message["id"] = checked.id
    return message


def _content_text(content: object) -> object:
    """OpenAI content parts (``[{"type": "text", "text": ...}]``) joined; anything else as is."""
    if not isinstance(content, list):
        return content
    texts = [
        part if isinstance(part, str) else part.get("text")
        for part in content
        if isinstance(part, str) or (isinstance(part, Mapping) and part.get("type") == "text")
    ]
    return "\n".join(t for t in texts if isinstance(t, str))


def _json_type(value: object) -> str:
    names = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
