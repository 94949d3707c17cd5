"""tmem.spaces: every vector space and search channel declared once, with stored names."""

from __future__ import annotations

from tmem import spaces
from tmem.models import FAMILIES, KINDS
from tmem.spaces import CHANNELS, SPACES, TRIGGER_CHANNELS, channels_of, trigger_space
from tmem.store.base import SPACES as STORE_SPACES


def test_space_names_are_the_stored_ones() -> None:
    # Vector rows carry these names; a rename would orphan every stored vector.
    assert spaces.SPACE_NAMES == STORE_SPACES
    assert len(set(spaces.SPACE_NAMES)) == len(SPACES)


def test_every_trigger_family_has_one_space() -> None:
    assert {family: trigger_space(family) for family in FAMILIES} == {
        "entity": "entity",
        "bridge": "bridge",
        "scene": "scene_trigger",
        "horizon": "horizon",
    }
    assert spaces.ITEM_TRIGGER_FAMILIES == ("entity", "bridge")


def test_channels_per_kind_in_gathering_order() -> None:
    names = {kind: [c.name for c in channels_of(kind)] for kind in KINDS}
    assert names == {
        "turn": ["dense", "context", "bm25"],
        "scene": ["dense", "dialogue", "bm25", "scene", "horizon"],
        "item": ["dense", "bm25", "entity", "bridge"],
    }


def test_trigger_channels_are_named_after_their_family() -> None:
    for channel in CHANNELS:
        if channel.family is not None:
            assert channel.name == channel.family
            assert channel.space is not None and channel.space.kind == channel.kind
    assert set(FAMILIES) == TRIGGER_CHANNELS


def test_a_vector_channel_searches_a_space_of_its_own_kind() -> None:
    for channel in CHANNELS:
        if channel.space is None:
            assert channel.name == spaces.BM25 and channel.lexical
        else:
            assert channel.space.kind == channel.kind
    assert {c.how for c in CHANNELS if c.family in ("entity", "bridge", "horizon")} == {
        "associative"
    }
