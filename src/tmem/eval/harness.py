"""The shared machinery of a benchmark run: systems under test, records, scratch space.

A :class:`Harness` holds what every system in a run shares (config, embedder, the cached LLM,
a scratch directory); :func:`build_system` builds one system over one conversation; records
collect per-question scores for :mod:`tmem.eval.report`.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from tmem.config import Config
from tmem.embed.base import Embedder
from tmem.embed.factory import build_embedder
from tmem.errors import EvalError
from tmem.eval.baselines import BASELINES, build_turn_index, embed_texts, turn_texts
from tmem.eval.libraries import Shelf, built_library, copy_sqlite, remove_sqlite
from tmem.eval.locomo import Message
from tmem.eval.metrics import retrieval_scores
from tmem.eval.qa import Judgement
from tmem.eval.systems import (
    SYSTEMS,
    BaselineSystem,
    FullContextSystem,
    IngestStats,
    MemoryFactory,
    MemoryLike,
    Sessions,
    System,
    TmemSystem,
    ingest_sessions,
    open_memory,
)
from tmem.llm.base import LLM
from tmem.llm.cache import CachedLLM
from tmem.llm.factory import build_llm
from tmem.models import Usage
from tmem.spaces import BM25

Mode = Literal["retrieval", "qa"]
SEARCH_LIMIT = 50


@dataclass(frozen=True)
class QuestionRecord:
    """One question's outcome for one system."""

    system: str
    id: str
    group: str
    scores: dict[str, float]
    latency_ms: float | None = None
    usage: Usage = field(default_factory=Usage)
    prediction: str = ""
    judge_labels: tuple[str | None, ...] = ()
    subsets: tuple[str, ...] = ()
    """Named subsets the record belongs to; the report averages each one separately."""


@dataclass
class SystemRun:
    """Everything measured for one system across a benchmark run."""

    name: str
    records: list[QuestionRecord] = field(default_factory=list)
    ingest: IngestStats = field(default_factory=IngestStats)
    judge_usage: Usage = field(default_factory=Usage)
    judge_failures: int = 0
    context_tokens: list[int] = field(default_factory=list)


@dataclass
class Harness:
    """The shared pieces of one run: settings, models, scratch directory."""

    config: Config
    mode: Mode
    embedder: Embedder
    llm: LLM | None
    workdir: Path
    progress: bool
    memory_factory: MemoryFactory
    judge_runs: int = 1
    libraries: Path | None = None
    """Where base libraries outlive the run, to be reused by later runs (None: scratch only)."""
    vectors: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    """Guards the counters that QA-mode worker threads update."""

    def turn_vectors(self, key: str, messages: Sequence[Message]) -> npt.NDArray[np.float32]:
        """The turn embeddings of one conversation, computed once per run."""
        found = self.vectors.get(key)
        if found is None:
            found = self.vectors[key] = embed_texts(self.embedder, turn_texts(messages))
        return found

    def judge(self, run: SystemRun, grade: Callable[[LLM, int], Judgement]) -> list[Judgement]:
        """Call ``grade(llm, run_number)`` once per judge run, charging usage and parse
        failures to ``run``."""
        verdicts = [grade(self.judge_llm(), number) for number in range(self.judge_runs)]
        with self.lock:
            for verdict in verdicts:
                run.judge_usage = run.judge_usage + verdict.usage
                run.judge_failures += int(verdict.parse_failed)
        return verdicts

    @property
    def shelf(self) -> Shelf:
        """Where this run keeps base libraries, and what names them."""
        return Shelf(self.libraries, self.config, self.embedder.name, self.memory_factory)

    def judge_llm(self) -> LLM:
        if self.llm is None:
            raise EvalError("QA mode needs an LLM: configure one, or use retrieval mode")
        return self.llm


def select_conversations(
    samples: Sequence[Mapping[str, Any]], indexes: Sequence[int] | None
) -> list[Mapping[str, Any]]:
    """The samples at ``indexes`` (all when None), in the order given.

    Raises:
        EvalError: an index is out of range.
    """
    if indexes is None:
        return list(samples)
    bad = [i for i in indexes if not 0 <= i < len(samples)]
    if bad:
        raise EvalError(f"conversation index {bad[0]} out of range 0..{len(samples) - 1}")
    return [samples[i] for i in indexes]


def check_systems(systems: Sequence[str]) -> tuple[str, ...]:
    """Validate system names against :data:`SYSTEMS`, dropping repeats."""
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        raise EvalError(f"unknown system {unknown[0]!r}; choose from {', '.join(SYSTEMS)}")
    return tuple(dict.fromkeys(systems))


@contextmanager
def open_harness(
    config: Config,
    mode: Mode,
    out_dir: Path,
    progress: bool,
    *,
    embedder: Embedder | None = None,
    llm: LLM | None = None,
    memory_factory: MemoryFactory | None = None,
    judge_runs: int = 1,
    libraries: Path | None = None,
) -> Iterator[Harness]:
    """Build the embedder and the cached LLM, and a scratch directory removed afterwards.

    ``libraries``, when given, is a directory kept across runs for libraries that may be
    reused (see :mod:`tmem.eval.libraries`); it is created if missing.
    """

    if judge_runs < 1:
        raise EvalError("judge_runs must be at least 1")
    out_dir.mkdir(parents=True, exist_ok=True)
    if libraries is not None:
        libraries.mkdir(parents=True, exist_ok=True)
    embedder = embedder or build_embedder(config.embedder)
    inner = llm or build_llm(config.llm)
    if mode == "qa" and inner is None:
        raise EvalError("QA mode needs an LLM: configure one, or use --mode retrieval")
    cached = _cached(inner, out_dir)
    try:
        with tempfile.TemporaryDirectory(prefix="tmem-bench-") as scratch:
            workdir = Path(scratch)

            def default_factory(path: Path, now: datetime) -> MemoryLike:
                return open_memory(path, config, embedder, cached, now)

            factory = memory_factory or default_factory
            yield Harness(
                config, mode, embedder, cached, workdir, progress, factory, judge_runs, libraries
            )
    finally:
        if cached is not None and hasattr(cached, "close"):
            cached.close()


def _cached(inner: LLM | None, out_dir: Path) -> LLM | None:
    if inner is None:
        return None

    return CachedLLM(inner, out_dir / "llm-cache.sqlite")


def progress_bar(harness: Harness, total: int, label: str) -> Any:
    """A tqdm bar (disabled when the run is quiet)."""

    return tqdm(total=total, desc=label, disable=not harness.progress, leave=False)


@contextmanager
def build_system(
    harness: Harness,
    name: str,
    sessions: Sessions,
    user_id: str,
    now: datetime,
    run: SystemRun,
) -> Iterator[System]:
    """One system built over ``sessions``; a tmem memory is closed afterwards.

    With ``harness.libraries`` set, tmem searches a copy of a kept library
    (:mod:`tmem.eval.libraries`), built only if no earlier run left one for the same inputs.
    """
    messages = [m for _, session in sessions for m in session]
    if name == "tmem" and harness.libraries is not None:
        scratch = harness.workdir / f"{user_id}-build.sqlite"
        kept = built_library(harness.shelf, run.ingest, sessions, user_id, now, scratch)
        path = harness.workdir / f"{user_id}.sqlite"
        copy_sqlite(kept, path)
        memory = harness.memory_factory(path, now)
        try:
            yield TmemSystem(memory, user_id)
        finally:
            memory.close()
            remove_sqlite(path)
    elif name == "tmem":
        memory = harness.memory_factory(harness.workdir / f"{user_id}.sqlite", now)
        try:
            ingest_sessions(memory, sessions, user_id, run.ingest)
            yield TmemSystem(memory, user_id)
        finally:
            memory.close()
    elif name in BASELINES:
        dense = name != BM25
        vectors = harness.turn_vectors(user_id, messages) if dense else None
        yield BaselineSystem(
            name, build_turn_index(messages, harness.embedder, vectors, dense=dense), harness.llm
        )
    else:
        system = FullContextSystem(tuple(messages), harness.llm)
        run.context_tokens.append(system.context_tokens)
        yield system


def timed_search(system: System, query: str, gold: Sequence[str]) -> tuple[dict[str, float], float]:
    """Retrieval scores for one query and the search latency in milliseconds."""
    start = time.perf_counter()
    hits = system.search(query, SEARCH_LIMIT)
    latency = (time.perf_counter() - start) * 1000
    return retrieval_scores(gold, hits), latency
