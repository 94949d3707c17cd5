"""Turn validated extraction outputs into items, trigger drafts, scene triggers, supersessions
and persona deltas. Pure apart from the injected id factory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tmem.ingest.extract import ChunkOutcome
from tmem.llm.prompts import extract as prompt
from tmem.llm.prompts.extract import ItemOut, PersonaOut
from tmem.llm.prompts.lines import format_moment
from tmem.models import Item, Provenance, Trigger, Turn
from tmem.persona import PersonaDelta
from tmem.safety import assess
from tmem.store.base import Supersession
from tmem.triggers import (
    SceneTriggerPolicy,
    TriggerDraft,
    borrows,
    concept_norm,
    is_copy,
    scene_triggers,
)


@dataclass(frozen=True)
class AssemblyContext:
    user_id: str
    new_id: Callable[[str], str]
    provenance: Provenance
    policy: SceneTriggerPolicy
    supersede: bool


@dataclass
class Assembly:
    """Everything the successful chunks produced, in chunk order (filled by :func:`assemble`)."""

    items: list[Item] = field(default_factory=list)
    drafts: list[TriggerDraft] = field(default_factory=list)
    contents: dict[str, str] = field(default_factory=dict)
    sources: dict[str, tuple[str, ...]] = field(default_factory=dict)
    scene_triggers: list[Trigger] = field(default_factory=list)
    rejected: int = 0
    rejected_items: int = 0
    supersessions: list[Supersession] = field(default_factory=list)
    deltas: list[PersonaDelta] = field(default_factory=list)


def source_texts(turns: Sequence[Turn]) -> tuple[str, ...]:
    """What a trigger must not copy: each turn's content, alone and with its speaker."""
    return tuple(text for turn in turns for text in (turn.content, turn.text))


def copies_example(text: str, sources: Sequence[str], ratio: float) -> bool:
    """Whether ``text`` copies the prompt's worked example or borrows its wording (small models
    echo it around new names) instead of describing the ``sources``."""
    return is_copy(text, prompt.EXAMPLE_TEXTS, ratio) or borrows(
        text, prompt.EXAMPLE_TEXTS, sources
    )


def _cited_turns(draft: ItemOut, turns: Sequence[Turn]) -> tuple[Turn, ...]:
    """The turns the model cited; all of the chunk's turns when it cited none that exist."""
    numbers = dict.fromkeys(n for n in draft.source_turns if 1 <= n <= len(turns))
    cited = tuple(turns[n - 1] for n in sorted(numbers))
    return cited or tuple(turns)


def _unique(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for v in values if v.strip()))


def stated_time(temporal: str, reference: datetime | None) -> str:
    """``temporal`` unless it merely repeats the prompt's reference time (small models fill the
    field with it when the turns give no time; it is the chunk's time, not the fact's)."""
    if reference is not None and format_moment(reference) in temporal:
        return ""
    return temporal


def make_item(
    draft: ItemOut,
    turns: Sequence[Turn],
    scene_id: str,
    ctx: AssemblyContext,
    reference: datetime | None = None,
) -> Item:
    """An item from one model draft; its timestamp is that of the latest turn it rests on."""
    cited = _cited_turns(draft, turns)
    return Item(
        id=ctx.new_id("itm"),
        user_id=ctx.user_id,
        content=draft.content,
        timestamp=max(turn.timestamp for turn in cited),
        scene_ids=(scene_id,),
        source_turns=tuple(turn.id for turn in cited),
        temporal=stated_time(draft.temporal, reference),
        spatial=draft.spatial,
        keywords=_unique(draft.keywords),
        query_patterns=_unique(draft.query_patterns),
        provenance=ctx.provenance,
    )


def persona_delta(out: PersonaOut, source_turns: tuple[str, ...] = ()) -> PersonaDelta:
    return PersonaDelta(
        speaker=out.speaker.strip(),
        identity=tuple(out.identity.items()),
        preferences=tuple((k, tuple(v)) for k, v in out.preferences.items()),
        traits=tuple((k, tuple(v)) for k, v in out.traits.items()),
        relations=tuple((r.person, r.relation) for r in out.relations),
        source_turns=source_turns,
    )


def _supersessions(
    draft: ItemOut, item: Item, fact_ids: Sequence[tuple[str, str]]
) -> list[Supersession]:
    """Map cited labels (or raw ids) of known facts to supersessions of those facts."""
    by_label = {label.lower(): item_id for label, item_id in fact_ids}
    known = {item_id for _, item_id in fact_ids}
    olds = []
    for cited in draft.supersedes:
        old = by_label.get(cited.strip().lower(), cited.strip())
        if old in known and old not in olds:
            olds.append(old)
    return [Supersession(old, item.id, "replaced by a newer statement") for old in olds]


def _add_items(outcome: ChunkOutcome, ctx: AssemblyContext, into: Assembly, seen: set[str]) -> None:
    assert outcome.output is not None
    job = outcome.job
    texts = source_texts(job.turns)
    for draft in outcome.output.items:
        key = f"{job.scene.id}\x00{concept_norm(draft.content)}"
        if key in seen:
            continue
        # The header of a one-turn scene may rightly say what its one fact says.
        header = (
            (job.inputs.scene_title, job.inputs.scene_summary)
            if len(job.scene.source_turns) > 1
            else ()
        )
        if copies_example(draft.content, texts, ctx.policy.copy_ratio) or is_copy(
            draft.content, header, ctx.policy.copy_ratio
        ):
            # A fact copied from the worked example would be a false memory; one copied from
            # the header of a scene of several turns (Qwen 1.5B's habit) is no fact at all.
            into.rejected_items += 1
            continue
        seen.add(key)
        item = make_item(draft, job.turns, job.scene.id, ctx, job.inputs.reference_time)
        into.items.append(item)
        into.contents[item.id] = item.content
        into.sources[item.id] = (*texts, *prompt.EXAMPLE_TEXTS)
        for t in draft.triggers:
            if copies_example(f"{t.concept} {t.bridge}", texts, ctx.policy.copy_ratio):
                into.rejected += 1
                continue
            into.drafts.append(TriggerDraft(t.concept, t.bridge, item.id, t.confidence))
        if ctx.supersede:
            into.supersessions.extend(_supersessions(draft, item, job.fact_ids))


def _add_scene_triggers(outcome: ChunkOutcome, ctx: AssemblyContext, into: Assembly) -> None:
    assert outcome.output is not None
    output = outcome.output
    facets = output.scene.model_dump()
    horizon = {name: (channel.sent, channel.confidence) for name, channel in output.horizon}
    triggers, rejected = scene_triggers(
        outcome.job.scene.id,
        facets,
        horizon,
        source_texts(outcome.job.turns),
        policy=ctx.policy,
        user_id=ctx.user_id,
        new_id=ctx.new_id,
        provenance=ctx.provenance,
        examples=prompt.EXAMPLE_TEXTS,
    )
    into.scene_triggers.extend(triggers)
    into.rejected += rejected


def assemble(outcomes: Sequence[ChunkOutcome], ctx: AssemblyContext) -> Assembly:
    """Collect the products of every successful chunk; failed chunks contribute nothing."""
    assembly = Assembly()
    seen: set[str] = set()
    for outcome in outcomes:
        if outcome.output is None:
            continue
        _add_items(outcome, ctx, assembly, seen)
        _add_scene_triggers(outcome, ctx, assembly)
        chunk = tuple(t.id for t in outcome.job.turns)
        # Persona entries never come from a chunk holding an injected instruction (issue 20).
        if not any(assess(turn.content).flagged for turn in outcome.job.turns):
            assembly.deltas.extend(persona_delta(p, chunk) for p in outcome.output.persona)
    return assembly
