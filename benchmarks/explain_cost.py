"""Measure what computing ``Hit.explain`` costs a search, in time and in response bytes.

Usage: python benchmarks/explain_cost.py WORKDIR OUT.json [--locomo PATH] [--repeats 5]

Builds two stores in WORKDIR on the first run (later runs reuse them, so two code versions can
be timed on the same files):

* ``llm-free.db``: LoCoMo conversation 0 added in LLM-free mode with the default MiniLM
  embedder (every turn channel returns its full 50 candidates);
* ``full.db``: the demo conversation in full mode, derived through the demo's scripted
  OpenAI-compatible server (scenes, items and all four trigger families).

Then times ``Memory.search(limit=10)`` for every query, ``repeats`` passes after a warm-up, with
the query vectors cached so the time is the retrieval's own (embedding a query is the same with
or without an explanation), as wall-clock and as the process's CPU time (less disturbed by other
work on a shared machine). Run it with the code before ``Hit.explain`` existed and with it,
alternately, on the same WORKDIR; the difference of the medians is the cost. It also writes the JSON
size of each result list with and without the ``explain`` field (what REST and ``--json`` carry).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tmem import Config, Hit, Memory
from tmem.config import LLMConfig
from tmem.demo.scripted import MODEL, ScriptedServer
from tmem.demo.show import sample
from tmem.embed.base import Embedder
from tmem.embed.factory import build_embedder
from tmem.eval.locomo import conversation_messages, load_locomo, questions
from tmem.retrieve import search as search_module
from tmem.serialize import to_dict

LOCOMO = "/work/shared/data/locomo/locomo10.json"
DEMO_QUERIES = [
    *(q["query"] for group in sample()["queries"].values() for q in group),
    "deploy pipeline onboarding engineers",
    "Who is training for a race?",
    "grandmother keepsake recipe",
    "What did the physio say?",
    "dinner venue harbour",
    "bike commute rain",
]


class CachedEmbedder:
    """The real embedder, remembering each text's vector: timed passes embed nothing."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.cache: dict[str, npt.NDArray[np.float32]] = {}

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            for text, vector in zip(missing, self.inner.embed(missing), strict=True):
                self.cache[text] = vector
        return np.stack([self.cache[t] for t in texts])


def build(workdir: Path, locomo: str, config: Config, embedder: Embedder) -> None:
    free = workdir / "llm-free.db"
    if not free.exists():
        conversation = load_locomo(locomo)[0]
        with Memory.open(free, config, embedder=embedder) as mem:
            for session, messages in conversation_messages(conversation):
                mem.add(messages, "conv0", session)
    full = workdir / "full.db"
    if not full.exists():
        with ScriptedServer() as server:
            llm = LLMConfig(base_url=server.base_url, model=MODEL, max_retries=0)
            with Memory.open(full, replace(config, llm=llm), embedder=embedder) as mem:
                data = sample()
                for session in data["sessions"]:
                    mem.add(session["messages"], data["user_id"], session["session_id"])


def time_searches(
    path: Path, user: str, queries: list[str], config: Config, embedder: Embedder, repeats: int
) -> dict[str, Any]:
    with Memory.open(path, config, embedder=embedder) as mem:
        hits = {q: mem.search(q, user, limit=10) for q in queries}  # warm-up, fills the cache
        timings: list[float] = []
        cpu: list[float] = []
        for _ in range(repeats):
            for query in queries:
                started, started_cpu = time.perf_counter(), time.process_time()
                mem.search(query, user, limit=10)
                cpu.append(time.process_time() - started_cpu)
                timings.append(time.perf_counter() - started)
        parts = explanation_time(mem, user, queries)
    with_explain = [len(json.dumps(to_dict(h))) for h in hits.values()]
    without = [
        len(json.dumps([{k: v for k, v in d.items() if k != "explain"} for d in to_dict(h)]))
        for h in hits.values()
    ]
    entries = [len(getattr(hit, "explain", ())) for h in hits.values() for hit in h]
    return {
        "queries": len(queries),
        "searches": len(timings),
        "median_ms": statistics.median(timings) * 1000,
        "mean_ms": statistics.fmean(timings) * 1000,
        "p95_ms": sorted(timings)[int(0.95 * (len(timings) - 1))] * 1000,
        "cpu_median_ms": statistics.median(cpu) * 1000,
        "cpu_mean_ms": statistics.fmean(cpu) * 1000,
        "json_bytes_per_result_list": statistics.fmean(with_explain),
        "json_bytes_per_result_list_without_explain": statistics.fmean(without),
        "explain_entries_per_hit": statistics.fmean(entries) if entries else 0.0,
        **parts,
    }


def explanation_time(mem: Memory, user: str, queries: list[str]) -> dict[str, float]:
    """Microseconds per search spent building explanations and keeping each channel's ranks
    and raw scores (``_Channels.explain`` and ``_Channels.add``), timed in place; empty for
    code without explanations."""
    channels = getattr(search_module, "_Channels", None)
    if channels is None or not hasattr(channels, "explain"):
        return {}
    spent = {"explain": 0.0, "add": 0.0}
    originals = {name: getattr(channels, name) for name in spent}

    def timed(name: str) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return originals[name](*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started

        return wrapper

    for name in spent:
        setattr(channels, name, timed(name))
    try:
        started = time.perf_counter()
        for query in queries:
            mem.search(query, user, limit=10)
        total = time.perf_counter() - started
    finally:
        for name, original in originals.items():
            setattr(channels, name, original)
    per_search = 1e6 / len(queries)
    return {
        "in_place_search_us": total * per_search,
        "in_place_explain_us": spent["explain"] * per_search,
        "in_place_add_us": spent["add"] * per_search,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--locomo", default=LOCOMO)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--label", default="", help="which code version ran (for the record)")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    config = Config()
    embedder = CachedEmbedder(build_embedder(config.embedder))
    build(args.workdir, args.locomo, config, embedder)
    conv0 = [q.question for q in questions(load_locomo(args.locomo)[0])]
    user = sample()["user_id"]
    result = {
        "label": args.label,
        "load_average_1min_at_start": os.getloadavg()[0],
        "explain_field": "explain" in {f.name for f in fields(Hit)},
        "llm_free_locomo_conv0": time_searches(
            args.workdir / "llm-free.db", "conv0", conv0, config, embedder, args.repeats
        ),
        "full_demo_scripted": time_searches(
            args.workdir / "full.db", user, DEMO_QUERIES * 10, config, embedder, args.repeats
        ),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
