from __future__ import annotations

import json
from pathlib import Path

import pytest

from tmem.config import Config, LLMConfig, Secret
from tmem.eval.harness import QuestionRecord, SystemRun
from tmem.eval.markdown import render_markdown, table
from tmem.eval.report import (
    by_group,
    git_commit,
    git_dirty,
    latency_summary,
    mean_scores,
    public_config,
    usage_summary,
)
from tmem.models import IngestReport, Usage


def record(group: str, scores: dict[str, float], latency: float | None = None) -> QuestionRecord:
    return QuestionRecord("tmem", f"q{group}", group, scores, latency)


def test_means_are_over_questions_that_have_the_metric() -> None:
    records = [
        record("1", {"mrr": 1.0, "j": 0.0}),
        record("2", {"mrr": 0.5}),
        record("2", {"j": 1.0}),
    ]
    assert mean_scores(records) == {"mrr": 0.75, "j": 0.5}
    groups = by_group(records, "locomo")
    assert groups["2"] == {"name": "temporal", "n": 2, "mrr": 0.5, "j": 1.0}
    assert list(by_group([record("value", {}), record("causal", {})], "locomo-plus")) == [
        "causal",
        "value",
    ]


def test_latency_percentiles() -> None:
    records = [record("1", {}, float(ms)) for ms in range(1, 101)] + [record("1", {})]
    summary = latency_summary(records)
    assert summary == {"p50": pytest.approx(50.5), "p95": pytest.approx(95.05), "n": 100}
    assert latency_summary([record("1", {})]) == {"p50": None, "p95": None, "n": 0}


def test_usage_per_turn_and_per_query() -> None:
    run = SystemRun("tmem")
    report = IngestReport("u", "S1", "full", 4, 1, 2, {}, 0, Usage(2, 100, 20))
    run.ingest.record(report, 1.5)
    run.records += [QuestionRecord("tmem", "q", "1", {}, usage=Usage(1, 30, 10))] * 2
    usage = usage_summary(run)
    assert usage["ingest_llm_calls_per_turn"] == 0.5
    assert usage["ingest_tokens_per_turn"] == 30.0
    assert usage["query_llm_calls_per_query"] == 1.0
    assert usage["query_tokens_per_query"] == 40.0


def test_public_config_hides_keys_and_urls() -> None:
    config = Config(llm=LLMConfig(base_url="http://x/v1", model="m", api_key=Secret("sk-123")))
    dumped = json.dumps(public_config(config))
    assert "sk-123" not in dumped and "http://x" not in dumped
    assert public_config(config)["llm"]["model"] == "m"


def test_markdown_tables() -> None:
    assert table(["a", "b"], [[1, 0.25], [None, 1234.5]]) == (
        "| a | b |\n|---|---|\n| 1 | 0.250 |\n| – | 1,234 |"
    )
    results = {
        "benchmark": "locomo",
        "mode": "retrieval",
        "config_fingerprint": "abc",
        "models": {"embedder": "hash-8", "llm": None},
        "systems": {
            "bm25": {
                "n": 1,
                "overall": {"any_hit@10": 1.0},
                "by_category": {"4": {"name": "single-hop", "n": 1, "any_hit@10": 1.0}},
                "latency_ms": {"p50": 1.0, "p95": 2.0},
                "ingest": {"seconds": None},
                "usage": dict.fromkeys(
                    [
                        "ingest_llm_calls_per_turn",
                        "ingest_tokens_per_turn",
                        "query_llm_calls_per_query",
                        "judge_parse_failures",
                        "context_tokens_mean",
                    ]
                ),
            }
        },
    }
    text = render_markdown(results)
    assert "| any_hit@10 | 1.000 |" in text
    assert "| 4 single-hop | 1 | 1.000 |" in text


def test_git_provenance(tmp_path: Path) -> None:
    commit = git_commit()
    assert commit is not None and len(commit) == 40
    assert isinstance(git_dirty(), bool)
    assert git_commit(tmp_path) is None and git_dirty(tmp_path) is None


def test_results_keep_the_commit_a_run_started_on() -> None:
    from tmem.eval.report import run_provenance, source_state

    now = source_state()
    assert run_provenance({}) == now
    started = {"git_commit": "0" * 40, "git_dirty": False}
    moved = run_provenance(started)
    assert moved["git_commit"] == "0" * 40 and moved["git_dirty"] is False
    assert moved["git_commit_at_write"] == now["git_commit"]
    assert "git_commit_at_write" not in run_provenance(now)


def test_report_header_names_start_and_write_commits() -> None:
    from tmem.eval.markdown import commit_line

    assert commit_line({"git_commit": "abc", "git_dirty": False}) == "commit `abc`"
    line = commit_line({"git_commit": "abc", "git_dirty": True, "git_commit_at_write": "def"})
    assert line == "commit `abc` (with uncommitted changes) (results written at `def`)"
