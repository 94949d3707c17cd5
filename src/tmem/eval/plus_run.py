"""One system over every stitched LoCoMo-Plus item, each in its own isolated library.

For ``tmem`` the base conversation's memory is built once into a SQLite file; each item works on
a byte copy of that file (taken after the base memory was closed), adds its cue session to the
copy only, and is searched with its trigger. Baselines reuse the base conversation's turn
embeddings and add the cue turns' own.

With ``harness.libraries`` set, the base libraries are kept and reused across runs
(:mod:`tmem.eval.libraries`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from tmem.eval.baselines import BASELINES, build_turn_index, embed_texts, turn_texts
from tmem.eval.harness import Harness, QuestionRecord, SystemRun, progress_bar, timed_search
from tmem.eval.libraries import built_library, copy_sqlite, remove_sqlite
from tmem.eval.locomo import Message, conversation_messages
from tmem.eval.plus import StitchedItem, query_time
from tmem.eval.qa import judge_awareness
from tmem.eval.systems import (
    RETRIEVING,
    BaselineSystem,
    FullContextSystem,
    System,
    TmemSystem,
    ingest_sessions,
)
from tmem.spaces import BM25


def run_plus_system(
    harness: Harness,
    run: SystemRun,
    items: Sequence[StitchedItem],
    bases: Sequence[Mapping[str, Any]],
) -> None:
    """Evaluate ``run.name`` on every item, appending one record per item."""
    bar = progress_bar(harness, len(items), f"plus {run.name}")
    for item in items:
        with plus_system(harness, run, item, bases) as system:
            if not (run.name == "full-context" and harness.mode == "retrieval"):
                run.records.append(ask_plus(harness, run, system, item))
        bar.update(1)
    bar.close()


def _user_id(base: Mapping[str, Any], index: int) -> str:
    return str(base.get("sample_id") or f"base-{index}")


def _messages(base: Mapping[str, Any]) -> list[Message]:
    return [m for _, session in conversation_messages(base) for m in session]


@contextmanager
def plus_system(
    harness: Harness, run: SystemRun, item: StitchedItem, bases: Sequence[Mapping[str, Any]]
) -> Iterator[System]:
    """The system for one item: its base conversation plus its cue session, nothing else."""
    base = bases[item.base]
    user_id = _user_id(base, item.base)
    if run.name == "tmem":
        with _tmem_copy(harness, run, item, base, user_id) as system:
            yield system
    elif run.name in BASELINES:
        yield _baseline(harness, run.name, item, base, user_id)
    else:
        stitched = sorted([*_messages(base), *item.cue_messages], key=lambda m: m["timestamp"])
        system = FullContextSystem(tuple(stitched), harness.llm)
        run.context_tokens.append(system.context_tokens)
        yield system


@contextmanager
def _tmem_copy(
    harness: Harness, run: SystemRun, item: StitchedItem, base: Mapping[str, Any], user_id: str
) -> Iterator[System]:
    source = _base_library(harness, run, item.base, base, user_id)
    target = harness.workdir / f"item-{item.index}.sqlite"
    copy_sqlite(source, target)
    memory = harness.memory_factory(target, item.query_time)
    try:
        cue = [(item.cue_session_id, item.cue_messages)]
        ingest_sessions(memory, cue, user_id, run.ingest)
        yield TmemSystem(memory, user_id)
    finally:
        memory.close()
        remove_sqlite(target)


def _base_library(
    harness: Harness, run: SystemRun, index: int, base: Mapping[str, Any], user_id: str
) -> Path:
    sessions = conversation_messages(base)
    scratch = harness.workdir / f"base-{index}.sqlite"
    return built_library(harness.shelf, run.ingest, sessions, user_id, query_time(base), scratch)


def _baseline(
    harness: Harness, name: str, item: StitchedItem, base: Mapping[str, Any], user_id: str
) -> BaselineSystem:
    messages = _messages(base)
    stitched = [*messages, *item.cue_messages]
    if name == BM25:
        index = build_turn_index(stitched, harness.embedder, dense=False)
        return BaselineSystem(name, index, harness.llm)
    cue_vectors = embed_texts(harness.embedder, turn_texts(item.cue_messages))
    vectors = np.vstack([harness.turn_vectors(user_id, messages), cue_vectors])
    index = build_turn_index(stitched, harness.embedder, vectors)
    return BaselineSystem(name, index, harness.llm)


def ask_plus(
    harness: Harness, run: SystemRun, system: System, item: StitchedItem
) -> QuestionRecord:
    """Search with the trigger (and in QA mode answer it and judge cue awareness)."""
    scores: dict[str, float] = {}
    latency = None
    if run.name in RETRIEVING:
        scores, latency = timed_search(system, item.query, item.evidence)
    record_id = f"plus/{item.index}"
    if harness.mode == "retrieval":
        return QuestionRecord(run.name, record_id, item.relation_type, scores, latency)
    prediction, usage = system.answer(item.query, item.query_time)
    cue = "\n".join(f"{m['speaker']}: {m['content']}" for m in item.cue_messages)
    verdicts = harness.judge(
        run, lambda llm, n: judge_awareness(llm, cue, prediction, item.query_time, n)
    )
    scores["awareness"] = sum(v.score for v in verdicts) / len(verdicts)
    labels = tuple(v.label for v in verdicts)
    group = item.relation_type
    return QuestionRecord(run.name, record_id, group, scores, latency, usage, prediction, labels)
