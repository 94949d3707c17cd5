"""Persona profiles as the plain text the answering model reads."""

from __future__ import annotations

from tmem.models import PersonaProfile


def _label(key: str) -> str:
    return key.replace("_", " ")


def render_profile(profile: PersonaProfile) -> str:
    """A short Markdown block; empty sections are left out, an empty profile gives ``""``."""
    lines: list[str] = []
    if profile.identity:
        lines.append("Identity: " + "; ".join(f"{_label(k)}: {v}" for k, v in profile.identity))
    if profile.preferences:
        lines.append(
            "Preferences: "
            + "; ".join(f"{_label(k)}: {', '.join(v)}" for k, v in profile.preferences)
        )
    if profile.traits:
        lines.append(
            "Traits: " + "; ".join(f"{_label(k)}: {', '.join(v)}" for k, v in profile.traits)
        )
    if profile.relations:
        lines.append("Relations: " + "; ".join(f"{p} ({d})" for p, d in profile.relations))
    if not lines:
        return ""
    return "\n".join([f"## Persona: {profile.speaker}", *lines])
