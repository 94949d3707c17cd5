"""Summaries of a run: ``results.json``, ``questions.jsonl`` and ``report.md``.

Every mean is over the questions that have that metric (retrieval metrics exist only for
questions with gold turns; QA metrics only in QA mode), so ``n`` is given next to each group.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from tmem.config import Config
from tmem.eval.harness import Harness, QuestionRecord, SystemRun
from tmem.eval.locomo import CATEGORY_NAMES
from tmem.eval.longmemeval_judge import LONGMEMEVAL_JUDGE
from tmem.eval.markdown import render_markdown
from tmem.eval.plots import write_plots
from tmem.eval.prompts import SPECS
from tmem.eval.result_keys import HEADLINE, group_key
from tmem.llm.cache import CachedLLM
from tmem.llm.prompts import prompt_versions
from tmem.models import Usage


def mean_scores(records: Iterable[QuestionRecord]) -> dict[str, float]:
    """Per metric, the mean over the records that have it, in :data:`HEADLINE` order."""
    totals: dict[str, list[float]] = {}
    for record in records:
        for key, value in record.scores.items():
            totals.setdefault(key, []).append(value)
    ordered = [k for k in HEADLINE if k in totals] + sorted(set(totals) - set(HEADLINE))
    return {key: float(np.mean(totals[key])) for key in ordered}


def group_name(benchmark: str, group: str) -> str:
    if benchmark == "locomo" and group.isdigit():
        return CATEGORY_NAMES.get(int(group), "unknown")
    return group


def by_group(records: Sequence[QuestionRecord], benchmark: str) -> dict[str, dict[str, Any]]:
    """Means per group (file category number for LoCoMo, relation type for LoCoMo-Plus)."""
    groups = sorted({r.group for r in records}, key=lambda g: (not g.isdigit(), g.zfill(4)))
    result = {}
    for group in groups:
        members = [r for r in records if r.group == group]
        result[group] = {
            "name": group_name(benchmark, group),
            "n": len(members),
            **mean_scores(members),
        }
    return result


def latency_summary(records: Sequence[QuestionRecord]) -> dict[str, float | int | None]:
    """p50 and p95 of search latency in milliseconds (``None`` when nothing was searched)."""
    values = [r.latency_ms for r in records if r.latency_ms is not None]
    if not values:
        return {"p50": None, "p95": None, "n": 0}
    p50, p95 = np.percentile(values, [50, 95])
    return {"p50": round(float(p50), 3), "p95": round(float(p95), 3), "n": len(values)}


def _per(total: int, count: int) -> float | None:
    return round(total / count, 4) if count else None


def usage_summary(run: SystemRun) -> dict[str, Any]:
    """LLM calls and tokens per ingested turn and per query, plus judge spending."""
    ingest, turns = run.ingest.usage, run.ingest.turns
    query = sum((r.usage for r in run.records), Usage())
    queries = len(run.records)
    return {
        "ingest_llm_calls": ingest.calls,
        "ingest_tokens": ingest.tokens,
        "ingest_llm_calls_per_turn": _per(ingest.calls, turns),
        "ingest_tokens_per_turn": _per(ingest.tokens, turns),
        "query_llm_calls_per_query": _per(query.calls, queries),
        "query_tokens_per_query": _per(query.tokens, queries),
        "judge_llm_calls": run.judge_usage.calls,
        "judge_tokens": run.judge_usage.tokens,
        "judge_parse_failures": run.judge_failures,
        "context_tokens_mean": (
            round(float(np.mean(run.context_tokens)), 1) if run.context_tokens else None
        ),
    }


def by_subset(records: Sequence[QuestionRecord]) -> dict[str, dict[str, Any]]:
    """Means over each named subset the records declare (none for most benchmarks)."""
    names = dict.fromkeys(name for record in records for name in record.subsets)
    result = {}
    for name in names:
        members = [r for r in records if name in r.subsets]
        result[name] = {"n": len(members), **mean_scores(members)}
    return result


def task_averaged(groups: Mapping[str, Mapping[str, Any]], metric: str) -> float | None:
    """The mean over groups of each group's mean of ``metric`` (``None`` if no group has it)."""
    values = [group[metric] for group in groups.values() if metric in group]
    return float(np.mean(values)) if values else None


def summarize(run: SystemRun, benchmark: str) -> dict[str, Any]:
    """The ``results.json`` entry of one system."""
    groups = by_group(run.records, benchmark)
    extra: dict[str, Any] = {}
    subsets = by_subset(run.records)
    if subsets:
        extra["subsets"] = subsets
    if benchmark == "longmemeval":
        # LongMemEval reports accuracy overall and averaged over question types.
        extra["task_averaged_accuracy"] = task_averaged(groups, "accuracy")
    return {
        "n": len(run.records),
        "overall": mean_scores(run.records),
        group_key(benchmark): groups,
        **extra,
        "latency_ms": latency_summary(run.records),
        "usage": usage_summary(run),
        "ingest": {
            "turns": run.ingest.turns,
            # Baselines index in memory; only systems that ingest report a build time.
            "seconds": round(run.ingest.seconds, 3) if run.ingest.turns else None,
            "failures": run.ingest.failures,
        },
    }


def public_config(config: Config) -> dict[str, Any]:
    """The config as JSON-ready data with API keys and endpoint URLs removed."""
    data = asdict(config)
    for section in ("llm", "embedder"):
        for secret in ("api_key", "base_url"):
            if data[section].get(secret) is not None:
                data[section][secret] = "(set)"
    cleaned: dict[str, Any] = json.loads(json.dumps(data, default=str))
    return cleaned


PACKAGE_DIR = Path(__file__).resolve().parents[1]


def _git(*args: str, cwd: Path = PACKAGE_DIR) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def git_commit(cwd: Path = PACKAGE_DIR) -> str | None:
    """The commit of the checkout tmem runs from (not the caller's directory); None outside git."""
    return _git("rev-parse", "HEAD", cwd=cwd) or None


def git_dirty(cwd: Path = PACKAGE_DIR) -> bool | None:
    """Whether tmem's source has uncommitted changes (results may not match the commit)."""
    status = _git("status", "--porcelain", "--", ".", cwd=cwd)
    return None if status is None else bool(status)


def source_state() -> dict[str, Any]:
    """The checkout's commit and whether it is dirty; taken when a run starts."""
    return {"git_commit": git_commit(), "git_dirty": git_dirty()}


def run_provenance(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The commit a run started on, plus the one at write time when the checkout moved meanwhile."""
    now = source_state()
    started = {key: meta[key] for key in ("git_commit", "git_dirty") if key in meta} or now
    moved = now != started
    return {**started, **({"git_commit_at_write": now["git_commit"]} if moved else {})}


def eval_prompt_versions() -> dict[str, str]:
    """``{prompt id: version}`` for the harness's own prompts (LongMemEval's judge included)."""
    return {spec.id: spec.version for spec in (*SPECS, LONGMEMEVAL_JUDGE)}


def cache_counts(llm: object) -> dict[str, int] | None:
    """How many LLM calls this run replayed from the cache and how many it sent."""

    if not isinstance(llm, CachedLLM):
        return None
    return {"replayed": llm.hits, "sent": llm.misses}


def build_results(
    runs: Mapping[str, SystemRun], harness: Harness, meta: Mapping[str, Any], command: str | None
) -> dict[str, Any]:
    """The ``results.json`` content."""

    benchmark = str(meta.get("benchmark", "locomo"))
    return {
        **meta,
        "systems": {name: summarize(run, benchmark) for name, run in runs.items()},
        "config": public_config(harness.config),
        "config_fingerprint": harness.config.fingerprint(),
        "prompt_versions": {**prompt_versions(), **eval_prompt_versions()},
        "models": {
            "embedder": harness.embedder.name,
            "llm": harness.llm.model if harness.llm is not None else None,
        },
        "llm_cache": cache_counts(harness.llm),
        **run_provenance(meta),
        "command": command,
    }


def write_report(
    out_dir: Path,
    runs: Mapping[str, SystemRun],
    harness: Harness,
    meta: Mapping[str, Any],
    command: str | None,
) -> dict[str, Any]:
    """Write ``results.json``, ``questions.jsonl``, ``report.md`` and the plots; return results."""
    results = build_results(runs, harness, meta, command)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    with (out_dir / "questions.jsonl").open("w", encoding="utf-8") as lines:
        for run in runs.values():
            for record in run.records:
                lines.write(json.dumps(asdict(record)) + "\n")
    (out_dir / "report.md").write_text(render_markdown(results), encoding="utf-8")
    write_plots(out_dir, results, runs)
    return results
