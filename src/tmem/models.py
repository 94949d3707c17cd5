"""tmem's domain objects: what goes in, what is stored, what comes back.

This module imports nothing from the rest of tmem, so every other module can import it without
cycles. All objects are frozen dataclasses; timestamps are timezone-aware ``datetime`` values
(UTC when the caller gave no zone).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Literal, TypeVar

T = TypeVar("T")

Kind = Literal["turn", "scene", "item"]
KINDS: tuple[Kind, ...] = ("turn", "scene", "item")

Family = Literal["entity", "bridge", "scene", "horizon"]
FAMILIES: tuple[Family, ...] = ("entity", "bridge", "scene", "horizon")

# Scene trigger facets (descriptive, Q IV) and Horizon channels (associative, Q III).
SCENE_FACETS: tuple[str, ...] = ("situation", "object", "event", "emotion")
HORIZON_CHANNELS: tuple[str, ...] = (
    "PERSONAL_ARC",
    "AVOIDANCE_HABIT",
    "GOAL_ARC",
    "BELIEF_IN_ACTION",
    "LEGACY_ANCHOR",
)

Status = Literal["active", "superseded"]
Mode = Literal["llm-free", "full"]


@dataclass(frozen=True)
class Message:
    """One message as a caller hands it to :meth:`tmem.Memory.add`.

    ``timestamp`` is optional; a message without one is stamped at ingestion time.
    ``id`` is optional; tmem generates one when missing and reports it in ``source_turns``.
    """

    speaker: str
    content: str
    timestamp: datetime | None = None
    id: str | None = None


@dataclass(frozen=True)
class Turn:
    """A stored message: the raw evidence every derived memory rests on."""

    id: str
    user_id: str
    session_id: str
    seq: int
    speaker: str
    content: str
    timestamp: datetime

    kind: Kind = field(default="turn", init=False)

    @property
    def text(self) -> str:
        return f"{self.speaker}: {self.content}"

    @property
    def source_turns(self) -> tuple[str, ...]:
        return (self.id,)


@dataclass(frozen=True)
class Provenance:
    """Where a derived object came from: ``prompt_id@version`` and model, or ``heuristic``."""

    method: str
    model: str = ""


HEURISTIC = Provenance(method="heuristic")


@dataclass(frozen=True)
class Scene:
    """A cohesive exchange: a title, a summary and a third-person narrative over its turns."""

    id: str
    user_id: str
    title: str
    summary: str
    narrative: str
    timestamp: datetime
    source_turns: tuple[str, ...]
    session_ids: tuple[str, ...]
    participants: tuple[str, ...] = ()
    provenance: Provenance = HEURISTIC

    kind: Kind = field(default="scene", init=False)

    @property
    def text(self) -> str:
        return self.narrative or self.summary or self.title


def is_plain_scene(record: object) -> bool:
    """A scene grouped without a model (:data:`HEURISTIC` provenance): never evidence.

    "Waiting to be derived" shows in three places, written together: the stored turn's
    ``pending`` flag (what ``reindex`` derives; kept by the store), the plain scene that holds
    the turn until a model derives a real one (this predicate), and the turn's ``context``
    vector, embedded from the plain grouping (kept for life; recomputed by
    :func:`tmem.ingest.vectors.waiting_vectors` when a deletion sends turns back to waiting).
    """
    return isinstance(record, Scene) and record.provenance.method == HEURISTIC.method


@dataclass(frozen=True)
class Item:
    """A single fact anchored to the scene(s) it came from.

    ``temporal`` is written "relative (absolute)", e.g. "last Tuesday (July 18, 2023)".
    ``status`` is ``superseded`` once a newer, contradicting fact replaced it; ``superseded_by``
    then names that fact.
    """

    id: str
    user_id: str
    content: str
    timestamp: datetime
    scene_ids: tuple[str, ...]
    source_turns: tuple[str, ...]
    temporal: str = ""
    spatial: str = ""
    keywords: tuple[str, ...] = ()
    query_patterns: tuple[str, ...] = ()
    status: Status = "active"
    superseded_by: str | None = None
    provenance: Provenance = HEURISTIC

    kind: Kind = field(default="item", init=False)

    @property
    def text(self) -> str:
        return self.content


Record = Turn | Scene | Item


def evidence_text(record: Record) -> str:
    """The text an answering model sees for a memory: an item with its time and place, a
    scene's narrative (or summary), a turn as "speaker: content"."""
    if isinstance(record, Item):
        parts = [record.content]
        if record.temporal:
            parts.append(f"Time: {record.temporal}")
        if record.spatial:
            parts.append(f"Location: {record.spatial}")
        return "\n".join(parts)
    if isinstance(record, Scene):
        return record.narrative or record.summary
    return record.text


@dataclass(frozen=True)
class Trigger:
    """A write-time rehearsal of a future context in which a memory will be needed.

    Triggers decide how a memory is reached; they are never shown to the answering model.

    ``family`` is one of entity / bridge (they point at items) or scene / horizon (they point at
    scenes). ``facet`` is the Scene facet (situation, object, event, emotion) or the Horizon
    channel (PERSONAL_ARC, ...); empty for Entity and Bridge. ``targets`` maps each memory id the
    trigger reaches to the confidence of that edge.
    """

    id: str
    user_id: str
    family: Family
    text: str
    targets: tuple[tuple[str, float], ...]
    facet: str = ""
    provenance: Provenance = HEURISTIC

    @property
    def label(self) -> str:
        """The name shown in ``Hit.reached_by``: ``entity`` or ``horizon:GOAL_ARC``."""
        return (
            f"{self.family}:{self.facet}"
            if self.family == "horizon" and self.facet
            else self.family
        )


@dataclass(frozen=True)
class RiskReason:
    """One sign of an injected instruction, found by the offline detector.

    Attributes:
        code: a short code naming the sign, e.g. ``override``, ``role_marker``, ``hidden_text``
            (the full list is in ``tmem.safety.patterns.CODES``).
        start: where the sign begins in the assessed text (a character offset).
        end: where it ends (exclusive).
    """

    code: str
    start: int
    end: int


@dataclass(frozen=True)
class RiskAssessment:
    """Whether a text looks like an instruction aimed at the answering model, and why.

    ``flagged`` is true exactly when ``reasons`` is not empty. Assessing never alters the text.

    Attributes:
        flagged: the text should be kept out of the answer prompt unless the caller opts in.
        reasons: the signs that led to the flag, in text order.
    """

    flagged: bool = False
    reasons: tuple[RiskReason, ...] = ()

    @property
    def codes(self) -> tuple[str, ...]:
        """The distinct reason codes, in first-seen order."""
        return tuple(dict.fromkeys(reason.code for reason in self.reasons))


SAFE = RiskAssessment()

RiskStatus = Literal["flagged", "confirmed", "cleared"]
RISK_STATUSES: tuple[RiskStatus, ...] = ("flagged", "confirmed", "cleared")


@dataclass(frozen=True)
class RiskFlag:
    """One entry of a memory's flag history: the detector's flag or an operator's review.

    The newest entry is the memory's current state. A write adds the detector's entry
    (version 1) only when the memory has none yet, so an operator's review is never undone by
    a later write.

    Attributes:
        memory_id: the flagged turn, scene or item.
        status: ``flagged`` (by the detector), ``confirmed`` or ``cleared`` (by an operator).
        reasons: the detector's reasons; derived memories carry ``source_turn`` reasons for
            flagged turns they rest on (spans ``0, 0``: the sign is in the turn, not here).
        at: when the entry was made.
        source: who made it: the detector's id (``injection@1``) or ``operator``.
        note: an operator's note.
        version: 1 for the first entry, then counting up.
    """

    memory_id: str
    status: RiskStatus
    reasons: tuple[RiskReason, ...]
    at: datetime
    source: str = ""
    note: str = ""
    version: int = 1

    @property
    def flagged(self) -> bool:
        """Whether the memory is kept out of the answer prompt by default."""
        return self.status != "cleared"

    def assessment(self) -> RiskAssessment:
        """The current state as a :class:`RiskAssessment` (cleared flags read as safe)."""
        if not self.flagged:
            return SAFE
        return RiskAssessment(True, self.reasons or (RiskReason(self.source or "operator", 0, 0),))


@dataclass(frozen=True)
class TriggerMatch:
    """One trigger that reached a memory in a search: it passed the cosine gate.

    Attributes:
        id: the trigger's id.
        label: its family, with the Horizon channel spelled out (``entity``, ``bridge``,
            ``scene``, ``horizon:GOAL_ARC``), as ``Hit.reached_by`` shows it.
        text: what the model wrote at ingest (an Entity concept, a Bridge ``cue -> inference``,
            a Scene facet, a Horizon sentence). Never evidence: only this explanation shows it.
        cosine: the cosine between the query and the trigger text.
        confidence: the model's confidence in the edge from the trigger to this memory; the
            trigger ranks the memory by ``cosine * confidence``.
    """

    id: str
    label: str
    text: str
    cosine: float
    confidence: float


@dataclass(frozen=True)
class ChannelEvidence:
    """How one channel ranked a hit: the detail behind one name in ``Hit.reached_by``.

    Attributes:
        channel: the channel's name (``dense``, ``context``, ``bm25``, ``dialogue``, ``entity``,
            ``bridge``, ``scene``, ``horizon``; ``rerank`` for the cross-encoder), searched over
            the hit's own kind (``dense`` over a scene is the scene-text cosine).
        rank: the hit's rank in that channel's candidates, from 1.
        score: the channel's raw score: the BM25 score for ``bm25`` (larger is better; SQLite's
            and Postgres' scales differ), the cosine to the query for ``dense``, ``context`` and
            ``dialogue``, the best ``cosine * confidence`` of the matching triggers for a trigger
            channel, the cross-encoder's score for ``rerank``.
        contribution: what this rank added to the memory's fused score, ``weight / (k + rank)``
            (weight 1 unless the adaptive fusion set it; 0 for ``rerank``, whose score replaces
            the fused one).
        triggers: for a trigger channel, the triggers that matched, best first.
    """

    channel: str
    rank: int
    score: float
    contribution: float
    triggers: tuple[TriggerMatch, ...] = ()


@dataclass(frozen=True)
class Hit:
    """One search result.

    Attributes:
        id: the memory's id (a scene, an item, or a turn in LLM-free mode).
        kind: ``scene``, ``item`` or ``turn``.
        text: the evidence text an answering model would see.
        score: the fused score; larger is better; comparable within one result list only. In
            LLM-free mode it is the reciprocal rank fusion of the channels, the sum of
            ``explain``'s contributions; in full mode ``1 / (k + rank)`` of the merged rank
            (see ``docs/architecture.md``, *Scores*).
        timestamp: when the memory happened (ISO 8601), if known.
        source_turns: ids of the original messages the memory rests on.
        reached_by: the channels and triggers that brought it back, e.g. ``("dense", "bm25",
            "horizon:GOAL_ARC")``.
        explain: the same channels in detail, best rank first: each one's rank, raw score and
            contribution to the fused score, and for a trigger channel the trigger texts that
            matched with their cosines.
    """

    id: str
    kind: Kind
    text: str
    score: float
    timestamp: str | None
    source_turns: tuple[str, ...]
    reached_by: tuple[str, ...]
    risk: RiskAssessment = SAFE
    """Whether the memory looks like an injected instruction (see ``tmem.safety``); flagged hits
    are left out of ``answer()`` unless the caller opts in."""
    explain: tuple[ChannelEvidence, ...] = ()


@dataclass(frozen=True)
class Usage:
    """LLM calls and tokens spent."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.calls + other.calls,
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Failure:
    """A write-path step that failed after its retries; the raw turns were stored regardless."""

    stage: str
    error: str
    prompt_id: str = ""
    turn_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class IngestReport:
    """What one :meth:`tmem.Memory.add` call wrote and spent."""

    user_id: str
    session_id: str
    mode: Mode
    turns: int
    scenes: int
    items: int
    triggers: dict[str, int]
    superseded: int
    usage: Usage
    failures: tuple[Failure, ...] = ()
    turn_ids: tuple[str, ...] = ()
    rejected_triggers: int = 0
    """Trigger texts dropped as copies of the dialogue or restatements of their fact."""
    rejected_items: int = 0
    """Extracted facts dropped as echoes of the prompt's own examples."""

    @property
    def llm_calls(self) -> int:
        return self.usage.calls

    @property
    def tokens(self) -> int:
        return self.usage.tokens

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class Answer:
    """An answer from :meth:`tmem.Memory.answer` with the evidence it used.

    Attributes:
        hits: the memories shown to the answering model (flagged ones fenced as untrusted).
        excluded: flagged memories retrieved but kept out of the prompt (see ``tmem.safety``).
    """

    text: str
    hits: tuple[Hit, ...]
    usage: Usage
    excluded: tuple[Hit, ...] = ()


HistoryEvent = Literal["created", "updated", "superseded", "deleted", "pinned", "unpinned"]
"""``pinned`` and ``unpinned`` are persona entries' (their text is empty: a pin changes none)."""


@dataclass(frozen=True)
class HistoryEntry:
    """One change to a memory or persona entry, oldest first in :meth:`tmem.Memory.history`.

    A persona entry's ``created`` and ``updated`` entries name who wrote the text in
    ``detail``: ``model`` (an extraction) or ``hand``.
    """

    memory_id: str
    version: int
    event: HistoryEvent
    text: str
    at: datetime
    detail: str = ""


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing (:meth:`tmem.Memory.list_page`, ``history_page``, ``export_page``).

    Pass ``next_cursor`` back as ``cursor`` for the next page; it is None on the last page. A
    walk never repeats a record, nor skips one that was stored before it began and is still
    there when its page is read, whatever is added, changed or deleted meanwhile.
    """

    items: tuple[T, ...]
    next_cursor: str | None = None


@dataclass(frozen=True)
class PersonaProfile:
    """Standing traits of one speaker, merged incrementally across ingests.

    Each section maps a key (e.g. ``occupation`` or ``hobbies``) to values, newest last.
    """

    user_id: str
    speaker: str
    identity: tuple[tuple[str, str], ...] = ()
    preferences: tuple[tuple[str, tuple[str, ...]], ...] = ()
    traits: tuple[tuple[str, tuple[str, ...]], ...] = ()
    relations: tuple[tuple[str, str], ...] = ()
    updated_at: datetime | None = None
    sources: tuple[tuple[str, str, str, tuple[str, ...]], ...] = ()
    """The turns each entry rests on, as ``(section, key, value, turn ids)``, so forgetting a
    turn can remove the entries it stated. Entries stored before tmem recorded sources have
    none."""


PersonaSection = Literal["identity", "preferences", "traits", "relations"]
PERSONA_SECTIONS: tuple[PersonaSection, ...] = ("identity", "preferences", "traits", "relations")
PersonaOrigin = Literal["model", "hand"]
"""Who wrote a persona entry's current text: an extraction (``model``) or a person (``hand``)."""


@dataclass(frozen=True)
class PersonaEntry:
    """One stored statement about a speaker: an identity value, one preference or trait, or a
    relation. :meth:`tmem.Memory.persona` lists them; :func:`tmem.persona.profiles` groups
    them into the :class:`PersonaProfile` text the answering model reads.

    Attributes:
        id: the entry's id (``per_...``); its history is :meth:`tmem.Memory.history`'s.
        speaker: whom it is about.
        section: ``identity`` (one value per key), ``preferences`` or ``traits`` (several
            values per key), ``relations`` (one description per person).
        key: the identity, preference or trait key (``occupation``, ``hobbies``), or the
            related person's name.
        value: the value, or the relation's description.
        source_turns: the turns an extraction stated it in. Deleting one of them erases a
            model-written entry (pinned or not); a hand-written entry stays, since its text is
            not the model's, and only drops the turn.
        pinned: re-derivation never overwrites, evicts or removes it.
        origin: ``model`` (written by an extraction) or ``hand`` (written or edited by hand;
            protected from re-derivation like a pinned entry).
        created_at: when it was first stored.
        updated_at: when its text, pin or source turns last changed.
        position: its place among the speaker's entries (the order the answer model reads).
    """

    id: str
    user_id: str
    speaker: str
    section: PersonaSection
    key: str
    value: str
    source_turns: tuple[str, ...]
    pinned: bool
    origin: PersonaOrigin
    created_at: datetime
    updated_at: datetime
    position: int = 0

    @property
    def protected(self) -> bool:
        """Whether re-derivation must leave it as it is (pinned, or written by hand)."""
        return self.pinned or self.origin == "hand"

    @property
    def text(self) -> str:
        return f"{self.key}: {self.value}"
