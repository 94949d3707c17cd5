"""Trigger post-processing: normalisation, screening, fuzzy merging and Trigger records.

Everything here is pure: drafts and existing triggers go in, ``tmem.models.Trigger`` objects and
rejection counts come out. The LLM calls that propose triggers live in ``tmem.ingest``.
"""

from tmem.triggers.merge import (
    TriggerDraft,
    TriggerGroup,
    group_drafts,
    group_triggers,
    keep_confident,
    merge_triggers,
)
from tmem.triggers.normalize import concept_norm, content_words
from tmem.triggers.scene import SceneTriggerPolicy, scene_triggers
from tmem.triggers.screen import borrows, is_copy, restates, screen_drafts

__all__ = [
    "SceneTriggerPolicy",
    "TriggerDraft",
    "TriggerGroup",
    "borrows",
    "concept_norm",
    "content_words",
    "group_drafts",
    "group_triggers",
    "is_copy",
    "keep_confident",
    "merge_triggers",
    "restates",
    "scene_triggers",
    "screen_drafts",
]
