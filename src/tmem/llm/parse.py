"""Tolerant JSON extraction for replies from servers without a JSON mode.

Models wrap JSON in prose or Markdown fences and leave trailing commas. This module finds the
first balanced top-level JSON object with a scanner that understands strings and escapes, so
a ``}`` inside a string or a second object later in the reply cannot confuse it (the common
"text between the first ``{`` and the last ``}``" trick fails on both). Repairs stay small:
only trailing commas are removed; anything else is the model's job on a retry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from tmem.errors import LLMOutputError

_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\r?\n?(.*?)```", re.DOTALL)


def strip_fences(text: str) -> str:
    """The body of the first Markdown code fence in ``text``, or ``text`` unchanged."""
    match = _FENCE.search(text)
    return match.group(1) if match else text


def _structural(text: str, start: int = 0) -> Iterator[tuple[int, str]]:
    """``(index, char)`` for every character of ``text[start:]`` outside JSON strings.

    Quote characters and everything between them (escapes included) are skipped.
    """
    in_string = False
    escaped = False
    for index in range(start, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        else:
            yield index, char


def balanced_end(text: str, start: int) -> int | None:
    """Index just past the ``}`` that closes the ``{`` at ``start``, or None if it never closes.

    Brackets inside JSON strings (including escaped quotes) are ignored.
    """
    depth = 0
    for index, char in _structural(text, start):
        if char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return index + 1 if char == "}" else None
    return None


def object_candidates(text: str) -> Iterator[str]:
    """Balanced ``{...}`` spans in ``text``, in order of where they start.

    A ``{`` that never closes ends the search: everything after it is nested inside an object
    that was cut off (a reply truncated at ``max_tokens``), and an inner object of a truncated
    reply must not pass for the answer. This also keeps the scan linear on such replies.
    """
    start = text.find("{")
    while start != -1:
        end = balanced_end(text, start)
        if end is None:
            return
        yield text[start:end]
        start = text.find("{", start + 1)


def remove_trailing_commas(text: str) -> str:
    """Drop commas that directly precede ``}`` or ``]`` (outside strings)."""
    dropped = {
        index
        for index, char in _structural(text)
        if char == "," and _next_significant(text, index + 1) in ("}", "]")
    }
    return "".join(char for index, char in enumerate(text) if index not in dropped)


def _next_significant(text: str, start: int) -> str:
    for char in text[start:]:
        if not char.isspace():
            return char
    return ""


def _loads_object(candidate: str) -> dict[str, Any] | None:
    for attempt in (candidate, remove_trailing_commas(candidate)):
        try:
            value = json.loads(attempt)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def first_object(text: str) -> dict[str, Any] | None:
    """``text`` itself if it is a JSON object, else its first balanced span that is one."""
    value = _loads_object(text.strip())
    if value is not None:
        return value
    for candidate in object_candidates(text):
        value = _loads_object(candidate)
        if value is not None:
            return value
    return None


def extract_json_object(text: str) -> dict[str, Any]:
    """The first JSON object in a model reply.

    Looks in the whole reply first (see :func:`first_object` and :func:`object_candidates`),
    then inside its first Markdown fence, which rescues a fenced object that follows prose
    with an unclosed ``{``. Each candidate is tried with and without trailing-comma repair.

    Raises:
        LLMOutputError: no JSON object could be found (``raw`` holds the reply).
    """
    for source in (text, strip_fences(text)):
        value = first_object(source)
        if value is not None:
            return value
    raise LLMOutputError("the reply contains no JSON object", raw=text)
