"""What a chat log reads into."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ChatSession:
    """One conversation of a chat log.

    Attributes:
        session_id: the conversation's id (the export's, or one given by the caller).
        title: the conversation's title, when the source has one.
        messages: ``{"speaker", "content", "timestamp"?, "id"?}`` dicts, in order, ready for
            :meth:`tmem.Memory.add`.
        skipped: messages left out: system prompts, tool calls, non-text parts.
    """

    session_id: str
    title: str
    messages: tuple[dict[str, Any], ...]
    skipped: int = 0
