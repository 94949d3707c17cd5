"""The injection benchmark: the labelled set's rules, scoring, and ``tmem bench injection``."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from tmem.cli.bench import bench
from tmem.errors import EvalError
from tmem.eval.injection import Example, load_examples, locomo_turns, score_locomo, score_set
from tmem.models import RiskAssessment, RiskReason

SET = Path(__file__).resolve().parents[2] / "benchmarks" / "injection" / "injection-set.json"
TINY_LOCOMO = Path(__file__).with_name("tiny_locomo.json")
EXAMPLES = load_examples(SET)


def test_the_set_has_a_few_hundred_attacks_and_hard_negatives_in_both_splits() -> None:
    labels = Counter((e.label, e.split) for e in EXAMPLES)
    assert labels[("injection", "dev")] >= 100 and labels[("injection", "check")] >= 100
    assert labels[("benign", "dev")] >= 50 and labels[("benign", "check")] >= 50
    assert len({e.id for e in EXAMPLES}) == len(EXAMPLES)
    for style in {e.style for e in EXAMPLES}:
        assert {e.split for e in EXAMPLES if e.style == style} == {"dev", "check"}, style


def test_variants_of_one_seed_share_its_split() -> None:
    by_seed: dict[str, set[str]] = {}
    for example in EXAMPLES:
        if example.style.startswith("obfuscated:") or example.style == "embedded":
            seed = (
                example.id.rsplit("-", 1)[-1]
                if example.style != "embedded"
                else example.id.split("-")[1]
            )
            by_seed.setdefault(f"{example.style.split(':')[0]}-{seed}", set()).add(example.split)
    assert by_seed and all(len(splits) == 1 for splits in by_seed.values())


def _flag_if(word: str) -> RiskAssessment:
    return RiskAssessment(True, (RiskReason("override", 0, 1),)) if word else RiskAssessment()


def test_score_set_counts_recall_and_false_flags_per_split_and_style() -> None:
    examples = [
        Example("a", "x", "injection", "direct", "dev"),
        Example("b", "", "injection", "direct", "dev"),
        Example("c", "x", "benign", "everyday", "dev"),
        Example("d", "", "benign", "everyday", "check"),
    ]
    scores = score_set(examples, detect=_flag_if)
    assert scores["dev"]["recall"]["direct"] == {"flagged": 1, "n": 2, "rate": 0.5}
    assert scores["dev"]["false_flags"]["all"]["rate"] == 1.0
    assert scores["dev"]["wrong"] == ["b", "c"]
    assert scores["check"]["false_flags"]["all"] == {"flagged": 0, "n": 1, "rate": 0.0}


def test_locomo_turns_are_read_as_stored_and_scored() -> None:
    turns = locomo_turns(TINY_LOCOMO)
    assert turns and all(isinstance(text, str) for _, text in turns)
    scores = score_locomo([("t1", "x"), ("t2", "")], detect=_flag_if)
    assert scores["flagged"] == 1 and scores["rate"] == 0.5
    assert scores["turns"] == [{"id": "t1", "codes": ["override"]}]


def test_malformed_sets_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps([{"id": "a", "text": "t", "label": "maybe", "style": "s", "split": "dev"}])
    )
    with pytest.raises(EvalError, match="label must be one of"):
        load_examples(bad)
    bad.write_text("{}")
    with pytest.raises(EvalError, match="expected a JSON list"):
        load_examples(bad)


def test_bench_injection_writes_results_and_report(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["injection", "--data", str(SET), "--locomo", str(TINY_LOCOMO), "--out", str(out)]
    result = CliRunner().invoke(bench, args)
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert results["detector"] == "injection@1"
    assert results["set"]["check"]["recall"]["all"]["rate"] >= 0.9
    assert results["locomo"]["n"] == len(locomo_turns(TINY_LOCOMO))
    assert "## check split" in (out / "report.md").read_text()
    assert "check recall" in result.output
