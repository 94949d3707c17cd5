"""Per-speaker persona: T-Mem's merge of extracted deltas, stored entries with the rules that
protect pinned and hand-written ones, and rendering to the text the answering model reads."""

from tmem.persona.entries import (
    PersonaChange,
    PersonaEdit,
    apply_edit,
    forget_entries,
    merge_entries,
    profiles,
)
from tmem.persona.merge import (
    IDENTITY_KEYS,
    PersonaDelta,
    merge_delta,
    normalize_key,
)
from tmem.persona.render import render_profile

__all__ = [
    "IDENTITY_KEYS",
    "PersonaChange",
    "PersonaDelta",
    "PersonaEdit",
    "apply_edit",
    "forget_entries",
    "merge_delta",
    "merge_entries",
    "normalize_key",
    "profiles",
    "render_profile",
]
