"""What a model wrote during a benchmark run, read back from the run's LLM cache.

Every reply in ``<run>/llm-cache.sqlite`` is validated again against its prompt's response model
(as the write path does), so the figures describe the replies themselves: how many were valid,
how many items and triggers each extraction proposed (before trigger screening and merging),
and the tokens spent. Seconds per call are not in the cache; pass ``--progress`` with a log of
``<UTC time> <prompt>=<count> ...`` lines sampled while the run wrote the cache to get them.

Usage::

    PYTHONPATH=src python benchmarks/models/cache_stats.py benchmarks/results/<run>/llm-cache.sqlite
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from tmem.errors import LLMOutputError
from tmem.llm.prompts import extract, segment
from tmem.llm.structured import validate_reply


def rows(path: Path) -> list[tuple[str, str, int, int]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        query = "SELECT prompt_id, text, prompt_tokens, completion_tokens FROM llm_cache"
        return [(str(p), str(t), int(a), int(b)) for p, t, a, b in conn.execute(query)]


def extraction_counts(output: extract.ExtractOutput) -> dict[str, float]:
    horizon = [channel for _, channel in output.horizon if channel.sent]
    return {
        "items": len(output.items),
        "entity_bridge": sum(len(item.triggers) for item in output.items),
        "bridges": sum(1 for item in output.items for t in item.triggers if t.bridge),
        "horizon": len(horizon),
        "temporal": sum(1 for item in output.items if item.temporal),
    }


def summarise(path: Path) -> dict[str, Any]:
    by_prompt: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"calls": 0, "valid": 0, "prompt_tokens": 0, "completion_tokens": 0}
    )
    per_call: dict[str, list[float]] = defaultdict(list)
    for prompt_id, text, prompt_tokens, completion_tokens in rows(path):
        stats = by_prompt[prompt_id]
        stats["calls"] += 1
        stats["prompt_tokens"] += prompt_tokens
        stats["completion_tokens"] += completion_tokens
        model = {extract.SPEC.key: extract.ExtractOutput, segment.SPEC.key: segment.SegmentOutput}
        output_type = model.get(prompt_id)
        if output_type is None:
            continue
        try:
            output = validate_reply(text, output_type)
        except LLMOutputError:
            continue
        stats["valid"] += 1
        if isinstance(output, extract.ExtractOutput):
            for key, value in extraction_counts(output).items():
                per_call[key].append(value)
        elif isinstance(output, segment.SegmentOutput):
            per_call["scenes_per_window"].append(len(output.scenes))
    means = {key: round(statistics.fmean(values), 2) for key, values in per_call.items()}
    return {"prompts": dict(by_prompt), "per_valid_call_mean": means}


def seconds_per_call(progress: Path) -> dict[str, Any]:
    """Calls per interval from ``<time> <prompt>=<n> ...`` samples: overall seconds per call."""
    samples: list[tuple[datetime, int]] = []
    for line in progress.read_text("utf-8").splitlines():
        stamp, *counts = line.split()
        total = sum(int(c.split("=", 1)[1]) for c in counts if "=" in c)
        samples.append((datetime.fromisoformat(stamp.replace("Z", "+00:00")), total))
    active = [(t, n) for t, n in samples if n > 0]
    if len(active) < 2 or active[-1][1] == active[0][1]:
        return {}
    (t0, n0), (t1, n1) = active[0], active[-1]
    return {
        "from": t0.isoformat(),
        "to": t1.isoformat(),
        "calls": n1 - n0,
        "seconds_per_call": round((t1 - t0).total_seconds() / (n1 - n0), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cache", type=Path)
    parser.add_argument("--progress", type=Path, help="samples of the cache's row counts")
    args = parser.parse_args(argv)
    report = summarise(args.cache)
    if args.progress:
        report["timing"] = seconds_per_call(args.progress)
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
