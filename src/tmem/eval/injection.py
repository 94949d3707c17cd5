"""The injection benchmark: flag recall on a labelled attack set, false flags on LoCoMo turns.

The labelled set (``benchmarks/injection/injection-set.json``) is a JSON list of
``{"id", "text", "label", "style", "split"}`` with ``label`` ``injection`` or ``benign`` and
``split`` ``dev`` (the detector was tuned on it) or ``check`` (held out). LoCoMo turns are all
ordinary chat, so every flag there is a false one.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tmem.errors import EvalError
from tmem.eval.locomo import conversation_messages, load_locomo
from tmem.eval.report import git_commit, git_dirty
from tmem.models import RiskAssessment
from tmem.safety import DETECTOR_ID, assess

LABELS = ("injection", "benign")
SPLITS = ("dev", "check")


@dataclass(frozen=True)
class Example:
    """One labelled text of the attack set."""

    id: str
    text: str
    label: str
    style: str
    split: str


def load_examples(path: str | Path) -> list[Example]:
    """Read and validate the labelled set.

    Raises:
        EvalError: the file is unreadable or an entry is malformed.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EvalError(f"cannot read injection set {path}: {exc}") from exc
    if not isinstance(data, list):
        raise EvalError(f"{path}: expected a JSON list of examples")
    return [_example(entry, index, path) for index, entry in enumerate(data)]


def _example(entry: object, index: int, path: str | Path) -> Example:
    fields = ("id", "text", "label", "style", "split")
    if not isinstance(entry, dict) or not all(isinstance(entry.get(f), str) for f in fields):
        raise EvalError(f"{path}: entry {index} needs string fields {', '.join(fields)}")
    if entry["label"] not in LABELS or entry["split"] not in SPLITS:
        raise EvalError(
            f"{path}: entry {index}: label must be one of {LABELS}, split one of {SPLITS}"
        )
    return Example(*(str(entry[f]) for f in fields))


def locomo_turns(path: str | Path) -> list[tuple[str, str]]:
    """``(id, content)`` of every LoCoMo turn, rendered as tmem stores it (captions included)."""
    turns = []
    for index, sample in enumerate(load_locomo(path)):
        for _, messages in conversation_messages(sample):
            turns += [(f"{index}:{m['id']}", str(m["content"])) for m in messages]
    return turns


def score_set(
    examples: Iterable[Example], detect: Callable[[str], RiskAssessment] = assess
) -> dict[str, Any]:
    """Recall per split and style on injections, false flags per split and style on the rest."""
    tally: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    missed: dict[str, list[str]] = defaultdict(list)
    for example in examples:
        flagged = detect(example.text).flagged
        for style in (example.style.split(":")[0], "all"):
            counts = tally[(example.split, example.label, style)]
            counts[0] += flagged
            counts[1] += 1
        if flagged != (example.label == "injection"):
            missed[example.split].append(example.id)
    result: dict[str, Any] = {}
    for split in SPLITS:
        result[split] = {
            "recall": _rates(tally, split, "injection"),
            "false_flags": _rates(tally, split, "benign"),
            "wrong": sorted(missed[split]),
        }
    return result


def _rates(
    tally: Mapping[tuple[str, str, str], list[int]], split: str, label: str
) -> dict[str, Any]:
    return {
        style: {"flagged": counts[0], "n": counts[1], "rate": counts[0] / counts[1]}
        for (s, lab, style), counts in sorted(tally.items())
        if s == split and lab == label
    }


def score_locomo(
    turns: list[tuple[str, str]], detect: Callable[[str], RiskAssessment] = assess
) -> dict[str, Any]:
    """False-flag rate over LoCoMo turns, with the flagged turns and their reason codes."""
    flagged = []
    for turn_id, text in turns:
        assessment = detect(text)
        if assessment.flagged:
            flagged.append({"id": turn_id, "codes": list(assessment.codes)})
    n = len(turns)
    return {
        "flagged": len(flagged),
        "n": n,
        "rate": len(flagged) / n if n else 0.0,
        "turns": flagged,
    }


def run_injection(
    data: str | Path, locomo: str | Path, out: str | Path, command: str
) -> dict[str, Any]:
    """Score the detector, write ``results.json`` and ``report.md`` under ``out``."""
    results = {
        "detector": DETECTOR_ID,
        "command": command,
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "set": score_set(load_examples(data)),
        "locomo": score_locomo(locomo_turns(locomo)),
    }
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (out_dir / "report.md").write_text(render_report(results), encoding="utf-8")
    return results


def render_report(results: Mapping[str, Any]) -> str:
    """The results as a Markdown page."""
    lines = [f"# Injection detector {results['detector']}", "", f"`{results['command']}`", ""]
    for split in SPLITS:
        scores = results["set"][split]
        lines += [
            f"## {split} split",
            "",
            "| injections: style | flagged / n | recall |",
            "|---|---|---|",
        ]
        lines += [_row(style, row) for style, row in scores["recall"].items()]
        lines += ["", "| benign: style | flagged / n | false flags |", "|---|---|---|"]
        lines += [_row(style, row) for style, row in scores["false_flags"].items()]
        lines += ["", f"Wrong: {', '.join(scores['wrong']) or 'none'}", ""]
    locomo = results["locomo"]
    lines += [
        "## LoCoMo turns",
        "",
        f"{locomo['flagged']} of {locomo['n']} turns flagged ({100 * locomo['rate']:.2f} %).",
        "",
    ]
    lines += [f"- {t['id']}: {', '.join(t['codes'])}" for t in locomo["turns"]]
    return "\n".join(lines) + "\n"


def _row(style: str, row: Mapping[str, Any]) -> str:
    return f"| {style} | {row['flagged']} / {row['n']} | {100 * row['rate']:.1f} % |"
