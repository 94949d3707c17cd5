"""Vector spaces and search channels, each declared once.

A *space* names what a stored vector embeds; its name is the ``space`` column of every vector
row, so the values never change. A *channel* is one ranked candidate list the read path fuses;
its name is what :attr:`tmem.models.Hit.reached_by` reports (a trigger channel reports its
trigger labels, ``horizon:GOAL_ARC``, when it has them) and what each
:class:`tmem.models.ChannelEvidence` of :attr:`tmem.models.Hit.explain` names, with the hit's
rank and raw score there (:func:`raw_score_name` says what that score is). One channel name can
search several granularities: ``dense`` ranks turns, scenes and items, each in its own space.

========== ======= ============= ====================================================== =====
channel     kind    space         candidates                                             how
========== ======= ============= ====================================================== =====
dense       turn    turn          cosine to the turn's own text                          D
context     turn    context       cosine to the turn with its neighbours                 D
bm25        turn    (full text)   BM25 over the turn text                                D
dense       scene   scene         cosine to the scene's title + summary + narrative      D
dialogue    scene   dialogue      cosine to the scene's raw turns                        D
bm25        scene   (full text)   BM25 over the scene text                               D
scene       scene   scene_trigger Scene triggers (situation/object/event/emotion)        D
horizon     scene   horizon       Horizon triggers (five forward-looking channels)       A
dense       item    item          cosine to the item text                                D
bm25        item    (full text)   BM25 over the item text                                D
entity      item    entity        Entity triggers (superordinate concepts)               A
bridge      item    bridge        Bridge triggers ("cue -> inference")                   A
========== ======= ============= ====================================================== =====

D = descriptive (finds what the query describes), A = associative (finds what the query should
bring to mind). A new channel is one :class:`Channel` row in :data:`CHANNELS` (and, when it
searches a new kind of vector, one :class:`Space` row in :data:`SPACES`).

"Waiting to be derived" is kept in three places, all written together by the LLM-free path
(see :func:`tmem.models.is_plain_scene`): the turn's ``pending`` flag in the store, the plain
scene holding it, and its ``context`` vector (kept for life, searched in every mode).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tmem.models import Family, Kind

Owner = Literal["turn", "scene", "item", "trigger"]
How = Literal["descriptive", "associative"]


@dataclass(frozen=True)
class Space:
    """One vector space: the ``space`` value of the vector rows that embed one kind of text."""

    name: str
    """Stored in every vector row; never change it."""
    owner: Owner
    """What a vector row's ``owner_id`` names."""
    kind: Kind
    """The memory kind a search in this space finds (a trigger's targets for trigger spaces)."""
    embeds: str
    family: Family | None = None
    """The trigger family whose triggers are embedded here; None for memory spaces."""


TURN = Space("turn", "turn", "turn", "the turn's own text (speaker: content)")
CONTEXT = Space("context", "turn", "turn", "the turn with its neighbours in its plain scene")
SCENE = Space("scene", "scene", "scene", "title + summary + narrative")
DIALOGUE = Space("dialogue", "scene", "scene", "the scene's raw turns")
ITEM = Space("item", "item", "item", "content + query patterns + keywords + anchors")
ENTITY = Space("entity", "trigger", "item", "an Entity trigger's concept", "entity")
BRIDGE = Space("bridge", "trigger", "item", "a Bridge trigger's 'cue -> inference'", "bridge")
SCENE_TRIGGER = Space("scene_trigger", "trigger", "scene", "a Scene trigger's facet", "scene")
HORIZON = Space("horizon", "trigger", "scene", "a Horizon trigger's sentence", "horizon")

SPACES: tuple[Space, ...] = (
    TURN,
    CONTEXT,
    SCENE,
    DIALOGUE,
    ITEM,
    ENTITY,
    BRIDGE,
    SCENE_TRIGGER,
    HORIZON,
)
SPACE_NAMES: tuple[str, ...] = tuple(space.name for space in SPACES)

TRIGGER_SPACES: dict[Family, Space] = {
    space.family: space for space in SPACES if space.family is not None
}
"""The space each trigger family is embedded in (a Scene trigger lives in ``scene_trigger``)."""


ITEM_TRIGGER_FAMILIES: tuple[Family, ...] = tuple(
    space.family for space in SPACES if space.family is not None and space.kind == "item"
)
"""Entity and Bridge: the families whose triggers point at items and merge by fuzzy text."""


def trigger_space(family: Family) -> str:
    """The space name the triggers of ``family`` are embedded in."""
    return TRIGGER_SPACES[family].name


# --- channels ----------------------------------------------------------------------------------
DENSE = "dense"
BM25 = "bm25"
RERANK = "rerank"
"""Appended to ``reached_by`` when the cross-encoder reordered the hits."""
HYBRID = "hybrid"
"""The evaluation baselines' RRF fusion of ``bm25`` and ``dense``."""


@dataclass(frozen=True)
class Channel:
    """One ranked candidate list over one memory kind.

    ``space`` is the vector space searched by cosine; None means full-text (BM25) search over
    the kind's text. A channel whose space belongs to a trigger family ranks the memories its
    triggers point at and is named after that family.
    """

    name: str
    """Reported in ``Hit.reached_by``; never change it."""
    kind: Kind
    space: Space | None
    how: How
    candidates: str

    @property
    def family(self) -> Family | None:
        """The trigger family this channel reads, or None."""
        return None if self.space is None else self.space.family

    @property
    def lexical(self) -> bool:
        return self.space is None


CHANNELS: tuple[Channel, ...] = (
    Channel(DENSE, "turn", TURN, "descriptive", "cosine to the turn's own text"),
    Channel(CONTEXT.name, "turn", CONTEXT, "descriptive", "cosine to the turn with neighbours"),
    Channel(BM25, "turn", None, "descriptive", "BM25 over the turn text"),
    Channel(DENSE, "scene", SCENE, "descriptive", "cosine to title + summary + narrative"),
    Channel(DIALOGUE.name, "scene", DIALOGUE, "descriptive", "cosine to the scene's raw turns"),
    Channel(BM25, "scene", None, "descriptive", "BM25 over the scene text"),
    Channel("scene", "scene", SCENE_TRIGGER, "descriptive", "Scene triggers, gated cosine"),
    Channel("horizon", "scene", HORIZON, "associative", "Horizon triggers, gated cosine"),
    Channel(DENSE, "item", ITEM, "descriptive", "cosine to the item text"),
    Channel(BM25, "item", None, "descriptive", "BM25 over the item text"),
    Channel("entity", "item", ENTITY, "associative", "Entity triggers, gated cosine"),
    Channel("bridge", "item", BRIDGE, "associative", "Bridge triggers, gated cosine"),
)
"""Every channel, in the order the read path gathers them per kind."""

TRIGGER_CHANNELS: frozenset[str] = frozenset(c.name for c in CHANNELS if c.family is not None)
"""Channel names that are trigger families; ``reached_by`` shows their labels instead."""


def raw_score_name(channel: str) -> str:
    """What :attr:`tmem.models.ChannelEvidence.score` measures for ``channel``."""
    if channel == BM25:
        return "bm25"
    if channel == RERANK:
        return "cross-encoder"
    if channel in TRIGGER_CHANNELS:
        return "cosine x confidence"
    return "cosine"


def channels_of(kind: Kind) -> tuple[Channel, ...]:
    """The channels that rank memories of ``kind``, in gathering order."""
    return tuple(channel for channel in CHANNELS if channel.kind == kind)
