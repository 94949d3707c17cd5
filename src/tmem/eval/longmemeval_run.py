"""Run LongMemEval against tmem and the baselines, then write the report.

Every question gets fresh systems: a new tmem store (a SQLite file removed afterwards) and new
baseline indexes, built from that question's haystack alone, sessions in date order with their
dates, and asked at the question's date. Retrieval mode scores the ranking with the official
metrics (:mod:`tmem.eval.longmemeval_metrics`); QA mode also answers and grades the answer with
the official judge prompt for its type (:mod:`tmem.eval.longmemeval_judge`), through the
configured LLM and the run's response cache.

Averages: abstention questions have no retrieval scores, so the overall retrieval means are
over the rest (n = 470 on a full file). The subset ``with_user_evidence`` also leaves out
questions with no marked indexed turn, as the current reference code does (n = 419).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from tmem.config import Config
from tmem.embed.base import Embedder
from tmem.eval.harness import (
    Harness,
    Mode,
    QuestionRecord,
    SystemRun,
    build_system,
    check_systems,
    open_harness,
    progress_bar,
)
from tmem.eval.libraries import remove_sqlite
from tmem.eval.longmemeval import (
    Haystack,
    Instance,
    Roles,
    has_marked_turn,
    haystack,
    load_longmemeval,
    select_instances,
)
from tmem.eval.longmemeval_judge import judge_longmemeval
from tmem.eval.longmemeval_metrics import retrieval_scores
from tmem.eval.metrics import HitLike, expand_to_turns
from tmem.eval.report import source_state, write_report
from tmem.eval.systems import RETRIEVING, SYSTEMS, MemoryFactory, System
from tmem.llm.base import LLM
from tmem.validate import MAX_LIMIT

SEARCH_LIMIT = MAX_LIMIT
"""Hits asked of every system (the most :meth:`tmem.Memory.search` returns): session-level
metrics grow the turn cut-off until it spans ``k`` sessions, so they need a long ranking."""

NOT_ABSTENTION = "all_but_abstention"
WITH_USER_EVIDENCE = "with_user_evidence"
ABSTENTION = "abstention"


def default_roles(mode: Mode) -> Roles:
    """User turns only for retrieval (the official setup); every turn for QA, where the answer
    to a single-session-assistant question lies in what the assistant said."""
    return "user" if mode == "retrieval" else "all"


def subsets(instance: Instance, roles: Roles) -> tuple[str, ...]:
    """The averages a question takes part in."""
    if instance.abstention:
        return (ABSTENTION,)
    if has_marked_turn(instance, roles):
        return (NOT_ABSTENTION, WITH_USER_EVIDENCE)
    return (NOT_ABSTENTION,)


def ranked_official_ids(hits: Sequence[HitLike], stack: Haystack) -> list[str]:
    """The official ids of the turns a search returned, in rank order (scenes and items expand
    to their source turns; ids outside the haystack are dropped)."""
    ids = (stack.official_ids.get(turn) for turn in expand_to_turns(hits))
    return [official for official in ids if official is not None]


def ask(
    harness: Harness,
    run: SystemRun,
    system: System,
    instance: Instance,
    stack: Haystack,
    roles: Roles,
) -> QuestionRecord:
    """Search (and in QA mode answer and judge) one question."""
    scores: dict[str, float] = {}
    latency = None
    if run.name in RETRIEVING and not instance.abstention:
        start = time.perf_counter()
        hits = system.search(instance.question, SEARCH_LIMIT)
        latency = (time.perf_counter() - start) * 1000
        scores = retrieval_scores(ranked_official_ids(hits, stack), stack.corpus)
    record = QuestionRecord(
        run.name,
        instance.question_id,
        instance.question_type,
        scores,
        latency,
        subsets=subsets(instance, roles),
    )
    if harness.mode == "retrieval":
        return record
    prediction, usage = system.answer(instance.question, instance.question_date)
    inputs = {
        "question_type": instance.question_type,
        "abstention": instance.abstention,
        "question": instance.question,
        "answer": instance.answer,
        "response": prediction,
    }
    verdicts = harness.judge(
        run, lambda llm, n: judge_longmemeval(llm, inputs, instance.question_date, n)
    )
    accuracy = sum(v.score for v in verdicts) / len(verdicts)
    labels = tuple(v.label for v in verdicts)
    return replace(
        record,
        scores={**scores, "accuracy": accuracy},
        usage=usage,
        prediction=prediction,
        judge_labels=labels,
    )


def run_question(
    harness: Harness,
    names: Sequence[str],
    instance: Instance,
    position: int,
    roles: Roles,
) -> dict[str, SystemRun]:
    """Build every system over one question's haystack, ask it, and throw the systems away.

    Returns one :class:`SystemRun` per system holding only this question's outcome, so
    questions can run on worker threads and be merged in order. In retrieval mode an
    abstention question is only counted: nothing scores it, so nothing is built for it.
    """
    runs = {name: SystemRun(name) for name in names}
    if harness.mode == "retrieval" and instance.abstention:
        member = subsets(instance, roles)
        for name, run in runs.items():
            if name != "full-context":
                record = QuestionRecord(name, instance.question_id, instance.question_type, {})
                run.records.append(replace(record, subsets=member))
        return runs
    stack = haystack(instance, roles)
    # An opaque user id: the question id would tell the system which questions abstain.
    user_id = f"q{position}"
    try:
        for name, run in runs.items():
            with build_system(
                harness, name, stack.sessions, user_id, instance.question_date, run
            ) as system:
                if name == "full-context" and harness.mode == "retrieval":
                    continue
                run.records.append(ask(harness, run, system, instance, stack, roles))
    finally:
        harness.vectors.pop(user_id, None)
        remove_sqlite(harness.workdir / f"{user_id}.sqlite")
    return runs


def merge_run(total: SystemRun, part: SystemRun) -> None:
    """Add one question's outcome to a system's running totals."""
    total.records.extend(part.records)
    total.ingest.turns += part.ingest.turns
    total.ingest.seconds += part.ingest.seconds
    total.ingest.usage = total.ingest.usage + part.ingest.usage
    total.ingest.failures += part.ingest.failures
    total.judge_usage = total.judge_usage + part.judge_usage
    total.judge_failures += part.judge_failures
    total.context_tokens.extend(part.context_tokens)


def run_all(
    harness: Harness, runs: dict[str, SystemRun], instances: Sequence[Instance], roles: Roles
) -> None:
    """Every question, merged into ``runs`` in file order.

    Retrieval mode runs one question at a time, so search latencies are not inflated by
    contention. QA mode is bound by LLM round trips and runs ``config.llm.concurrency``
    questions at once, each with its own stores.
    """
    bar = progress_bar(harness, len(instances), "longmemeval")

    def one(item: tuple[int, Instance]) -> dict[str, SystemRun]:
        parts = run_question(harness, list(runs), item[1], item[0], roles)
        bar.update(1)
        return parts

    workers = harness.config.llm.concurrency if harness.mode == "qa" else 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for parts in pool.map(one, enumerate(instances)):
            for name, part in parts.items():
                merge_run(runs[name], part)
    bar.close()


def run_longmemeval(
    data_path: str | Path,
    questions: int | None = None,
    types: Sequence[str] | None = None,
    mode: Mode = "retrieval",
    systems: Sequence[str] = SYSTEMS,
    out_dir: str | Path = "bench-out/longmemeval",
    config: Config | None = None,
    progress: bool = True,
    *,
    roles: Roles | None = None,
    embedder: Embedder | None = None,
    llm: LLM | None = None,
    memory_factory: MemoryFactory | None = None,
    command: str | None = None,
    judge_runs: int = 1,
) -> dict[str, Any]:
    """Run a LongMemEval file and write ``results.json``, ``questions.jsonl`` and ``report.md``.

    Args:
        data_path: ``longmemeval_s_cleaned.json`` (or ``_m``, ``_oracle``, or a file in their
            schema).
        questions: run only the first this-many questions (after ``types``).
        types: only these question types (all when None).
        roles: ``user`` indexes user turns only (the official setup), ``all`` every turn (not
            official); by default ``user`` in retrieval mode and ``all`` in QA mode.
        mode, systems, out_dir, config, progress, embedder, llm, memory_factory, command,
            judge_runs: as for :func:`tmem.eval.runner.run_locomo`.

    Returns:
        The ``results.json`` content.
    """

    started = source_state()
    config = config or Config()
    chosen = check_systems(systems)
    roles = roles or default_roles(mode)
    instances = select_instances(load_longmemeval(data_path), types, questions)
    out = Path(out_dir)
    runs = {name: SystemRun(name) for name in chosen}
    with open_harness(
        config,
        mode,
        out,
        progress,
        embedder=embedder,
        llm=llm,
        memory_factory=memory_factory,
        judge_runs=judge_runs,
    ) as harness:
        run_all(harness, runs, instances, roles)
        meta = {
            "benchmark": "longmemeval",
            "mode": mode,
            "roles": roles,
            "official": roles == "user",
            "questions": len(instances),
            "types": list(types) if types else None,
            "judge_runs": judge_runs,
            **started,
        }
        return write_report(out, runs, harness, meta, command)
