"""The full-mode (LLM) write path: new turns -> scenes, items, triggers, persona.

Call pattern (see :func:`derive`): one SEGMENT call per window of up to
``WriteConfig.segment_window_turns`` turns, then one EXTRACT call per scene chunk of up to
``WriteConfig.trigger_chunk_turns`` turns, run concurrently. T-Mem's reference pattern spends one
call per message on boundaries and one per item on triggers; :func:`reference_call_count`
prices it for comparison.

No LLM failure loses a turn: a window that cannot be segmented becomes one heuristic scene, and
a chunk whose extraction fails leaves its turns in ``failed_turns`` for a later reindex.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from tmem.config import WriteConfig
from tmem.ingest.assemble import Assembly, AssemblyContext, assemble
from tmem.ingest.extract import ChunkJob, ChunkOutcome, plan_jobs, run_jobs
from tmem.ingest.segment import PlannedScene, segment_turns, windows
from tmem.llm.base import LLM
from tmem.llm.prompts import extract as extract_prompt
from tmem.models import Failure, Item, Provenance, Scene, Trigger, Turn, Usage
from tmem.persona import PersonaDelta
from tmem.store.base import Supersession
from tmem.triggers import (
    SceneTriggerPolicy,
    group_drafts,
    group_triggers,
    keep_confident,
    merge_triggers,
    screen_drafts,
)


@dataclass(frozen=True)
class Derivation:
    """What one batch of new turns derived; the caller writes it in one transaction.

    Attributes:
        scenes: new scenes, plus the open scene re-issued (same id) if the turns continued it.
        triggers: new triggers and existing Entity/Bridge triggers that absorbed new edges
            (same id, union of targets).
        persona_deltas: what the extraction learned about speakers; the write merges them into
            the stored entries (:func:`tmem.persona.merge_entries`).
        scene_of_turn: ``(turn id, scene id)`` for every new turn placed in a scene.
        failed_turns: turns whose extraction failed; they stay stored and a reindex retries them.
        rejected_triggers: trigger texts dropped as copies of the dialogue or of the prompt's
            example, or as restatements of their item.
        rejected_items: extracted facts dropped because they copied the prompt's example.
    """

    scenes: tuple[Scene, ...]
    items: tuple[Item, ...]
    triggers: tuple[Trigger, ...]
    supersessions: tuple[Supersession, ...]
    persona_deltas: tuple[PersonaDelta, ...]
    scene_of_turn: tuple[tuple[str, str], ...]
    usage: Usage
    failures: tuple[Failure, ...]
    failed_turns: tuple[str, ...]
    rejected_triggers: int
    rejected_items: int = 0


def _unique(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def build_scene(
    plan: PlannedScene, *, user_id: str, open_scene: Scene | None, new_id: Callable[[str], str]
) -> Scene:
    """A Scene from a plan; a continuation re-issues the open scene with the new turns added."""
    turns = plan.turns
    if plan.continues_open and open_scene is not None:
        return Scene(
            id=open_scene.id,
            user_id=user_id,
            title=plan.title,
            summary=plan.summary,
            narrative=f"{open_scene.narrative} {plan.narrative}".strip(),
            timestamp=turns[-1].timestamp,
            source_turns=open_scene.source_turns + tuple(t.id for t in turns),
            session_ids=_unique([*open_scene.session_ids, *(t.session_id for t in turns)]),
            participants=_unique([*open_scene.participants, *(t.speaker for t in turns)]),
            provenance=plan.provenance,
        )
    return Scene(
        id=new_id("scn"),
        user_id=user_id,
        title=plan.title,
        summary=plan.summary,
        narrative=plan.narrative,
        timestamp=turns[-1].timestamp,
        source_turns=tuple(t.id for t in turns),
        session_ids=_unique([t.session_id for t in turns]),
        participants=_unique([t.speaker for t in turns]),
        provenance=plan.provenance,
    )


def _jobs(
    scenes: Sequence[Scene],
    plans: Sequence[PlannedScene],
    open_scene_turns: Sequence[Turn],
    known_items: Callable[[str], Sequence[Item]],
    chunk_size: int,
    instructions: extract_prompt.Instructions,
) -> list[ChunkJob]:
    # known_items may touch the store, so it runs here on the caller's thread, not in the pool.
    jobs: list[ChunkJob] = []
    for scene, plan in zip(scenes, plans, strict=True):
        facts = known_items(f"{scene.title}\n{scene.summary}")
        earlier = open_scene_turns if plan.continues_open else ()
        jobs.extend(plan_jobs(scene, plan.turns, earlier, facts, chunk_size, instructions))
    return jobs


def item_triggers(
    assembly: Assembly,
    config: WriteConfig,
    *,
    user_id: str,
    new_id: Callable[[str], str],
    provenance: Provenance,
) -> tuple[list[Trigger], int]:
    """Entity/Bridge triggers to write: screened, grouped, filtered, merged with each other.

    Merging them into the user's stored triggers is the pipeline's step, after derivation.

    Returns:
        The new triggers, and the number of rejected drafts.
    """
    drafts, rejected = screen_drafts(
        assembly.drafts, assembly.contents, assembly.sources, config.copy_ratio
    )
    groups = keep_confident(group_drafts(drafts, config.merge_ratio), config.edge_confidence)
    candidates = group_triggers(groups, user_id=user_id, new_id=new_id, provenance=provenance)
    return merge_triggers(candidates, config.merge_ratio), rejected


def _failures(outcomes: Sequence[ChunkOutcome]) -> tuple[list[Failure], list[str]]:
    failures: list[Failure] = []
    failed_turns: list[str] = []
    for outcome in outcomes:
        if outcome.output is None:
            turn_ids = tuple(t.id for t in outcome.job.turns)
            failures.append(Failure("extract", outcome.error, extract_prompt.SPEC.key, turn_ids))
            failed_turns.extend(turn_ids)
    return failures, failed_turns


def derive(
    llm: LLM,
    turns: Sequence[Turn],
    *,
    user_id: str,
    open_scene: Scene | None,
    open_scene_turns: Sequence[Turn],
    known_items: Callable[[str], Sequence[Item]],
    config: WriteConfig,
    now: datetime,
    new_id: Callable[[str], str],
    max_workers: int = 4,
    retries: int = 2,
    progress: Callable[[int, int], None] | None = None,
    user_instructions: str = "",
) -> Derivation:
    """Derive scenes, items, triggers, supersessions and persona updates from new turns.

    Args:
        turns: the new turns, in order.
        open_scene: the user's latest scene, which the new turns may continue.
        open_scene_turns: that scene's turns (context for segmentation and extraction).
        known_items: related active items for a scene's text (at most ten are shown).
        new_id: makes ids from a prefix ("scn", "itm", "trg").
        max_workers: concurrent extraction calls.
        retries: corrective retries of a reply that fails validation, per call.
        progress: called with (LLM calls done, LLM calls planned so far) after each call;
            the plan grows once segmentation has fixed the extraction calls.
        user_instructions: what the user asked extraction to keep (``config.instructions``
            are the deployment's); every extraction call shows both.
    """
    if not turns:
        return Derivation((), (), (), (), (), (), Usage(), (), (), 0)
    steps = _Steps(progress, len(windows(turns, config.segment_window_turns)))
    segmented = segment_turns(
        llm,
        turns,
        open_scene=open_scene,
        open_scene_turns=open_scene_turns,
        window_turns=config.segment_window_turns,
        now=now,
        copy_ratio=config.copy_ratio,
        retries=retries,
        on_window=steps.done,
    )
    plans = segmented.scenes
    scenes = [build_scene(p, user_id=user_id, open_scene=open_scene, new_id=new_id) for p in plans]
    instructions = extract_prompt.Instructions(config.instructions, user_instructions)
    jobs = _jobs(
        scenes, plans, open_scene_turns, known_items, config.trigger_chunk_turns, instructions
    )
    steps.plan(len(jobs))
    outcomes = run_jobs(llm, jobs, now, max_workers, retries, on_done=steps.done)
    context = _context(llm, config, user_id=user_id, new_id=new_id)
    assembly = assemble(outcomes, context)
    entity_bridge, rejected = item_triggers(
        assembly,
        config,
        user_id=user_id,
        new_id=new_id,
        provenance=context.provenance,
    )
    failures, failed_turns = _failures(outcomes)
    return Derivation(
        scenes=tuple(scenes),
        items=tuple(assembly.items),
        triggers=(*entity_bridge, *assembly.scene_triggers),
        supersessions=tuple(assembly.supersessions),
        persona_deltas=tuple(assembly.deltas) if config.persona else (),
        scene_of_turn=tuple(
            (turn.id, scene.id)
            for scene, plan in zip(scenes, plans, strict=True)
            for turn in plan.turns
        ),
        usage=sum((outcome.usage for outcome in outcomes), segmented.usage),
        failures=(*segmented.failures, *failures),
        failed_turns=tuple(failed_turns),
        rejected_triggers=rejected + assembly.rejected,
        rejected_items=assembly.rejected_items,
    )


class _Steps:
    """Counts LLM calls for a progress callback; safe to call from the extraction pool."""

    def __init__(self, progress: Callable[[int, int], None] | None, planned: int) -> None:
        self._progress = progress
        self._lock = threading.Lock()
        self._done = 0
        self._planned = planned

    def plan(self, more: int) -> None:
        with self._lock:
            self._planned += more
            self._report()

    def done(self) -> None:
        with self._lock:
            self._done += 1
            self._report()

    def _report(self) -> None:
        if self._progress is not None:
            self._progress(self._done, self._planned)


def _context(
    llm: LLM, config: WriteConfig, *, user_id: str, new_id: Callable[[str], str]
) -> AssemblyContext:
    return AssemblyContext(
        user_id=user_id,
        new_id=new_id,
        provenance=Provenance(extract_prompt.SPEC.key, llm.model),
        policy=SceneTriggerPolicy(config.copy_ratio, config.horizon_min_confidence),
        supersede=config.supersede,
    )


def reference_call_count(
    turns: Sequence[Turn], scenes: Sequence[Scene], items: Sequence[Item]
) -> int:
    """LLM calls T-Mem's reference write path would spend on the same input.

    One boundary call per message, one scene-writing call per scene, one item call per topic
    (counted as one per scene), one Scene/Horizon call per scene of at most ten turns and one
    Entity/Bridge call per item. Topic and persona calls are left out, so this is a floor.
    """
    short_scenes = sum(1 for scene in scenes if len(scene.source_turns) <= 10)
    return len(turns) + 2 * len(scenes) + short_scenes + len(items)
