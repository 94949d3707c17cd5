"""The systems a benchmark compares, behind one small interface.

A :class:`System` has been given one conversation's messages and answers ``search`` and
``answer`` for it. ``tmem`` is a real :class:`tmem.Memory` in its own SQLite file; ``bm25``,
``dense`` and ``hybrid`` are raw-turn baselines; ``full-context`` retrieves nothing and answers
from the whole conversation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from tmem.clock import FixedClock
from tmem.config import Config
from tmem.embed.base import Embedder
from tmem.errors import LLMUnavailableError
from tmem.eval.baselines import BASELINES, TurnIndex, full_context_tokens
from tmem.eval.locomo import Message
from tmem.eval.qa import answer_from_memories
from tmem.llm.base import LLM
from tmem.memory import Memory
from tmem.models import Answer, Hit, IngestReport, Usage

SYSTEMS: tuple[str, ...] = ("tmem", *BASELINES, "full-context")
RETRIEVING: frozenset[str] = frozenset({"tmem", *BASELINES})
ANSWER_HITS = 10
"""Baselines hand their top this-many turns to the answering model."""


class System(Protocol):
    """One conversation as a system under test sees it."""

    def search(self, query: str, limit: int) -> list[Hit]: ...

    def answer(self, question: str, now: datetime) -> tuple[str, Usage]: ...


class MemoryLike(Protocol):
    """The part of :class:`tmem.Memory` the harness drives (tests may stand in for it)."""

    def add(
        self, messages: Sequence[Message], user_id: str, session_id: str | None = None
    ) -> IngestReport: ...

    def search(self, query: str, user_id: str, limit: int = 10) -> list[Hit]: ...

    def answer(self, question: str, user_id: str) -> Answer: ...

    def close(self) -> None: ...


MemoryFactory = Callable[[Path, datetime], MemoryLike]
"""Opens a fresh memory in a SQLite file with its clock at the given time."""
Sessions = Sequence[tuple[str, Sequence[Message]]]
"""A conversation's sessions in order, each a session id and its messages."""


@dataclass
class IngestStats:
    """What building one system's memory cost."""

    turns: int = 0
    seconds: float = 0.0
    usage: Usage = field(default_factory=Usage)
    failures: int = 0

    def record(self, report: IngestReport, seconds: float) -> None:
        self.turns += report.turns
        self.seconds += seconds
        self.usage = self.usage + report.usage
        self.failures += len(report.failures)


def open_memory(
    path: Path, config: Config, embedder: Embedder, llm: LLM | None, now: datetime
) -> Memory:
    """A fresh :class:`tmem.Memory` in the SQLite file ``path`` with its clock fixed at ``now``."""

    return Memory.open(path, config, embedder=embedder, llm=llm, clock=FixedClock(now))


def ingest_sessions(
    memory: MemoryLike, sessions: Sessions, user_id: str, stats: IngestStats
) -> None:
    """``add`` each session under its own session id, recording time and LLM usage."""
    for session_id, messages in sessions:
        start = time.perf_counter()
        report = memory.add(list(messages), user_id, session_id=session_id)
        stats.record(report, time.perf_counter() - start)


@dataclass
class TmemSystem:
    """A built :class:`tmem.Memory` for one user; ``answer`` calls :meth:`Memory.answer`."""

    memory: MemoryLike
    user_id: str

    def search(self, query: str, limit: int) -> list[Hit]:
        return self.memory.search(query, self.user_id, limit=limit)

    def answer(self, question: str, now: datetime) -> tuple[str, Usage]:
        result = self.memory.answer(question, self.user_id)
        return result.text, result.usage


@dataclass
class BaselineSystem:
    """One raw-turn baseline over a :class:`TurnIndex`."""

    name: str
    index: TurnIndex
    llm: LLM | None

    def search(self, query: str, limit: int) -> list[Hit]:
        return self.index.search(self.name, query, limit)

    def answer(self, question: str, now: datetime) -> tuple[str, Usage]:
        hits = self.search(question, ANSWER_HITS)
        return answer_from_memories(_need(self.llm), question, _memory_lines(hits), now)


@dataclass
class FullContextSystem:
    """No retrieval: the answering model reads the whole conversation."""

    messages: tuple[Message, ...]
    llm: LLM | None

    @property
    def context_tokens(self) -> int:
        return full_context_tokens(self.messages)

    def search(self, query: str, limit: int) -> list[Hit]:
        return []

    def answer(self, question: str, now: datetime) -> tuple[str, Usage]:
        lines = [f"[{m['timestamp']}] {m['speaker']}: {m['content']}" for m in self.messages]
        return answer_from_memories(_need(self.llm), question, lines, now)


def _memory_lines(hits: Sequence[Hit]) -> list[str]:
    return [f"[{hit.timestamp}] {hit.text}" if hit.timestamp else hit.text for hit in hits]


def _need(llm: LLM | None) -> LLM:
    if llm is None:
        raise LLMUnavailableError("QA mode needs an LLM; configure one")
    return llm
