"""Plain transcripts: one ``Name: text`` line per message.

A line may start with a bracketed timestamp, ``[2025-03-03 18:02] Maya: Hi``. A line that does
not look like ``Name: text`` continues the message above it; blank lines are ignored. Message
ids are ``<session>:<line>``, so importing the same transcript again adds nothing.
"""

from __future__ import annotations

import re
from typing import Any

from tmem.chatlog.model import ChatSession
from tmem.errors import InputError
from tmem.validate import parse_timestamp

_LINE = re.compile(
    r"^(?:\[(?P<stamp>[^\]]+)\]\s*)?(?P<name>[^\s:\[][^:]{0,59}?):\s+(?P<text>\S.*)$"
)
_MAX_NAME_WORDS = 4


def parse_transcript(text: str, session_id: str) -> ChatSession:
    """One session from ``Name: text`` lines.

    Raises:
        InputError: the first non-blank line is not ``Name: text``, or a timestamp is not
            ISO 8601; the message names the line.
    """
    messages: list[dict[str, Any]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        match = _LINE.match(line)
        if match is None or len(match["name"].split()) > _MAX_NAME_WORDS:
            if not messages:
                raise InputError(
                    f"line {number}: expected 'Name: text' (optionally '[timestamp] Name: "
                    f"text'), got {line[:60]!r}"
                )
            messages[-1]["content"] += "\n" + line
            continue
        message: dict[str, Any] = {
            "id": f"{session_id}:{number}",
            "speaker": match["name"].strip(),
            "content": match["text"],
        }
        if match["stamp"]:
            try:
                message["timestamp"] = parse_timestamp(match["stamp"]).isoformat()
            except InputError as error:
                raise InputError(f"line {number}: {error}") from None
        messages.append(message)
    if not messages:
        raise InputError("the transcript has no 'Name: text' lines")
    return ChatSession(session_id, "", tuple(messages))
