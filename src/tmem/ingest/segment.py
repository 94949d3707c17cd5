"""Full-mode segmentation: windows of new turns -> scenes, one LLM call per window.

Scenes follow event closure: the first scene of a window may continue the open scene (from an
earlier ingest or the previous window). A window whose reply never covers its turns exactly
becomes one heuristic scene, recorded as a failure, so no turn is ever lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from tmem.errors import LLMError, LLMOutputError
from tmem.ingest.timegap import gap_label
from tmem.llm.base import LLM
from tmem.llm.prompts import segment as prompt
from tmem.llm.prompts.lines import TurnLine, clip
from tmem.llm.structured import call_structured, spent_usage
from tmem.models import HEURISTIC, Failure, Provenance, Scene, Turn, Usage
from tmem.triggers import is_copy

_CONTEXT_TURNS = 3


@dataclass(frozen=True)
class PlannedScene:
    """A scene as segmentation decided it, before ids and extraction.

    Attributes:
        turns: the new turns it holds, in order.
        continues_open: it extends the open scene passed to :func:`segment_turns`.
    """

    turns: tuple[Turn, ...]
    title: str
    summary: str
    narrative: str
    continues_open: bool
    provenance: Provenance


@dataclass(frozen=True)
class SegmentResult:
    scenes: tuple[PlannedScene, ...]
    usage: Usage
    failures: tuple[Failure, ...]


def balanced_parts(turns: Sequence[Turn], size: int) -> list[tuple[Turn, ...]]:
    """The fewest consecutive parts of at most ``size`` turns, sizes differing by at most one.

    Balancing avoids a near-empty last part (41 turns in windows of 40 give 21 + 20, not
    40 + 1), which would cost a call and give the model almost no context.
    """
    if not turns:
        return []
    count = -(-len(turns) // max(size, 1))
    base, extra = divmod(len(turns), count)
    parts, start = [], 0
    for index in range(count):
        end = start + base + (1 if index < extra else 0)
        parts.append(tuple(turns[start:end]))
        start = end
    return parts


def windows(turns: Sequence[Turn], size: int) -> list[tuple[Turn, ...]]:
    """Segmentation windows of at most ``size`` turns (see :func:`balanced_parts`)."""
    return balanced_parts(turns, size)


def turn_lines(
    turns: Sequence[Turn], previous: Turn | None, *, numbered: bool = True
) -> tuple[TurnLine, ...]:
    """Prompt lines numbered from 1 (or 0 for context), each with its time-gap label."""
    lines = []
    for index, turn in enumerate(turns):
        before = turns[index - 1] if index else previous
        lines.append(
            TurnLine(
                index + 1 if numbered else 0,
                turn.speaker,
                turn.content,
                turn.timestamp,
                gap_label(before.timestamp if before else None, turn.timestamp),
            )
        )
    return tuple(lines)


def _speakers(turns: Sequence[Turn]) -> list[str]:
    return list(dict.fromkeys(turn.speaker for turn in turns))


def fallback_scene(window: Sequence[Turn]) -> PlannedScene:
    """One plain scene for a window the model could not segment: the raw turns as narrative."""
    people = " and ".join(_speakers(window))
    day = f"{window[0].timestamp:%B} {window[0].timestamp.day}, {window[0].timestamp.year}"
    first = window[0]
    return PlannedScene(
        turns=tuple(window),
        title=f"Conversation between {people} on {day}",
        summary=f"{people} talked on {day}. It opened with {first.speaker}: "
        f"{clip(first.content, 160)}",
        narrative=" ".join(f"{turn.speaker} said: {turn.content}" for turn in window),
        continues_open=False,
        provenance=HEURISTIC,
    )


def _ask(
    llm: LLM, inputs: prompt.SegmentInputs, count: int, now: datetime, retries: int
) -> tuple[list[prompt.SceneSpan] | None, Usage, str]:
    """Spans covering turns 1..``count``, or None with the reason; one coverage retry."""
    usage = Usage()
    problem: str | None = None
    for _ in range(2 if retries else 1):
        try:
            result = call_structured(llm, prompt.SPEC, inputs, now, retries=retries)
        except LLMOutputError as exc:
            return None, usage + spent_usage(exc), str(exc)
        except LLMError as exc:
            return None, usage + spent_usage(exc), f"{type(exc).__name__}: {exc}"
        usage += result.usage
        problem = prompt.coverage_error(result.value, count)
        if problem is None:
            return list(result.value.scenes), usage, ""
        inputs = replace(inputs, feedback=problem)
    return None, usage, f"{prompt.SPEC.key}: {problem}"


def _open_context(
    planned: list[PlannedScene], open_scene: Scene | None, open_turns: Sequence[Turn]
) -> tuple[prompt.OpenScene | None, Turn | None]:
    """What the next window may continue, and the last turn before it (for its gap label)."""
    if planned:
        last = planned[-1]
        tail = last.turns[-_CONTEXT_TURNS:]
        lines = turn_lines(tail, None, numbered=False)
        return prompt.OpenScene(last.title, last.summary, lines), last.turns[-1]
    if open_scene is None:
        return None, open_turns[-1] if open_turns else None
    tail = tuple(open_turns[-_CONTEXT_TURNS:])
    lines = turn_lines(tail, None, numbered=False)
    return prompt.OpenScene(open_scene.title, open_scene.summary, lines), (
        open_turns[-1] if open_turns else None
    )


def echoes_example(span: prompt.SceneSpan, ratio: float) -> bool:
    """Whether the model copied the prompt's worked example instead of describing the turns."""
    return any(
        is_copy(text, prompt.EXAMPLE_TEXTS, ratio)
        for text in (span.title, span.summary, span.narrative)
    )


def _place(
    planned: list[PlannedScene],
    window: Sequence[Turn],
    spans: Sequence[prompt.SceneSpan],
    *,
    can_continue: bool,
    provenance: Provenance,
) -> None:
    """Append the window's scenes to ``planned``, extending the previous one when continued."""
    for index, span in enumerate(spans):
        turns = tuple(window[span.start - 1 : span.end])
        plan = PlannedScene(turns, span.title, span.summary, span.narrative, False, provenance)
        if not (index == 0 and span.continues_open_scene and can_continue):
            planned.append(plan)
        elif planned:
            last = planned.pop()
            narrative = f"{last.narrative} {span.narrative}"
            planned.append(
                replace(
                    plan,
                    turns=last.turns + turns,
                    narrative=narrative,
                    continues_open=last.continues_open,
                )
            )
        else:
            planned.append(replace(plan, continues_open=True))


def _drop_echoes(
    spans: Sequence[prompt.SceneSpan], window: Sequence[Turn], ratio: float
) -> tuple[list[prompt.SceneSpan], list[Failure]]:
    """Spans with copied example text replaced by plain-text scenes (recorded as failures)."""
    kept: list[prompt.SceneSpan] = []
    failures: list[Failure] = []
    for span in spans:
        if not echoes_example(span, ratio):
            kept.append(span)
            continue
        turns = window[span.start - 1 : span.end]
        plain = fallback_scene(turns)
        kept.append(
            span.model_copy(
                update={
                    "title": plain.title,
                    "summary": plain.summary,
                    "narrative": plain.narrative,
                    "continues_open_scene": False,
                }
            )
        )
        error = "the reply copied the prompt's example instead of describing the turns"
        failures.append(Failure("segment", error, prompt.SPEC.key, tuple(t.id for t in turns)))
    return kept, failures


def segment_turns(
    llm: LLM,
    turns: Sequence[Turn],
    *,
    open_scene: Scene | None,
    open_scene_turns: Sequence[Turn],
    window_turns: int,
    now: datetime,
    copy_ratio: float = 0.85,
    retries: int = 2,
    on_window: Callable[[], None] | None = None,
) -> SegmentResult:
    """Segment ``turns`` window by window, each window seeing the scene before it.

    Args:
        copy_ratio: scene texts this similar to the prompt's example count as copies.
        retries: corrective retries per call of a reply that fails validation; with any, a
            reply that leaves turns uncovered gets one more round with the gap named.
        on_window: called after each window's call, failed or not (progress).
    """
    planned: list[PlannedScene] = []
    usage = Usage()
    failures: list[Failure] = []
    provenance = Provenance(prompt.SPEC.key, llm.model)
    for window in windows(turns, window_turns):
        context, previous = _open_context(planned, open_scene, open_scene_turns)
        inputs = prompt.SegmentInputs(
            turn_lines(window, previous), context, reference_time=window[-1].timestamp
        )
        spans, spent, error = _ask(llm, inputs, len(window), now, retries)
        usage += spent
        if on_window is not None:
            on_window()
        if spans is None:
            failures.append(Failure("segment", error, prompt.SPEC.key, tuple(t.id for t in window)))
            planned.append(fallback_scene(window))
            continue
        spans, echoed = _drop_echoes(spans, window, copy_ratio)
        failures.extend(echoed)
        _place(planned, window, spans, can_continue=context is not None, provenance=provenance)
    return SegmentResult(tuple(planned), usage, tuple(failures))
