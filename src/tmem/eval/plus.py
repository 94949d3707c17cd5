"""LoCoMo-Plus-format cue/trigger items and their stitching into LoCoMo.

Item ``i`` joins base conversation ``i % n``: its cue dialogue becomes an extra session at
``cue_time = query_time - gap``, where ``query_time`` is the base conversation's last session
time plus 7 days, and its trigger is asked at ``query_time``. The trigger is a query only; it is
never stored as a turn. Gold evidence is the cue's own turns, ``P{i}:C1`` and ``P{i}:C2``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tmem.errors import EvalError
from tmem.eval.locomo import TURN_SPACING, Message, session_numbers, session_time

RELATION_TYPES: tuple[str, ...] = ("causal", "state", "goal", "value")
SPLITS: tuple[str, ...] = ("tune", "check")
QUERY_OFFSET = timedelta(days=7)

_REQUIRED = ("relation_type", "cue_dialogue", "trigger_query", "time_gap")
_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip
_UNIT_DAYS = {"week": 7, "month": 30, "year": 365}
_GAP = re.compile(
    r"\b(\d+|" + "|".join(_NUMBER_WORDS) + r")\s+(week|month|year)s?\b", flags=re.IGNORECASE
)
_LINE = re.compile(r"^\s*([AB])\s*:\s*(.*)$")


@dataclass(frozen=True)
class PlusItem:
    """One cue/trigger pair; fields beyond the known ones are kept in ``extra``.

    ``split`` is ``"tune"`` or ``"check"`` in a file divided into a half that methods may be
    fitted on and a half kept for checking them (``benchmarks/devset``), and ``""`` elsewhere.
    """

    relation_type: str
    cue_dialogue: str
    trigger_query: str
    time_gap: str
    model_name: str = ""
    split: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StitchedItem:
    """An item placed into its base conversation.

    Attributes:
        index: the item's position in its file (``i``).
        base: the index of its base conversation among those given.
        cue_session_id: the session id to add the cue under (``P{i}``).
        cue_messages: the cue turns as message dicts, ids ``P{i}:C1``...
        cue_time: when the cue was said.
        query: the trigger text without its ``A:`` prefix.
        query_time: when the trigger is asked; always after every cue turn.
    """

    index: int
    base: int
    relation_type: str
    cue_session_id: str
    cue_messages: tuple[Message, ...]
    cue_time: datetime
    query: str
    query_time: datetime

    @property
    def evidence(self) -> tuple[str, ...]:
        return tuple(message["id"] for message in self.cue_messages)


def load_plus(path: str | Path) -> list[PlusItem]:
    """Read a LoCoMo-Plus-format JSON list.

    Raises:
        EvalError: the file is unreadable, not a list, or an item lacks a required field.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EvalError(f"cannot read LoCoMo-Plus file {path}: {exc}") from exc
    if not isinstance(data, list):
        raise EvalError(f"{path} is not a LoCoMo-Plus file: expected a JSON list")
    return [parse_item(raw, index) for index, raw in enumerate(data)]


def select_split(items: Sequence[PlusItem], split: str) -> list[PlusItem]:
    """The items of one half, ``"tune"`` or ``"check"``, in file order.

    Raises:
        EvalError: ``split`` is not a known half, or no item is marked with it (a file
            without ``split`` fields cannot be divided).
    """
    if split not in SPLITS:
        raise EvalError(f"unknown split {split!r}: expected one of {', '.join(SPLITS)}")
    kept = [item for item in items if item.split == split]
    if not kept:
        raise EvalError(f"no item is marked split={split!r}; this file has no {split} half")
    return kept


def first_per_type(items: Sequence[PlusItem], count: int) -> list[PlusItem]:
    """The first ``count`` items of each relation type, in file order (a quick, balanced run)."""
    seen: dict[str, int] = {}
    kept = []
    for item in items:
        seen[item.relation_type] = seen.get(item.relation_type, 0) + 1
        if seen[item.relation_type] <= count:
            kept.append(item)
    return kept


def parse_item(raw: object, index: int = 0) -> PlusItem:
    """Build a :class:`PlusItem` from one JSON object."""
    if not isinstance(raw, dict) or any(not isinstance(raw.get(k), str) for k in _REQUIRED):
        raise EvalError(f"item {index} lacks one of {', '.join(_REQUIRED)}")
    split = raw.get("split", "")
    if split != "" and split not in SPLITS:
        raise EvalError(f"item {index}: split must be one of {', '.join(SPLITS)}, not {split!r}")
    known = (*_REQUIRED, "model_name", "split")
    return PlusItem(
        relation_type=raw["relation_type"],
        cue_dialogue=raw["cue_dialogue"],
        trigger_query=raw["trigger_query"],
        time_gap=raw["time_gap"],
        model_name=str(raw.get("model_name", "")),
        split=split,
        extra={k: v for k, v in raw.items() if k not in known},
    )


def parse_time_gap(text: str) -> int:
    """Days in a free-text gap: the first "<count> week(s)/month(s)/year(s)".

    The count is digits, a word from one to twelve, or a/an (= 1); weeks, months and years are
    7, 30 and 365 days. Anything else ("several months", "a few weeks", "10 days") gives 0.
    """
    match = _GAP.search(text)
    if not match:
        return 0
    count, unit = match.group(1).lower(), match.group(2).lower()
    number = int(count) if count.isdigit() else _NUMBER_WORDS[count]
    return number * _UNIT_DAYS[unit]


def parse_dialogue(text: str) -> list[tuple[str, str]]:
    """``"A: ...\\nB: ..."`` as ``[("A", "..."), ("B", "...")]``.

    A line without a speaker label continues the turn before it.
    """
    turns: list[tuple[str, str]] = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            turns.append((match.group(1), match.group(2).strip()))
        elif line.strip() and turns:
            role, said = turns[-1]
            turns[-1] = (role, f"{said} {line.strip()}")
    return turns


def trigger_text(trigger_query: str) -> str:
    """The trigger without its speaker prefix."""
    turns = parse_dialogue(trigger_query)
    return " ".join(said for _, said in turns) if turns else trigger_query.strip()


def query_time(base: Mapping[str, Any]) -> datetime:
    """The base conversation's last session time plus 7 days."""
    numbers = session_numbers(base)
    if not numbers:
        raise EvalError("base conversation has no sessions")
    return max(session_time(base, n) for n in numbers) + QUERY_OFFSET


def stitch(item: PlusItem, index: int, bases: Sequence[Mapping[str, Any]]) -> StitchedItem:
    """Place item ``index`` into base conversation ``index % len(bases)``.

    Cue turns are stamped ``cue_time + 30 s × turn index`` like LoCoMo's turns. When the gap is
    zero the trigger moves to 30 s after the last cue turn, so it always comes last.

    Raises:
        EvalError: no bases, or the cue dialogue has no ``A:``/``B:`` turns.
    """
    if not bases:
        raise EvalError("no base conversations to stitch into")
    base_index = index % len(bases)
    base = bases[base_index]
    conversation = base.get("conversation", base)
    speakers = {"A": str(conversation["speaker_a"]), "B": str(conversation["speaker_b"])}
    turns = parse_dialogue(item.cue_dialogue)
    if not turns:
        raise EvalError(f"item {index}: cue dialogue has no 'A:' or 'B:' turns")
    asked = query_time(base)
    cue_at = asked - timedelta(days=parse_time_gap(item.time_gap))
    messages = tuple(
        {
            "speaker": speakers[role],
            "content": said,
            "timestamp": (cue_at + n * TURN_SPACING).isoformat(),
            "id": f"P{index}:C{n + 1}",
        }
        for n, (role, said) in enumerate(turns)
    )
    return StitchedItem(
        index=index,
        base=base_index,
        relation_type=item.relation_type,
        cue_session_id=f"P{index}",
        cue_messages=messages,
        cue_time=cue_at,
        query=trigger_text(item.trigger_query),
        query_time=max(asked, cue_at + len(turns) * TURN_SPACING),
    )


def stitch_all(items: Sequence[PlusItem], bases: Sequence[Mapping[str, Any]]) -> list[StitchedItem]:
    """:func:`stitch` for every item, in file order."""
    return [stitch(item, index, bases) for index, item in enumerate(items)]
