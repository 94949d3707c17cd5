from __future__ import annotations

import json
from pathlib import Path

import click
from click.testing import CliRunner

from tmem.cli.bench import bench
from tmem.config import Config, EmbedderConfig

FIXTURE = Path(__file__).with_name("tiny_locomo.json")
HASH = Config(embedder=EmbedderConfig(kind="hash", dim=32))


def test_bench_is_a_click_group_with_its_commands() -> None:
    assert isinstance(bench, click.Group)
    assert set(bench.commands) == {"locomo", "locomo-plus", "speed"}


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
