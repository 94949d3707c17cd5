"""Shared rendering helpers for prompts: timestamps and numbered dialogue lines.

Not a prompt module (it defines no ``SPEC``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class TurnLine:
    """One dialogue turn as a prompt shows it.

    Attributes:
        number: the label the model cites (1-based within one prompt); 0 for context lines.
        gap: a coarse label for the pause before this turn (immediate, minutes, hours, days).
    """

    number: int
    speaker: str
    content: str
    timestamp: datetime
    gap: str = ""


def format_moment(moment: datetime) -> str:
    """``"Monday, March 4, 2024, 09:30 UTC"``: a long form the model can do date arithmetic on."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return f"{utc:%A}, {utc:%B} {utc.day}, {utc.year}, {utc:%H:%M} UTC"


def format_stamp(moment: datetime) -> str:
    """``"2024-03-04 09:30 (Mon)"``: a compact per-line stamp."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return f"{utc:%Y-%m-%d %H:%M} ({utc:%a})"


def clip(text: str, max_chars: int) -> str:
    """``text`` on one line, cut at ``max_chars`` with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= max_chars else flat[: max_chars - 1].rstrip() + "…"


def render_turns(lines: Sequence[TurnLine], *, max_chars: int = 2000) -> str:
    """One line per turn: ``[3] 2024-03-04 09:30 (Mon) (gap: minutes) Priya: ...``.

    Context lines (number 0) get ``[-]`` so the model cannot cite them.
    """
    rendered = []
    for line in lines:
        label = f"[{line.number}]" if line.number else "[-]"
        gap = f" (gap: {line.gap})" if line.gap else ""
        content = clip(line.content, max_chars)
        rendered.append(f"{label} {format_stamp(line.timestamp)}{gap} {line.speaker}: {content}")
    return "\n".join(rendered)


def example_texts(reply: Any, min_words: int = 4) -> tuple[str, ...]:
    """Every string of at least ``min_words`` words inside a few-shot reply (dicts and lists)."""
    if isinstance(reply, str):
        return (reply,) if len(reply.split()) >= min_words else ()
    if isinstance(reply, dict):
        reply = list(reply.values())
    if isinstance(reply, list):
        return tuple(text for value in reply for text in example_texts(value, min_words))
    return ()
