"""Run LoCoMo and LoCoMo-Plus against tmem and the baselines, then write the report.

Retrieval mode needs no LLM: every system searches, and gold turns are scored with
:func:`tmem.eval.metrics.retrieval_scores`. QA mode also answers each question and grades the
answer (LLM judge, F1, BLEU-1); LLM calls go through a :class:`tmem.llm.cache.CachedLLM` at
``<out_dir>/llm-cache.sqlite`` so reruns cost nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
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
    select_conversations,
    timed_search,
)
from tmem.eval.locomo import Question, conversation_messages, load_locomo, questions
from tmem.eval.metrics import bleu1, locomo_f1
from tmem.eval.plus import first_per_type, load_plus, query_time, select_split, stitch_all
from tmem.eval.plus_run import run_plus_system
from tmem.eval.qa import judge_answer
from tmem.eval.report import source_state, write_report
from tmem.eval.systems import RETRIEVING, SYSTEMS, MemoryFactory, System
from tmem.llm.base import LLM

# --- LoCoMo ---------------------------------------------------------------------------------


def locomo_questions(sample: Mapping[str, Any], mode: Mode) -> list[Question]:
    """Retrieval scores categories 1-4 with evidence; QA also grades the 4 without evidence."""
    if mode == "qa":
        return [q for q in questions(sample) if q.category in (1, 2, 3, 4)]
    return [q for q in questions(sample) if q.scored]


def run_locomo_conversation(
    harness: Harness, sample: Mapping[str, Any], runs: Mapping[str, SystemRun]
) -> None:
    """Build every system over one conversation and ask it that conversation's questions."""
    sessions = conversation_messages(sample)
    user_id = str(sample.get("sample_id") or "locomo")
    now = query_time(sample)
    asked = locomo_questions(sample, harness.mode)
    for name, run in runs.items():
        with build_system(harness, name, sessions, user_id, now, run) as system:
            if name == "full-context" and harness.mode == "retrieval":
                continue
            ask_all(harness, run, system, asked, now, f"{user_id} {name}")


def ask_all(
    harness: Harness,
    run: SystemRun,
    system: System,
    asked: Sequence[Question],
    now: datetime,
    label: str,
) -> None:
    """Ask every question, keeping their order in ``run.records``.

    Retrieval mode asks one question at a time, so search latencies are not inflated by
    contention. QA mode is bound by LLM round trips and asks ``config.llm.concurrency``
    questions at once.
    """
    bar = progress_bar(harness, len(asked), label)

    def one(question: Question) -> QuestionRecord:
        record = ask(harness, run, system, question, now)
        bar.update(1)
        return record

    workers = harness.config.llm.concurrency if harness.mode == "qa" else 1
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            run.records.extend(pool.map(one, asked))
    else:
        run.records.extend(one(question) for question in asked)
    bar.close()


def ask(
    harness: Harness, run: SystemRun, system: System, question: Question, now: datetime
) -> QuestionRecord:
    """Search (and in QA mode answer and grade) one LoCoMo question."""
    scores: dict[str, float] = {}
    latency = None
    if run.name in RETRIEVING and question.evidence:
        scores, latency = timed_search(system, question.question, question.evidence)
    if harness.mode == "retrieval":
        return QuestionRecord(run.name, question.id, str(question.category), scores, latency)
    prediction, usage = system.answer(question.question, now)
    verdicts = harness.judge(
        run,
        lambda llm, n: judge_answer(llm, question.question, question.answer, prediction, now, n),
    )
    scores["j"] = sum(v.score for v in verdicts) / len(verdicts)
    scores["f1"] = locomo_f1(prediction, question.answer, question.category)
    scores["bleu1"] = bleu1(prediction, question.answer)
    labels = tuple(v.label for v in verdicts)
    group = str(question.category)
    return QuestionRecord(run.name, question.id, group, scores, latency, usage, prediction, labels)


def run_locomo(
    data_path: str | Path,
    conversations: Sequence[int] | None = None,
    mode: Mode = "retrieval",
    systems: Sequence[str] = SYSTEMS,
    out_dir: str | Path = "bench-out",
    config: Config | None = None,
    progress: bool = True,
    *,
    embedder: Embedder | None = None,
    llm: LLM | None = None,
    memory_factory: MemoryFactory | None = None,
    command: str | None = None,
    judge_runs: int = 1,
    libraries: str | Path | None = None,
) -> dict[str, Any]:
    """Run LoCoMo and write ``results.json``, ``questions.jsonl``, ``report.md`` and plots.

    Args:
        data_path: ``locomo10.json`` or a file in its schema.
        conversations: indexes of the conversations to run (all when None).
        mode: ``retrieval`` (no LLM) or ``qa``.
        systems: names from :data:`tmem.eval.systems.SYSTEMS`.
        out_dir: where the report goes (created if missing).
        config: tmem's settings (the embedder and LLM are built from it unless given).
        progress: show progress bars.
        embedder: use this embedder instead of building one.
        llm: use this LLM (wrapped in the cache) instead of building one.
        memory_factory: open something other than :class:`tmem.Memory` for system ``tmem``.
        command: the command line to record.
        judge_runs: independent judge runs per answer in QA mode (scores are averaged).
        libraries: keep tmem's conversation libraries in this directory and reuse those an
            earlier run built from the same inputs (:mod:`tmem.eval.libraries`); the
            LoCoMo-Plus base libraries are the same files.

    Returns:
        The ``results.json`` content.
    """

    started = source_state()
    config = config or Config()
    chosen = check_systems(systems)
    samples = select_conversations(load_locomo(data_path), conversations)
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
        libraries=None if libraries is None else Path(libraries),
    ) as harness:
        for sample in samples:
            run_locomo_conversation(harness, sample, runs)
        meta = {
            "benchmark": "locomo",
            "mode": mode,
            "conversations": conversations,
            "judge_runs": judge_runs,
            "libraries": None if libraries is None else str(libraries),
            **started,
        }
        return write_report(out, runs, harness, meta, command)


# --- LoCoMo-Plus ----------------------------------------------------------------------------


def run_plus(
    data_path: str | Path,
    base_path: str | Path,
    conversations: Sequence[int] | None = None,
    mode: Mode = "retrieval",
    systems: Sequence[str] = SYSTEMS,
    out_dir: str | Path = "bench-out-plus",
    config: Config | None = None,
    progress: bool = True,
    *,
    embedder: Embedder | None = None,
    llm: LLM | None = None,
    memory_factory: MemoryFactory | None = None,
    command: str | None = None,
    judge_runs: int = 1,
    limit: int | None = None,
    per_type: int | None = None,
    split: str | None = None,
    libraries: str | Path | None = None,
) -> dict[str, Any]:
    """Run a LoCoMo-Plus-format file stitched into LoCoMo.

    Each base conversation is built once per system; every item then gets its own copy with
    only its cue session added, and is searched with its trigger text (never stored). Scores
    are by relation type; the gold turns are the item's cue turns.

    Args:
        data_path: the cue/trigger items.
        base_path: ``locomo10.json``; item ``i`` joins conversation ``i % n`` of those chosen.
        conversations: indexes of the base conversations to use (all when None).
        limit: run only the first ``limit`` items.
        per_type: run only the first ``per_type`` items of each relation type (after ``limit``).
        split: run only the items of this half, ``"tune"`` or ``"check"`` (before ``limit``).
        libraries: keep tmem's base libraries in this directory and reuse those an earlier run
            built from the same inputs (:mod:`tmem.eval.libraries`).
        mode, systems, out_dir, config, progress, embedder, llm, memory_factory, command,
            judge_runs: as for :func:`run_locomo`.

    Returns:
        The ``results.json`` content.
    """

    started = source_state()
    config = config or Config()
    chosen = check_systems(systems)
    items = load_plus(data_path)
    if split is not None:
        items = select_split(items, split)
    items = items[:limit]
    if per_type is not None:
        items = first_per_type(items, per_type)
    bases = select_conversations(load_locomo(base_path), conversations)
    stitched = stitch_all(items, bases)
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
        libraries=None if libraries is None else Path(libraries),
    ) as harness:
        for run in runs.values():
            run_plus_system(harness, run, stitched, bases)
        meta = {
            "benchmark": "locomo-plus",
            "mode": mode,
            "conversations": conversations,
            "items": len(stitched),
            "per_type": per_type,
            "split": split,
            "libraries": None if libraries is None else str(libraries),
            "judge_runs": judge_runs,
            **started,
        }
        return write_report(out, runs, harness, meta, command)
