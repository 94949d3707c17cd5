from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from click.testing import CliRunner

from tests.fakes.openai_server import FakeOpenAIServer
from tmem.cli.bench import bench
from tmem.config import Config, EmbedderConfig, LLMConfig

FIXTURE = Path(__file__).with_name("tiny_locomo.json")
HASH = Config(embedder=EmbedderConfig(kind="hash", dim=32))


def test_bench_is_a_click_group_with_its_commands() -> None:
    assert isinstance(bench, click.Group)
    assert set(bench.commands) == {"locomo", "locomo-plus", "longmemeval", "speed", "injection"}


def test_bench_locomo_uses_the_context_config(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        bench,
        [
            "locomo",
            "--data",
            str(FIXTURE),
            "--systems",
            "bm25,dense",
            "--conversations",
            "0",
            "--out",
            str(out),
            "-q",
        ],
        obj={"config": HASH},
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("bm25")
    results = json.loads((out / "results.json").read_text())
    assert results["models"]["embedder"] == "hash-32"
    assert results["conversations"] == [0]
    assert set(results["systems"]) == {"bm25", "dense"}


def test_bench_locomo_plus_runs_items(tmp_path: Path) -> None:
    items = tmp_path / "items.json"
    items.write_text(
        json.dumps(
            [
                {
                    "relation_type": "goal",
                    "cue_dialogue": "A: I want to run a marathon.",
                    "trigger_query": "A: Which shoes?",
                    "time_gap": "2 months later",
                }
            ]
        )
    )
    out = tmp_path / "plus"
    result = CliRunner().invoke(
        bench,
        [
            "locomo-plus",
            "--data",
            str(items),
            "--base",
            str(FIXTURE),
            "--systems",
            "bm25",
            "--out",
            str(out),
            "-q",
        ],
        obj={"config": HASH},
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "results.json").read_text())["systems"]["bm25"]["n"] == 1


def test_bench_locomo_plus_split_option(tmp_path: Path) -> None:
    devset = Path(__file__).resolve().parents[2] / "benchmarks" / "devset" / "associative-dev.json"
    out = tmp_path / "plus"
    args = ["locomo-plus", "--data", str(devset), "--base", str(FIXTURE), "--systems", "bm25"]
    result = CliRunner().invoke(
        bench,
        [*args, "--split", "tune", "--limit", "3", "--out", str(out), "-q"],
        obj={"config": HASH},
    )
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert results["split"] == "tune" and results["systems"]["bm25"]["n"] == 3
    bad = CliRunner().invoke(bench, [*args, "--split", "test"], obj={"config": HASH})
    assert bad.exit_code == 2 and "'test' is not one of 'tune', 'check'" in bad.output


def test_bench_reports_bad_input_as_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    bad_system = runner.invoke(
        bench, ["locomo", "--data", str(FIXTURE), "--systems", "mem0"], obj={"config": HASH}
    )
    assert bad_system.exit_code == 2 and "unknown system" in bad_system.output
    bad_index = runner.invoke(
        bench,
        [
            "locomo",
            "--data",
            str(FIXTURE),
            "--systems",
            "bm25",
            "--conversations",
            "7",
            "--out",
            str(tmp_path),
            "-q",
        ],
        obj={"config": HASH},
    )
    assert bad_index.exit_code == 1 and "out of range" in bad_index.output
    qa = runner.invoke(
        bench,
        [
            "locomo",
            "--data",
            str(FIXTURE),
            "--mode",
            "qa",
            "--systems",
            "bm25",
            "--out",
            str(tmp_path),
            "-q",
        ],
        obj={"config": HASH},
    )
    assert qa.exit_code == 1 and "needs an LLM" in qa.output


def test_bench_locomo_qa_runs_through_the_http_client_and_resumes_from_its_cache(
    tmp_path: Path,
) -> None:
    # Hand-authored replies: the baseline answers "Pixel" to everything, and the judge says
    # CORRECT only when the generated answer matches the gold answer it was shown.
    def judge(body: dict[str, Any]) -> str:
        text = str(body["messages"][-1]["content"])
        correct = "Gold answer: Pixel" in text and "Generated answer: Pixel" in text
        return json.dumps({"reason": "compared", "label": "CORRECT" if correct else "WRONG"})

    out = tmp_path / "qa"
    args = ["locomo", "--data", str(FIXTURE), "--conversations", "0", "--mode", "qa",
            "--systems", "bm25", "--out", str(out), "-q"]  # fmt: skip
    with FakeOpenAIServer() as server:
        server.script_chat("eval.baseline_answer@1", lambda body: '{"answer": "Pixel"}')
        server.script_chat("eval.locomo_judge@1", judge)
        config = Config(
            llm=LLMConfig(base_url=server.base_url, model="fake-model", max_retries=0),
            embedder=EmbedderConfig(kind="hash", dim=32),
        )
        first = CliRunner().invoke(bench, args, obj={"config": config})
        assert first.exit_code == 0, first.output
        sent = len(server.requests)
        again = CliRunner().invoke(bench, args, obj={"config": config})
        assert again.exit_code == 0, again.output
        assert len(server.requests) == sent  # the rerun is answered from the cache

    results = json.loads((out / "results.json").read_text())
    bm25 = results["systems"]["bm25"]
    # Four graded questions (category 5 is kept out); only the cat's name is right.
    assert bm25["n"] == 4
    assert bm25["overall"]["j"] == 0.25
    assert bm25["by_category"]["4"]["j"] == 1.0
    assert sent == 8  # one answer and one verdict per question
    prompts = sorted(r.prompt_id for r in server.requests)
    assert prompts == ["eval.baseline_answer@1"] * 4 + ["eval.locomo_judge@1"] * 4
    assert results["models"]["llm"] == "fake-model"
    assert results["llm_cache"]["sent"] == 0 and results["llm_cache"]["replayed"] == sent
