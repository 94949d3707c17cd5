"""Reading LoCoMo (Maharana et al., 2024): conversations as messages, questions with gold turns.

The rules: sessions are counted by their turn lists (conv-26 has date
keys for sessions that hold no turns), messages are stamped at the session time plus 30 seconds
per turn, image turns carry their caption, and evidence ids are normalised before scoring.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tmem.errors import EvalError

CATEGORY_NAMES: dict[int, str] = {
    1: "multi-hop",
    2: "temporal",
    3: "open-domain",
    4: "single-hop",
    5: "adversarial",
}
"""File category number -> LoCoMo's name (the numbers do not follow the paper's order)."""

SCORED_CATEGORIES: frozenset[int] = frozenset({1, 2, 3, 4})

SESSION_TIME_FORMAT = "%I:%M %p on %d %B, %Y"
TURN_SPACING = timedelta(seconds=30)

_SESSION_KEY = re.compile(r"^session_(\d+)$")
# A stray colon after the D ("D:11:26") and leading zeros ("D30:05") occur in the file.
_EVIDENCE_ID = re.compile(r"^D:?(\d+):(\d+)$")

Message = dict[str, str]
"""A message dict as :meth:`tmem.Memory.add` takes it: speaker, content, timestamp, id."""


@dataclass(frozen=True)
class Question:
    """One LoCoMo question with its normalised gold evidence.

    Attributes:
        conversation: the ``sample_id`` of its conversation, e.g. ``conv-26``.
        index: position in that conversation's ``qa`` list.
        category: the file's category number (1-5); see :data:`CATEGORY_NAMES`.
        answer: the gold answer as a string; empty for adversarial questions without one.
        evidence: valid gold turn ids (``D<session>:<turn>``), deduplicated, in file order.
    """

    conversation: str
    index: int
    question: str
    answer: str
    category: int
    evidence: tuple[str, ...]
    adversarial_answer: str = ""

    @property
    def category_name(self) -> str:
        return CATEGORY_NAMES.get(self.category, "unknown")

    @property
    def id(self) -> str:
        return f"{self.conversation}/q{self.index}"

    @property
    def scored(self) -> bool:
        """Whether retrieval scoring counts it: categories 1-4 with at least one gold turn."""
        return self.category in SCORED_CATEGORIES and bool(self.evidence)


def load_locomo(path: str | Path) -> list[dict[str, Any]]:
    """Read ``locomo10.json`` (or a file in the same schema) as its list of samples.

    Raises:
        EvalError: the file is not a JSON list of objects with ``conversation`` and ``qa``.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EvalError(f"cannot read LoCoMo file {path}: {exc}") from exc
    if not isinstance(data, list) or not all(_is_sample(s) for s in data):
        raise EvalError(f"{path} is not a LoCoMo file: expected a list of samples")
    return data


def _is_sample(sample: object) -> bool:
    return isinstance(sample, dict) and "conversation" in sample and "qa" in sample


def _conversation(sample: Mapping[str, Any]) -> Mapping[str, Any]:
    inner = sample.get("conversation")
    return inner if isinstance(inner, Mapping) else sample


def session_numbers(sample: Mapping[str, Any]) -> list[int]:
    """Session numbers that hold a turn list, ascending (date keys alone do not count)."""
    conversation = _conversation(sample)
    numbers = []
    for key, value in conversation.items():
        match = _SESSION_KEY.match(key)
        if match and isinstance(value, list):
            numbers.append(int(match.group(1)))
    return sorted(numbers)


def session_time(sample: Mapping[str, Any], number: int) -> datetime:
    """The session's date and time, read as UTC.

    Raises:
        EvalError: the date key is missing or not in LoCoMo's format.
    """
    raw = _conversation(sample).get(f"session_{number}_date_time")
    if not isinstance(raw, str):
        raise EvalError(f"session {number} has no date")
    return parse_session_time(raw)


def parse_session_time(raw: str) -> datetime:
    """Parse LoCoMo's ``"1:56 pm on 8 May, 2023"`` as a UTC datetime."""
    try:
        return datetime.strptime(raw.strip(), SESSION_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise EvalError(f"unparseable session time {raw!r}") from exc


def render_turn(turn: Mapping[str, Any]) -> str:
    """A turn's content; image turns are prefixed with their caption as T-Mem renders them."""
    text = str(turn.get("text", ""))
    caption = turn.get("blip_caption")
    if caption:
        return f"[{turn['speaker']} shared an image: {caption}] {text}"
    return text


def conversation_messages(sample: Mapping[str, Any]) -> list[tuple[str, list[Message]]]:
    """The conversation as ``(session_id, messages)`` pairs in session order.

    ``session_id`` is ``S<n>``. Each message is ``{"speaker", "content", "timestamp", "id"}``
    with ``id`` the turn's ``dia_id`` and ``timestamp`` the session time plus 30 s per turn
    (ISO 8601, UTC).

    Args:
        sample: a LoCoMo sample, or its ``conversation`` object.
    """
    sessions = []
    conversation = _conversation(sample)
    for number in session_numbers(conversation):
        start = session_time(conversation, number)
        turns = conversation[f"session_{number}"]
        messages = [
            _message(turn, start + index * TURN_SPACING) for index, turn in enumerate(turns)
        ]
        sessions.append((f"S{number}", messages))
    return sessions


def _message(turn: Mapping[str, Any], at: datetime) -> Message:
    return {
        "speaker": str(turn["speaker"]),
        "content": render_turn(turn),
        "timestamp": at.isoformat(),
        "id": str(turn["dia_id"]),
    }


def turn_ids(sample: Mapping[str, Any]) -> set[str]:
    """Every ``dia_id`` in the conversation."""
    return {m["id"] for _, messages in conversation_messages(sample) for m in messages}


def normalise_evidence(raw: Iterable[object], known: set[str]) -> tuple[str, ...]:
    """Normalise a question's evidence list.

    Each string is split on ``;`` and whitespace; a token is accepted as ``D<s>:<t>``, allowing
    a stray colon after ``D`` and stripping leading zeros; tokens that do not parse and ids with
    no turn in ``known`` are dropped; repeats are removed, first occurrence kept.
    """
    seen: dict[str, None] = {}
    for entry in raw:
        for token in re.split(r"[;\s]+", str(entry)):
            match = _EVIDENCE_ID.match(token)
            if not match:
                continue
            turn_id = f"D{int(match.group(1))}:{int(match.group(2))}"
            if turn_id in known:
                seen.setdefault(turn_id, None)
    return tuple(seen)


def questions(sample: Mapping[str, Any]) -> list[Question]:
    """All questions of one sample, every category, evidence normalised."""
    known = turn_ids(sample)
    conversation = str(sample.get("sample_id", ""))
    return [_question(conversation, index, qa, known) for index, qa in enumerate(sample["qa"])]


def _question(conversation: str, index: int, qa: Mapping[str, Any], known: set[str]) -> Question:
    answer = qa.get("answer")
    return Question(
        conversation=conversation,
        index=index,
        question=str(qa["question"]),
        answer="" if answer is None else str(answer),
        category=int(qa["category"]),
        evidence=normalise_evidence(qa.get("evidence") or (), known),
        adversarial_answer=str(qa.get("adversarial_answer", "")),
    )


def scored_questions(sample: Mapping[str, Any]) -> list[Question]:
    """The questions retrieval scoring counts: categories 1-4 with at least one gold turn."""
    return [q for q in questions(sample) if q.scored]
