"""Reading chat logs people already have into tmem messages.

Pure functions from text to messages, with errors that name the line and say why:

* :func:`~tmem.chatlog.messages.parse_messages`: tmem's own message files (``tmem add``): a
  JSON array, JSONL, or ``{"messages": [...]}``, with tmem-style ``{"speaker", "content"}`` or
  OpenAI-style ``{"role", "content", "name"?}`` messages.
* :func:`read_chat` (``tmem import-chat``): a ChatGPT data export (``conversations.json``), a
  role/content JSONL file, or a plain ``Name: text`` transcript, split into sessions.

Imported messages get stable ids (the export's own message ids, else ``<session>:<line>``), so
importing the same file again adds nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Literal

from tmem.chatlog.chatgpt import parse_chatgpt
from tmem.chatlog.messages import parse_messages
from tmem.chatlog.model import ChatSession
from tmem.chatlog.transcript import parse_transcript
from tmem.errors import InputError

ChatFormat = Literal["auto", "chatgpt", "jsonl", "transcript"]
CHAT_FORMATS: tuple[ChatFormat, ...] = ("auto", "chatgpt", "jsonl", "transcript")

__all__ = [
    "CHAT_FORMATS",
    "ChatFormat",
    "ChatSession",
    "detect_format",
    "parse_messages",
    "read_chat",
    "rename_speakers",
]


def detect_format(text: str) -> ChatFormat:
    """``chatgpt`` for a JSON export with a ``mapping``, ``jsonl`` for JSON messages (lines, an
    array or ``{"messages": [...]}``), else ``transcript`` (whose lines may start with
    ``[timestamp]``, so a ``[`` alone does not mean JSON). Looks at the start only: an export
    can be hundreds of megabytes."""
    stripped = text.lstrip()
    opens_json = stripped.startswith("{") or (
        stripped.startswith("[") and stripped[1:].lstrip()[:1] in ("{", "]")
    )
    if not opens_json:
        return "transcript"
    return "chatgpt" if '"mapping"' in stripped[:1_000_000] else "jsonl"


def read_chat(text: str, format: ChatFormat, session_id: str) -> list[ChatSession]:
    """The sessions in ``text``; ``session_id`` names a file that holds one conversation.

    Raises:
        InputError: the text is not in ``format``; the message says which line and why.
    """
    chosen = detect_format(text) if format == "auto" else format
    if chosen == "chatgpt":
        return parse_chatgpt(text)
    if chosen == "transcript":
        return [parse_transcript(text, session_id)]
    if chosen == "jsonl":
        parsed = parse_messages(text)
        messages = tuple(
            message if "id" in message else {**message, "id": f"{session_id}:{line}"}
            for message, line in zip(parsed.messages, parsed.lines, strict=True)
        )
        return [ChatSession(session_id, "", messages, parsed.skipped)]
    raise InputError(f"unknown chat format {format!r}; choose one of {list(CHAT_FORMATS)}")


def rename_speakers(sessions: Sequence[ChatSession], names: Mapping[str, str]) -> list[ChatSession]:
    """``sessions`` with each speaker in ``names`` renamed (``{"user": "Maya"}``)."""
    if not names:
        return list(sessions)
    return [
        replace(
            session,
            messages=tuple(
                {**m, "speaker": names.get(m["speaker"], m["speaker"])} for m in session.messages
            ),
        )
        for session in sessions
    ]
