"""The wire format: request bodies the service accepts and the shapes it answers with.

Requests are strict: unknown fields, wrong JSON types, NUL characters, lone UTF-16 surrogates,
oversized strings or lists and malformed timestamps are all rejected with 422 before tmem sees
them. Responses reuse :func:`tmem.serialize.to_dict`, so field names match the Python objects.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from tmem.errors import InputError
from tmem.validate import (
    MAX_CONTENT_CHARS,
    MAX_ID_CHARS,
    MAX_INSTRUCTIONS_CHARS,
    MAX_PERSONA_KEY_CHARS,
    MAX_PERSONA_VALUE_CHARS,
    MAX_SPEAKER_CHARS,
    MAX_USER_ID_CHARS,
    clamp_limit,
    parse_timestamp,
)
from tmem.validate import (
    MAX_LIMIT as MAX_LIMIT,  # re-exported: ``limit`` values are clamped into 1..MAX_LIMIT
)

MAX_MESSAGES = 1000
"""Messages per add request; more must be split over several requests."""
MAX_QUERY_CHARS = 10_000


def clean_text(value: str) -> str:
    """Reject text that no store can hold or return faithfully."""
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("contains a lone UTF-16 surrogate (not valid Unicode)") from None
    return value


def _timestamp(value: str) -> str:
    try:
        parse_timestamp(value)
    except InputError as error:
        raise ValueError(str(error)) from None
    return value


Text = Annotated[str, AfterValidator(clean_text)]
Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS), AfterValidator(clean_text)]
UserId = Annotated[
    str, Field(min_length=1, max_length=MAX_USER_ID_CHARS), AfterValidator(clean_text)
]
Timestamp = Annotated[str, Field(max_length=64), AfterValidator(_timestamp)]


class Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class MessageIn(Wire):
    """One message; ``role`` may stand in for ``speaker`` (OpenAI-style chat logs)."""

    speaker: Annotated[Text, Field(max_length=MAX_SPEAKER_CHARS)] | None = None
    role: Annotated[Text, Field(max_length=MAX_SPEAKER_CHARS)] | None = None
    content: Annotated[Text, Field(min_length=1, max_length=MAX_CONTENT_CHARS)]
    timestamp: Timestamp | None = None
    id: Id | None = None

    @model_validator(mode="after")
    def _has_speaker(self) -> MessageIn:
        if not (self.speaker or self.role):
            raise ValueError("a message needs a speaker (or a role)")
        return self

    def to_library(self) -> dict[str, Any]:
        """The message as :meth:`tmem.Memory.add` takes it."""
        data: dict[str, Any] = {"speaker": self.speaker or self.role, "content": self.content}
        if self.timestamp is not None:
            data["timestamp"] = self.timestamp
        if self.id is not None:
            data["id"] = self.id
        return data


class AddRequest(Wire):
    user_id: UserId
    messages: Annotated[list[MessageIn], Field(min_length=1, max_length=MAX_MESSAGES)]
    session_id: Id | None = None
    derive: bool = True
    """Full mode: derive now, or (false) store and group now and derive on the next reindex."""


class SearchRequest(Wire):
    user_id: UserId
    query: Annotated[Text, Field(max_length=MAX_QUERY_CHARS)]
    limit: int = 10
    min_similarity: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] | None = None
    """Only memories some embedding channel scored at least this cosine (see
    :meth:`tmem.Memory.search`); absent or null cuts nothing."""

    @property
    def clamped_limit(self) -> int:
        return clamp_limit(self.limit)


class ReindexRequest(Wire):
    user_id: UserId


class AnswerRequest(Wire):
    user_id: UserId
    question: Annotated[Text, Field(min_length=1, max_length=MAX_QUERY_CHARS)]
    include_flagged: bool = False
    """Show memories flagged as injected instructions, fenced as untrusted data (issue 20)."""


class ReviewRequest(Wire):
    """An operator's verdict on a memory's injection flag (issue 20)."""

    user_id: UserId
    verdict: Literal["confirm", "clear"]
    note: Annotated[Text, Field(max_length=2000)] = ""


class UpdateRequest(Wire):
    content: Annotated[Text, Field(min_length=1, max_length=MAX_CONTENT_CHARS)]


PersonaValue = Annotated[Text, Field(min_length=1, max_length=MAX_PERSONA_VALUE_CHARS)]


class PersonaSetRequest(Wire):
    """A persona entry written by hand into its slot (new, or the one already there)."""

    user_id: UserId
    speaker: Annotated[Text, Field(min_length=1, max_length=MAX_SPEAKER_CHARS)]
    section: Literal["identity", "preferences", "traits", "relations"]
    key: Annotated[Text, Field(min_length=1, max_length=MAX_PERSONA_KEY_CHARS)]
    value: PersonaValue
    pinned: bool | None = None


class PersonaEditRequest(Wire):
    """A persona entry's new value written by hand, and/or its pin."""

    value: PersonaValue | None = None
    pinned: bool | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> PersonaEditRequest:
        if self.value is None and self.pinned is None:
            raise ValueError("give a value, pinned, or both")
        return self


class InstructionsRequest(Wire):
    """A user's extraction instructions (``""`` removes them)."""

    user_id: UserId
    instructions: Annotated[Text, Field(max_length=MAX_INSTRUCTIONS_CHARS)]


# --- responses ---------------------------------------------------------------------------------
class RiskReasonOut(BaseModel):
    code: str
    start: int
    end: int


class RiskOut(BaseModel):
    flagged: bool = False
    reasons: list[RiskReasonOut] = Field(default_factory=list)


class TriggerMatchOut(BaseModel):
    id: str
    label: str
    text: str
    cosine: float
    confidence: float


class ChannelEvidenceOut(BaseModel):
    channel: str
    rank: int
    score: float
    contribution: float
    triggers: list[TriggerMatchOut] = Field(default_factory=list)


class HitOut(BaseModel):
    id: str
    kind: Literal["turn", "scene", "item"]
    text: str
    score: float
    timestamp: str | None
    source_turns: list[str]
    reached_by: list[str]
    risk: RiskOut = Field(default_factory=lambda: RiskOut())
    explain: list[ChannelEvidenceOut] = Field(default_factory=list)
    """How each channel ranked the hit (``tmem.models.ChannelEvidence``)."""


class SearchResponse(BaseModel):
    hits: list[HitOut]


class JobAccepted(BaseModel):
    job_id: str


class JobOut(BaseModel):
    id: str
    kind: str
    status: Literal["queued", "running", "done", "failed"]
    attempts: int
    created_at: str
    updated_at: str
    run_at: str
    result: dict[str, Any] | None = None
    error: str = ""


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class Deleted(BaseModel):
    deleted: str
    rows: int


class InstructionsOut(BaseModel):
    instructions: str


class UserDeleted(BaseModel):
    user_id: str
    rows: int
