"""Scene (Q IV) and Horizon (Q III) trigger records for one scene or scene chunk."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from tmem.models import HORIZON_CHANNELS, SCENE_FACETS, Provenance, Trigger
from tmem.triggers.screen import borrows, is_copy


@dataclass(frozen=True)
class SceneTriggerPolicy:
    """Thresholds from :class:`tmem.config.WriteConfig`."""

    copy_ratio: float
    horizon_min_confidence: float


def scene_triggers(
    scene_id: str,
    facets: Mapping[str, str],
    horizon: Mapping[str, tuple[str | None, float]],
    sources: Sequence[str],
    *,
    policy: SceneTriggerPolicy,
    user_id: str,
    new_id: Callable[[str], str],
    provenance: Provenance,
    examples: Sequence[str] = (),
) -> tuple[list[Trigger], int]:
    """Scene facet and Horizon channel triggers pointing at ``scene_id``.

    Empty sentences and Horizon channels below the confidence floor are treated as no signal
    (not rejections). Sentences that copy a source turn are rejected and counted.

    Args:
        scene_id: the scene every trigger points at (chunks of a long scene share it).
        facets: facet name -> sentence; unknown facet names are ignored.
        horizon: channel name -> (sentence or None, confidence); unknown channels are ignored.
        sources: the texts of the turns the sentences were written from.
        examples: the prompt's worked-example texts; a sentence that copies one, or borrows its
            wording (:func:`tmem.triggers.screen.borrows`), is rejected too.

    Returns:
        The triggers and the number of rejected sentences.
    """
    triggers: list[Trigger] = []
    rejected = 0
    proposals: list[tuple[str, str, str, float]] = [
        ("scene", facet, (facets.get(facet) or "").strip(), 1.0) for facet in SCENE_FACETS
    ]
    for channel in HORIZON_CHANNELS:
        sentence, confidence = horizon.get(channel, (None, 0.0))
        if sentence and confidence >= policy.horizon_min_confidence:
            proposals.append(("horizon", channel, sentence.strip(), min(confidence, 1.0)))
    for family, facet, text, confidence in proposals:
        if not text:
            continue
        if is_copy(text, [*sources, *examples], policy.copy_ratio) or borrows(
            text, examples, sources
        ):
            rejected += 1
            continue
        triggers.append(
            Trigger(
                new_id("trg"),
                user_id,
                "scene" if family == "scene" else "horizon",
                text,
                ((scene_id, confidence),),
                facet,
                provenance,
            )
        )
    return triggers, rejected
