"""The write path without an LLM: scenes from session boundaries and time gaps.

What this mode can do honestly: keep every turn, group turns into scenes where the session
changes, the conversation pauses, or a scene grows too long, and give each turn a *context*
text (the turn with its neighbours in its scene) so a reply like "yes, twice last summer" can be
found by the question it answered. What it cannot do: write titles, summaries, narratives,
items or any of the four trigger families, since each of those needs a model that reads the
exchange. Pure functions; the pipeline does the I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from tmem.config import WriteConfig
from tmem.models import HEURISTIC, Scene, Turn

CONTEXT_RADIUS = 1
"""Neighbours on each side included in a turn's context text."""


@dataclass(frozen=True)
class Grouping:
    """Scenes built from a run of turns; ``continued`` is the open scene extended, if any."""

    scenes: tuple[Scene, ...]
    members: tuple[tuple[Turn, ...], ...]
    """Each scene's turns in order, a continued scene's earlier turns included."""


def starts_new_scene(previous: Turn, turn: Turn, count: int, config: WriteConfig) -> bool:
    """Whether ``turn`` opens a new scene after ``previous``, the scene having ``count`` turns."""
    if turn.session_id != previous.session_id:
        return True
    if count >= config.max_scene_turns:
        return True
    gap = turn.timestamp - previous.timestamp
    return gap >= timedelta(minutes=config.session_gap_minutes)


def group_turns(
    turns: Sequence[Turn],
    *,
    open_scene: Scene | None,
    open_scene_turns: Sequence[Turn],
    config: WriteConfig,
    new_id: Callable[[str], str],
) -> Grouping:
    """Split ``turns`` into scenes, extending ``open_scene`` when the first turn continues it."""
    runs: list[list[Turn]] = []
    current: list[Turn] = list(open_scene_turns) if open_scene is not None else []
    continued_id = open_scene.id if open_scene is not None else None
    ids: list[str | None] = []
    for turn in turns:
        if current and starts_new_scene(current[-1], turn, len(current), config):
            runs.append(current)
            ids.append(continued_id)
            continued_id = None
            current = []
        current.append(turn)
    if current:
        runs.append(current)
        ids.append(continued_id)
    # A run holding only the open scene's old turns adds nothing new.
    pairs = [(run, sid) for run, sid in zip(runs, ids, strict=True) if _has_new(run, turns)]
    scenes = tuple(heuristic_scene(run, sid or new_id("scn")) for run, sid in pairs)
    return Grouping(scenes=scenes, members=tuple(tuple(run) for run, _ in pairs))


def _has_new(run: Sequence[Turn], new_turns: Sequence[Turn]) -> bool:
    new_ids = {t.id for t in new_turns}
    return any(t.id in new_ids for t in run)


def heuristic_scene(turns: Sequence[Turn], scene_id: str) -> Scene:
    """A scene whose text is its transcript; no model wrote anything."""
    first, last = turns[0], turns[-1]
    speakers = tuple(dict.fromkeys(t.speaker for t in turns))
    when = first.timestamp.strftime("%d %B %Y")
    title = f"Conversation between {', '.join(speakers)} on {when}"
    return Scene(
        id=scene_id,
        user_id=first.user_id,
        title=title,
        summary=f"{len(turns)} turns, session {first.session_id}.",
        narrative="\n".join(t.text for t in turns),
        timestamp=last.timestamp,
        source_turns=tuple(t.id for t in turns),
        session_ids=tuple(dict.fromkeys(t.session_id for t in turns)),
        participants=speakers,
        provenance=HEURISTIC,
    )


def context_text(members: Sequence[Turn], index: int, radius: int = CONTEXT_RADIUS) -> str:
    """The turn at ``index`` with up to ``radius`` neighbours each side, in reading order."""
    lo = max(0, index - radius)
    hi = min(len(members), index + radius + 1)
    return "\n".join(t.text for t in members[lo:hi])
