from __future__ import annotations

from tmem.models import PersonaProfile
from tmem.persona import render_profile


def test_render_profile() -> None:
    profile = PersonaProfile(
        "u",
        "Mel",
        identity=(("current_location", "Leeds"),),
        preferences=(("hobbies", ("chess", "yoga")),),
        traits=(("values", ("rest",)),),
        relations=(("Jo", "sister"),),
    )
    assert render_profile(profile) == (
        "## Persona: Mel\nIdentity: current location: Leeds\nPreferences: hobbies: chess, yoga\n"
        "Traits: values: rest\nRelations: Jo (sister)"
    )
    assert render_profile(PersonaProfile("u", "Tom")) == ""
