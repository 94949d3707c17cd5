"""Reading LongMemEval (Wu et al., ICLR 2025): one haystack and one question per instance.

The file is a JSON list of instances with ``question_id``, ``question_type``, ``question``,
``answer``, ``question_date``, ``haystack_session_ids``, ``haystack_dates`` and
``haystack_sessions`` (lists of ``{"role", "content"}`` turns; evidence turns carry
``has_answer: true``). Question ids ending in ``_abs`` are abstention questions.

What a system under test sees is built here and nowhere else: sessions in date order with
their dates, each under an opaque id (``S1``, ``S2``, ... in that order) and each turn under an
opaque id (``S3:5`` = fifth turn of the third session). Neither the dataset's session ids
(evidence sessions are named ``answer_...``) nor ``has_answer`` reach the system; the scorer
maps the opaque ids back with :attr:`Haystack.official_ids`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from tmem.errors import EvalError
from tmem.eval.locomo import TURN_SPACING, Message

QUESTION_TYPES: tuple[str, ...] = (
    "single-session-user",
    "single-session-assistant",
    "single-session-preference",
    "temporal-reasoning",
    "knowledge-update",
    "multi-session",
)
ABSTENTION_MARK = "_abs"
EVIDENCE_MARK = "answer"
"""The reference code treats a session as evidence when its id contains this string."""
NO_EVIDENCE_MARK = "noans"
"""...and renames the unmarked turns of such a session with this instead."""

Roles = Literal["user", "all"]
ROLES: tuple[Roles, ...] = ("user", "all")

# "2023/05/20 (Sat) 02:21"; the weekday is redundant and read by no one.
_DATE = re.compile(r"^\s*(\d{4})/(\d{1,2})/(\d{1,2})\s*(?:\([A-Za-z]+\))?\s*(\d{1,2}):(\d{2})\s*$")
_REQUIRED = (
    "question_id",
    "question_type",
    "question",
    "answer",
    "question_date",
    "haystack_session_ids",
    "haystack_dates",
    "haystack_sessions",
)


@dataclass(frozen=True)
class Turn:
    role: str
    content: str
    has_answer: bool


@dataclass(frozen=True)
class Session:
    """One haystack session as the file gives it (``id`` is the dataset's, never shown)."""

    id: str
    date: datetime
    turns: tuple[Turn, ...]


@dataclass(frozen=True)
class Instance:
    """One LongMemEval question with its haystack, sessions in file order."""

    question_id: str
    question_type: str
    question: str
    answer: str
    question_date: datetime
    sessions: tuple[Session, ...]

    @property
    def abstention(self) -> bool:
        return ABSTENTION_MARK in self.question_id


@dataclass(frozen=True)
class Haystack:
    """What one system is given for one question, and how to score what it returns.

    Attributes:
        sessions: ``(opaque session id, messages)`` in date order; each message carries an
            opaque ``id``, ``speaker`` (the turn's role), ``content`` and ``timestamp``.
        official_ids: opaque turn id -> the reference code's corpus id of that turn
            (``<session id>_<turn number>``, ``answer`` renamed to ``noans`` on the turns of an
            evidence session that are not marked ``has_answer``).
        corpus: every indexed turn's official id (the denominator of nDCG's ideal ranking).
    """

    sessions: tuple[tuple[str, tuple[Message, ...]], ...]
    official_ids: Mapping[str, str]
    corpus: tuple[str, ...]


def load_longmemeval(path: str | Path) -> list[Instance]:
    """Read a LongMemEval file (``longmemeval_s_cleaned.json``, ``_m``, ``_oracle``).

    Raises:
        EvalError: the file is unreadable or an instance breaks the schema; the message names
            the instance and the field.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EvalError(f"cannot read LongMemEval file {path}: {exc}") from exc
    if not isinstance(data, list):
        raise EvalError(f"{path} is not a LongMemEval file: expected a JSON list of instances")
    return [parse_instance(entry, position) for position, entry in enumerate(data)]


def parse_instance(entry: object, position: int = 0) -> Instance:
    """One instance, validated.

    Raises:
        EvalError: a field is missing or has the wrong shape.
    """
    if not isinstance(entry, Mapping):
        raise EvalError(f"instance {position} is not a JSON object")
    where = f"instance {position} ({entry.get('question_id', '?')})"
    missing = [key for key in _REQUIRED if key not in entry]
    if missing:
        raise EvalError(f"{where} has no {missing[0]!r}")
    if entry["question_type"] not in QUESTION_TYPES:
        raise EvalError(
            f"{where}: unknown question_type {entry['question_type']!r}; "
            f"expected one of {', '.join(QUESTION_TYPES)}"
        )
    return Instance(
        question_id=str(entry["question_id"]),
        question_type=str(entry["question_type"]),
        question=str(entry["question"]),
        answer=str(entry["answer"]),
        question_date=parse_date(entry["question_date"], where),
        sessions=_sessions(entry, where),
    )


def parse_date(raw: object, where: str = "") -> datetime:
    """LongMemEval's ``"2023/05/20 (Sat) 02:21"`` as a UTC datetime."""
    match = _DATE.match(raw) if isinstance(raw, str) else None
    if match is None:
        raise EvalError(
            f"{where}: unparseable date {raw!r}, expected like '2023/05/20 (Sat) 02:21'"
        )
    year, month, day, hour, minute = (int(part) for part in match.groups())
    try:
        return datetime(year, month, day, hour, minute, tzinfo=UTC)
    except ValueError as exc:
        raise EvalError(f"{where}: invalid date {raw!r}: {exc}") from None


def _sessions(entry: Mapping[str, Any], where: str) -> tuple[Session, ...]:
    ids, dates, sessions = (
        entry["haystack_session_ids"],
        entry["haystack_dates"],
        entry["haystack_sessions"],
    )
    if not all(isinstance(value, list) for value in (ids, dates, sessions)):
        raise EvalError(f"{where}: haystack_session_ids, _dates and _sessions must be lists")
    if not len(ids) == len(dates) == len(sessions):
        raise EvalError(
            f"{where}: {len(ids)} session ids, {len(dates)} dates and {len(sessions)} sessions"
        )
    return tuple(
        Session(str(sid), parse_date(date, f"{where} session {sid}"), _turns(turns, where, sid))
        for sid, date, turns in zip(ids, dates, sessions, strict=True)
    )


def _turns(turns: object, where: str, session_id: object) -> tuple[Turn, ...]:
    if not isinstance(turns, list):
        raise EvalError(f"{where}: session {session_id} is not a list of turns")
    parsed = []
    for number, turn in enumerate(turns, start=1):
        ok = (
            isinstance(turn, Mapping)
            and turn.get("role") in ("user", "assistant")
            and isinstance(turn.get("content"), str)
        )
        if not ok:
            raise EvalError(
                f"{where}: turn {number} of session {session_id} needs role user|assistant "
                "and string content"
            )
        parsed.append(Turn(turn["role"], turn["content"], turn.get("has_answer") is True))
    return tuple(parsed)


def select_instances(
    instances: Sequence[Instance], types: Sequence[str] | None = None, limit: int | None = None
) -> list[Instance]:
    """The instances of the given question types (all when None), then the first ``limit``.

    Raises:
        EvalError: an unknown question type or a limit below 1.
    """
    unknown = [t for t in types or () if t not in QUESTION_TYPES]
    if unknown:
        raise EvalError(
            f"unknown question type {unknown[0]!r}; choose from {', '.join(QUESTION_TYPES)}"
        )
    if limit is not None and limit < 1:
        raise EvalError("the number of questions must be at least 1")
    chosen = [i for i in instances if not types or i.question_type in types]
    return chosen[:limit]


# --- what a system sees, and the reference code's ids ------------------------------------------


def official_turn_id(session: Session, number: int) -> str:
    """The reference corpus id of turn ``number`` (1-based, counting every role) of ``session``.

    In an evidence session (its id contains ``answer``) a turn not marked ``has_answer`` gets
    ``answer`` replaced by ``noans``, so it never counts as evidence.
    """
    turn_id = f"{session.id}_{number}"
    if EVIDENCE_MARK in session.id and not session.turns[number - 1].has_answer:
        return turn_id.replace(EVIDENCE_MARK, NO_EVIDENCE_MARK)
    return turn_id


def indexed(turn: Turn, roles: Roles) -> bool:
    """Whether a turn is given to the systems: user turns only in the official setup."""
    return roles == "all" or turn.role == "user"


def date_ordered(sessions: Sequence[Session]) -> list[Session]:
    """Sessions by date; a stable sort keeps the file's order on ties."""
    return sorted(sessions, key=lambda session: session.date)


def haystack(instance: Instance, roles: Roles = "user") -> Haystack:
    """The sessions a system ingests for ``instance`` and the map back to official ids."""
    sessions: list[tuple[str, tuple[Message, ...]]] = []
    official: dict[str, str] = {}
    for position, session in enumerate(date_ordered(instance.sessions), start=1):
        session_id = f"S{position}"
        messages = []
        for number, turn in enumerate(session.turns, start=1):
            if not indexed(turn, roles):
                continue
            turn_id = f"{session_id}:{number}"
            official[turn_id] = official_turn_id(session, number)
            at = session.date + (number - 1) * TURN_SPACING
            messages.append(
                {"id": turn_id, "speaker": turn.role, "content": turn.content,
                 "timestamp": at.isoformat()}
            )  # fmt: skip
        if messages:  # a session with no indexed turn has nothing to give
            sessions.append((session_id, tuple(messages)))
    return Haystack(tuple(sessions), official, tuple(official.values()))


def has_marked_turn(instance: Instance, roles: Roles = "user") -> bool:
    """Whether any indexed turn is marked ``has_answer`` (the newer reference averages skip
    questions without one: 51 of the 470 non-abstention questions, leaving 419)."""
    return any(
        turn.has_answer and indexed(turn, roles)
        for session in instance.sessions
        for turn in session.turns
    )
