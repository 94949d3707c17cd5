"""Per-speaker persona profiles: pure merging of extracted deltas and rendering to text."""

from tmem.persona.merge import (
    IDENTITY_KEYS,
    PersonaDelta,
    merge_delta,
    merge_deltas,
    normalize_key,
)
from tmem.persona.render import render_profile

__all__ = [
    "IDENTITY_KEYS",
    "PersonaDelta",
    "merge_delta",
    "merge_deltas",
    "normalize_key",
    "render_profile",
]
