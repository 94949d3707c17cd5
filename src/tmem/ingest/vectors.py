"""What gets embedded, under which vector space, and the merge of new triggers into stored ones."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from rapidfuzz import fuzz

from tmem.embed.base import Embedder
from tmem.ingest.llm_free import context_text
from tmem.models import Item, Scene, Trigger, Turn, is_plain_scene
from tmem.spaces import CONTEXT, DIALOGUE, ITEM, ITEM_TRIGGER_FAMILIES, SCENE, trigger_space
from tmem.store.base import Store, VectorRow
from tmem.triggers.normalize import concept_norm


def embed_rows(
    embedder: Embedder,
    rows: Sequence[tuple[str, str, str]],
    batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> list[VectorRow]:
    """Embed ``(owner_id, space, text)`` rows in batches, reporting progress per batch."""
    out: list[VectorRow] = []
    step = max(1, batch_size)
    for start in range(0, len(rows), step):
        chunk = rows[start : start + step]
        matrix = embedder.embed([text for _, _, text in chunk])
        out.extend(
            VectorRow(owner_id=owner, space=space, vector=matrix[i])
            for i, (owner, space, _) in enumerate(chunk)
        )
        if progress is not None:
            progress(min(start + step, len(rows)), len(rows))
    return out


def scene_text(scene: Scene) -> str:
    return f"{scene.title}. {scene.summary}\n{scene.narrative}"


def item_text(item: Item) -> str:
    parts = [
        item.content,
        *item.query_patterns,
        " ".join(item.keywords),
        item.temporal,
        item.spatial,
    ]
    return "\n".join(p for p in parts if p)


def derived_vectors(
    embedder: Embedder,
    scenes: Sequence[Scene],
    items: Sequence[Item],
    triggers: Sequence[Trigger],
    turns: Mapping[str, Turn],
    batch_size: int = 64,
) -> list[VectorRow]:
    """Vectors for derived memories: scene text and raw dialogue, item text, trigger text.

    Turns keep the ``turn`` and ``context`` vectors they got when they were stored (as in
    LLM-free mode); a plain scene (the model could not segment its turns) gets no vector, since
    its turns are the evidence.
    """
    rows: list[tuple[str, str, str]] = []
    for scene in scenes:
        if is_plain_scene(scene):
            continue
        members = [turns[t] for t in scene.source_turns if t in turns]
        rows.append((scene.id, SCENE.name, scene_text(scene)))
        dialogue = "\n".join(t.text for t in members)
        rows.append((scene.id, DIALOGUE.name, dialogue or scene.narrative))
    rows.extend((item.id, ITEM.name, item_text(item)) for item in items)
    rows.extend((t.id, trigger_space(t.family), t.text) for t in triggers)
    return embed_rows(embedder, rows, batch_size)


def waiting_vectors(
    embedder: Embedder, turns: Sequence[Turn], batch_size: int = 64
) -> list[VectorRow]:
    """``context`` vectors for turns going back to waiting after a deletion.

    Each turn is embedded with its neighbours among ``turns`` in the same session, in
    conversation order: the erased turn is nobody's neighbour any more.
    """
    ordered = sorted(turns, key=lambda t: t.seq)
    runs: list[list[Turn]] = []
    for turn in ordered:
        if runs and runs[-1][-1].session_id == turn.session_id:
            runs[-1].append(turn)
        else:
            runs.append([turn])
    rows = [
        (t.id, CONTEXT.name, context_text(members, i))
        for members in runs
        for i, t in enumerate(members)
    ]
    return embed_rows(embedder, rows, batch_size)


def merge_into_existing(
    store: Store,
    embedder: Embedder,
    user_id: str,
    triggers: Sequence[Trigger],
    ratio: float,
) -> tuple[Trigger, ...]:
    """Fold each new Entity/Bridge trigger into a stored one whose text matches at ``ratio``.

    The stored trigger keeps its id and text and gains the new edges (max confidence per
    memory); the new trigger is dropped. Texts are compared through
    :func:`~tmem.triggers.normalize.concept_norm`, as when triggers merge within a batch. Only
    the nearest few stored triggers by cosine are compared, so the cost does not grow with the
    user's history.
    """
    candidates = [t for t in triggers if t.family in ITEM_TRIGGER_FAMILIES]
    if not candidates:
        return tuple(triggers)
    vectors = embedder.embed([t.text for t in candidates])
    merged: dict[str, Trigger] = {}
    dropped: set[str] = set()
    for trigger, vector in zip(candidates, vectors, strict=True):
        near = store.search_vectors(user_id, trigger_space(trigger.family), vector, 3)
        for stored in store.triggers_for(user_id, [s.id for s in near]):
            base = merged.get(stored.id, stored)
            if fuzz.ratio(concept_norm(base.text), concept_norm(trigger.text)) / 100 >= ratio:
                merged[stored.id] = replace(base, targets=_union(base.targets, trigger.targets))
                dropped.add(trigger.id)
                break
    kept = [t for t in triggers if t.id not in dropped]
    return (*kept, *merged.values())


def _union(
    a: Sequence[tuple[str, float]], b: Sequence[tuple[str, float]]
) -> tuple[tuple[str, float], ...]:
    best: dict[str, float] = {}
    for memory_id, confidence in [*a, *b]:
        best[memory_id] = max(confidence, best.get(memory_id, 0.0))
    return tuple(sorted(best.items()))
