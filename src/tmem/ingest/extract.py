"""Full-mode extraction calls: one per scene chunk, run concurrently.

A scene longer than ``trigger_chunk_turns`` is cut into balanced chunks, and every chunk gets
its own call, so long scenes get Scene/Horizon triggers too (T-Mem skips scenes over ten turns).
Each chunk sees up to three earlier turns of its scene as context.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from tmem.errors import LLMError
from tmem.ingest.segment import balanced_parts, turn_lines
from tmem.llm.base import LLM
from tmem.llm.prompts import extract as prompt
from tmem.llm.structured import call_structured, spent_usage
from tmem.models import Item, Scene, Turn, Usage

_CONTEXT_TURNS = 3
MAX_KNOWN_FACTS = 10
NO_INSTRUCTIONS = prompt.Instructions()


@dataclass(frozen=True)
class ChunkJob:
    """One extraction call: a chunk of a scene's new turns.

    Attributes:
        fact_ids: ``(label, item id)`` for each known fact shown to the model.
    """

    scene: Scene
    turns: tuple[Turn, ...]
    inputs: prompt.ExtractInputs
    fact_ids: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ChunkOutcome:
    """A job's validated output, or None with the error; usage counts failed attempts too."""

    job: ChunkJob
    output: prompt.ExtractOutput | None
    usage: Usage
    error: str = ""


def chunk_turns(turns: Sequence[Turn], size: int) -> list[tuple[Turn, ...]]:
    """Extraction chunks of at most ``size`` turns (see :func:`balanced_parts`)."""
    return balanced_parts(turns, size)


def known_facts(
    items: Sequence[Item],
) -> tuple[tuple[prompt.KnownFact, ...], tuple[tuple[str, str], ...]]:
    """Label up to :data:`MAX_KNOWN_FACTS` active items F1, F2, ... for the prompt."""
    active = [item for item in items if item.status == "active"][:MAX_KNOWN_FACTS]
    labels = [f"F{index}" for index in range(1, len(active) + 1)]
    facts = tuple(
        prompt.KnownFact(label, item.content, item.temporal)
        for label, item in zip(labels, active, strict=True)
    )
    return facts, tuple((label, item.id) for label, item in zip(labels, active, strict=True))


def plan_jobs(
    scene: Scene,
    new_turns: Sequence[Turn],
    earlier_turns: Sequence[Turn],
    facts: Sequence[Item],
    chunk_size: int,
    instructions: prompt.Instructions = NO_INSTRUCTIONS,
) -> list[ChunkJob]:
    """The extraction calls for one scene's new turns.

    Args:
        earlier_turns: turns of the scene before ``new_turns`` (a continued open scene).
        facts: related existing items the new turns may supersede.
        instructions: what the operator and the user ask to keep (every call shows them).
    """
    shown, fact_ids = known_facts(facts)
    jobs = []
    before: tuple[Turn, ...] = tuple(earlier_turns)
    for chunk in chunk_turns(new_turns, chunk_size):
        context = before[-_CONTEXT_TURNS:]
        inputs = prompt.ExtractInputs(
            scene_title=scene.title,
            scene_summary=scene.summary,
            turns=turn_lines(chunk, context[-1] if context else None),
            context=turn_lines(context, None, numbered=False),
            known_facts=shown,
            reference_time=chunk[-1].timestamp,
            instructions=instructions,
        )
        jobs.append(ChunkJob(scene, chunk, inputs, fact_ids))
        before = before + chunk
    return jobs


def run_job(llm: LLM, job: ChunkJob, now: datetime, retries: int = 2) -> ChunkOutcome:
    """One call (plus corrective retries); a failure is returned, never raised."""
    try:
        result = call_structured(llm, prompt.SPEC, job.inputs, now, retries=retries)
    except LLMError as exc:
        return ChunkOutcome(job, None, spent_usage(exc), f"{type(exc).__name__}: {exc}")
    return ChunkOutcome(job, result.value, result.usage)


def run_jobs(
    llm: LLM,
    jobs: Sequence[ChunkJob],
    now: datetime,
    max_workers: int,
    retries: int = 2,
    on_done: Callable[[], None] | None = None,
) -> list[ChunkOutcome]:
    """All jobs through one bounded pool; outcomes come back in job order.

    ``on_done`` is called as each job finishes, in completion order (progress).
    """
    if not jobs:
        return []

    def run(job: ChunkJob) -> ChunkOutcome:
        outcome = run_job(llm, job, now, retries)
        if on_done is not None:
            on_done()
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(jobs)))) as pool:
        return list(pool.map(run, jobs))
